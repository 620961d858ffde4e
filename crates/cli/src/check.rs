//! `mqttkit check`: run the conformance cases against a broker.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use mqttkit_conformance::{
    builtin_cases, must_failed, report, runner, tls_client_config, Config, Credentials, Tls,
    Transport,
};

/// Exit status: no MUST-level case failed.
const OK: u8 = 0;
/// Exit status: a MUST-level case failed.
const FAILED: u8 = 1;
/// Exit status: usage or connection error.
const USAGE: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A table grouped by specification section (colours on a terminal).
    Text,
    /// `{"broker", "cases": [...], "summary": {...}}`.
    Json,
    /// JUnit XML, one test suite per version.
    Junit,
    /// A Markdown matrix, one row per statement.
    Markdown,
}

#[derive(Debug, Parser)]
#[command(after_long_help = "\
Exit status:
  0  no MUST-level case failed
  1  a MUST-level case failed
  2  usage error, or the broker cannot be reached

Examples:
  mqttkit check                                    the embedded reference broker
  mqttkit check mqtt://127.0.0.1:1883
  mqttkit check mqtt://broker:1883 --protocol 5 --format junit --output report.xml
  mqttkit check mqtt://127.0.0.1:1883 --only MQTT-3.3.1-5 --only retain-
  mqttkit check ws://127.0.0.1:8083/mqtt
  mqttkit check mqtts://127.0.0.1:8883 --ca ca.pem")]
pub struct Args {
    /// The broker: mqtt://HOST[:PORT] (port 1883 by default),
    /// mqtts://HOST[:PORT] (8883), ws://HOST[:PORT]/PATH or wss://... Without a URL
    /// mqttkit starts its own reference broker on a loopback port and
    /// checks that.
    url: Option<String>,

    /// Versions to check.
    #[arg(long, value_enum, default_value = "all")]
    protocol: crate::common::Protocols,

    /// User Name sent in every CONNECT.
    #[arg(long)]
    username: Option<String>,

    /// Password sent in every CONNECT.
    #[arg(long)]
    password: Option<String>,

    /// PEM file of certificates to trust for mqtts:// and wss://.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,

    /// Accept any server certificate for mqtts:// and wss:// (test brokers
    /// with self-signed certificates).
    #[arg(long)]
    insecure: bool,

    /// Run only these cases: a case id, an id prefix (`retain-`) or a
    /// statement id. Repeatable.
    #[arg(long, value_name = "ID")]
    only: Vec<String>,

    /// Leave out these cases (same forms as --only). Repeatable.
    #[arg(long, value_name = "ID")]
    skip: Vec<String>,

    /// Default deadline of each waiting step, in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 3000)]
    timeout_ms: u64,

    /// Cases running at once.
    #[arg(long, value_name = "N", default_value_t = 32)]
    concurrency: usize,

    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,

    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// List the cases (id, versions, level, statements) and exit.
    #[arg(long)]
    list: bool,
}

/// `host:port` from an mqtt:// URL.
/// What a URL says: `host:port` to connect to and the transport (TLS
/// settings filled in by the caller).
fn target(url: &str) -> Result<(String, Scheme), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not a URL; expected mqtt://HOST:PORT"))?;
    let (scheme, default_port) = match scheme {
        "mqtt" | "tcp" => (Scheme::Tcp, 1883),
        "mqtts" | "ssl" => (Scheme::Tls, 8883),
        "ws" => (Scheme::Ws, 80),
        "wss" => (Scheme::Wss, 443),
        _ => {
            return Err(format!(
                "unknown scheme {scheme}://; expected mqtt://, mqtts://, ws:// or wss://"
            ))
        }
    };
    let host_port = rest.split('/').next().unwrap_or("");
    if host_port.is_empty() {
        return Err(format!("{url:?} names no host"));
    }
    let has_port = if host_port.starts_with('[') {
        host_port.contains("]:")
    } else {
        host_port.contains(':')
    };
    Ok(if has_port {
        (host_port.to_string(), scheme)
    } else {
        (format!("{host_port}:{default_port}"), scheme)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Tcp,
    Tls,
    Ws,
    Wss,
}

/// The host part of `host:port` (for TLS server names).
fn host_of(address: &str) -> String {
    match address.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
        None => address.to_string(),
    }
}

