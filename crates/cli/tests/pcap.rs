//! `mqttkit pcap` end to end: the built binary on captures of
//! corpus/captures, its output (snapshots) and its exit status.

use std::path::{Path, PathBuf};

mod common;
use common::{mqttkit, Run};

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/captures")
}

/// Runs `mqttkit pcap ARGS` from corpus/captures.
fn run(args: &[&str]) -> Run {
    common::run(mqttkit("pcap", args).current_dir(captures()))
}

fn transcript(args: &[&str], r: &Run) -> String {
    let mut t = format!("$ mqttkit pcap {}\n[exit {}]\n", args.join(" "), r.code);
    t.push_str(&r.stdout);
    if !r.stderr.is_empty() {
        t.push_str("[stderr]\n");
        t.push_str(&r.stderr);
    }
    t
}

#[test]
fn text_output_of_a_clean_311_session_exits_0() {
    let args = ["suricata-verify/mqtt311-pub-qos2__input.pcap"];
    let r = run(&args);
    assert_eq!(r.code, 0);
    // CONNECT, CONNACK, PUBLISH, PUBREC, PUBREL, PUBCOMP, DISCONNECT.
    assert_eq!(r.stdout.lines().count(), 7);
    insta::assert_snapshot!(transcript(&args, &r));
}

#[test]
fn json_lines_with_tshark_names_and_hex_payload() {
    let args = [
        "--format",
        "json",
        "--payload",
        "hex",
        "suricata-verify/mqtt5-pub-mosquittoprops__input.pcap",
    ];
    let r = run(&args);
    // The capture's Payload Format Indicators (88 and 144) are invalid.
    assert_eq!(r.code, 1);
    let lines: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let publish = lines
        .iter()
        .find(|v| v["type"] == "PUBLISH")
        .expect("a PUBLISH");
    assert_eq!(publish["version"], 5);
    assert_eq!(publish["mqtt"]["topic"], "topicX");
    assert_eq!(publish["mqtt"]["qos"], 1);
    assert_eq!(
        publish["mqtt"]["msg"],
        "62:61:61:62:61:61:62:6c:61:63:6b:73:68:65:65:70"
    );
    assert_eq!(
        publish["violations"][0]["id"],
        "§3.3.2.3.2/payload-format-indicator"
    );
    insta::assert_snapshot!(transcript(&args, &r));
}

#[test]
fn violations_only_and_exit_1() {
    let args = [
        "--violations",
        "suricata-verify/mqtt-events-invalid-qos__input.pcap",
    ];
    let r = run(&args);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("MQTT-3.3.1-4"));
    // The clean CONNECT and CONNACK are not printed.
    assert!(!r.stdout.contains("CONNECT"));
    insta::assert_snapshot!(transcript(&args, &r));
}

#[test]
fn port_option_and_websocket_on_mosquitto_captures() {
    let args = [
        "--port",
        "18830",
        "--payload",
        "utf8",
        "mosquitto/mqtt5_mosquitto.pcapng",
    ];
    let r = run(&args);
    assert!(r.stdout.contains("MQTT 5.0 PUBLISH"));
    // Found on 18830 by the option: no content-detection notice.
    assert!(!r.stdout.contains("found by content: CONNECT"));
    let ws = run(&["mosquitto/mqtt_over_websocket.pcapng"]);
    assert!(ws.stdout.contains(" ws PUBLISH"));
    insta::assert_snapshot!(transcript(&args, &r));
}

#[test]
fn stats_in_text_and_json() {
    let args = ["--stats", "mosquitto/mqtt311_mosquitto.pcap"];
    let r = run(&args);
    assert!(r.stdout.starts_with("packets: "));
    let j = run(&[
        "--stats",
        "--format",
        "json",
        "mosquitto/mqtt311_mosquitto.pcap",
    ]);
    let v: serde_json::Value = serde_json::from_str(j.stdout.trim()).expect("one JSON object");
    assert!(v["stats"]["packets"].as_u64().unwrap() > 50);
    assert!(v["stats"]["by_type"]["PUBLISH"].as_u64().unwrap() > 10);
    insta::assert_snapshot!(transcript(&args, &r));
}

#[test]
fn missing_file_is_a_usage_error_and_garbage_is_reported() {
    let r = run(&["no-such-file.pcap"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot open no-such-file.pcap"));
    let dir = std::env::temp_dir().join(format!("mqttkit-pcap-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.pcap");
    std::fs::write(&junk, b"definitely not a capture").unwrap();
    let r = run(&[junk.to_str().unwrap()]);
    assert_eq!(r.code, 0);
    assert!(r
        .stdout
        .starts_with("# 1 capture: record 1 at offset 0: not a pcap or pcapng file"));
    let _ = std::fs::remove_dir_all(&dir);
}
