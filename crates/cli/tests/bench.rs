//! `mqttkit bench` end to end against the embedded reference broker, with
//! tiny counts. Only counts and report fields are asserted, never timings.

mod common;
use common::{mqttkit, run, Run};

fn bench(args: &[&str]) -> Run {
    run(&mut mqttkit("bench", args))
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let r = bench(&all);
    assert_eq!(r.code, 0, "stderr: {}\nstdout: {}", r.stderr, r.stdout);
    serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn u(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing or not a count in {v}"))
}

/// Runs a traffic scenario and checks that every message arrived once.
fn traffic(scenario: &str, extra: &[&str], pubs: u64, subs: u64, per_pub: u64, qos: u64) {
    let per = per_pub.to_string();
    let mut args = vec![
        "--scenario",
        scenario,
        "--messages",
        &per,
        "--duration",
        "60",
    ];
    args.extend_from_slice(extra);
    let v = json(&args);
    assert_eq!(v["scenario"], scenario);
    assert!(v["broker"]
        .as_str()
        .is_some_and(|b| b.starts_with("embedded mqttkit broker")));
    assert!(v.get("idle").is_none());
    let t = &v["traffic"];
    assert_eq!(u(t, "qos"), qos);
    assert_eq!(u(t, "publishers"), pubs);
    assert_eq!(u(t, "subscribers"), subs);
    assert_eq!(u(t, "published"), pubs * per_pub);
    assert_eq!(u(t, "expected"), pubs * per_pub * subs);
    assert_eq!(u(t, "delivered"), pubs * per_pub * subs);
    assert_eq!(u(t, "lost"), 0);
    assert_eq!(u(t, "duplicates"), 0);
    assert_eq!(u(t, "unexpected"), 0);
    assert_eq!(u(t, "unacknowledged"), 0);
    assert_eq!(t["stopped_by_duration"], false);
    assert_eq!(t["stalled"], false);
    for key in ["published_per_s", "delivered_per_s", "publish_seconds"] {
        assert!(t[key].as_f64().is_some_and(|x| x >= 0.0), "{key} in {t}");
    }
    let lat = &t["latency_us"];
    let (p50, p99, max) = (u(lat, "p50"), u(lat, "p99"), u(lat, "max"));
    assert!(p50 <= p99 && p99 <= max, "{lat}");
}

#[test]
fn qos0_one_to_one() {
    traffic("qos0", &[], 1, 1, 200, 0);
}

#[test]
fn qos1_two_publishers_three_subscribers() {
    traffic(
        "qos1",
        &["--publishers", "2", "--subscribers", "3"],
        2,
        3,
        150,
        1,
    );
}

#[test]
fn qos2_one_to_one_mqtt5() {
    traffic("qos2", &["--protocol", "5", "--size", "100"], 1, 1, 120, 2);
}

#[test]
fn fanout_one_to_ten() {
    traffic("fanout", &[], 1, 10, 100, 0);
}

#[test]
fn fanout_at_qos1_with_a_small_window() {
    traffic(
        "fanout",
        &[
            "--qos",
            "1",
            "--subscribers",
            "4",
            "--window",
            "3",
            "--inflight",
            "2",
        ],
        1,
        4,
        60,
        1,
    );
}

#[test]
fn idle_connections_and_own_memory() {
    let v = json(&[
        "--scenario",
        "idle",
        "--connections",
        "40",
        "--duration",
        "0.2",
    ]);
    assert_eq!(v["scenario"], "idle");
    assert!(v.get("traffic").is_none());
    let i = &v["idle"];
    assert_eq!(u(i, "requested"), 40);
    assert_eq!(u(i, "warmup"), 50);
    assert_eq!(u(i, "connected"), 40);
    assert_eq!(u(i, "failed"), 0);
    // The embedded broker lives in the bench process: its own RSS is read.
    assert!(i["rss_source"]
        .as_str()
        .is_some_and(|s| s.starts_with("this process")));
    assert!(u(i, "rss_before_kib") > 0);
    assert!(u(i, "rss_after_kib") > 0);
    assert!(i["bytes_per_connection"].is_number());
    assert!(u(&v, "fd_limit") >= 40);
}

#[test]
fn text_report_names_the_counts() {
    let r = bench(&["--scenario", "qos1", "--messages", "50"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("scenario: qos1 (MQTT 3.1.1)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("delivered: 50 of 50 expected"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("lost: 0  duplicates: 0"), "{}", r.stdout);
}

#[test]
fn refuses_a_non_loopback_target() {
    // 192.0.2.1 is TEST-NET-1: nothing is sent there; the refusal comes
    // before any socket is opened.
    for url in [
        "mqtt://192.0.2.1:1883",
        "mqtt://broker.example",
        "mqtt://[2001:db8::1]:1883",
    ] {
        let r = bench(&[url, "--scenario", "qos0", "--messages", "1"]);
        assert_eq!(r.code, 2, "{url}: {}", r.stderr);
        assert!(r.stderr.contains("refusing"), "{url}: {}", r.stderr);
        assert!(r.stderr.contains("--allow-remote"), "{url}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{url}: {}", r.stdout);
    }
}

#[test]
fn usage_errors() {
    let r = bench(&["--scenario", "qos0", "--size", "4"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--size"), "{}", r.stderr);
    let r = bench(&["ws://127.0.0.1:1/mqtt", "--scenario", "qos0"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not supported"), "{}", r.stderr);
    let r = bench(&["--scenario", "fanout", "--qos", "3"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--qos"), "{}", r.stderr);
}

#[test]
fn a_broker_that_is_not_there_is_a_usage_error() {
    // Bind and drop to find a loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("mqtt://127.0.0.1:{port}");
    let r = bench(&[&url, "--scenario", "qos0", "--messages", "1"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cannot connect"), "{}", r.stderr);
}
