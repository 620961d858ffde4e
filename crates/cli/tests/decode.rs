//! `mqttkit decode` end to end: the built binary, its output (snapshots)
//! and its exit status.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `mqttkit decode ARGS` (with `stdin` piped in) and returns
/// (exit code, stdout, stderr).
fn decode(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mqttkit"))
        .arg("decode")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mqttkit");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

const CONNECT_311: &str = "10 10 00 04 4d 51 54 54 04 02 00 3c 00 04 6d 71 74 74";
/// 5.0 PUBLISH QoS 1 with Message Expiry, Content Type and a User Property.
const PUBLISH_5: &str = "32 22 00 03 61 2f 62 00 07 13 02 00 00 00 3c 03 00 04 6a 73 6f 6e 26 00 01 6b 00 01 76 7b 22 78 22 3a 31 7d";
const BAD_TOPIC: &str = "30 09 00 03 61 2f 23 68 69 21 21";

#[test]
fn connect_text() {
    let (code, out, _) = decode(&["--from", "client", CONNECT_311], b"");
    assert_eq!(code, 0);
    insta::assert_snapshot!(out);
}

#[test]
fn publish_v5_text_and_json() {
    let (code, text, _) = decode(&["--protocol", "5", PUBLISH_5], b"");
    assert_eq!(code, 0, "{text}");
    insta::assert_snapshot!("publish_v5_text", text);
    let (code, json, _) = decode(&["--protocol", "5", "--format", "json", PUBLISH_5], b"");
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["packet"]["type"], "PUBLISH");
    assert_eq!(v["packet"]["properties"]["content_type"], "json");
    insta::assert_snapshot!("publish_v5_json", json);
}

#[test]
fn a_stream_of_three_packets() {
    let (code, out, _) = decode(
        &[
            "--format",
            "json",
            CONNECT_311,
            "82 06 00 01 00 01 61 01",
            "c0 00",
        ],
        b"",
    );
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 3);
    insta::assert_snapshot!(out);
}

#[test]
fn strict_error_names_the_statement() {
    let (code, text, _) = decode(&["--protocol", "3.1.1", BAD_TOPIC], b"");
    assert_eq!(code, 1);
    assert!(text.contains("[MQTT-3.3.2-2]"), "{text}");
    insta::assert_snapshot!("strict_error_text", text);
    let (code, json, _) = decode(&["--protocol", "3.1.1", "--format", "json", BAD_TOPIC], b"");
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["error"]["statement"], "MQTT-3.3.2-2");
    assert_eq!(v["error"]["kind"], "protocol_error");
    assert_eq!(v["error"]["offset"], 6);
}

#[test]
fn lenient_lists_every_violation() {
    // QoS 0 with DUP set and a wildcard in the topic: two violations.
    let (code, text, _) = decode(
        &["--protocol", "3.1.1", "--lenient", "38 05 00 03 61 2f 2b"],
        b"",
    );
    assert_eq!(code, 1);
    assert!(
        text.contains("MQTT-3.3.1-2") && text.contains("MQTT-3.3.2-2"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn incomplete_input_exits_3() {
    let (code, json, _) = decode(
        &["--protocol", "3.1.1", "--format", "json", "30 07 00 03 61"],
        b"",
    );
    assert_eq!(code, 3);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["error"]["kind"], "incomplete");
    assert_eq!(v["error"]["needed"], 4);
    assert!(v["error"]["statement"].is_null());
}

#[test]
fn bad_hex_exits_2() {
    let (code, out, err) = decode(&["30 0"], b"");
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("odd number of hex digits"), "{err}");
    let (code, _, err) = decode(&["zz"], b"");
    assert_eq!(code, 2);
    assert!(err.contains("not a hex digit"), "{err}");
}

#[test]
fn file_and_stdin_input() {
    let bytes: Vec<u8> = [0xc0, 0x00, 0xd0, 0x00].to_vec();
    let path = std::env::temp_dir().join(format!("mqttkit-decode-{}.bin", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let (code, out, _) = decode(&["--protocol", "5", "--file", path.to_str().unwrap()], b"");
    std::fs::remove_file(&path).ok();
    assert_eq!(code, 0);
    insta::assert_snapshot!(out);
    let (code, out2, _) = decode(&["--protocol", "5", "--file", "-"], &bytes);
    assert_eq!(code, 0);
    assert_eq!(out, out2);
}

#[test]
fn direction_rules_only_with_from() {
    // A CONNACK claimed to come from a client.
    let (code, _, _) = decode(&["--protocol", "3.1.1", "20 02 00 00"], b"");
    assert_eq!(code, 0);
    let (code, out, _) = decode(
        &["--protocol", "3.1.1", "--from", "client", "20 02 00 00"],
        b"",
    );
    assert_eq!(code, 1);
    assert!(out.contains("§2.2.1/direction"), "{out}");
}
