//! Snapshots of the four report formats for a fixed set of results (fixed
//! timestamps, so the output is stable).

use mqttkit_codec::ProtocolVersion;
use mqttkit_conformance::report::{self, Report};
use mqttkit_conformance::result::{Dir, TraceEntry};
use mqttkit_conformance::{must_failed, CaseResult, Level, Verdict};

fn result(
    id: &str,
    protocol: ProtocolVersion,
    statements: &[&str],
    level: Level,
    verdict: Verdict,
    detail: &str,
) -> CaseResult {
    CaseResult {
        id: id.into(),
        title: format!("what {id} checks"),
        protocol,
        statements: statements.iter().map(|s| s.to_string()).collect(),
        level,
        verdict,
        detail: detail.into(),
        trace: Vec::new(),
        duration_ms: 12.5,
    }
}

fn fixed() -> Report {
    let mut fail = result(
        "publish-qos1-puback",
        ProtocolVersion::V5,
        &["MQTT-3.3.4-1", "MQTT-4.3.2-4"],
        Level::Must,
        Verdict::Fail,
        "step 3: no packet matching {\"packet_id\":4711,\"type\":\"PUBACK\"} within 3000 ms; received and unmatched: nothing",
    );
    fail.trace = vec![
        TraceEntry {
            at_ms: 0.4,
            conn: "a".into(),
            dir: Dir::Sent,
            hex: "101000044d5154540502003c00000361626361".into(),
            decoded: "{\"type\":\"CONNECT\",\"client_id\":\"abca\"}".into(),
        },
        TraceEntry {
            at_ms: 1.2,
            conn: "a".into(),
            dir: Dir::Received,
            hex: "20030000 00".replace(' ', ""),
            decoded: "{\"type\":\"CONNACK\",\"session_present\":false,\"reason_code\":0}".into(),
        },
        TraceEntry {
            at_ms: 3001.7,
            conn: "a".into(),
            dir: Dir::Event,
            hex: String::new(),
            decoded: "connection closed by the broker <&>".into(),
        },
    ];
    Report {
        broker: "mqtt://127.0.0.1:1883".into(),
        results: vec![
            result(
                "connect-accepted",
                ProtocolVersion::V3_1_1,
                &["MQTT-3.1.4-4", "MQTT-3.2.0-1"],
                Level::Must,
                Verdict::Pass,
                "",
            ),
            fail,
            result(
                "v5-shared-subscription-granted-qos",
                ProtocolVersion::V5,
                &["MQTT-4.8.2-3"],
                Level::Must,
                Verdict::Skip,
                "step 2: feature not offered: CONNACK shared_subscription_available = false",
            ),
            result(
                "publish-overlapping-copies",
                ProtocolVersion::V5,
                &["MQTT-3.3.4-2"],
                Level::May,
                Verdict::Note,
                "broker chose otherwise: a copy per subscription | two",
            ),
            result(
                "keepalive-expired-closes",
                ProtocolVersion::V3_1_1,
                &["MQTT-3.1.2-24"],
                Level::Should,
                Verdict::Fail,
                "late",
            ),
        ],
        duration_ms: 4321.0,
    }
}

#[test]
fn text_report() {
    insta::assert_snapshot!(report::text(&fixed(), false));
}

#[test]
fn text_report_colours_only_when_asked() {
    let plain = report::text(&fixed(), false);
    let coloured = report::text(&fixed(), true);
    assert!(!plain.contains('\x1b'));
    assert!(coloured.contains("\x1b[31mFAIL\x1b[0m"));
}

#[test]
fn json_report() {
    let text = report::json(&fixed());
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(v["summary"]["fail"], 2);
    assert_eq!(v["cases"][1]["trace"][0]["dir"], "sent");
    insta::assert_snapshot!(text);
}

#[test]
fn junit_report() {
    insta::assert_snapshot!(report::junit(&fixed()));
}

#[test]
fn markdown_report() {
    insta::assert_snapshot!(report::markdown(&fixed()));
}

#[test]
fn exit_status_counts_only_must_failures() {
    let mut r = fixed();
    assert!(must_failed(&r.results));
    r.results
        .retain(|c| c.level != Level::Must || c.verdict != Verdict::Fail);
    assert!(
        !must_failed(&r.results),
        "a SHOULD failure alone does not fail the run"
    );
}
