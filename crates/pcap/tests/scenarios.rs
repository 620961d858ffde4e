//! Synthetic captures for every reassembly, detection and conversation
//! case: written with `synth::PcapWriter`, analysed, checked packet by packet.

use std::net::{Ipv4Addr, SocketAddrV4};

use mqttkit_codec::{Connect, Packet, ProtocolVersion, PubAck, Publish, QoS};
use mqttkit_pcap::synth::{flags, Conn, PcapWriter};
use mqttkit_pcap::{analyze, Config, Handler, Notice, NoticeKind, PacketEvent};

#[derive(Debug, Clone)]
struct Got {
    frame: u64,
    kind: String,
    version: ProtocolVersion,
    inferred: bool,
    topic: Option<String>,
    len: usize,
    findings: Vec<&'static str>,
}

#[derive(Default)]
struct Collect {
    packets: Vec<Got>,
    notices: Vec<Notice>,
}

impl Handler for Collect {
    fn packet(&mut self, p: &PacketEvent<'_>) {
        self.packets.push(Got {
            frame: p.frame,
            kind: mqttkit_pcap::fields::TYPE_NAMES[(p.raw[0] >> 4) as usize].to_string(),
            version: p.version,
            inferred: p.version_inferred,
            topic: match p.packet {
                Some(Packet::Publish(pb)) => Some(pb.topic.to_string()),
                _ => None,
            },
            len: p.raw.len(),
            findings: p.findings.iter().map(|f| f.statement).collect(),
        });
    }
    fn notice(&mut self, n: &Notice) {
        self.notices.push(n.clone());
    }
}

impl Collect {
    fn kinds(&self) -> Vec<&str> {
        self.packets.iter().map(|p| p.kind.as_str()).collect()
    }
    fn notices_of(&self, k: NoticeKind) -> Vec<&Notice> {
        self.notices.iter().filter(|n| n.kind == k).collect()
    }
    fn all_findings(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self
            .packets
            .iter()
            .flat_map(|p| p.findings.iter().copied())
            .collect();
        v.extend(self.notices.iter().filter_map(|n| n.statement));
        v
    }
}

fn addr(a: u8, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, a), port)
}

fn conn(port: u16) -> Conn {
    Conn::new(addr(1, 50000), addr(2, port), 1000, 9000)
}

fn enc(p: Packet<'_>, v: ProtocolVersion) -> Vec<u8> {
    p.to_vec(v).unwrap()
}

fn connect(v: ProtocolVersion) -> Vec<u8> {
    enc(Packet::Connect((&Connect::new(v, "c1")).into()), v)
}

fn connack() -> Vec<u8> {
    vec![0x20, 0x02, 0x00, 0x00]
}

fn publish(topic: &str, payload: &[u8], qos: QoS, id: Option<u16>, v: ProtocolVersion) -> Vec<u8> {
    let mut p = Publish::new(topic, payload);
    p.qos = qos;
    p.packet_id = id;
    enc(Packet::Publish(p), v)
}

fn run_with(config: &Config, build: impl FnOnce(&mut PcapWriter<Vec<u8>>)) -> Collect {
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    build(&mut w);
    let bytes = w.finish().unwrap();
    let mut c = Collect::default();
    analyze(&bytes[..], config, &mut c);
    c
}

fn run(build: impl FnOnce(&mut PcapWriter<Vec<u8>>)) -> Collect {
    run_with(&Config::default(), build)
}

/// Handshake (records 1-3), CONNECT (4), CONNACK (5).
fn open(w: &mut PcapWriter<Vec<u8>>, c: &mut Conn, v: ProtocolVersion) {
    c.handshake(w, 1).unwrap();
    c.send(w, 2, true, &connect(v)).unwrap();
    c.send(w, 3, false, &connack()).unwrap();
}

#[test]
fn split_remaining_length_across_segments() {
    let v = ProtocolVersion::V3_1_1;
    let big = publish("a/b", &[7u8; 300], QoS::AtMostOnce, None, v);
    assert!(big[1] & 0x80 != 0, "two-byte Remaining Length");
    let c = run(|w| {
        let mut c = conn(1883);
        open(w, &mut c, v);
        // Cut between the two Remaining Length bytes.
        c.send(w, 4, true, &big[..2]).unwrap(); // record 6
        c.send(w, 5, true, &big[2..]).unwrap(); // record 7
    });
    assert_eq!(c.kinds(), ["CONNECT", "CONNACK", "PUBLISH"]);
    let p = &c.packets[2];
    assert_eq!(
        (p.frame, p.len, p.topic.as_deref()),
        (7, big.len(), Some("a/b"))
    );
    assert!(p.findings.is_empty());
    assert!(c.notices.is_empty(), "{:?}", c.notices);
}

