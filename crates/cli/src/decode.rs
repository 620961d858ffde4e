//! `mqttkit decode`: packets from hex or a file, as text or JSON lines.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use mqttkit_codec::{
    DecodeError, Decoder, Packet, PacketType, ProtocolVersion, Role, Violation, MAX_PACKET_SIZE,
};
use serde_json::{json, Value};

/// Exit status for valid input.
const OK: u8 = 0;
/// Exit status when a packet breaks a rule.
const INVALID: u8 = 1;
/// Exit status for usage errors (bad hex, unreadable file).
const USAGE: u8 = 2;
/// Exit status when the input ends inside a packet.
const INCOMPLETE: u8 = 3;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// Readable blocks, one per packet.
    Text,
    /// One JSON object per packet per line.
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum From {
    /// Packets were sent by a Client.
    Client,
    /// Packets were sent by a Server.
    Server,
}

#[derive(Debug, Parser)]
#[command(after_help = "\
Exit status: 0 every packet valid; 1 a packet breaks a rule (in --lenient mode: any violation);
2 usage error; 3 the input ends inside a packet.

Examples:
  mqttkit decode 30 07 00 03 61 2f 62 68 69
  mqttkit decode --protocol 5 --from client --format json '30:05:00:01:61:00:78'
  mqttkit decode --lenient --file capture.bin
  cat stream.bin | mqttkit decode --protocol 3.1.1 --file -")]
pub struct Args {
    /// MQTT version of the packets: 3.1, 3.1.1 or 5. Default: learnt from a
    /// CONNECT at the start of the input, otherwise 3.1.1.
    #[arg(long, value_parser = parse_version)]
    protocol: Option<ProtocolVersion>,
    /// Which side sent the packets; turns on the rules bound to a direction
    /// (e.g. a CONNACK only comes from a Server). Without it those rules are
    /// not applied.
    #[arg(long, value_enum)]
    from: Option<From>,
    /// Keep decoding past violations and list them all (for captured
    /// traffic); stops only where the bytes cannot be laid out as a packet.
    #[arg(long)]
    lenient: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Refuse packets larger than this many bytes (header included).
    #[arg(long, default_value_t = MAX_PACKET_SIZE)]
    max_packet_size: usize,
    /// Read a binary stream of packets from this file (`-` for standard input)
    /// instead of hex arguments.
    #[arg(long, conflicts_with = "hex")]
    file: Option<PathBuf>,
    /// Packet bytes in hex; spaces and colons are allowed inside an argument,
    /// and all arguments are joined into one stream.
    #[arg(required_unless_present = "file")]
    hex: Vec<String>,
}

fn parse_version(s: &str) -> Result<ProtocolVersion, String> {
    s.parse().map_err(|e: &str| e.to_string())
}

/// Joins hex arguments into bytes.
fn parse_hex(args: &[String]) -> Result<Vec<u8>, String> {
    let mut digits = String::new();
    for a in args {
        for word in a.split(|c: char| c.is_whitespace() || c == ':' || c == ',') {
            let w = word
                .strip_prefix("0x")
                .or_else(|| word.strip_prefix("0X"))
                .unwrap_or(word);
            digits.push_str(w);
        }
    }
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("not a hex digit: {bad:?}"));
    }
    if !digits.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    Ok((0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap_or(0))
        .collect())
}

fn read_input(args: &Args) -> Result<Vec<u8>, String> {
    match &args.file {
        Some(p) if p.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| format!("standard input: {e}"))?;
            Ok(buf)
        }
        Some(p) => std::fs::read(p).map_err(|e| format!("{}: {e}", p.display())),
        None => parse_hex(&args.hex),
    }
}

pub fn run(args: Args) -> ExitCode {
    let bytes = match read_input(&args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("mqttkit decode: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let version = args.protocol.unwrap_or_else(|| {
        let starts_with_connect = bytes
            .first()
            .is_some_and(|b| b >> 4 == PacketType::Connect as u8);
        if !starts_with_connect && !bytes.is_empty() {
            eprintln!("mqttkit decode: no --protocol and no CONNECT first; decoding as MQTT 3.1.1");
        }
        ProtocolVersion::V3_1_1
    });
    let mut decoder = Decoder::new(version).max_packet_size(args.max_packet_size);
    if let Some(f) = args.from {
        decoder = decoder.sent_by(match f {
            From::Client => Role::Client,
            From::Server => Role::Server,
        });
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let status = decode_all(&bytes, decoder, &args, &mut out);
    let _ = out.flush();
    ExitCode::from(status)
}

fn decode_all(bytes: &[u8], mut decoder: Decoder, args: &Args, out: &mut impl Write) -> u8 {
    let mut at = 0;
    let mut status = OK;
    let mut index = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let result = if args.lenient {
            decoder.decode_lenient(rest)
        } else {
            decoder
                .decode(rest)
                .map(|(p, n)| (p, n, Default::default()))
        };
        match result {
            Ok((packet, n, violations)) => {
                if let Some(v) = packet.connect_version() {
                    decoder.version = v;
                }
                let vs: Vec<&Violation> = violations.iter().collect();
                if !vs.is_empty() {
                    status = INVALID;
                }
                let _ = print_packet(out, args.format, index, at, n, &packet, &vs);
                at += n;
                index += 1;
            }
            Err(e) => {
                let _ = print_error(out, args.format, at, &e);
                return match e {
                    DecodeError::Incomplete { .. } => INCOMPLETE,
                    DecodeError::Invalid(_) => INVALID,
                };
            }
        }
    }
    status
}

