//! `mqttkit decode`: packets from hex or a file, as text blocks or JSON lines.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use mqttkit_codec::{
    DecodeError, Decoder, Packet, PacketType, ProtocolVersion, Role, Violation, Violations,
};
use serde_json::{json, Map, Value};

/// Exit status: every packet is valid.
const OK: u8 = 0;
/// Exit status: a packet is malformed or breaks a protocol rule.
const INVALID: u8 = 1;
/// Exit status: usage error (bad arguments, bad hex, unreadable file).
const USAGE: u8 = 2;
/// Exit status: the input ends inside a packet.
const INCOMPLETE: u8 = 3;

/// Binary fields longer than this are cut in text output.
const SHOW_BYTES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Readable blocks, one per packet.
    Text,
    /// One JSON object per line: each packet, then the error if any.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Sender {
    /// The packets were sent by a Client.
    Client,
    /// The packets were sent by a Server.
    Server,
}

#[derive(Debug, Parser)]
#[command(after_long_help = "\
Input:
  HEX arguments are joined into one byte stream. Inside an argument, bytes may be
  separated by spaces or colons; a 0x prefix is optional; case does not matter.
  The stream is decoded packet after packet until it ends.

Exit status:
  0  every packet is valid
  1  a packet is malformed or breaks a protocol rule (with --lenient: any violation)
  2  usage error: bad arguments, bad hex, unreadable file, no input
  3  the input ends in the middle of a packet

Examples:
  # A 3.1.1 PUBLISH to \"a/b\" with payload \"hi\"
  mqttkit decode --protocol 3.1.1 30 07 00 03 61 2f 62 68 69

  # A CONNECT (its protocol level sets the version) followed by a PINGREQ
  mqttkit decode 10:10:00:04:4d:51:54:54:04:02:00:3c:00:04:6d:71:74:74 c0:00

  # A 5.0 PUBLISH sent by a client, as a JSON line
  mqttkit decode --protocol 5 --from client --format json 0x300700016100616263

  # Every violation in a captured client-to-server stream
  mqttkit decode --lenient --from client --file capture.bin

  # From standard input
  xxd -r -p packets.hex | mqttkit decode --protocol 5 --file -")]
pub struct Args {
    /// MQTT version of the packets: 3.1, 3.1.1 or 5. Without it the version
    /// comes from a CONNECT at the start of the input, else 3.1.1 (with a
    /// note on stderr). A CONNECT in the input always sets the version for
    /// the packets after it.
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    protocol: Option<ProtocolVersion>,

    /// Which side sent the packets. Turns on the rules bound to a direction
    /// (a CONNACK only comes from a Server, a Client's PUBLISH carries no
    /// Subscription Identifier, ...); without it they are not checked.
    #[arg(long, value_enum, value_name = "SIDE")]
    from: Option<Sender>,

    /// Keep going past violations and list them all with each packet (for
    /// captured traffic). Stops only where the bytes cannot be laid out as a
    /// packet. Any violation makes the exit status 1.
    #[arg(long)]
    lenient: bool,

    /// Output format: readable text blocks, or one JSON object per line.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Text)]
    format: Format,

    /// Refuse packets larger than this many bytes, fixed header included.
    /// Default: the protocol maximum (268435460).
    #[arg(long, value_name = "N")]
    max_packet_size: Option<usize>,

    /// Read the packets as raw bytes from this file (`-` for standard input)
    /// instead of from HEX arguments.
    #[arg(long, value_name = "PATH", conflicts_with = "hex")]
    file: Option<PathBuf>,

    /// Packet bytes in hex, e.g. `30 07 00 03 61 2f 62 68 69` or
    /// `0x3007:0003:612f:6268:69`. All arguments form one stream.
    #[arg(value_name = "HEX", required_unless_present = "file")]
    hex: Vec<String>,
}

fn parse_version(s: &str) -> Result<ProtocolVersion, String> {
    s.parse().map_err(|e: &str| e.to_string())
}