#[test]
fn several_packets_per_segment_and_one_packet_over_many() {
    let v = ProtocolVersion::V5;
    let mut burst = Vec::new();
    for i in 0..5 {
        burst.extend(publish(&format!("t/{i}"), b"x", QoS::AtMostOnce, None, v));
    }
    let long = publish("long", &[1u8; 1000], QoS::AtLeastOnce, Some(9), v);
    let c = run(|w| {
        let mut c = conn(1883);
        open(w, &mut c, v);
        c.send(w, 4, true, &burst).unwrap(); // record 6
        for (i, piece) in long.chunks(7).enumerate() {
            c.send(w, 5 + i as u64, true, piece).unwrap();
        }
    });
    let topics: Vec<_> = c.packets.iter().filter_map(|p| p.topic.clone()).collect();
    assert_eq!(topics, ["t/0", "t/1", "t/2", "t/3", "t/4", "long"]);
    assert!(c.packets[2..7].iter().all(|p| p.frame == 6));
    let last = c.packets.last().unwrap();
    assert_eq!(last.frame, 6 + long.len().div_ceil(7) as u64);
    assert_eq!(last.version, ProtocolVersion::V5);
}

#[test]
fn out_of_order_segments_are_put_back_in_order() {
    let v = ProtocolVersion::V3_1_1;
    let a = publish("first", b"1", QoS::AtMostOnce, None, v);
    let b = publish("second", b"2", QoS::AtMostOnce, None, v);
    let c = run(|w| {
        let mut c = conn(1883);
        open(w, &mut c, v);
        let seq = c.client.seq;
        let (ca, sa) = (c.client.addr, c.server.addr);
        let ack = c.server.seq;
        // The second segment arrives first (record 6), then the first (7).
        w.tcp(4, ca, sa, seq + a.len() as u32, ack, flags::ACK, &b)
            .unwrap();
        w.tcp(5, ca, sa, seq, ack, flags::ACK, &a).unwrap();
    });
    let got: Vec<_> = c
        .packets
        .iter()
        .filter_map(|p| p.topic.clone().map(|t| (t, p.frame)))
        .collect();
    assert_eq!(got, [("first".to_string(), 7), ("second".to_string(), 7)]);
    assert!(c.notices.is_empty(), "{:?}", c.notices);
}

#[test]
fn retransmissions_first_copy_wins_and_differences_are_reported() {
    let v = ProtocolVersion::V3_1_1;
    let a = publish("keep", b"AAAA", QoS::AtMostOnce, None, v);
    let mut altered = a.clone();
    let n = altered.len();
    altered[n - 1] = b'Z';
    let c = run(|w| {
        let mut c = conn(1883);
        open(w, &mut c, v);
        let seq = c.client.seq;
        let (ca, sa, ack) = (c.client.addr, c.server.addr, c.server.seq);
        w.tcp(4, ca, sa, seq, ack, flags::ACK, &a).unwrap();
        w.tcp(5, ca, sa, seq, ack, flags::ACK, &a).unwrap(); // same bytes
        w.tcp(6, ca, sa, seq, ack, flags::ACK, &altered).unwrap(); // different
    });
    let publishes: Vec<_> = c.packets.iter().filter(|p| p.kind == "PUBLISH").collect();
    assert_eq!(publishes.len(), 1);
    let r = c.notices_of(NoticeKind::Retransmission);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].frame, 8);
}

