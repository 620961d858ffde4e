//! The committed finding scripts: every one parses, and those found on
//! mosquitto still reproduce on the installed mosquitto (skipped loudly
//! when it is missing); those found on mqttkit's broker are listed in the
//! lead's report until fixed, and must at least parse.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mqttkit_livefuzz::{replay, Script, Timing};

fn scripts(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../corpus/livefuzz")
        .join(dir);
    let mut out: Vec<PathBuf> = match std::fs::read_dir(&root) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

#[test]
fn every_committed_script_parses() {
    let all: Vec<PathBuf> = scripts("mosquitto")
        .into_iter()
        .chain(scripts("mqttkit"))
        .collect();
    assert!(!all.is_empty(), "corpus/livefuzz holds the findings");
    for p in all {
        let s = Script::load(&p).unwrap_or_else(|e| panic!("{e}"));
        let c = s
            .conversation()
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(!s.statements.is_empty() || s.class == "long-topic" || s.class == "flood");
        assert!(!c.steps.is_empty());
    }
}

struct Mosquitto {
    child: Child,
    port: u16,
    conf: PathBuf,
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.conf);
    }
}

/// mosquitto on a free loopback port (a few attempts, in case the port is
/// taken between choosing and binding); `None` when it is not installed.
fn mosquitto() -> Option<Mosquitto> {
    let installed = Command::new("mosquitto")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !installed {
        return None;
    }
    for attempt in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let conf = std::env::temp_dir().join(format!(
            "mqttkit-livefuzz-mosquitto-{}-{attempt}.conf",
            std::process::id()
        ));
        let mut f = std::fs::File::create(&conf).expect("config file");
        writeln!(f, "listener {port} 127.0.0.1\nallow_anonymous true").expect("config");
        drop(f);
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let mut m = Mosquitto { child, port, conf };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = m.child.try_wait() {
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(m);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("mosquitto did not start in 5 attempts");
}

#[test]
fn mosquitto_findings_still_reproduce() {
    let Some(m) = mosquitto() else {
        eprintln!("\n\n*** SKIPPED: mosquitto not installed (apt-get install mosquitto) ***\n");
        return;
    };
    let files = scripts("mosquitto");
    assert!(!files.is_empty());
    let address = format!("127.0.0.1:{}", m.port);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let timing = Timing::default();
    let mut gone = Vec::new();
    for p in &files {
        let s = Script::load(p).unwrap_or_else(|e| panic!("{e}"));
        let r = rt
            .block_on(replay(&address, &s, &timing))
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        if !r.reproduced {
            gone.push(format!("{}: now {}", p.display(), r.observed));
        }
    }
    assert!(gone.is_empty(), "no longer reproduce: {gone:#?}");
}