/// Runs `mqttkit check`.
pub fn run(args: Args) -> ExitCode {
    let cases = match builtin_cases() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mqttkit check: built-in cases are broken: {e}");
            return ExitCode::from(USAGE);
        }
    };
    if args.list {
        for c in &cases {
            let versions: Vec<_> = c.protocols().iter().map(|v| v.as_str()).collect();
            let mut statements = c.v311.clone();
            statements.extend(c.v5.iter().cloned());
            statements.dedup();
            println!(
                "{}\t{}\t{}\t{}",
                c.id,
                versions.join(","),
                c.level,
                statements.join(" ")
            );
        }
        return ExitCode::from(OK);
    }
    let rt = match crate::common::runtime("check") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    // Without a URL: the embedded reference broker on a loopback port the
    // OS chooses, stopped when the run ends.
    let mut embedded = None;
    let mut transport = Transport::Tcp;
    let (url, address) = match &args.url {
        Some(url) => match target(url) {
            Ok((a, scheme)) => {
                let tls = if matches!(scheme, Scheme::Tls | Scheme::Wss) {
                    match tls_client_config(args.ca.as_deref(), args.insecure) {
                        Ok(config) => Some(Tls {
                            server_name: host_of(&a),
                            config,
                        }),
                        Err(e) => {
                            eprintln!("mqttkit check: {e}");
                            return ExitCode::from(USAGE);
                        }
                    }
                } else {
                    None
                };
                transport = match (scheme, tls) {
                    (Scheme::Tls, Some(t)) => Transport::Tls(t),
                    (Scheme::Ws | Scheme::Wss, tls) => Transport::WebSocket {
                        url: url.clone(),
                        tls,
                    },
                    _ => Transport::Tcp,
                };
                (url.clone(), a)
            }
            Err(e) => {
                eprintln!("mqttkit check: {e}");
                return ExitCode::from(USAGE);
            }
        },
        None => {
            let started = rt.block_on(mqttkit_broker::Broker::builder().start());
            match started {
                Ok(b) => {
                    let addr = b.tcp_addr();
                    embedded = Some(b);
                    (
                        format!("embedded mqttkit broker (mqtt://{addr})"),
                        addr.to_string(),
                    )
                }
                Err(e) => {
                    eprintln!("mqttkit check: cannot start the embedded broker: {e}");
                    return ExitCode::from(USAGE);
                }
            }
        }
    };
    let mut config = Config::new(address.clone());
    config.transport = transport;
    config.credentials = Credentials {
        username: args.username.clone(),
        password: args.password.clone(),
    };
    config.step_timeout = Duration::from_millis(args.timeout_ms.max(1));
    config.concurrency = args.concurrency.max(1);
    config.protocols = args.protocol.versions();
    config.only = args.only.clone();
    config.skip = args.skip.clone();
    if runner::plan(&cases, &config).is_empty() {
        eprintln!("mqttkit check: no case selected");
        return ExitCode::from(USAGE);
    }
    let started = Instant::now();
    let results = rt.block_on(async {
        runner::probe(&address, config.step_timeout).await?;
        Ok::<_, String>(runner::run(&cases, &config).await)
    });
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mqttkit check: {e}");
            return ExitCode::from(USAGE);
        }
    };
    if let Some(b) = embedded {
        rt.block_on(b.shutdown());
    }
    let rep = report::Report {
        broker: url.clone(),
        results,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    };
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let text = match args.format {
        Format::Text => report::text(&rep, to_terminal),
        Format::Json => report::json(&rep),
        Format::Junit => report::junit(&rep),
        Format::Markdown => report::markdown(&rep),
    };
    let written = match &args.output {
        Some(path) => std::fs::write(path, text.as_bytes()),
        None => std::io::stdout().write_all(text.as_bytes()),
    };
    if let Err(e) = written {
        eprintln!("mqttkit check: cannot write the report: {e}");
        return ExitCode::from(USAGE);
    }
    if must_failed(&rep.results) {
        ExitCode::from(FAILED)
    } else {
        ExitCode::from(OK)
    }
}

#[cfg(test)]
mod tests {
    use super::{host_of, target, Scheme};

    #[test]
    fn urls() {
        let t = |u: &str| target(u).unwrap();
        assert_eq!(t("mqtt://h:1884"), ("h:1884".into(), Scheme::Tcp));
        assert_eq!(t("mqtt://h"), ("h:1883".into(), Scheme::Tcp));
        assert_eq!(t("mqtt://[::1]:9"), ("[::1]:9".into(), Scheme::Tcp));
        assert_eq!(t("mqtt://[::1]"), ("[::1]:1883".into(), Scheme::Tcp));
        assert_eq!(t("mqtts://h"), ("h:8883".into(), Scheme::Tls));
        assert_eq!(t("ws://h/mqtt"), ("h:80".into(), Scheme::Ws));
        assert_eq!(t("wss://h:8443/mqtt"), ("h:8443".into(), Scheme::Wss));
        assert!(target("h:1883").is_err());
        assert!(target("mqtt://").is_err());
        assert!(target("http://h").is_err());
        assert_eq!(host_of("[::1]:9"), "::1");
        assert_eq!(host_of("broker.local:8883"), "broker.local");
    }
}
