//! Oracle test: every capture in corpus/captures decoded by tshark and by
//! mqttkit-pcap must agree field by field on every frame, except the frames
//! listed in `tshark-known-errors.tsv`, each with one of the known tshark
//! shortcomings as its reason. Every listed frame must really disagree, so
//! the list cannot go stale.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use common::{by_frame, captures, captures_dir, run};

/// Fields compared (Wireshark names).
const FIELDS: &[&str] = &[
    "mqtt.msgtype",
    "mqtt.hdrflags",
    "mqtt.len",
    "mqtt.dupflag",
    "mqtt.qos",
    "mqtt.retain",
    "mqtt.topic_len",
    "mqtt.topic",
    "mqtt.msgid",
    "mqtt.msg",
    "mqtt.proto_len",
    "mqtt.protoname",
    "mqtt.ver",
    "mqtt.conflags",
    "mqtt.kalive",
    "mqtt.clientid",
    "mqtt.willtopic",
    "mqtt.willmsg",
    "mqtt.username",
    "mqtt.passwd",
    "mqtt.conack.flags",
    "mqtt.conack.val",
    "mqtt.connack.reason_code",
    "mqtt.sub.qos",
    "mqtt.suback.qos",
    "mqtt.subscription_options",
    "mqtt.puback.reason_code",
    "mqtt.pubrec.reason_code",
    "mqtt.pubrel.reason_code",
    "mqtt.pubcomp.reason_code",
    "mqtt.suback.reason_code",
    "mqtt.unsuback.reason_code",
    "mqtt.disconnect.reason_code",
    "mqtt.auth.reason_code",
    "mqtt.property_len",
    "mqtt.property_id",
    "mqtt.prop_number",
    "mqtt.prop_string",
    "mqtt.prop_key",
    "mqtt.prop_value",
    "mqtt.property.content_type",
    "mqtt.property.topic_alias",
    "mqtt.property.max_qos",
];

/// The tshark shortcomings a listed frame may be explained by.
const REASONS: &[&str] = &[
    "websocket",
    "split-remaining-length",
    "out-of-order",
    "port",
    "qos3",
    "subscribe-flags",
];

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn normalise(v: &str) -> String {
    if let Some(hex) = v.strip_prefix("0x") {
        if let Ok(n) = u64::from_str_radix(hex, 16) {
            return n.to_string();
        }
    }
    match v {
        // How tshark shows an empty byte field (an empty PUBLISH payload).
        "<MISSING>" => String::new(),
        "True" => "1".into(),
        "False" => "0".into(),
        _ => v.to_string(),
    }
}

type Frames = BTreeMap<u64, BTreeMap<String, Vec<String>>>;

fn tshark_frames(capture: &str) -> Frames {
    let path = captures_dir().join(capture);
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(&path);
    if capture.starts_with("mosquitto/") {
        cmd.args(["-d", "tcp.port==18830,mqtt"]);
    }
    cmd.args([
        "-T",
        "json",
        "-e",
        "frame.number",
        "-e",
        "mqtt.unknown_version",
        "-e",
        "_ws.malformed",
    ]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed on {capture}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("tshark JSON");
    let mut frames = Frames::new();
    for pkt in v.as_array().into_iter().flatten() {
        let layers = &pkt["_source"]["layers"];
        let Some(obj) = layers.as_object() else {
            continue;
        };
        let frame: u64 = obj["frame.number"][0]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("frame number");
        let mut m = BTreeMap::new();
        for (k, vals) in obj {
            if k == "frame.number" {
                continue;
            }
            let vals: Vec<String> = vals
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(normalise))
                .collect();
            m.insert(k.clone(), vals);
        }
        if !m.is_empty() {
            frames.insert(frame, m);
        }
    }
    frames
}

/// Fields tshark decodes the same whatever the version: the only ones
/// compared on frames tshark itself flags with `mqtt.unknown_version` (no
/// CONNECT seen: it does not decode the rest) or `_ws.malformed` (it stops
/// decoding; one value it shows before stopping is wrong, see README-PERF).
const HEADER_FIELDS: &[&str] = &[
    "mqtt.msgtype",
    "mqtt.hdrflags",
    "mqtt.len",
    "mqtt.dupflag",
    "mqtt.qos",
    "mqtt.retain",
];

/// How many frames carry MQTT for each side of one comparison.
struct Counts {
    tshark: usize,
    mqttkit: usize,
}

/// Frames where the two disagree, with the first differing field, and how
/// many frames each side decoded MQTT in.
fn disagreements(capture: &str) -> (BTreeMap<u64, String>, Counts) {
    let theirs = tshark_frames(capture);
    let mut ours = by_frame(&run(capture));
    for m in ours.values_mut() {
        // tshark -T json prints bytes without separators.
        for k in ["mqtt.msg", "mqtt.willmsg"] {
            if let Some(v) = m.get_mut(k) {
                for x in v.iter_mut() {
                    x.retain(|c| c != ':');
                }
            }
        }
    }
    let counts = Counts {
        tshark: theirs.len(),
        mqttkit: ours.len(),
    };
    let mut frames: BTreeSet<u64> = theirs.keys().copied().collect();
    frames.extend(ours.keys().copied());
    let empty = BTreeMap::new();
    let mut out = BTreeMap::new();
    for f in frames {
        let t = theirs.get(&f).unwrap_or(&empty);
        let o = ours.get(&f).unwrap_or(&empty);
        let fields = if t.contains_key("mqtt.unknown_version") || t.contains_key("_ws.malformed") {
            HEADER_FIELDS
        } else {
            FIELDS
        };
        for field in fields {
            let tv = t.get(*field).cloned().unwrap_or_default();
            let ov = o.get(*field).cloned().unwrap_or_default();
            if tv != ov {
                out.insert(f, format!("{field}: tshark {tv:?}, mqttkit {ov:?}"));
                break;
            }
        }
    }
    (out, counts)
}