fn violation_json(v: &Violation, base: usize) -> Value {
    json!({
        "statement": v.statement(),
        "kind": v.kind().as_str(),
        "offset": base + v.offset,
        "message": v.message(),
    })
}

fn print_packet(
    out: &mut impl Write,
    format: Format,
    index: usize,
    offset: usize,
    len: usize,
    packet: &Packet<'_>,
    violations: &[&Violation],
) -> std::io::Result<()> {
    let value = serde_json::to_value(packet).unwrap_or(Value::Null);
    match format {
        Format::Json => {
            let mut obj = json!({ "offset": offset, "length": len, "packet": value });
            if !violations.is_empty() {
                obj["violations"] = violations
                    .iter()
                    .map(|v| violation_json(v, offset))
                    .collect();
            }
            writeln!(out, "{obj}")
        }
        Format::Text => {
            writeln!(
                out,
                "#{index} at byte {offset}: {} ({len} bytes)",
                packet.packet_type()
            )?;
            if let Value::Object(map) = &value {
                for (k, v) in map
                    .iter()
                    .filter(|(k, v)| k.as_str() != "type" && !v.is_null())
                {
                    write_field(out, 1, k, v)?;
                }
            }
            for v in violations {
                writeln!(
                    out,
                    "  violation at byte {}: {}: {} [{}]",
                    offset + v.offset,
                    v.kind(),
                    v.message(),
                    v.statement()
                )?;
            }
            Ok(())
        }
    }
}

/// Fields serialized as hex that hold bytes a person may want to read.
const BINARY_FIELDS: [&str; 4] = [
    "payload",
    "password",
    "correlation_data",
    "authentication_data",
];

fn write_field(out: &mut impl Write, depth: usize, key: &str, v: &Value) -> std::io::Result<()> {
    let pad = "  ".repeat(depth);
    match v {
        Value::Object(map) => {
            writeln!(out, "{pad}{key}:")?;
            for (k, v) in map.iter().filter(|(_, v)| !v.is_null()) {
                write_field(out, depth + 1, k, v)?;
            }
            Ok(())
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object()) => {
            let parts: Vec<String> = items.iter().map(short).collect();
            writeln!(out, "{pad}{key}: [{}]", parts.join(", "))
        }
        Value::Array(items) => {
            writeln!(out, "{pad}{key}:")?;
            for (i, item) in items.iter().enumerate() {
                write_field(out, depth + 1, &format!("[{i}]"), item)?;
            }
            Ok(())
        }
        Value::String(s) if BINARY_FIELDS.contains(&key) => {
            writeln!(out, "{pad}{key}: {}", show_bytes(s))
        }
        other => writeln!(out, "{pad}{key}: {}", short(other)),
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(short).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// Hex from the serializer shown as text when printable, else as hex;
/// long values are cut at 64 bytes.
fn show_bytes(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    let shown = &bytes[..bytes.len().min(64)];
    let more = if bytes.len() > 64 { "..." } else { "" };
    let body = match std::str::from_utf8(shown) {
        Ok(s) if s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t') => {
            format!("{s:?}{more}")
        }
        _ => format!("0x{}{more}", &hex[..2 * shown.len()]),
    };
    format!("{body} ({} bytes)", bytes.len())
}

fn print_error(
    out: &mut impl Write,
    format: Format,
    base: usize,
    e: &DecodeError,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            let err = match e {
                DecodeError::Incomplete { needed } => json!({
                    "kind": "incomplete",
                    "statement": Value::Null,
                    "offset": Value::Null,
                    "needed": needed,
                    "message": format!("input ends inside a packet: at least {needed} more byte(s) needed"),
                }),
                DecodeError::Invalid(v) => violation_json(v, base),
            };
            writeln!(out, "{}", json!({ "error": err }))
        }
        Format::Text => match e {
            DecodeError::Incomplete { needed } => writeln!(
                out,
                "error: incomplete: the input ends inside the packet at byte {base}; at least {needed} more byte(s) needed"
            ),
            DecodeError::Invalid(v) => writeln!(
                out,
                "error at byte {}: {}: {} [{}]",
                base + v.offset,
                v.kind(),
                v.message(),
                v.statement()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::parse_hex;

    #[test]
    fn hex_forms() {
        let args = [
            "30 07".to_string(),
            "0x00:03".to_string(),
            "AbCd".to_string(),
        ];
        assert_eq!(
            parse_hex(&args).unwrap(),
            vec![0x30, 0x07, 0x00, 0x03, 0xab, 0xcd]
        );
        assert!(parse_hex(&["3".into()]).is_err());
        assert!(parse_hex(&["zz".into()]).is_err());
    }
}
