//! The runner against scripted fake brokers: a conforming answer passes, a
//! broker that hangs, closes early or sends garbage fails the case (with a
//! trace) within its deadlines, optional features skip, MAY cases note.

use std::future::Future;
use std::time::Duration;

use mqttkit_codec::ProtocolVersion;
use mqttkit_conformance::case::parse_cases;
use mqttkit_conformance::result::Dir;
use mqttkit_conformance::{runner, Case, CaseResult, Config, Verdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the fake broker behaves on every connection.
#[derive(Clone, Copy)]
enum Fake {
    /// Reads and never answers.
    Silent,
    /// Closes as soon as the connection is accepted.
    CloseAtOnce,
    /// Answers CONNECT with `connack` bytes, PINGREQ with PINGRESP.
    Answer { connack: &'static [u8] },
    /// Answers CONNECT, then sends 20,000 PINGRESPs.
    Flood,
}

/// Serves `fake` on 127.0.0.1 with an OS-chosen port; returns the address.
async fn serve(fake: Fake) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(session(stream, fake));
        }
    });
    addr
}

async fn session(mut stream: TcpStream, fake: Fake) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    match fake {
        Fake::CloseAtOnce => {}
        Fake::Flood => {
            let _ = stream.read(&mut chunk).await;
            let _ = stream.write_all(&[0x20, 0x02, 0x00, 0x00]).await;
            let flood = [0xD0u8, 0x00].repeat(20_000);
            let _ = stream.write_all(&flood).await;
            // Hold the connection open until the runner gives up.
            let _ = stream.read(&mut chunk).await;
        }
        Fake::Silent => {
            // Bounded: the runner's deadlines end the connection first.
            for _ in 0..1000 {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        }
        Fake::Answer { connack } => {
            for _ in 0..1000 {
                let n = match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                // Whole packets only (all of them are short here).
                while buf.len() >= 2 && buf.len() >= 2 + buf[1] as usize {
                    let len = 2 + buf[1] as usize;
                    let packet: Vec<u8> = buf.drain(..len).collect();
                    let reply: &[u8] = match packet[0] >> 4 {
                        1 => connack,
                        12 => &[0xD0, 0x00],
                        _ => &[],
                    };
                    if !reply.is_empty() && stream.write_all(reply).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Liveness guard: the runner's own deadlines must end `f` long before
/// this one (a hang would otherwise hang the test).
async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("the runner hung past its deadlines")
}

fn one(toml: &str) -> Case {
    parse_cases("test", toml)
        .expect("case parses")
        .into_iter()
        .next()
        .expect("one case")
}

const PING: &str = r#"
[[case]]
id = "ping"
title = "PINGREQ gets PINGRESP"
v311 = ["MQTT-3.12.4-1"]
v5 = ["MQTT-3.12.4-1"]
level = "MUST"
[[case.step]]
op = "connect"
[[case.step]]
op = "send"
packet = { type = "PINGREQ" }
[[case.step]]
op = "expect"
packet = { type = "PINGRESP" }
"#;

async fn run_one(addr: &str, case: &Case, version: ProtocolVersion) -> CaseResult {
    let mut config = Config::new(addr);
    config.step_timeout = Duration::from_millis(300);
    runner::run_case(case, version, &config, 0xabcdef, 1).await
}

const CONNACK_311_OK: &[u8] = &[0x20, 0x02, 0x00, 0x00];

#[tokio::test]
async fn conforming_answers_pass() {
    let addr = serve(Fake::Answer {
        connack: CONNACK_311_OK,
    })
    .await;
    let r = run_one(&addr, &one(PING), ProtocolVersion::V3_1_1).await;
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.detail);
    assert!(r.trace.is_empty(), "passing cases carry no trace");
    assert_eq!(r.statements, vec!["MQTT-3.12.4-1".to_string()]);
}

#[tokio::test]
async fn silent_broker_fails_within_the_step_deadline() {
    let addr = serve(Fake::Silent).await;
    let r = bounded(run_one(&addr, &one(PING), ProtocolVersion::V3_1_1)).await;
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(r.detail.contains("within 300 ms"), "{}", r.detail);
    // The trace shows the CONNECT that went unanswered, with its bytes.
    let sent = r.trace.iter().find(|t| t.dir == Dir::Sent).expect("sent");
    assert!(sent.hex.starts_with("10"), "{}", sent.hex);
    assert!(sent.decoded.contains("CONNECT"), "{}", sent.decoded);
}

#[tokio::test]
async fn early_close_fails() {
    let addr = serve(Fake::CloseAtOnce).await;
    let r = run_one(&addr, &one(PING), ProtocolVersion::V5).await;
    assert_eq!(r.verdict, Verdict::Fail, "{}", r.detail);
    assert!(r.detail.contains("connection ended"), "{}", r.detail);
    assert!(r
        .trace
        .iter()
        .any(|t| t.dir == Dir::Event && t.decoded.contains("connection")));
}

#[tokio::test]
async fn garbage_fails_with_the_bytes_and_the_rule() {
    // CONNACK with flags 0001: reserved bits set.
    let addr = serve(Fake::Answer {
        connack: &[0x21, 0x02, 0x00, 0x00],
    })
    .await;
    let r = run_one(&addr, &one(PING), ProtocolVersion::V3_1_1).await;
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(
        r.detail.contains("malformed packet from the broker"),
        "{}",
        r.detail
    );
    let got = r
        .trace
        .iter()
        .find(|t| t.dir == Dir::Received)
        .expect("received");
    assert_eq!(got.hex, "21020000");
}

#[tokio::test]
async fn refused_version_skips() {
    // 3.1.1 CONNACK return code 1: unacceptable protocol version.
    let addr = serve(Fake::Answer {
        connack: &[0x20, 0x02, 0x00, 0x01],
    })
    .await;
    let r = run_one(&addr, &one(PING), ProtocolVersion::V3_1_1).await;
    assert_eq!(r.verdict, Verdict::Skip, "{}", r.detail);
    assert!(r.detail.contains("not offered"), "{}", r.detail);
}

#[tokio::test]
async fn bad_credentials_skip() {
    // 5.0 CONNACK 0x86 Bad User Name or Password.
    let addr = serve(Fake::Answer {
        connack: &[0x20, 0x03, 0x00, 0x86, 0x00],
    })
    .await;
    let r = run_one(&addr, &one(PING), ProtocolVersion::V5).await;
    assert_eq!(r.verdict, Verdict::Skip, "{}", r.detail);
    assert!(r.detail.contains("authentication"), "{}", r.detail);
}

#[tokio::test]
async fn feature_declared_unavailable_skips() {
    // 5.0 CONNACK with Shared Subscription Available = 0.
    let addr = serve(Fake::Answer {
        connack: &[0x20, 0x05, 0x00, 0x00, 0x02, 0x2A, 0x00],
    })
    .await;
    let case = one(r#"
[[case]]
id = "shared"
title = "needs shared subscriptions"
v5 = ["MQTT-4.8.2-3"]
level = "MUST"
[[case.step]]
op = "connect"
[[case.step]]
op = "require"
capability = "shared_subscription_available"
[[case.step]]
op = "send"
packet = { type = "PINGREQ" }
"#);
    let r = run_one(&addr, &case, ProtocolVersion::V5).await;
    assert_eq!(r.verdict, Verdict::Skip, "{}", r.detail);
    assert!(
        r.detail.contains("shared_subscription_available = false"),
        "{}",
        r.detail
    );
}

#[tokio::test]
async fn may_cases_note_what_the_broker_chose() {
    let addr = serve(Fake::Answer {
        connack: CONNACK_311_OK,
    })
    .await;
    let case = one(r#"
[[case]]
id = "may"
title = "a MAY choice"
v311 = ["MQTT-3.3.5-1"]
level = "MAY"
note = "answers PINGREQ"
[[case.step]]
op = "connect"
[[case.step]]
op = "send"
packet = { type = "PINGREQ" }
[[case.step]]
op = "expect"
packet = { type = "PUBLISH" }
within_ms = 100
"#);
    let r = run_one(&addr, &case, ProtocolVersion::V3_1_1).await;
    assert_eq!(r.verdict, Verdict::Note);
    assert!(
        r.detail.starts_with("broker chose otherwise"),
        "{}",
        r.detail
    );
    assert!(r.detail.contains("PINGRESP"), "{}", r.detail);
}

#[tokio::test]
async fn case_deadline_ends_a_long_script() {
    let addr = serve(Fake::Answer {
        connack: CONNACK_311_OK,
    })
    .await;
    let case = one(r#"
[[case]]
id = "slow"
title = "sleeps past its deadline"
v311 = ["MQTT-3.12.4-1"]
level = "MUST"
timeout_ms = 200
[[case.step]]
op = "connect"
[[case.step]]
op = "sleep"
ms = 5000
"#);
    let r = bounded(run_one(&addr, &case, ProtocolVersion::V3_1_1)).await;
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(r.detail.contains("deadline of 200 ms"), "{}", r.detail);
}

#[tokio::test]
async fn a_hanging_broker_does_not_hang_the_run() {
    let addr = serve(Fake::Silent).await;
    let cases = mqttkit_conformance::builtin_cases().expect("cases");
    let mut config = Config::new(addr);
    config.step_timeout = Duration::from_millis(100);
    config.only = vec!["connect-".into(), "publish-".into()];
    let results = bounded(runner::run(&cases, &config)).await;
    assert!(results.len() > 20, "{}", results.len());
    assert!(results.iter().all(|r| r.verdict != Verdict::Pass));
}

#[test]
fn plan_filters_by_version_id_prefix_and_statement() {
    let cases = mqttkit_conformance::builtin_cases().expect("cases");
    let mut config = Config::new("127.0.0.1:1");
    config.protocols = vec![ProtocolVersion::V5];
    config.only = vec!["MQTT-3.12.4-1".into()];
    let plan = runner::plan(&cases, &config);
    assert!(!plan.is_empty());
    assert!(plan
        .iter()
        .all(|(c, v)| *v == ProtocolVersion::V5 && c.v5.iter().any(|s| s == "MQTT-3.12.4-1")));
    config.only = vec!["retain-".into()];
    config.skip = vec!["retain-empty-payload-clears".into()];
    let plan = runner::plan(&cases, &config);
    assert!(plan.iter().all(|(c, _)| c.id.starts_with("retain-")));
    assert!(!plan
        .iter()
        .any(|(c, _)| c.id == "retain-empty-payload-clears"));
}

#[tokio::test]
async fn a_flood_of_unasked_packets_fails_the_case() {
    let addr = serve(Fake::Flood).await;
    let case = one(r#"
[[case]]
id = "flood"
title = "waits for a PUBLISH that never comes"
v311 = ["MQTT-3.12.4-1"]
level = "MUST"
[[case.step]]
op = "connect"
[[case.step]]
op = "expect"
packet = { type = "PUBLISH" }
within_ms = 5000
"#);
    let r = bounded(run_one(&addr, &case, ProtocolVersion::V3_1_1)).await;
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(r.detail.contains("more than 10000 packets"), "{}", r.detail);
    assert!(r.trace.len() <= 2001, "trace is capped: {}", r.trace.len());
    assert!(r
        .trace
        .last()
        .is_some_and(|t| t.decoded.contains("trace cut")));
}

#[tokio::test]
async fn packets_above_the_clients_maximum_packet_size_fail() {
    // A 20-byte CONNACK (User Property and Reason String) to a client that
    // allows 16 bytes (MQTT-3.1.2-24, MQTT-3.2.2-19, MQTT-3.2.2-20).
    let addr = serve(Fake::Answer {
        connack: &[
            0x20, 0x12, 0x00, 0x00, 0x0f, 0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', 0x1f, 0x00,
            0x05, b'h', b'e', b'l', b'l', b'o',
        ],
    })
    .await;
    let small = one(r#"
[[case]]
id = "small"
title = "allows 16 bytes"
v5 = ["MQTT-3.1.2-24"]
level = "MUST"
[[case.step]]
op = "connect"
properties = { maximum_packet_size = 16 }
"#);
    let r = bounded(run_one(&addr, &small, ProtocolVersion::V5)).await;
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(
        r.detail.contains("malformed packet from the broker"),
        "{}",
        r.detail
    );
    // The same CONNACK is fine for a client without a limit.
    let r = bounded(run_one(&addr, &one(PING), ProtocolVersion::V5)).await;
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.detail);
}
