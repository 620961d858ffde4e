//! `mqttkit decode` end to end: the built binary, its output in both
//! formats (snapshots) and its exit status.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one run printed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `mqttkit decode ARGS` in `dir` with `stdin` piped in.
fn run_in(dir: &Path, args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mqttkit"))
        .arg("decode")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mqttkit");
    // The program may exit before reading stdin (usage errors).
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn shell_word(a: &str) -> String {
    if a.is_empty() || a.contains(' ') {
        format!("'{a}'")
    } else {
        a.to_string()
    }
}

/// A transcript of one run: the command, exit status, stdout, stderr.
fn transcript(args: &[&str], r: &Run) -> String {
    let cmd: Vec<String> = args.iter().map(|a| shell_word(a)).collect();
    let mut t = format!("$ mqttkit decode {}\n[exit {}]\n", cmd.join(" "), r.code);
    t.push_str(&r.stdout);
    if !r.stderr.is_empty() {
        t.push_str("[stderr]\n");
        t.push_str(&r.stderr);
    }
    t
}

/// Runs `args` as text and again with `--format json`, checks both exit
/// with `code` and that every JSON stdout line parses; returns both
/// transcripts (for a snapshot) and the parsed JSON lines.
fn both_formats_in(
    dir: &Path,
    args: &[&str],
    stdin: &[u8],
    code: i32,
) -> (String, Vec<serde_json::Value>) {
    let text = run_in(dir, args, stdin);
    assert_eq!(text.code, code, "text run of {args:?}\n{}", text.stderr);
    let mut json_args = vec!["--format", "json"];
    json_args.extend_from_slice(args);
    let json = run_in(dir, &json_args, stdin);
    assert_eq!(json.code, code, "json run of {args:?}\n{}", json.stderr);
    assert_eq!(text.stderr, json.stderr, "stderr depends only on the input");
    let lines = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let all = format!(
        "{}\n{}",
        transcript(args, &text),
        transcript(&json_args, &json)
    );
    (all, lines)
}

fn both_formats(args: &[&str], code: i32) -> (String, Vec<serde_json::Value>) {
    both_formats_in(Path::new("."), args, b"", code)
}

/// CONNECT, MQTT 3.1.1, clean session, keep alive 60, client id "mqtt".
const CONNECT_311: &str = "10 10 00 04 4d 51 54 54 04 02 00 3c 00 04 6d 71 74 74";
/// PUBLISH, MQTT 5.0, QoS 1, packet id 7, topic "a/b", Message Expiry 60,
/// Content Type "json", User Property k=v, payload `{"x":1}`.
const PUBLISH_5: &str = "32 22 00 03 61 2f 62 00 07 13 02 00 00 00 3c 03 00 04 6a 73 6f 6e 26 00 01 6b 00 01 76 7b 22 78 22 3a 31 7d";
/// PINGREQ.
const PINGREQ: &str = "c0 00";
/// PUBLISH QoS 0 with DUP set (MQTT-3.3.1-2) and topic "a/#" (MQTT-3.3.2-2).
const BAD_PUBLISH: &str = "38 09 00 03 61 2f 23 68 69 21 21";

#[test]
fn connect_311() {
    let (out, json) = both_formats(&["--from", "client", CONNECT_311], 0);
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["packet"]["type"], "CONNECT");
    assert_eq!(json[0]["packet"]["protocol"], "3.1.1");
    insta::assert_snapshot!(out);
}

#[test]
fn publish_v5_with_properties() {
    let (out, json) = both_formats(&["--protocol", "5", PUBLISH_5], 0);
    let p = &json[0]["packet"];
    assert_eq!(p["type"], "PUBLISH");
    assert_eq!(p["properties"]["message_expiry_interval"], 60);
    assert_eq!(p["properties"]["content_type"], "json");
    assert_eq!(p["payload"], "7b2278223a317d");
    assert_eq!(json[0]["length"], 36);
    insta::assert_snapshot!(out);
}

