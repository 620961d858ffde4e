//! The bodies of the capture fuzz targets in `fuzz/`, as plain functions so
//! that `cargo test` (tests/fuzz_corpus.rs) replays the kept corpus through
//! the same checks:
//!
//! - [`pcap_file_target`] (`pcap_file`): any bytes as a capture file: no
//!   panic, and nothing reported that the input cannot hold (a packet is
//!   never longer than the file, frame numbers never exceed the records
//!   read); memory stays bounded by the [`Config`] caps (libFuzzer's
//!   `-rss_limit_mb`/`-malloc_limit_mb` fail the run otherwise);
//! - [`pcap_reorder_target`] (`pcap_reorder`): one MQTT conversation cut
//!   into TCP segments, written in an arbitrary order with arbitrary
//!   duplicates and overlapping retransmissions: per direction, the packets
//!   found are exactly the conversation's, in order, with no gap, resync,
//!   differing retransmission or truncation reported.
//!
//! Nothing here is meant for production use.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use mqttkit_codec::{
    ConnAck, Connect, ConnectReasonCode, Disconnect, Packet, ProtocolVersion, PubAck, PubComp,
    PubRec, PubRel, Publish, QoS, SubAck, Subscribe, SubscribeReasonCode, Subscription,
};

use crate::synth::{flags, PcapWriter};
use crate::{analyze, Config, Handler, Notice, NoticeKind, PacketEvent};

/// The caps both targets run under: small enough that a fuzz input cannot
/// make the analyser hold much, large enough for every seed.
pub fn fuzz_config() -> Config {
    Config {
        reorder_cap: 256 << 10,
        max_packet: 256 << 10,
        max_flows: 64,
        ..Config::default()
    }
}

#[derive(Default)]
struct Collect {
    packets: Vec<(SocketAddr, Vec<u8>)>,
    notices: Vec<Notice>,
    records: u64,
    max_frame: u64,
}

impl Handler for Collect {
    fn packet(&mut self, p: &PacketEvent<'_>) {
        self.max_frame = self.max_frame.max(p.frame);
        // Formatting walks every field of the decoded packet.
        let _ = format!("{:?}", p.packet);
        self.packets.push((p.src, p.raw.to_vec()));
    }
    fn notice(&mut self, n: &Notice) {
        self.max_frame = self.max_frame.max(n.frame);
        self.notices.push(n.clone());
    }
    fn record(&mut self, number: u64, _bytes: usize) {
        self.records = self.records.max(number);
    }
}

/// Fuzz target `pcap_file`: `data` as a pcap or pcapng file.
pub fn pcap_file_target(data: &[u8]) {
    let mut h = Collect::default();
    analyze(data, &fuzz_config(), &mut h);
    for (_, raw) in &h.packets {
        assert!(
            raw.len() <= data.len(),
            "a {}-byte packet from a {}-byte file",
            raw.len(),
            data.len()
        );
    }
    // A record header is 16 bytes at least (pcap) or 12 (pcapng blocks).
    assert!(
        h.max_frame <= 1 + data.len() as u64 / 12,
        "frame {} from a {}-byte file",
        h.max_frame,
        data.len()
    );
}

/// The conversation [`pcap_reorder_target`] cuts up, for `version`:
/// client bytes and server bytes, each a list of packets in order. It has
/// QoS 0, 1 and 2 both ways, a PUBLISH whose Remaining Length takes two
/// bytes, PINGREQ/PINGRESP and DISCONNECT.
pub fn conversation(version: ProtocolVersion) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let enc = |p: Packet<'_>| p.to_vec(version).expect("conversation packet encodes");
    let publish = |qos: QoS, id: u16, payload: &'static [u8]| {
        let mut p = Publish::new("a/b", payload);
        p.qos = qos;
        p.packet_id = (qos != QoS::AtMostOnce).then_some(id);
        enc(Packet::Publish(p))
    };
    let mut connect = Connect::new(version, "fuzz");
    connect.keep_alive = 60;
    let subs = [Subscription::new("a/#", QoS::ExactlyOnce)];
    let granted = [SubscribeReasonCode::GrantedQoS2];
    let big: &'static [u8] = &[0x5a; 200];
    let client = vec![
        enc(Packet::Connect((&connect).into())),
        enc(Packet::Subscribe(Subscribe::new(1, &subs))),
        publish(QoS::AtLeastOnce, 2, b"one"),
        publish(QoS::ExactlyOnce, 3, b"two"),
        enc(Packet::PubRel(PubRel::new(3))),
        enc(Packet::PubAck(PubAck::new(7))),
        enc(Packet::PubRec(PubRec::new(8))),
        enc(Packet::PubComp(PubComp::new(8))),
        publish(QoS::AtMostOnce, 0, big),
        enc(Packet::PingReq),
        enc(Packet::Disconnect(Disconnect::default())),
    ];
    let server = vec![
        enc(Packet::ConnAck(ConnAck::new(
            false,
            ConnectReasonCode::Success,
        ))),
        enc(Packet::SubAck(SubAck::new(1, &granted))),
        enc(Packet::PubAck(PubAck::new(2))),
        enc(Packet::PubRec(PubRec::new(3))),
        enc(Packet::PubComp(PubComp::new(3))),
        publish(QoS::AtLeastOnce, 7, b"one"),
        publish(QoS::ExactlyOnce, 8, b"two"),
        enc(Packet::PubRel(PubRel::new(8))),
        publish(QoS::AtMostOnce, 0, big),
        enc(Packet::PingResp),
    ];
    (client, server)
}