/// Joins hex arguments into bytes.
fn parse_hex(args: &[String]) -> Result<Vec<u8>, String> {
    let mut digits = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        for word in arg.split(|c: char| c.is_whitespace() || c == ':') {
            let w = word
                .strip_prefix("0x")
                .or_else(|| word.strip_prefix("0X"))
                .unwrap_or(word);
            if let Some(bad) = w.chars().find(|c| !c.is_ascii_hexdigit()) {
                return Err(format!(
                    "bad hex in argument {} ({arg:?}): {bad:?} is not a hex digit",
                    i + 1
                ));
            }
            digits.extend(w.bytes());
        }
    }
    if !digits.len().is_multiple_of(2) {
        return Err(format!(
            "bad hex: odd number of hex digits ({}); every byte takes two",
            digits.len()
        ));
    }
    Ok(digits
        .chunks_exact(2)
        .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1]))
        .collect())
}

fn nibble(d: u8) -> u8 {
    match d {
        b'0'..=b'9' => d - b'0',
        b'a'..=b'f' => d - b'a' + 10,
        _ => d - b'A' + 10,
    }
}

fn read_input(args: &Args) -> Result<Vec<u8>, String> {
    let bytes = match &args.file {
        Some(p) if p.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            buf
        }
        Some(p) => std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        None => parse_hex(&args.hex)?,
    };
    if bytes.is_empty() {
        return Err("no bytes to decode".into());
    }
    Ok(bytes)
}

/// Runs `mqttkit decode`.
pub fn run(args: Args) -> ExitCode {
    let bytes = match read_input(&args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("mqttkit decode: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let version = args.protocol.unwrap_or_else(|| {
        if bytes[0] >> 4 != PacketType::Connect as u8 {
            eprintln!(
                "mqttkit decode: note: the input does not start with CONNECT and no --protocol was given; decoding as MQTT 3.1.1"
            );
        }
        ProtocolVersion::V3_1_1
    });
    let mut decoder = Decoder::new(version);
    if let Some(max) = args.max_packet_size {
        decoder = decoder.max_packet_size(max);
    }
    if let Some(side) = args.from {
        decoder = decoder.sent_by(match side {
            Sender::Client => Role::Client,
            Sender::Server => Role::Server,
        });
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let status = decode_all(&bytes, decoder, &args, &mut out);
    match out.flush() {
        Ok(()) => ExitCode::from(status),
        // A closed pipe (`| head`) is not worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(status),
        Err(e) => {
            eprintln!("mqttkit decode: cannot write output: {e}");
            ExitCode::from(USAGE)
        }
    }
}

/// Decodes the whole stream; returns the exit status.
fn decode_all(bytes: &[u8], mut decoder: Decoder, args: &Args, out: &mut impl Write) -> u8 {
    let mut at = 0;
    let mut index = 0;
    let mut status = OK;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let result = if args.lenient {
            decoder.decode_lenient(rest)
        } else {
            decoder.decode(rest).map(|(p, n)| (p, n, Violations::new()))
        };
        let (packet, len, violations) = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = print_error(out, args.format, at, bytes.len(), &e);
                return match e {
                    DecodeError::Incomplete { .. } => INCOMPLETE,
                    DecodeError::Invalid(_) => INVALID,
                };
            }
        };
        if let Some(v) = packet.connect_version() {
            if args.protocol.is_some_and(|p| p != v) && index == 0 {
                eprintln!(
                    "mqttkit decode: note: the CONNECT announces MQTT {v}, not {}; decoding as MQTT {v}",
                    decoder.version
                );
            }
            decoder.version = v;
        }
        if !violations.is_empty() {
            status = INVALID;
        }
        let shown = Shown {
            index,
            offset: at,
            len,
            version: decoder.version,
            lenient: args.lenient,
        };
        if print_packet(out, args.format, &shown, &packet, &violations).is_err() {
            return status;
        }
        at += len;
        index += 1;
    }
    status
}

