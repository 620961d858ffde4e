//! Throughput of the capture analysis on a synthetic capture held in
//! memory: decoding only, and decoding plus JSON output.
//!
//! `cargo bench -p mqttkit-pcap` (the side-by-side comparison with tshark
//! is tools/pcap-bench).

use std::net::{Ipv4Addr, SocketAddrV4};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mqttkit_codec::{Connect, Packet, ProtocolVersion, PubAck, Publish, QoS};
use mqttkit_pcap::output::{Format, Options, Payload, Writer};
use mqttkit_pcap::synth::{Conn, PcapWriter};
use mqttkit_pcap::{analyze, Config, Handler, Notice, PacketEvent};

/// 16 connections, `bursts` bursts of 8 PUBLISH (QoS 0 and 1) with their
/// PUBACKs; one segment per burst and direction. Returns the capture and
/// the packet count.
fn capture(bursts: usize) -> (Vec<u8>, u64) {
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let mut conns: Vec<(Conn, ProtocolVersion)> = (0..16u16)
        .map(|i| {
            let v = if i % 2 == 0 {
                ProtocolVersion::V3_1_1
            } else {
                ProtocolVersion::V5
            };
            let c = Conn::new(
                SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, i as u8), 40000 + i),
                SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 1), 1883),
                u32::from(i) * 1000,
                7,
            );
            (c, v)
        })
        .collect();
    let mut packets = 0;
    for (c, v) in &mut conns {
        c.handshake(&mut w, 0).unwrap();
        c.send(
            &mut w,
            0,
            true,
            &Packet::Connect((&Connect::new(*v, "bench")).into())
                .to_vec(*v)
                .unwrap(),
        )
        .unwrap();
        let connack: &[u8] = if v.is_v5() {
            &[0x20, 0x03, 0, 0, 0]
        } else {
            &[0x20, 0x02, 0, 0]
        };
        c.send(&mut w, 0, false, connack).unwrap();
        packets += 2;
    }
    let payload = [b'x'; 64];
    let mut id = 1u16;
    for b in 0..bursts {
        let (c, v) = &mut conns[b % 16];
        let (mut up, mut down) = (Vec::new(), Vec::new());
        for k in 0..8 {
            let mut p = Publish::new("sensors/room/temperature", &payload[..16 + k * 4]);
            if k % 2 == 1 {
                p.qos = QoS::AtLeastOnce;
                p.packet_id = Some(id);
                Packet::PubAck(PubAck::new(id))
                    .encode(*v, &mut down)
                    .unwrap();
                packets += 1;
                id = id.checked_add(1).unwrap_or(1);
            }
            Packet::Publish(p).encode(*v, &mut up).unwrap();
            packets += 1;
        }
        c.send(&mut w, b as u64, true, &up).unwrap();
        c.send(&mut w, b as u64, false, &down).unwrap();
    }
    (w.finish().unwrap(), packets)
}

struct Count(u64);

impl Handler for Count {
    fn packet(&mut self, _: &PacketEvent<'_>) {
        self.0 += 1;
    }
    fn notice(&mut self, _: &Notice) {}
}

fn bench(c: &mut Criterion) {
    let (cap, packets) = capture(10_000);
    let config = Config::default();
    let mut g = c.benchmark_group("pcap");
    g.throughput(Throughput::Elements(packets));
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut n = Count(0);
            analyze(&cap[..], &config, &mut n);
            assert!(n.0 >= packets);
        })
    });
    g.bench_function("decode+json", |b| {
        b.iter(|| {
            let opts = Options {
                format: Format::Json,
                payload: Payload::None,
                only_violations: false,
                packets: true,
                notices: true,
                stats: false,
            };
            let mut w = Writer::new(std::io::sink(), opts);
            analyze(&cap[..], &config, &mut w);
            w.into_inner()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
