//! `mqttkit broker` end to end: `passwd` on a password file, `--config`
//! errors, and a started broker honouring its file and the flags that
//! override it. Brokers listen on 127.0.0.1 port 0 and are killed at the
//! end of each test; every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mqttkit_broker::security::PasswordFile;

struct Run {
    code: i32,
    out: String,
}

fn mqttkit(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mqttkit"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mqttkit");
    {
        let mut i = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            i.write_all(s.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mqttkit-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn passwd_adds_updates_and_deletes_users() {
    let dir = scratch("passwd");
    let file = dir.join("passwd");
    let f = s(&file);
    // Password as an option.
    let r = mqttkit(
        &["broker", "passwd", f, "alice", "--password", "first"],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(r.out.contains("added user alice"), "{}", r.out);
    // Password from standard input (a pipe): never echoed.
    let r = mqttkit(&["broker", "passwd", f, "bob"], Some("b0b-secret\n"));
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(!r.out.contains("b0b-secret"), "password echoed: {}", r.out);
    // Update.
    let r = mqttkit(
        &["broker", "passwd", f, "alice", "--password", "second"],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(r.out.contains("updated user alice"), "{}", r.out);
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.lines().all(|l| l.contains(":$argon2id$")), "{text}");
    assert!(!text.contains("second") && !text.contains("b0b-secret"));
    let pw = PasswordFile::load(&file).unwrap();
    assert!(pw.verify("alice", b"second"));
    assert!(!pw.verify("alice", b"first"));
    assert!(pw.verify("bob", b"b0b-secret"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "readable by others: {mode:o}");
    }
    // Delete, and delete again.
    let r = mqttkit(&["broker", "passwd", f, "bob", "--delete"], None);
    assert_eq!(r.code, 0, "{}", r.out);
    let r = mqttkit(&["broker", "passwd", f, "bob", "--delete"], None);
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(r.out.contains("no user bob"), "{}", r.out);
    let pw = PasswordFile::load(&file).unwrap();
    assert_eq!(pw.len(), 1);
    // Bad input: a malformed file (file:line), a user name with ':', an
    // empty password.
    std::fs::write(dir.join("bad"), "alice:$argon2id$oops\n").unwrap();
    let bad = dir.join("bad");
    let r = mqttkit(&["broker", "passwd", s(&bad), "x", "--password", "p"], None);
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(
        r.out.contains(&format!("{}:1:", bad.display())),
        "{}",
        r.out
    );
    let r = mqttkit(&["broker", "passwd", f, "a:b", "--password", "p"], None);
    assert_eq!(r.code, 2, "{}", r.out);
    let r = mqttkit(&["broker", "passwd", f, "carol"], Some("\n"));
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(r.out.contains("empty password"), "{}", r.out);
}

#[test]
fn config_errors_name_the_file_and_the_key() {
    let dir = scratch("config-errors");
    let cfg = dir.join("broker.toml");
    for (text, what) in [
        (
            "listen = [\"127.0.0.1:0\"]\nallow_anonymus = true\n",
            "allow_anonymus",
        ),
        ("[limits]\nmax_packet = 10\n", "max_packet"),
        ("sys_interval = -1\n", "sys_interval"),
        (
            "password_file = \"missing\"\nlisten = [\"127.0.0.1:0\"]\n",
            "cannot read",
        ),
        ("tls = [\"127.0.0.1:0\"]\n", "--cert"),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let r = mqttkit(&["broker", "--config", s(&cfg)], None);
        assert_eq!(r.code, 2, "{text:?}: {}", r.out);
        assert!(r.out.contains(what), "{text:?}: {}", r.out);
    }
    std::fs::write(&cfg, "lisen = 1\n").unwrap();
    let r = mqttkit(&["broker", "--config", s(&cfg)], None);
    assert!(r.out.contains(&cfg.display().to_string()), "{}", r.out);
    let r = mqttkit(&["broker", "--config", s(&dir.join("nope.toml"))], None);
    assert_eq!(r.code, 2);
    assert!(r.out.contains("cannot read"), "{}", r.out);
}

/// A broker process, killed when dropped.
struct Broker {
    child: Child,
    port: u16,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_broker(args: &[&str]) -> Broker {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mqttkit"))
        .arg("broker")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the broker");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(l)) = lines.next() {
            let _ = tx.send(l);
        }
        // Keep reading so the broker never blocks on a full pipe.
        for _ in lines {}
    });
    let line = rx.recv_timeout(Duration::from_secs(20));
    let mut b = Broker { child, port: 0 };
    let line = line.expect("the broker says where it listens");
    let port = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    b.port = port;
    b
}

/// CONNECT (3.1.1) with optional credentials; returns the CONNACK return code.
fn connack_code(port: u16, user: Option<&str>, password: Option<&str>) -> u8 {
    let mut c = mqttkit_codec::Connect::new(mqttkit_codec::ProtocolVersion::V3_1_1, "cli-test");
    c.username = user;
    c.password = password.map(str::as_bytes);
    let mut buf = bytes::BytesMut::new();
    mqttkit_codec::Packet::Connect((&c).into())
        .encode(mqttkit_codec::ProtocolVersion::V3_1_1, &mut buf)
        .unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&buf).unwrap();
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack).unwrap();
    assert_eq!(&ack[..3], [0x20, 0x02, 0x00], "{ack:02x?}");
    ack[3]
}

#[test]
fn the_file_configures_the_broker_and_flags_override_it() {
    let dir = scratch("config-run");
    let r = mqttkit(
        &[
            "broker",
            "passwd",
            s(&dir.join("pw")),
            "alice",
            "--password",
            "pw",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.out);
    let cfg = dir.join("broker.toml");
    // The password file path is relative to the configuration file.
    std::fs::write(
        &cfg,
        "listen = [\"127.0.0.1:0\"]\nallow_anonymous = false\npassword_file = \"pw\"\n\
         sys_interval = 0\n[limits]\nconnect_timeout = 5\nmax_connections = 50\n",
    )
    .unwrap();
    {
        let b = start_broker(&["--config", s(&cfg)]);
        assert_eq!(connack_code(b.port, None, None), 5, "anonymous refused");
        assert_eq!(connack_code(b.port, Some("alice"), Some("pw")), 0);
        assert_eq!(connack_code(b.port, Some("alice"), Some("no")), 4);
    }
    {
        let b = start_broker(&["--config", s(&cfg), "--allow-anonymous", "true"]);
        assert_eq!(
            connack_code(b.port, None, None),
            0,
            "flag overrides the file"
        );
        assert_eq!(connack_code(b.port, Some("alice"), Some("no")), 4);
    }
}

#[test]
fn parking_can_be_turned_off_or_delayed() {
    // `--park-after 0` runs without the parker thread: every connection
    // keeps its task; a delay in the file is accepted as well.
    let dir = scratch("park-after");
    let cfg = dir.join("broker.toml");
    std::fs::write(
        &cfg,
        "listen = [\"127.0.0.1:0\"]\nsys_interval = 0\n[limits]\npark_after = 30\n",
    )
    .unwrap();
    for args in [
        &["--listen", "127.0.0.1:0", "--park-after", "0"][..],
        &["--config", s(&cfg)][..],
    ] {
        let b = start_broker(args);
        assert_eq!(connack_code(b.port, None, None), 0, "{args:?}");
    }
    let r = mqttkit(&["broker", "--park-after", "soon"], None);
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(r.out.contains("--park-after"), "{}", r.out);
}