#[test]
fn stream_of_three_packets() {
    // CONNECT (sets the version), SUBSCRIBE, PINGREQ: three arguments in
    // three hex spellings, one stream.
    let (out, json) = both_formats(
        &[
            "--from",
            "client",
            CONNECT_311,
            "0x82:06:00:01:00:01:61:01",
            "C000",
        ],
        0,
    );
    let offsets: Vec<_> = json.iter().map(|j| j["offset"].clone()).collect();
    assert_eq!(offsets, [0, 18, 26]);
    assert_eq!(json[1]["packet"]["type"], "SUBSCRIBE");
    assert_eq!(json[2]["packet"]["type"], "PINGREQ");
    insta::assert_snapshot!(out);
}

#[test]
fn strict_stops_at_the_first_error() {
    // PINGREQ, then the bad PUBLISH at byte 2, then a PINGREQ never reached.
    let (out, json) = both_formats(&["--protocol", "3.1.1", PINGREQ, BAD_PUBLISH, PINGREQ], 1);
    assert_eq!(json.len(), 2);
    let e = &json[1]["error"];
    assert_eq!(e["kind"], "malformed");
    assert_eq!(e["statement"], "MQTT-3.3.1-2");
    // Offsets count from the start of the whole input.
    assert_eq!(e["offset"], 2);
    insta::assert_snapshot!(out);

    let (out, json) = both_formats(
        &["--protocol", "3.1.1", "30 09 00 03 61 2f 23 68 69 21 21"],
        1,
    );
    assert_eq!(json[0]["error"]["kind"], "protocol_error");
    assert_eq!(json[0]["error"]["statement"], "MQTT-3.3.2-2");
    assert_eq!(json[0]["error"]["offset"], 6);
    assert!(out.contains(
        "error at byte 6: protocol_error: PUBLISH topic name contains a wildcard character [MQTT-3.3.2-2]"
    ));
}

#[test]
fn lenient_lists_every_violation() {
    let (out, json) = both_formats(
        &[
            "--protocol",
            "3.1.1",
            "--lenient",
            PINGREQ,
            BAD_PUBLISH,
            PINGREQ,
        ],
        1,
    );
    assert_eq!(json.len(), 3, "goes on past the bad packet");
    assert_eq!(json[0]["violations"], serde_json::json!([]));
    let statements: Vec<_> = json[1]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["statement"].clone(), v["offset"].clone()))
        .collect();
    assert_eq!(
        statements,
        [
            (serde_json::json!("MQTT-3.3.1-2"), serde_json::json!(2)),
            (serde_json::json!("MQTT-3.3.2-2"), serde_json::json!(8)),
        ]
    );
    insta::assert_snapshot!(out);
}

#[test]
fn lenient_stops_on_structural_errors() {
    // A 5.0 DISCONNECT whose Property Length runs past the packet.
    let (out, json) = both_formats(
        &["--protocol", "5", "--lenient", PINGREQ, "e0 03 00 05 11"],
        1,
    );
    assert_eq!(json[1]["error"]["statement"], "§2.2.2.1/property-length");
    assert_eq!(json[1]["error"]["offset"], 5);
    insta::assert_snapshot!(out);
}

#[test]
fn incomplete_input_exits_3() {
    // A PINGREQ, then a PUBLISH whose Remaining Length says 7 but 2 follow.
    let (out, json) = both_formats(&["--protocol", "3.1.1", PINGREQ, "30 07 00 03"], 3);
    let e = &json[1]["error"];
    assert_eq!(e["kind"], "incomplete");
    assert!(e["statement"].is_null() && e["offset"].is_null());
    assert_eq!(e["needed"], 5);
    assert_eq!(e["packet_offset"], 2);
    insta::assert_snapshot!(out);

    // Cut inside the fixed header.
    let (_, json) = both_formats(&["--protocol", "3.1.1", "30 ff"], 3);
    assert_eq!(json[0]["error"]["needed"], 1);
}

#[test]
fn bad_hex_exits_2() {
    let (odd, json) = both_formats(&["30 0"], 2);
    assert!(json.is_empty(), "nothing on stdout");
    let (not_hex, _) = both_formats(&["c0 00", "0x30:zz"], 2);
    let (empty, _) = both_formats(&[""], 2);
    insta::assert_snapshot!(format!("{odd}\n{not_hex}\n{empty}"));
}