/// Reads choices from the fuzz input (zeros once it runs out).
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn below(&mut self, n: usize) -> usize {
        if n <= 256 {
            usize::from(self.byte()) % n.max(1)
        } else {
            (usize::from(self.byte()) << 8 | usize::from(self.byte())) % n
        }
    }
}

/// Most extra copies (duplicates or re-cut retransmissions) per input.
pub const REORDER_MAX_EXTRA: usize = 16;

/// Fuzz target `pcap_reorder`. Byte 0: the version (3.1, 3.1.1, 5.0 by
/// `% 3`); then, per direction, segment lengths (`1 + byte % 64`) until
/// the stream is cut; then a count of extra copies (`% 17`), each a
/// (direction, start, length) range of already-cut bytes, possibly
/// straddling segment boundaries; then a Fisher-Yates shuffle of all data
/// segments. The handshake comes first; data segments acknowledge only the
/// handshake (so no hole is ever acknowledged). Checks that each direction
/// yields exactly the conversation's packets, byte for byte, in order.
pub fn pcap_reorder_target(data: &[u8]) {
    const VERSIONS: [ProtocolVersion; 3] = [
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ];
    let mut u = Bytes(data);
    let version = VERSIONS[usize::from(u.byte() % 3)];
    let (client, server) = conversation(version);
    let streams = [client.concat(), server.concat()];
    let c_addr = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);
    let s_addr = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 1883);
    let isn = [0xffff_ff00u32, 0x1000]; // the client's wraps around 2^32
                                        // (direction, offset, length)
    let mut segs: Vec<(usize, usize, usize)> = Vec::new();
    for (dir, s) in streams.iter().enumerate() {
        let mut at = 0;
        while at < s.len() {
            let n = (1 + usize::from(u.byte() % 64)).min(s.len() - at);
            segs.push((dir, at, n));
            at += n;
        }
    }
    let extra = u.below(REORDER_MAX_EXTRA + 1);
    for _ in 0..extra {
        let dir = usize::from(u.byte() & 1);
        let len = streams[dir].len();
        let start = u.below(len);
        let n = 1 + u.below((len - start).min(128));
        segs.push((dir, start, n));
    }
    for i in (1..segs.len()).rev() {
        let j = u.below(i + 1);
        segs.swap(i, j);
    }

    let mut w = PcapWriter::new(Vec::new()).expect("write to memory");
    let addr = [c_addr, s_addr];
    let t = 1_000_000;
    w.tcp(t, c_addr, s_addr, isn[0], 0, flags::SYN, &[])
        .expect("write to memory");
    w.tcp(
        t,
        s_addr,
        c_addr,
        isn[1],
        isn[0].wrapping_add(1),
        flags::SYN | flags::ACK,
        &[],
    )
    .expect("write to memory");
    let first = [isn[0].wrapping_add(1), isn[1].wrapping_add(1)];
    w.tcp(t, c_addr, s_addr, first[0], first[1], flags::ACK, &[])
        .expect("write to memory");
    for (k, &(dir, at, n)) in segs.iter().enumerate() {
        w.tcp(
            t + 1 + k as u64,
            addr[dir],
            addr[1 - dir],
            first[dir].wrapping_add(at as u32),
            first[1 - dir],
            flags::ACK | flags::PSH,
            &streams[dir][at..at + n],
        )
        .expect("write to memory");
    }
    let file = w.finish().expect("write to memory");

    let mut h = Collect::default();
    analyze(&file[..], &fuzz_config(), &mut h);
    for n in &h.notices {
        assert!(
            !matches!(
                n.kind,
                NoticeKind::Gap
                    | NoticeKind::Resync
                    | NoticeKind::Retransmission
                    | NoticeKind::Truncated
                    | NoticeKind::Capture
                    | NoticeKind::Frame
                    | NoticeKind::Cap
            ),
            "{version}: unexpected notice {n:?}"
        );
    }
    for (dir, want) in [client, server].iter().enumerate() {
        let got: Vec<&Vec<u8>> = h
            .packets
            .iter()
            .filter(|(src, _)| *src == SocketAddr::V4(addr[dir]))
            .map(|(_, raw)| raw)
            .collect();
        let want: Vec<&Vec<u8>> = want.iter().collect();
        assert_eq!(
            got,
            want,
            "{version}: {} packets differ (segments {segs:?})",
            ["client", "server"][dir]
        );
    }
}