/// Where a packet sits in the stream and how it was decoded.
struct Shown {
    index: usize,
    offset: usize,
    len: usize,
    version: ProtocolVersion,
    lenient: bool,
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
    at: &Shown,
    packet: &Packet<'_>,
    violations: &Violations,
) -> std::io::Result<()> {
    let mut value = serde_json::to_value(packet).unwrap_or(Value::Null);
    if !at.version.is_v5() {
        v3_subscriptions(&mut value);
        if format == Format::Json {
            v3_codes(&mut value, packet);
        }
    }
    let dropped = violations.total() - violations.len();
    match format {
        Format::Json => {
            let mut obj = json!({ "offset": at.offset, "length": at.len, "packet": value });
            if at.lenient {
                obj["violations"] = violations
                    .iter()
                    .map(|v| violation_json(v, at.offset))
                    .collect();
                if dropped > 0 {
                    obj["violations_not_listed"] = dropped.into();
                }
            }
            writeln!(out, "{obj}")
        }
        Format::Text => {
            if at.index > 0 {
                writeln!(out)?;
            }
            writeln!(
                out,
                "#{} at byte {}: {} ({})",
                at.index,
                at.offset,
                packet.packet_type(),
                plural(at.len, "byte")
            )?;
            if let Value::Object(map) = value {
                let map = with_reason_names(map, packet, at.version);
                for (k, v) in map.iter().filter(|(k, v)| *k != "type" && !v.is_null()) {
                    write_field(out, 1, k, v)?;
                }
            }
            for v in violations.iter() {
                writeln!(
                    out,
                    "  violation at byte {}: {}: {} [{}]",
                    at.offset + v.offset,
                    v.kind(),
                    v.message(),
                    v.statement()
                )?;
            }
            if dropped > 0 {
                writeln!(out, "  ... and {} not listed", plural(dropped, "violation"))?;
            }
            Ok(())
        }
    }
}