fn known_errors() -> BTreeMap<(String, u64), String> {
    let text = include_str!("tshark-known-errors.tsv");
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(
            cols.len() >= 3,
            "bad line in tshark-known-errors.tsv: {line}"
        );
        let frame: u64 = cols[1].parse().expect("frame number");
        assert!(
            REASONS.contains(&cols[2]),
            "{}: frame {frame}: reason {:?} is not one of the known tshark errors {REASONS:?}",
            cols[0],
            cols[2]
        );
        out.insert((cols[0].to_string(), frame), cols[2].to_string());
    }
    out
}

/// True when tshark attaches an expert warning or error to an MQTT field
/// of `frame` (or calls it malformed).
fn tshark_flags(capture: &str, frame: u64) -> bool {
    let out = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(captures_dir().join(capture))
        .args(["-Y", &format!("frame.number=={frame}")])
        .args([
            "-T",
            "fields",
            "-e",
            "_ws.malformed",
            "-e",
            "_ws.expert.severity",
            "-e",
            "mqtt.msgtype",
        ])
        .output()
        .expect("run tshark");
    let text = String::from_utf8_lossy(&out.stdout);
    let cols: Vec<&str> = text.trim_end_matches('\n').split('\t').collect();
    assert_eq!(cols.len(), 3, "tshark printed {text:?}");
    assert!(
        !cols[2].is_empty(),
        "tshark decodes no MQTT in {capture} frame {frame}"
    );
    // Severity: 4194304 = warning, 8388608 = error (chat/note are lower).
    let severe = cols[1]
        .split(',')
        .filter_map(|s| s.parse::<u64>().ok())
        .any(|s| s >= 4_194_304);
    !cols[0].is_empty() || severe
}

#[test]
fn every_capture_agrees_with_tshark_except_known_tshark_errors() {
    if !tshark_available() {
        eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        eprintln!("SKIPPED: tshark not installed (oracle comparison not run)");
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
        // The known-error list is still checked for well-formedness.
        let _ = known_errors();
        return;
    }
    let known = known_errors();
    // The flag check can see a flag: tshark calls this CONNECT malformed.
    assert!(tshark_flags(
        "suricata-verify/mqtt5-excessiveproplen__input.pcap",
        4
    ));
    let list = captures();
    assert!(list.len() >= 40, "captures missing from corpus/captures");
    let mut problems = Vec::new();
    let mut compared = 0usize;
    let mut seen_known = BTreeSet::new();
    // Per capture: frames with MQTT (tshark, mqttkit), frames where all
    // compared fields agree, frames that are known tshark errors.
    let mut summary = vec![format!(
        "{:<60} {:>7} {:>7} {:>7} {:>7}",
        "capture", "tshark", "mqttkit", "agree", "known"
    )];
    let (mut all_frames, mut all_agree) = (0usize, 0usize);
    for capture in &list {
        let (diffs, counts) = disagreements(capture);
        compared += 1;
        let mut known_here = 0usize;
        let differing = diffs.len();
        for (frame, what) in diffs {
            let key = (capture.clone(), frame);
            if known.contains_key(&key) {
                seen_known.insert(key);
                known_here += 1;
            } else {
                problems.push(format!("{capture} frame {frame}: {what}"));
            }
        }
        let frames = counts.tshark.max(counts.mqttkit);
        all_frames += frames;
        all_agree += frames.saturating_sub(differing);
        summary.push(format!(
            "{capture:<60} {:>7} {:>7} {:>7} {known_here:>7}",
            counts.tshark,
            counts.mqttkit,
            frames.saturating_sub(differing)
        ));
    }
    summary.push(format!(
        "{} captures: {all_agree} of {all_frames} MQTT frames agree field by field",
        list.len()
    ));
    // Shown with `--nocapture` (and on failure): the numbers behind the
    // agreement claim.
    eprintln!("{}", summary.join("\n"));
    // QoS 3 and bad SUBSCRIBE flags: the fields agree, the error is that
    // tshark does not flag the packet. Check that it does not, and that we do.
    for ((capture, frame), reason) in &known {
        if reason != "qos3" && reason != "subscribe-flags" {
            continue;
        }
        seen_known.insert((capture.clone(), *frame));
        let expected = if reason == "qos3" {
            "MQTT-3.3.1-4"
        } else {
            "MQTT-3.8.1-1"
        };
        let ours = run(capture);
        let flagged = ours
            .packets
            .iter()
            .any(|p| p.frame == *frame && p.findings.iter().any(|f| f == expected));
        if !flagged {
            problems.push(format!(
                "{capture} frame {frame}: mqttkit does not report {expected}"
            ));
        }
        if tshark_flags(capture, *frame) {
            problems.push(format!(
                "{capture} frame {frame}: listed as '{reason}' but tshark flags the frame"
            ));
        }
    }
    for key in known.keys() {
        if !seen_known.contains(key) {
            problems.push(format!(
                "{} frame {}: listed as a tshark error but both agree",
                key.0, key.1
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} disagreements with tshark over {compared} captures:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
