//! `mqttkit broker --data-dir`: a broker killed with SIGKILL loses no
//! QoS 1/2 message it acknowledged to its publisher, for persistent
//! subscribers of 3.1.1 and 5.0. Every wait is bounded in time and count.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mqttkit_codec::{
    Connect, OwnedPacket, Packet, ProtocolVersion, PubAck, PubComp, PubRec, Publish, QoS,
    StreamDecoder, Subscribe, Subscription,
};

/// Messages published: half QoS 1, half QoS 2.
const N: u16 = 2000;
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The broker process; killed when dropped (a failing test leaves none).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `mqttkit broker` on a free loopback port with `dir` as its data
/// directory; returns it and the address it printed.
fn spawn_broker(dir: &Path) -> (Proc, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mqttkit"))
        .args([
            "broker",
            "--listen",
            "127.0.0.1:0",
            "--max-queued",
            "100000",
        ])
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("mqttkit runs");
    let stdout = child.stdout.take().unwrap();
    let proc = Proc(child);
    let mut line = String::new();
    let mut reader = BufReader::new(stdout);
    // One line, printed once the listener is bound; EOF if it failed.
    reader.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("mqttkit broker listening on mqtt://")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .parse()
        .unwrap();
    (proc, addr)
}

struct Client {
    s: TcpStream,
    dec: StreamDecoder,
    v: ProtocolVersion,
}

impl Client {
    fn connect(addr: SocketAddr, v: ProtocolVersion, id: &str, clean: bool) -> (Client, bool) {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        let mut c = Client {
            s,
            dec: StreamDecoder::with_version(v),
            v,
        };
        let mut connect = Connect::new(v, id);
        connect.clean_start = clean;
        if v.is_v5() && !clean {
            connect.properties.session_expiry_interval = Some(3600);
        }
        c.send(Packet::Connect((&connect).into()));
        let ack = c.recv().expect("CONNACK");
        let Packet::ConnAck(a) = ack.packet() else {
            panic!("expected CONNACK: {ack:?}")
        };
        assert!(!a.reason_code.is_error(), "{a:?}");
        let present = a.session_present;
        (c, present)
    }

    fn send(&mut self, p: Packet<'_>) {
        let mut buf = Vec::new();
        p.encode(self.v, &mut buf).unwrap();
        self.s.write_all(&buf).unwrap();
    }

    /// The next packet; `None` once the connection is closed (or nothing
    /// came within the read timeout).
    fn recv(&mut self) -> Option<OwnedPacket> {
        loop {
            if let Some(p) = self.dec.next_owned().expect("valid packet from the broker") {
                return Some(p);
            }
            let mut b = [0u8; 16 << 10];
            match self.s.read(&mut b) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.dec.buffer_mut().extend_from_slice(&b[..n]),
            }
        }
    }
}

fn subscribe(addr: SocketAddr, v: ProtocolVersion, id: &str) {
    let (mut c, _) = Client::connect(addr, v, id, false);
    let subs = [Subscription::new("k/#", QoS::ExactlyOnce)];
    c.send(Packet::Subscribe(Subscribe::new(1, &subs)));
    let ack = c.recv().expect("SUBACK");
    assert!(matches!(ack.packet(), Packet::SubAck(_)), "{ack:?}");
    // Leave without DISCONNECT: the session stays (persistent) either way.
}