fn more_bytes(n: usize) -> String {
    if n == 1 {
        "1 more byte".into()
    } else {
        format!("{n} more bytes")
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A 3.x SUBSCRIBE carries only a requested QoS per filter: drop the
/// 5.0 subscription options the packet type can represent but 3.x cannot.
fn v3_subscriptions(value: &mut Value) {
    let Some(subs) = value.get_mut("subscriptions").and_then(Value::as_array_mut) else {
        return;
    };
    for sub in subs {
        let qos = sub.pointer("/options/qos").cloned();
        if let (Some(obj), Some(qos)) = (sub.as_object_mut(), qos) {
            obj.remove("options");
            obj.insert("qos".into(), qos);
        }
    }
}

/// JSON for 3.x shows codes as they are on the wire: a CONNACK has a
/// `return_code` (0-5), a SUBACK `return_codes` (0, 1, 2 or 0x80), and the
/// other acknowledgements and DISCONNECT have no code at all.
fn v3_codes(value: &mut Value, packet: &Packet<'_>) {
    let Some(obj) = value.as_object_mut() else {
        return;
    };
    match packet {
        Packet::ConnAck(c) => {
            obj.remove("reason_code");
            let code = c.reason_code.to_v3().unwrap_or(c.reason_code.as_u8());
            obj.insert("return_code".into(), code.into());
        }
        Packet::SubAck(_) => {
            // The granted-QoS codes and 0x80 have the same values in both
            // versions; only the name differs.
            if let Some(codes) = obj.remove("reason_codes") {
                obj.insert("return_codes".into(), codes);
            }
        }
        Packet::PubAck(_)
        | Packet::PubRec(_)
        | Packet::PubRel(_)
        | Packet::PubComp(_)
        | Packet::Disconnect(_) => {
            obj.remove("reason_code");
        }
        Packet::UnsubAck(_) => {
            obj.remove("reason_codes");
        }
        _ => {}
    }
}

/// Reason codes with their names for text output. MQTT 3.x acknowledgements
/// and DISCONNECT carry no reason code, so none is shown; a 3.x CONNACK shows
/// its return code as sent.
fn with_reason_names(
    map: Map<String, Value>,
    packet: &Packet<'_>,
    v: ProtocolVersion,
) -> Map<String, Value> {
    let v5 = v.is_v5();
    let single = match packet {
        Packet::ConnAck(c) if !v5 => Some(match c.reason_code.to_v3() {
            Some(code) => format!("0x{code:02X} {}", c.reason_code.name()),
            None => c.reason_code.to_string(),
        }),
        Packet::ConnAck(c) => Some(c.reason_code.to_string()),
        Packet::PubAck(p) => v5.then(|| p.reason_code.to_string()),
        Packet::PubRec(p) => v5.then(|| p.reason_code.to_string()),
        Packet::PubRel(p) => v5.then(|| p.reason_code.to_string()),
        Packet::PubComp(p) => v5.then(|| p.reason_code.to_string()),
        Packet::Disconnect(d) => v5.then(|| d.reason_code.to_string()),
        Packet::Auth(a) => Some(a.reason_code.to_string()),
        _ => None,
    };
    let list = match packet {
        // 3.x has one failure code, 0x80, named Failure.
        Packet::SubAck(s) if !v5 => Some(
            s.reason_codes
                .iter()
                .map(|c| {
                    if c.is_error() {
                        "0x80 Failure".into()
                    } else {
                        c.to_string()
                    }
                })
                .collect(),
        ),
        Packet::SubAck(s) => Some(s.reason_codes.iter().map(|c| c.to_string()).collect()),
        Packet::UnsubAck(u) if v5 => Some(u.reason_codes.iter().map(|c| c.to_string()).collect()),
        _ => None::<Vec<String>>,
    };
    let connack_v3 = matches!(packet, Packet::ConnAck(_)) && !v5;
    let mut shown = Map::new();
    for (k, val) in map {
        match k.as_str() {
            "reason_code" => {
                if let Some(s) = &single {
                    let key = if connack_v3 {
                        "return_code"
                    } else {
                        "reason_code"
                    };
                    shown.insert(key.into(), Value::String(s.clone()));
                }
            }
            "reason_codes" => match &list {
                Some(l) => {
                    let key = if v5 { "reason_codes" } else { "return_codes" };
                    shown.insert(key.into(), Value::String(format!("[{}]", l.join(", "))));
                }
                None if v5 => {
                    shown.insert(k, val);
                }
                None => {}
            },
            _ => {
                shown.insert(k, val);
            }
        }
    }
    shown
}

/// Fields the serializer writes as hex that a person may want to read.
const BINARY_FIELDS: [&str; 4] = [
    "payload",
    "password",
    "correlation_data",
    "authentication_data",
];

/// Fields replaced by `with_reason_names`, printed without quotes.
const RAW_FIELDS: [&str; 4] = ["reason_code", "reason_codes", "return_code", "return_codes"];

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
        Value::Array(items) if items.iter().any(Value::is_object) => {
            writeln!(out, "{pad}{key}:")?;
            for (i, item) in items.iter().enumerate() {
                write_field(out, depth + 1, &format!("[{i}]"), item)?;
            }
            Ok(())
        }
        Value::String(s) if BINARY_FIELDS.contains(&key) => {
            writeln!(out, "{pad}{key}: {}", show_bytes(s))
        }
        Value::String(s) if RAW_FIELDS.contains(&key) => writeln!(out, "{pad}{key}: {s}"),
        other => writeln!(out, "{pad}{key}: {}", short(other)),
    }
}

