//! `mqttkit pcap`: MQTT packets, violations and statistics from a capture.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use mqttkit_pcap::output::{Options, Payload};
use mqttkit_pcap::pipe::PipeWriter;
use mqttkit_pcap::{analyze, Config, Handler, Notice, PacketEvent};

/// Exit status: no packet broke a rule.
const OK: u8 = 0;
/// Exit status: at least one violation was found.
const VIOLATIONS: u8 = 1;
/// Exit status: usage error or unreadable file.
const USAGE: u8 = 2;

/// Files smaller than this get no progress bar.
const PROGRESS_FROM: u64 = 32 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One line per MQTT packet; notices start with `#`.
    Text,
    /// One JSON object per line: packets, and notices (with a "notice" key).
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PayloadArg {
    /// Leave payloads out.
    None,
    /// Hex bytes, colon separated.
    Hex,
    /// As UTF-8 text (invalid sequences replaced).
    Utf8,
}

#[derive(Debug, Parser)]
#[command(after_long_help = "\
MQTT is found on port 1883, on each --port, and on any other port by content (a CONNECT
at the start of a stream, a run of valid packets mid-stream, or a WebSocket upgrade with
subprotocol mqtt). Port 8883 is reported as MQTT over TLS and not decoded.

JSON lines: {\"frame\":N,\"ts\":...,\"src\":\"ip:port\",\"dst\":\"ip:port\",\"version\":3|4|5,
\"type\":\"PUBLISH\",\"mqtt\":{...},\"violations\":[{\"id\":...,\"message\":...}]}; the keys of
\"mqtt\" are Wireshark's mqtt.* field names without the prefix. Notices (gaps, resyncs,
capture errors, conversation findings) are objects with a \"notice\" key.

Exit status:
  0  no violation found
  1  at least one packet or conversation breaks a rule
  2  usage error or unreadable file

Examples:
  mqttkit pcap capture.pcapng
  mqttkit pcap --port 18830 --format json --payload utf8 capture.pcap
  mqttkit pcap --violations capture.pcap
  mqttkit pcap --stats capture.pcap")]
pub struct Args {
    /// The capture (pcap or pcapng); `-` reads standard input.
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// A further TCP port carrying MQTT (repeatable).
    #[arg(long = "port", value_name = "N")]
    ports: Vec<u16>,

    /// Print statistics (packet types, versions, QoS, clients, top topics, bytes,
    /// violations) instead of the packets.
    #[arg(long)]
    stats: bool,

    /// Print only the packets with violations (and the notices).
    #[arg(long)]
    violations: bool,

    /// How PUBLISH payloads and will messages are shown.
    #[arg(long, value_enum, default_value_t = PayloadArg::None)]
    payload: PayloadArg,
}

struct Progress<'a, H: Handler> {
    inner: &'a mut H,
    bar: indicatif::ProgressBar,
    done: u64,
}

impl<H: Handler> Handler for Progress<'_, H> {
    fn packet(&mut self, p: &PacketEvent<'_>) {
        self.inner.packet(p)
    }
    fn notice(&mut self, n: &Notice) {
        self.inner.notice(n)
    }
    fn record(&mut self, number: u64, bytes: usize) {
        // Record header plus data: close enough to the file offset.
        self.done += bytes as u64 + 16;
        if number.is_multiple_of(4096) {
            self.bar.set_position(self.done);
        }
    }
}

/// Runs `mqttkit pcap`.
pub fn run(args: Args) -> ExitCode {
    let mut config = Config::default();
    for p in &args.ports {
        if !config.ports.contains(p) {
            config.ports.push(*p);
        }
    }
    let opts = Options {
        format: match args.format {
            Format::Text => mqttkit_pcap::output::Format::Text,
            Format::Json => mqttkit_pcap::output::Format::Json,
        },
        payload: match args.payload {
            PayloadArg::None => Payload::None,
            PayloadArg::Hex => Payload::Hex,
            PayloadArg::Utf8 => Payload::Utf8,
        },
        only_violations: args.violations,
        packets: !args.stats,
        notices: !args.stats,
        stats: args.stats,
    };
    // Formatting and writing run on a second thread.
    let mut writer = PipeWriter::new(std::io::stdout(), opts);
    if args.file.as_os_str() == "-" {
        analyze(std::io::stdin(), &config, &mut writer);
    } else {
        let file = match File::open(&args.file) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("mqttkit pcap: cannot open {}: {e}", args.file.display());
                return ExitCode::from(USAGE);
            }
        };
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        // The capture reader buffers itself (1 MiB reads).
        let input = file;
        if size >= PROGRESS_FROM && std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(size);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let mut p = Progress {
                inner: &mut writer,
                bar,
                done: 0,
            };
            analyze(input, &config, &mut p);
            p.bar.finish_and_clear();
        } else {
            analyze(input, &config, &mut writer);
        }
    }
    let found = writer.findings > 0;
    let stats = if args.stats {
        Some(match args.format {
            Format::Text => writer.stats.to_text(),
            Format::Json => writer.stats.to_json() + "\n",
        })
    } else {
        None
    };
    let result = writer.finish().and_then(|_| match stats {
        Some(s) => {
            let mut out = std::io::stdout().lock();
            out.write_all(s.as_bytes()).and_then(|_| out.flush())
        }
        None => Ok(()),
    });
    let status = if found { VIOLATIONS } else { OK };
    match result {
        Ok(()) => ExitCode::from(status),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(status),
        Err(e) => {
            eprintln!("mqttkit pcap: cannot write output: {e}");
            ExitCode::from(USAGE)
        }
    }
}