#[test]
fn file_and_stdin_input() {
    // PUBLISH "a/b" "hi", PINGREQ, DISCONNECT: no CONNECT first and no
    // --protocol, so a note goes to stderr.
    let bytes = [
        0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i', 0xc0, 0x00, 0xe0, 0x00,
    ];
    let dir = temp_dir("file");
    std::fs::write(dir.join("input.bin"), bytes).unwrap();
    let (out, json) = both_formats_in(&dir, &["--file", "input.bin"], b"", 0);
    assert_eq!(json.len(), 3);
    insta::assert_snapshot!(out);

    let (from_stdin, _) = both_formats_in(&dir, &["--file", "-"], &bytes, 0);
    assert_eq!(
        from_stdin.replace("--file -", "--file input.bin"),
        out,
        "standard input reads the same"
    );

    let (missing, _) = both_formats_in(&dir, &["--file", "missing.bin"], b"", 2);
    assert!(missing.contains("cannot read missing.bin"), "{missing}");
    let both = run_in(&dir, &["--file", "input.bin", "c0 00"], b"");
    assert_eq!(both.code, 2, "--file and HEX together: {}", both.stderr);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn direction_rules_only_with_from() {
    // A CONNACK: fine by itself, wrong when a Client sent it.
    let r = run_in(Path::new("."), &["--protocol", "3.1.1", "20 02 00 00"], b"");
    assert_eq!(r.code, 0, "{}", r.stdout);
    let r = run_in(
        Path::new("."),
        &["--protocol", "3.1.1", "--from", "client", "20 02 00 00"],
        b"",
    );
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("error at byte 0"), "{}", r.stdout);
}

#[test]
fn max_packet_size_refuses_big_packets() {
    let r = run_in(
        Path::new("."),
        &["--protocol", "5", "--max-packet-size", "20", PUBLISH_5],
        b"",
    );
    assert_eq!(r.code, 1);
    assert!(r.stdout.starts_with("error at byte 0: "), "{}", r.stdout);
}

#[test]
fn help_documents_flags_and_examples() {
    let r = run_in(Path::new("."), &["--help"], b"");
    assert_eq!(r.code, 0);
    for needle in [
        "--protocol",
        "--from",
        "--lenient",
        "--format",
        "--max-packet-size",
        "--file",
        "Examples:",
        "Exit status:",
    ] {
        assert!(r.stdout.contains(needle), "help lacks {needle}");
    }
    // Usage errors from clap exit 2 as well.
    assert_eq!(
        run_in(Path::new("."), &["--protocol", "6", "c0 00"], b"").code,
        2
    );
    assert_eq!(run_in(Path::new("."), &[], b"").code, 2);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mqttkit-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn v3_codes_are_shown_as_on_the_wire() {
    // CONNACK return code 5, PUBACK, SUBACK with 0x80, UNSUBACK, DISCONNECT,
    // SUBSCRIBE QoS 1: 3.1.1 has no reason codes on acknowledgements and no
    // subscription options besides the QoS.
    let args = [
        "--protocol",
        "3.1.1",
        "20 02 00 05",
        "40 02 00 07",
        "90 04 00 01 01 80",
        "b0 02 00 01",
        "e0 00",
        "82 06 00 01 00 01 61 01",
    ];
    let (out, json) = both_formats(&args, 0);
    let p: Vec<&serde_json::Value> = json.iter().map(|j| &j["packet"]).collect();
    assert_eq!(p[0]["return_code"], 5);
    assert!(p[0].get("reason_code").is_none());
    assert!(p[1].get("reason_code").is_none());
    assert_eq!(p[2]["return_codes"], serde_json::json!([1, 128]));
    assert!(p[3].get("reason_codes").is_none());
    assert_eq!(p[4], &serde_json::json!({"type": "DISCONNECT"}));
    assert_eq!(
        p[5]["subscriptions"],
        serde_json::json!([{"filter": "a", "qos": 1}])
    );
    insta::assert_snapshot!(out);
}