#[test]
fn a_gap_is_never_filled_and_decoding_resyncs_at_the_next_packet() {
    let v = ProtocolVersion::V3_1_1;
    let lost = publish("lost", &[0u8; 50], QoS::AtMostOnce, None, v);
    let after = publish("after", b"ok", QoS::AtMostOnce, None, v);
    let c = run(|w| {
        let mut c = conn(1883);
        open(w, &mut c, v);
        let seq = c.client.seq;
        let (ca, sa, ack) = (c.client.addr, c.server.addr, c.server.seq);
        // Only the second half of "lost" is captured, then "after".
        w.tcp(4, ca, sa, seq + 25, ack, flags::ACK, &lost[25..])
            .unwrap();
        let next = seq + lost.len() as u32;
        w.tcp(5, ca, sa, next, ack, flags::ACK, &after).unwrap();
        // The server acknowledged everything: the hole is the capture's.
        w.tcp(6, sa, ca, ack, next + after.len() as u32, flags::ACK, &[])
            .unwrap();
        w.tcp(
            7,
            ca,
            sa,
            next + after.len() as u32,
            ack,
            flags::FIN | flags::ACK,
            &[],
        )
        .unwrap();
    });
    let topics: Vec<_> = c.packets.iter().filter_map(|p| p.topic.clone()).collect();
    assert_eq!(topics, ["after"]);
    assert_eq!(c.notices_of(NoticeKind::Gap).len(), 1);
    assert_eq!(c.notices_of(NoticeKind::Resync).len(), 1);
}

#[test]
fn capture_starting_mid_stream_infers_the_version() {
    let v = ProtocolVersion::V5;
    let tail = publish("cut", &[0u8; 40], QoS::AtMostOnce, None, v);
    let mut props = publish("p1", b"x", QoS::AtLeastOnce, Some(3), v);
    props.extend(publish("p2", b"y", QoS::AtLeastOnce, Some(4), v));
    // A 5.0 PUBACK with a reason code: only 5.0 can read it.
    let ack = vec![0x40, 0x03, 0x00, 0x03, 0x10];
    let c = run(|w| {
        let (ca, sa) = (addr(1, 50000), addr(2, 1883));
        w.tcp(1, ca, sa, 500, 77, flags::ACK, &tail[20..]).unwrap();
        w.tcp(
            2,
            ca,
            sa,
            500 + (tail.len() - 20) as u32,
            77,
            flags::ACK,
            &props,
        )
        .unwrap();
        w.tcp(3, sa, ca, 77, 0, flags::ACK, &ack).unwrap();
    });
    let topics: Vec<_> = c.packets.iter().filter_map(|p| p.topic.clone()).collect();
    assert_eq!(topics, ["p1", "p2"]);
    assert!(c
        .packets
        .iter()
        .all(|p| p.inferred && p.version == ProtocolVersion::V5));
    assert_eq!(c.notices_of(NoticeKind::VersionInferred).len(), 1);
    let resync = c.notices_of(NoticeKind::Resync);
    assert_eq!(resync.len(), 1, "{:?}", c.notices);
    assert!(resync[0]
        .message
        .contains(&format!("{} bytes", tail.len() - 20)));
    // Mid-stream: no "first packet is not CONNECT" finding.
    assert!(c.all_findings().is_empty(), "{:?}", c.all_findings());
}