/// Reads everything `id`'s session delivers until every payload in `want`
/// has come (or the broker stays silent for READ_TIMEOUT); answers each
/// exchange. Returns the distinct payload numbers received.
fn collect(addr: SocketAddr, v: ProtocolVersion, id: &str, want: &[u16]) -> Vec<u16> {
    let (mut c, present) = Client::connect(addr, v, id, false);
    assert!(present, "{id}: session restored after the kill");
    let mut got = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut packets = 0u32;
    while Instant::now() < deadline && packets < 20 * u32::from(N) {
        if want.iter().all(|w| got.contains(w)) {
            break;
        }
        let Some(p) = c.recv() else { break };
        packets += 1;
        match p.packet() {
            Packet::Publish(p) => {
                let n: u16 = std::str::from_utf8(p.payload).unwrap().parse().unwrap();
                got.insert(n);
                let pid = p.packet_id.expect("QoS 1/2 delivery");
                match p.qos {
                    QoS::AtLeastOnce => c.send(Packet::PubAck(PubAck::new(pid))),
                    _ => c.send(Packet::PubRec(PubRec::new(pid))),
                }
            }
            Packet::PubRel(r) => c.send(Packet::PubComp(PubComp::new(r.packet_id))),
            other => panic!("{id}: unexpected {other:?}"),
        }
    }
    got.into_iter().collect()
}

#[test]
fn acknowledged_messages_survive_sigkill() {
    // On the build's disk rather than a RAM-backed /tmp, so syncs are real.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (mut broker, addr) = spawn_broker(dir.path());
    let subscribers = [
        (ProtocolVersion::V3_1_1, "sub-311"),
        (ProtocolVersion::V5, "sub-5"),
    ];
    for (v, id) in subscribers {
        subscribe(addr, v, id);
    }

    // A writer thread sends the PUBLISH packets one write each, pausing
    // briefly every 20 so the broker works through the stream as it comes;
    // the broker is killed once a quarter are acknowledged, then every
    // acknowledgement it got out before it died is read.
    let (mut publ, _) = Client::connect(addr, ProtocolVersion::V3_1_1, "pub", true);
    let mut out = publ.s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for i in 1..=N {
            let payload = i.to_string();
            let mut p = Publish::new("k/v", payload.as_bytes());
            p.qos = if i % 2 == 0 {
                QoS::ExactlyOnce
            } else {
                QoS::AtLeastOnce
            };
            p.packet_id = Some(i);
            let mut buf = Vec::new();
            Packet::Publish(p)
                .encode(ProtocolVersion::V3_1_1, &mut buf)
                .unwrap();
            // Fails once the broker is gone: the rest is simply not sent.
            if out.write_all(&buf).is_err() {
                return i - 1;
            }
            if i % 20 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        N
    });
    let mut acked = Vec::new();
    let mut killed = false;
    while let Some(p) = publ.recv() {
        match p.packet() {
            Packet::PubAck(a) => acked.push(a.packet_id),
            // Acknowledged by PUBREC: the broker owns the message now (no
            // PUBREL is sent; 1000 unreleased ids stay under the broker's
            // Receive Maximum).
            Packet::PubRec(r) => acked.push(r.packet_id),
            other => panic!("publisher: unexpected {other:?}"),
        }
        if !killed && acked.len() >= usize::from(N / 4) {
            // SIGKILL: no chance to flush or close anything.
            broker.0.kill().unwrap();
            broker.0.wait().unwrap();
            killed = true;
        }
        if acked.len() == usize::from(N) {
            break;
        }
    }
    // Acknowledgements already on the wire before the kill were read
    // above until the connection ended: each of them counts.
    assert!(killed, "killed after {} acknowledgements", acked.len());
    let sent = writer.join().unwrap();
    acked.sort_unstable();
    acked.dedup();
    drop(broker);

    let (broker, addr) = spawn_broker(dir.path());
    let mut report = Vec::new();
    for (v, id) in subscribers {
        let got = collect(addr, v, id, &acked);
        let missing: Vec<u16> = acked
            .iter()
            .copied()
            .filter(|a| got.binary_search(a).is_err())
            .collect();
        report.push(format!(
            "{id}: {} of {} acknowledged received ({} distinct messages in all)",
            acked.len() - missing.len(),
            acked.len(),
            got.len()
        ));
        assert!(
            missing.is_empty(),
            "{id}: acknowledged but lost: {missing:?}"
        );
    }
    eprintln!(
        "kill-and-restart: {sent} of {N} PUBLISH written, {} acknowledged before SIGKILL; {}",
        acked.len(),
        report.join("; ")
    );
    drop(broker);
}
