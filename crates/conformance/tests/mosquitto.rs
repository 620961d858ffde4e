//! Runs the whole suite against a real mosquitto and compares every verdict
//! with `expected/mosquitto-2.0.tsv`. Skipped (loudly) when mosquitto is
//! not installed.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mqttkit_conformance::{builtin_cases, runner, Config, Verdict};

struct Broker {
    child: Child,
    port: u16,
    _conf: TempFile,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn mosquitto_installed() -> bool {
    Command::new("mosquitto")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Starts mosquitto on a free port, retrying when the port is taken in
/// between; waits until it accepts connections.
fn start() -> Broker {
    for attempt in 0..5 {
        let port = free_port();
        let path = std::env::temp_dir().join(format!(
            "mqttkit-mosquitto-{}-{attempt}-{port}.conf",
            std::process::id()
        ));
        let mut f = std::fs::File::create(&path).expect("create config");
        writeln!(f, "listener {port} 127.0.0.1\nallow_anonymous true").expect("write config");
        drop(f);
        let conf = TempFile(path);
        let mut child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break; // exited: port conflict, try another
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Broker {
                    child,
                    port,
                    _conf: conf,
                };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("mosquitto did not start on a free port in 5 attempts");
}

/// `case id @ version` -> verdict, from the expected-results file.
fn expected() -> Vec<(String, String, String)> {
    let text = include_str!("../expected/mosquitto-2.0.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split('\t');
            let id = f.next().unwrap_or_default().to_string();
            let version = f.next().unwrap_or_default().to_string();
            let verdict = f.next().unwrap_or_default().to_string();
            let why = f.next().unwrap_or_default();
            assert!(
                verdict == "pass" || why.trim().len() > 10,
                "{id} {version}: every deviation from pass needs an explanation"
            );
            (id, version, verdict)
        })
        .collect()
}

#[test]
fn mosquitto_matches_expected_results() {
    if !mosquitto_installed() {
        eprintln!("\n\n*** SKIPPED: mosquitto not installed (apt-get install mosquitto) ***\n");
        return;
    }
    let broker = start();
    let cases = builtin_cases().expect("built-in cases parse");
    let mut config = Config::new(format!("127.0.0.1:{}", broker.port));
    config.step_timeout = Duration::from_millis(2000);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let results = rt.block_on(runner::run(&cases, &config));
    let got: Vec<(String, String, String)> = results
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                r.protocol.as_str().to_string(),
                r.verdict.as_str().to_string(),
            )
        })
        .collect();
    let want = expected();
    let mut diffs = Vec::new();
    for g in &got {
        match want.iter().find(|w| w.0 == g.0 && w.1 == g.1) {
            Some(w) if w.2.split('|').any(|v| v == g.2) => {}
            Some(w) => {
                let detail = results
                    .iter()
                    .find(|r| r.id == g.0 && r.protocol.as_str() == g.1)
                    .map(|r| r.detail.clone())
                    .unwrap_or_default();
                diffs.push(format!(
                    "{} {}: expected {}, got {} ({detail})",
                    g.0, g.1, w.2, g.2
                ));
            }
            None => diffs.push(format!(
                "{} {}: not in the expected file (got {})",
                g.0, g.1, g.2
            )),
        }
    }
    for w in &want {
        if !got.iter().any(|g| g.0 == w.0 && g.1 == w.1) {
            diffs.push(format!("{} {}: expected but not run", w.0, w.1));
        }
    }
    assert!(diffs.is_empty(), "results changed:\n{}", diffs.join("\n"));
    // The run means something: most cases pass, and failures carry a trace.
    let pass = results
        .iter()
        .filter(|r| r.verdict == Verdict::Pass)
        .count();
    assert!(
        pass * 10 >= results.len() * 8,
        "only {pass} of {} passed",
        results.len()
    );
    for r in results.iter().filter(|r| r.verdict == Verdict::Fail) {
        assert!(!r.trace.is_empty(), "{} has no trace", r.id);
    }
}