/// A scalar or nested array on one line (arrays of strings: user properties).
fn short(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(short).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// Bytes (hex from the serializer) as quoted text when printable UTF-8,
/// else as hex; cut after 64 bytes; always followed by the length.
fn show_bytes(hex: &str) -> String {
    let bytes: Vec<u8> = hex
        .as_bytes()
        .chunks_exact(2)
        .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1]))
        .collect();
    let cut = bytes.len() > SHOW_BYTES;
    let shown = &bytes[..bytes.len().min(SHOW_BYTES)];
    let text = match std::str::from_utf8(shown) {
        Ok(s) => Some(s),
        // The cut fell inside a character: show the text up to it.
        Err(e) if cut && e.error_len().is_none() => {
            std::str::from_utf8(&shown[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    let more = if cut { "..." } else { "" };
    let body = match text {
        Some(s)
            if s.chars()
                .all(|c| !c.is_control() || c == '\n' || c == '\t' || c == '\r') =>
        {
            format!("{s:?}{more}")
        }
        _ => format!("0x{}{more}", &hex[..2 * shown.len()]),
    };
    format!("{body} ({})", plural(bytes.len(), "byte"))
}

fn print_error(
    out: &mut impl Write,
    format: Format,
    base: usize,
    input_len: usize,
    e: &DecodeError,
) -> std::io::Result<()> {
    match (format, e) {
        (Format::Json, DecodeError::Incomplete { needed }) => {
            let err = json!({
                "kind": "incomplete",
                "statement": null,
                "offset": null,
                "message": format!(
                    "the input ends inside the packet at byte {base}: at least {} needed",
                    more_bytes(*needed)
                ),
                "packet_offset": base,
                "needed": needed,
            });
            writeln!(out, "{}", json!({ "error": err }))
        }
        (Format::Json, DecodeError::Invalid(v)) => {
            let err = json!({
                "kind": v.kind().as_str(),
                "statement": v.statement(),
                "offset": base + v.offset,
                "message": v.message(),
            });
            writeln!(out, "{}", json!({ "error": err }))
        }
        (Format::Text, DecodeError::Incomplete { needed }) => {
            if base > 0 {
                writeln!(out)?;
            }
            writeln!(
                out,
                "error: incomplete: the input ends at byte {input_len}, inside the packet at byte {base}; at least {} needed",
                more_bytes(*needed)
            )
        }
        (Format::Text, DecodeError::Invalid(v)) => {
            if base > 0 {
                writeln!(out)?;
            }
            writeln!(
                out,
                "error at byte {}: {}: {} [{}]",
                base + v.offset,
                v.kind(),
                v.message(),
                v.statement()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_hex, show_bytes};

    fn hex(args: &[&str]) -> Result<Vec<u8>, String> {
        parse_hex(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn help_states_the_default_size_limit() {
        assert_eq!(mqttkit_codec::MAX_PACKET_SIZE, 268_435_460);
    }

    #[test]
    fn hex_forms() {
        assert_eq!(
            hex(&["30 07", "0x00:03", "AbCd", "0X0f"]).unwrap(),
            vec![0x30, 0x07, 0x00, 0x03, 0xab, 0xcd, 0x0f]
        );
        assert_eq!(hex(&["3", "0"]).unwrap(), vec![0x30]);
        assert!(hex(&["3"]).unwrap_err().contains("odd number"));
        assert!(hex(&["30", "zz"]).unwrap_err().contains("argument 2"));
        assert!(hex(&["0x"]).unwrap().is_empty());
    }

    #[test]
    fn bytes_shown() {
        assert_eq!(show_bytes("6869"), "\"hi\" (2 bytes)");
        assert_eq!(show_bytes("00ff"), "0x00ff (2 bytes)");
        assert_eq!(show_bytes(""), "\"\" (0 bytes)");
        let long = "61".repeat(70);
        assert_eq!(
            show_bytes(&long),
            format!("\"{}\"... (70 bytes)", "a".repeat(64))
        );
        // A cut through a two-byte character keeps the text before it.
        let e_acute = format!("{}c3a9", "61".repeat(63));
        assert_eq!(
            show_bytes(&e_acute),
            format!("\"{}\"... (65 bytes)", "a".repeat(63))
        );
    }
}
