//! `mqttkit fuzz` end to end: refusal of remote targets, a short run
//! against the embedded broker, and replay exit statuses.

use std::process::Command;

fn mqttkit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mqttkit"))
}

#[test]
fn remote_targets_are_refused_with_status_2() {
    for url in [
        "mqtt://10.1.2.3:1883",
        "mqtt://broker.example:1883",
        "ws://127.0.0.1/mqtt",
    ] {
        let out = mqttkit()
            .args(["fuzz", url, "--max-cases", "1"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("mqttkit fuzz:"), "{err}");
    }
    let out = mqttkit()
        .args([
            "fuzz",
            "mqtt://10.1.2.3:1883",
            "--max-cases",
            "1",
            "--class",
            "nope",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_embedded_broker_survives_a_short_run_and_a_script_replays() {
    let dir = std::env::temp_dir().join(format!("mqttkit-cli-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = mqttkit()
        .args([
            "fuzz",
            "--max-cases",
            "40",
            "--seed",
            "3",
            "--duration",
            "600",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("cases:     40 in"), "{text}");
    assert!(text.contains("findings:  0"), "{text}");
    assert!(!dir.exists(), "no finding, no directory");
    // A committed mosquitto finding: our broker closes on a PUBLISH QoS 0
    // with DUP 1, so it does not reproduce here (status 0).
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../corpus/livefuzz/mosquitto/v5-publish-dup-qos0-not-closed-s11-c25.toml"
    );
    let out = mqttkit()
        .args(["fuzz", "--replay", script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("does not reproduce"), "{text}");
    // A script that is not one: status 2.
    let bad = dir.join("bad.toml");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&bad, "format = 1\n").unwrap();
    let out = mqttkit()
        .arg("fuzz")
        .arg("--replay")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