#[test]
fn detection_by_port_option_and_by_content_tls_reported() {
    let v = ProtocolVersion::V3_1_1;
    let p = publish("x", b"1", QoS::AtMostOnce, None, v);
    let session = |port: u16| {
        let p = p.clone();
        move |w: &mut PcapWriter<Vec<u8>>| {
            let mut c = conn(port);
            open(w, &mut c, v);
            c.send(w, 4, true, &p).unwrap();
        }
    };
    // Content: CONNECT at the start of a stream on any port.
    assert_eq!(
        run(session(4444)).kinds(),
        ["CONNECT", "CONNACK", "PUBLISH"]
    );
    // Content detection off: only the configured ports.
    let mut no_detect = Config {
        detect: false,
        ..Config::default()
    };
    assert!(run_with(&no_detect, session(4444)).packets.is_empty());
    no_detect.ports.push(4444);
    assert_eq!(run_with(&no_detect, session(4444)).packets.len(), 3);
    // 8883 is TLS: reported, not decoded.
    let tls = run(session(8883));
    assert!(tls.packets.is_empty());
    assert_eq!(tls.notices_of(NoticeKind::Tls).len(), 1);
    // Something else on another port is left alone.
    let http = run(|w| {
        let mut c = conn(8080);
        c.handshake(w, 1).unwrap();
        c.send(w, 2, true, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        c.send(w, 3, false, b"HTTP/1.1 200 OK\r\n\r\nhello")
            .unwrap();
    });
    assert!(http.packets.is_empty() && http.notices.is_empty());
}

#[test]
fn a_run_of_valid_packets_mid_stream_on_any_port() {
    let v = ProtocolVersion::V3_1_1;
    let mut run3 = Vec::new();
    for i in 0..3 {
        run3.extend(publish(&format!("m/{i}"), b"v", QoS::AtMostOnce, None, v));
    }
    let c = run(|w| {
        w.tcp(1, addr(1, 50000), addr(2, 6000), 1, 1, flags::ACK, &run3)
            .unwrap();
    });
    assert_eq!(c.packets.len(), 3);
    assert_eq!(c.notices_of(NoticeKind::Detected).len(), 1);
}

#[test]
fn mqtt_over_websocket_masked_fragmented_and_split() {
    let v = ProtocolVersion::V3_1_1;
    let mut mqtt = connect(v);
    let p1 = publish("ws/1", &[5u8; 200], QoS::AtMostOnce, None, v);
    let p2 = publish("ws/2", b"two", QoS::AtMostOnce, None, v);
    mqtt.extend(&p1);
    mqtt.extend(&p2);
    let key = [0x11, 0x22, 0x33, 0x44];
    let frame = |fin: bool, op: u8, data: &[u8]| {
        let mut f = vec![(fin as u8) << 7 | op, 0x80 | 126];
        f.extend_from_slice(&(data.len() as u16).to_be_bytes());
        f.extend_from_slice(&key);
        f.extend(data.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        f
    };
    // Message 1: CONNECT + half of p1 in two fragments; message 2: the rest.
    let cut = connect(v).len() + 100;
    let mut wire = frame(false, 2, &mqtt[..50]);
    wire.extend(frame(true, 0, &mqtt[50..cut]));
    wire.extend(frame(true, 2, &mqtt[cut..]));
    let c = run(|w| {
        let mut c = conn(18840);
        c.handshake(w, 1).unwrap();
        c.send(
            w,
            2,
            true,
            b"GET /mqtt HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
        )
        .unwrap();
        c.send(
            w,
            3,
            false,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n\x82\x04\x20\x02\x00\x00",
        )
        .unwrap();
        for (i, piece) in wire.chunks(90).enumerate() {
            c.send(w, 4 + i as u64, true, piece).unwrap();
        }
    });
    assert_eq!(c.kinds(), ["CONNACK", "CONNECT", "PUBLISH", "PUBLISH"]);
    let topics: Vec<_> = c.packets.iter().filter_map(|p| p.topic.clone()).collect();
    assert_eq!(topics, ["ws/1", "ws/2"]);
}

#[test]
fn mqtt_3_3_1_4_publish_qos_3_is_flagged() {
    let v = ProtocolVersion::V3_1_1;
    let mut p = publish("q", b"3", QoS::AtLeastOnce, Some(1), v);
    p[0] |= 0x06;
    let c = run(|w| {
        let mut c = conn(1883);
        open(w, &mut c, v);
        c.send(w, 4, true, &p).unwrap();
    });
    assert_eq!(c.packets[2].findings, ["MQTT-3.3.1-4"]);
}

#[test]
fn mqtt_3_8_1_1_subscribe_with_bad_flags_is_flagged() {
    let v = ProtocolVersion::V3_1_1;
    // SUBSCRIBE with flags 0000 instead of 0010.
    let sub = [0x80, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x00];
    let c = run(|w| {
        let mut c = conn(1883);
        open(w, &mut c, v);
        c.send(w, 4, true, &sub).unwrap();
    });
    assert_eq!(c.packets[2].kind, "SUBSCRIBE");
    assert_eq!(c.packets[2].findings, ["MQTT-3.8.1-1"]);
}

#[test]
fn mqtt_3_1_0_1_and_3_1_0_2_connect_order() {
    let v = ProtocolVersion::V3_1_1;
    let c = run(|w| {
        let mut c = conn(1883);
        c.handshake(w, 1).unwrap();
        c.send(w, 2, true, &[0xc0, 0x00]).unwrap();
        c.send(w, 3, true, &connect(v)).unwrap();
        c.send(w, 4, true, &connect(v)).unwrap();
    });
    assert_eq!(c.packets[0].findings, ["MQTT-3.1.0-1"]);
    assert!(c.packets[1].findings.is_empty());
    assert_eq!(c.packets[2].findings, ["MQTT-3.1.0-2"]);
}

#[test]
fn mqtt_2_3_1_2_packet_id_reused_and_mqtt_2_3_1_6_unknown_ack() {
    let v = ProtocolVersion::V3_1_1;
    let c = run(|w| {
        let mut c = conn(1883);
        open(w, &mut c, v);
        c.send(
            w,
            4,
            true,
            &publish("a", b"1", QoS::AtLeastOnce, Some(7), v),
        )
        .unwrap();
        c.send(
            w,
            5,
            true,
            &publish("a", b"2", QoS::AtLeastOnce, Some(7), v),
        )
        .unwrap();
        c.send(w, 6, false, &enc(Packet::PubAck(PubAck::new(7)), v))
            .unwrap();
        c.send(w, 7, false, &enc(Packet::PubAck(PubAck::new(8)), v))
            .unwrap();
    });
    let f: Vec<_> = c.packets.iter().map(|p| p.findings.clone()).collect();
    assert_eq!(f[3], ["MQTT-2.3.1-2"]);
    assert!(f[4].is_empty());
    assert_eq!(f[5], ["MQTT-2.3.1-6"]);
}

#[test]
fn mqtt_4_3_3_qos2_flow_that_never_completes_and_mqtt_3_2_2_17_topic_alias() {
    let v = ProtocolVersion::V5;
    let mut alias = publish("t", b"1", QoS::AtMostOnce, None, v);
    // Topic alias property (0x23 = 5): rewrite the empty property block.
    let at = 2 + 2 + 1;
    alias[at] = 3;
    alias.splice(at + 1..at + 1, [0x23, 0x00, 0x05]);
    alias[1] += 3;
    let c = run(|w| {
        let mut c = conn(1883);
        c.handshake(w, 1).unwrap();
        c.send(w, 2, true, &connect(v)).unwrap();
        // CONNACK with Topic Alias Maximum 2.
        c.send(
            w,
            3,
            false,
            &[0x20, 0x06, 0x00, 0x00, 0x03, 0x22, 0x00, 0x02],
        )
        .unwrap();
        c.send(w, 4, true, &alias).unwrap();
        c.send(
            w,
            5,
            true,
            &publish("q2", b"2", QoS::ExactlyOnce, Some(1), v),
        )
        .unwrap();
    });
    assert_eq!(c.packets[2].findings, ["MQTT-3.2.2-17"]);
    let conv = c.notices_of(NoticeKind::Conversation);
    assert_eq!(conv.len(), 1);
    assert_eq!(conv[0].statement, Some("MQTT-4.3.3-3"));
}

#[test]
fn stream_ending_inside_a_packet_is_reported() {
    let v = ProtocolVersion::V3_1_1;
    let p = publish("cut", &[1u8; 30], QoS::AtMostOnce, None, v);
    let c = run(|w| {
        let mut c = conn(1883);
        open(w, &mut c, v);
        c.send(w, 4, true, &p[..10]).unwrap();
        let (ca, sa) = (c.client.addr, c.server.addr);
        w.tcp(5, ca, sa, c.client.seq, c.server.seq, flags::RST, &[])
            .unwrap();
    });
    assert_eq!(c.packets.len(), 2);
    assert_eq!(c.notices_of(NoticeKind::Truncated).len(), 1);
}

#[test]
fn hostile_reordering_is_capped_and_memory_stays_bounded() {
    let v = ProtocolVersion::V3_1_1;
    let config = Config {
        reorder_cap: 64 * 1024,
        ..Config::default()
    };
    let c = run_with(&config, |w| {
        let mut c = conn(1883);
        open(w, &mut c, v);
        let (ca, sa, seq) = (c.client.addr, c.server.addr, c.client.seq);
        // 1 MB of segments after a hole that is never filled.
        for i in 0..1000u32 {
            w.tcp(
                10,
                ca,
                sa,
                seq + 10 + i * 1000,
                0,
                flags::ACK,
                &[0x30; 1000],
            )
            .unwrap();
        }
    });
    assert!(!c.notices_of(NoticeKind::Cap).is_empty());
}

#[test]
fn huge_declared_packet_is_skipped_not_buffered() {
    let v = ProtocolVersion::V3_1_1;
    let config = Config {
        max_packet: 1024,
        ..Config::default()
    };
    let mut big = publish("big", &[9u8; 5000], QoS::AtMostOnce, None, v);
    big.extend(publish("small", b"s", QoS::AtMostOnce, None, v));
    let c = run_with(&config, |w| {
        let mut c = conn(1883);
        open(w, &mut c, v);
        for piece in big.chunks(700) {
            c.send(w, 4, true, piece).unwrap();
        }
    });
    let topics: Vec<_> = c.packets.iter().filter_map(|p| p.topic.clone()).collect();
    assert_eq!(topics, ["small"]);
    assert_eq!(c.notices_of(NoticeKind::Cap).len(), 1);
}

#[test]
fn truncated_and_corrupt_captures_report_record_and_offset() {
    let v = ProtocolVersion::V3_1_1;
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let mut c = conn(1883);
    open(&mut w, &mut c, v);
    let bytes = w.finish().unwrap();
    let cut = &bytes[..bytes.len() - 3];
    let mut got = Collect::default();
    analyze(cut, &Config::default(), &mut got);
    // The CONNECT (record 4) is there; record 5 is cut short.
    assert_eq!(got.kinds(), ["CONNECT"]);
    let cap = got.notices_of(NoticeKind::Capture);
    // Where the cut record starts, then that nothing readable follows.
    assert_eq!(cap.len(), 2, "{cap:?}");
    assert!(cap[0].message.starts_with("record 5 at offset"), "{cap:?}");
    assert!(cap[1].message.contains("no further record"), "{cap:?}");
}

#[test]
fn random_corruption_never_panics() {
    let v = ProtocolVersion::V5;
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let mut c = conn(1883);
    open(&mut w, &mut c, v);
    for i in 0..20u16 {
        c.send(
            &mut w,
            4,
            true,
            &publish("r", &[1u8; 100], QoS::AtLeastOnce, Some(i + 1), v),
        )
        .unwrap();
    }
    let clean = w.finish().unwrap();
    let mut state = 0x1234_5678_9abc_def0u64;
    for _ in 0..300 {
        let mut bytes = clean.clone();
        for _ in 0..8 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = 24 + (state as usize) % (bytes.len() - 24);
            bytes[at] = (state >> 32) as u8;
        }
        let mut got = Collect::default();
        analyze(&bytes[..], &Config::default(), &mut got);
        assert!(got.packets.len() <= 200);
    }
}

#[test]
fn flow_table_is_capped() {
    let v = ProtocolVersion::V3_1_1;
    let config = Config {
        max_flows: 2,
        ..Config::default()
    };
    let c = run_with(&config, |w| {
        for port in [50001u16, 50002, 50003] {
            let mut c = Conn::new(addr(1, port), addr(2, 1883), 100, 200);
            open(w, &mut c, v);
        }
    });
    // Two sessions decoded (CONNECT + CONNACK each), the third ignored.
    assert_eq!(c.packets.len(), 4);
    assert_eq!(c.notices_of(NoticeKind::Cap).len(), 1);
}

#[test]
fn a_corrupt_record_header_is_skipped_and_reading_goes_on() {
    let v = ProtocolVersion::V3_1_1;
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let mut c = conn(1883);
    open(&mut w, &mut c, v);
    let before = w.finish().unwrap().len();
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let mut c = conn(1883);
    open(&mut w, &mut c, v);
    c.send(
        &mut w,
        10,
        true,
        &publish("lost", b"x", QoS::AtMostOnce, None, v),
    )
    .unwrap();
    c.send(
        &mut w,
        11,
        true,
        &publish("kept", b"y", QoS::AtMostOnce, None, v),
    )
    .unwrap();
    let mut bytes = w.finish().unwrap();
    // Record 6 (the "lost" PUBLISH): its captured length becomes huge.
    bytes[before + 8..before + 12].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    let mut got = Collect::default();
    analyze(&bytes[..], &Config::default(), &mut got);
    let cap = got.notices_of(NoticeKind::Capture);
    assert_eq!(cap.len(), 2, "{cap:?}");
    assert!(cap[0]
        .message
        .starts_with(&format!("record 6 at offset {before}")));
    assert!(cap[1].message.contains("reading resumes here"), "{cap:?}");
    // The next record is read again; "kept" is decoded after a gap.
    let topics: Vec<_> = got.packets.iter().filter_map(|p| p.topic.clone()).collect();
    assert_eq!(topics, ["kept"]);
}
