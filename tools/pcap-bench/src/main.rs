//! `mqttkit-pcap-bench`: writes a synthetic capture of MQTT traffic and
//! times `mqttkit pcap --format json` against `tshark -T fields` (7 fields)
//! and `tshark -T json` on it, with each run's peak memory.
//!
//! ```text
//! mqttkit-pcap-bench gen PACKETS FILE            # only write the capture
//! mqttkit-pcap-bench run MQTTKIT PACKETS...      # write, time, print a table
//!     [--no-tshark-json-above N]                 # skip tshark -T json above N packets
//! ```

use std::fs::File;
use std::io::BufWriter;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use mqttkit_codec::{
    ConnAck, Connect, ConnectReasonCode, Packet, ProtocolVersion, PubAck, PubComp, PubRec, PubRel,
    Publish, QoS,
};
use mqttkit_pcap::synth::{Conn, PcapWriter};

/// Connections in the synthetic capture.
const CONNECTIONS: u32 = 64;
/// Largest TCP payload written in one segment.
const SEGMENT: usize = 1448;

/// Deterministic pseudo-random numbers (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Stream {
    conn: Conn,
    version: ProtocolVersion,
    next_id: u16,
    /// Bytes waiting to be sent, per direction (client, server).
    pending: [Vec<u8>; 2],
    /// QoS 2 identifiers whose PUBREC was sent: PUBREL follows next time.
    released: Vec<u16>,
}

fn enc(p: &Packet<'_>, v: ProtocolVersion, out: &mut Vec<u8>) -> usize {
    p.encode(v, out).expect("encodable packet");
    1
}

/// Writes a capture holding at least `packets` MQTT packets; returns the
/// number of capture records and of packets.
fn generate(packets: u64, path: &Path) -> (u64, u64) {
    let file = File::create(path).expect("create capture");
    let mut w = PcapWriter::new(BufWriter::with_capacity(1 << 20, file)).expect("write");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut t: u64 = 1_700_000_000_000_000;
    let versions = [
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
        ProtocolVersion::V3_1,
    ];
    let mut streams: Vec<Stream> = (0..CONNECTIONS)
        .map(|i| {
            let client = SocketAddrV4::new(
                Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8),
                40000 + i as u16,
            );
            let server = SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 1), 1883);
            Stream {
                conn: Conn::new(client, server, 1000 + i * 7919, 5000 + i * 104_729),
                version: versions[(i % 3) as usize],
                next_id: 1,
                pending: [Vec::new(), Vec::new()],
                released: Vec::new(),
            }
        })
        .collect();
    let mut written = 0u64;
    // Handshakes, CONNECT and CONNACK.
    for s in &mut streams {
        s.conn.handshake(&mut w, t).expect("write");
        let ids = format!("client-{}", s.conn.client.addr.port());
        let mut buf = Vec::new();
        let mut c = Connect::new(s.version, &ids);
        c.keep_alive = 30;
        written += enc(&Packet::Connect((&c).into()), s.version, &mut buf) as u64;
        s.conn.send(&mut w, t, true, &buf).expect("write");
        buf.clear();
        written += enc(
            &Packet::ConnAck(ConnAck::new(false, ConnectReasonCode::Success)),
            s.version,
            &mut buf,
        ) as u64;
        s.conn.send(&mut w, t, false, &buf).expect("write");
    }
    let payload = [b'x'; 256];
    let topics: Vec<String> = (0..50)
        .map(|i| format!("sensors/building-{}/temp", i))
        .collect();
    while written < packets {
        let k = rng.below(CONNECTIONS as u64) as usize;
        let s = &mut streams[k];
        t += 1 + rng.below(20);
        // A burst of packets from the client, and the server's answers.
        let burst = 1 + rng.below(12);
        // The QoS 2 flows answered last time go on: PUBREL, PUBCOMP.
        for id in std::mem::take(&mut s.released) {
            let v = s.version;
            written += enc(&Packet::PubRel(PubRel::new(id)), v, &mut s.pending[0]) as u64;
            written += enc(&Packet::PubComp(PubComp::new(id)), v, &mut s.pending[1]) as u64;
        }
        for _ in 0..burst {
            if written >= packets {
                break;
            }
            let qos = match rng.below(10) {
                0..=5 => QoS::AtMostOnce,
                6..=8 => QoS::AtLeastOnce,
                _ => QoS::ExactlyOnce,
            };
            let topic = &topics[rng.below(topics.len() as u64) as usize];
            let len = 8 + rng.below(200) as usize;
            let mut p = Publish::new(topic, &payload[..len]);
            p.qos = qos;
            let v = s.version;
            if qos != QoS::AtMostOnce {
                p.packet_id = Some(s.next_id);
            }
            written += enc(&Packet::Publish(p), v, &mut s.pending[0]) as u64;
            if qos != QoS::AtMostOnce {
                let id = s.next_id;
                s.next_id = s.next_id.checked_add(1).unwrap_or(1);
                match qos {
                    QoS::AtLeastOnce => {
                        written +=
                            enc(&Packet::PubAck(PubAck::new(id)), v, &mut s.pending[1]) as u64;
                    }
                    _ => {
                        written +=
                            enc(&Packet::PubRec(PubRec::new(id)), v, &mut s.pending[1]) as u64;
                        s.released.push(id);
                    }
                }
            }
        }
        // Flush both directions: whole segments, and now and then a cut
        // inside a packet (sometimes inside its Remaining Length) whose
        // rest goes in the next segment.
        for dir in 0..2 {
            let data = std::mem::take(&mut s.pending[dir]);
            let mut at = 0;
            while at < data.len() {
                let mut end = (at + SEGMENT).min(data.len());
                if end == data.len() && rng.below(8) == 0 && data.len() - at > 2 {
                    end = at + 1 + rng.below((data.len() - at - 1) as u64) as usize;
                }
                s.conn
                    .send(&mut w, t, dir == 0, &data[at..end])
                    .expect("write");
                at = end;
            }
        }
    }
    let records = w.records;
    w.finish().expect("flush");
    (records, written)
}

struct Measured {
    secs: f64,
    rss_kib: u64,
    ok: bool,
}

/// Runs a command with stdout to /dev/null under /usr/bin/time -v.
fn measure(program: &str, args: &[&str]) -> Measured {
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run /usr/bin/time");
    let secs = start.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    let rss_kib = err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes):")
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0);
    let ok = out.status.success() || out.status.code() == Some(1);
    Measured { secs, rss_kib, ok }
}

/// Small captures showing tshark's known shortcomings, for the oracle
/// test's corpus (corpus/captures/synthetic).
fn corpus(dir: &Path) {
    use mqttkit_pcap::synth::flags;
    std::fs::create_dir_all(dir).expect("create dir");
    let v = ProtocolVersion::V3_1_1;
    let connect = {
        let mut b = Vec::new();
        Packet::Connect((&Connect::new(v, "synthetic")).into())
            .encode(v, &mut b)
            .unwrap();
        b
    };
    let connack = vec![0x20, 0x02, 0x00, 0x00];
    let publish = |topic: &str, len: usize, qos: QoS, id: Option<u16>| {
        let payload = vec![b'p'; len];
        let mut p = Publish::new(topic, &payload);
        p.qos = qos;
        p.packet_id = id;
        let mut b = Vec::new();
        Packet::Publish(p).encode(v, &mut b).unwrap();
        b
    };
    let client = SocketAddrV4::new(Ipv4Addr::new(192, 168, 7, 2), 51000);
    let open = |port: u16, w: &mut PcapWriter<BufWriter<File>>| {
        let server = SocketAddrV4::new(Ipv4Addr::new(192, 168, 7, 1), port);
        let mut c = Conn::new(client, server, 10_000, 20_000);
        c.handshake(w, 1_700_000_000_000_000).unwrap();
        c.send(w, 1_700_000_000_000_100, true, &connect).unwrap();
        c.send(w, 1_700_000_000_000_200, false, &connack).unwrap();
        c
    };
    let create = |name: &str| {
        let f = File::create(dir.join(name)).expect("create");
        PcapWriter::new(BufWriter::new(f)).unwrap()
    };
    // 1. A Remaining Length split across two segments, then more packets.
    {
        let mut w = create("split-remaining-length.pcap");
        let mut c = open(1883, &mut w);
        let big = publish("split/rl", 300, QoS::AtMostOnce, None);
        let small = publish("after/split", 5, QoS::AtMostOnce, None);
        c.send(&mut w, 1_700_000_000_001_000, true, &big[..2])
            .unwrap();
        let mut rest = big[2..].to_vec();
        rest.extend_from_slice(&small);
        c.send(&mut w, 1_700_000_000_001_100, true, &rest).unwrap();
        c.send(&mut w, 1_700_000_000_001_200, true, &small).unwrap();
        w.finish().unwrap();
    }
    // 2. Out-of-order segments (no retransmission, no loss).
    {
        let mut w = create("out-of-order.pcap");
        let c = open(1883, &mut w);
        let a = publish("ooo/first", 20, QoS::AtMostOnce, None);
        let b = publish("ooo/second", 20, QoS::AtMostOnce, None);
        let (ca, sa, seq, ack) = (c.client.addr, c.server.addr, c.client.seq, c.server.seq);
        w.tcp(
            1_700_000_000_002_000,
            ca,
            sa,
            seq + a.len() as u32,
            ack,
            flags::ACK | flags::PSH,
            &b,
        )
        .unwrap();
        w.tcp(
            1_700_000_000_002_100,
            ca,
            sa,
            seq,
            ack,
            flags::ACK | flags::PSH,
            &a,
        )
        .unwrap();
        w.finish().unwrap();
    }
    // 3. A session on a port that is not 1883.
    {
        let mut w = create("other-port.pcap");
        let mut c = open(1884, &mut w);
        c.send(
            &mut w,
            1_700_000_000_003_000,
            true,
            &publish("port/1884", 3, QoS::AtMostOnce, None),
        )
        .unwrap();
        w.finish().unwrap();
    }
    // 4. PUBLISH with QoS 3 and SUBSCRIBE with reserved flags 0000.
    {
        let mut w = create("qos3-and-subscribe-flags.pcap");
        let mut c = open(1883, &mut w);
        let mut q3 = publish("qos/three", 4, QoS::AtLeastOnce, Some(1));
        q3[0] |= 0x06;
        c.send(&mut w, 1_700_000_000_004_000, true, &q3).unwrap();
        let sub = [0x80, 0x06, 0x00, 0x02, 0x00, 0x01, b's', 0x00];
        c.send(&mut w, 1_700_000_000_004_100, true, &sub).unwrap();
        w.finish().unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("corpus") if args.len() == 3 => corpus(Path::new(&args[2])),
        Some("gen") if args.len() == 4 => {
            let n: u64 = args[2].parse().expect("packet count");
            let (records, n) = generate(n, Path::new(&args[3]));
            println!(
                "{n} MQTT packets in {records} records written to {}",
                args[3]
            );
        }
        Some("run") if args.len() >= 4 => {
            let mqttkit = &args[2];
            let mut json_limit = u64::MAX;
            let mut counts = Vec::new();
            let mut i = 3;
            while i < args.len() {
                if args[i] == "--no-tshark-json-above" {
                    json_limit = args[i + 1].parse().expect("number");
                    i += 2;
                } else {
                    counts.push(args[i].parse::<u64>().expect("packet count"));
                    i += 1;
                }
            }
            println!(
                "| packets | tool | seconds | packets/s | peak RSS (MiB) | vs tshark -T fields |"
            );
            println!("|---:|---|---:|---:|---:|---:|");
            for n in counts {
                let path = std::env::temp_dir().join(format!("mqttkit-pcap-bench-{n}.pcap"));
                let (records, n) = generate(n, &path);
                let file = path.to_string_lossy().into_owned();
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                eprintln!("{n} packets, {records} records, {} MiB", size >> 20);
                let ours = measure(mqttkit, &["pcap", "--format", "json", &file]);
                let fields = measure(
                    "tshark",
                    &[
                        "-n",
                        "-r",
                        &file,
                        "-T",
                        "fields",
                        "-e",
                        "frame.number",
                        "-e",
                        "mqtt.msgtype",
                        "-e",
                        "mqtt.qos",
                        "-e",
                        "mqtt.topic",
                        "-e",
                        "mqtt.msgid",
                        "-e",
                        "mqtt.len",
                        "-e",
                        "mqtt.clientid",
                    ],
                );
                let json = (n <= json_limit)
                    .then(|| measure("tshark", &["-n", "-r", &file, "-T", "json"]));
                let row = |name: &str, m: &Measured| {
                    let rate = n as f64 / m.secs;
                    let vs = fields.secs / m.secs;
                    println!(
                        "| {n} | {name}{} | {:.2} | {:.0} | {:.1} | {:.1}x |",
                        if m.ok { "" } else { " (failed)" },
                        m.secs,
                        rate,
                        m.rss_kib as f64 / 1024.0,
                        vs
                    );
                };
                row("mqttkit pcap --format json", &ours);
                row("tshark -T fields (7 fields)", &fields);
                match &json {
                    Some(m) => row("tshark -T json", m),
                    None => println!("| {n} | tshark -T json | not run | | | |"),
                }
                let _ = std::fs::remove_file(&path);
            }
        }
        _ => {
            eprintln!("usage: mqttkit-pcap-bench gen PACKETS FILE | run MQTTKIT PACKETS... [--no-tshark-json-above N]");
            std::process::exit(2);
        }
    }
}
