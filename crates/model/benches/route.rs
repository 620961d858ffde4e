//! Routing one PUBLISH through the broker core to 1, 10 and 1000
//! subscribers (QoS 0 and QoS 1), encoded outputs included: the time from
//! the publisher's bytes to every subscriber's bytes. A QoS 1 iteration
//! also feeds each subscriber's PUBACK back (so in-flight state stays
//! bounded); its time therefore covers the whole QoS 1 exchange.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mqttkit_codec::{
    Connect, Packet, ProtocolVersion, PubAck, Publish, QoS, Subscribe, Subscription,
};
use mqttkit_model::{Broker, Config, Output};

const V: ProtocolVersion = ProtocolVersion::V3_1_1;

fn encode(p: Packet<'_>) -> Vec<u8> {
    let mut b = BytesMut::new();
    p.encode(V, &mut b).unwrap();
    b.to_vec()
}

fn drain(b: &mut Broker) -> usize {
    let mut n = 0;
    while let Some(o) = b.poll_output() {
        if let Output::Send { bytes, .. } = o {
            n += bytes.len();
        }
    }
    n
}

fn setup(subscribers: u64, qos: QoS) -> Broker {
    let config = Config {
        max_inflight: u16::MAX,
        max_queued_messages: 1 << 20,
        ..Config::default()
    };
    let mut b = Broker::new(config);
    for i in 0..=subscribers {
        b.connection_opened(i, 0);
        let id = format!("c{i}");
        b.bytes_received(
            i,
            &encode(Packet::Connect((&Connect::new(V, &id)).into())),
            0,
        );
        if i > 0 {
            let subs = [Subscription::new("bench/route", qos)];
            b.bytes_received(i, &encode(Packet::Subscribe(Subscribe::new(1, &subs))), 0);
        }
    }
    drain(&mut b);
    b
}

fn routing(c: &mut Criterion) {
    let mut g = c.benchmark_group("route_publish");
    for &qos in &[QoS::AtMostOnce, QoS::AtLeastOnce] {
        for &n in &[1u64, 10, 1000] {
            g.throughput(Throughput::Elements(n));
            let mut b = setup(n, qos);
            let mut p = Publish::new("bench/route", &[0x42; 32]);
            p.qos = qos;
            let mut id = 0u16;
            g.bench_with_input(
                BenchmarkId::new(format!("qos{}", qos as u8), n),
                &n,
                |bench, _| {
                    bench.iter(|| {
                        id = id % 60_000 + 1;
                        let mut p = p;
                        p.packet_id = (qos != QoS::AtMostOnce).then_some(id);
                        let bytes = encode(Packet::Publish(p));
                        b.bytes_received(0, &bytes, 0);
                        let out = drain(&mut b);
                        if qos != QoS::AtMostOnce {
                            // Subscribers acknowledge, so in-flight state stays
                            // bounded across iterations.
                            for s in 1..=n {
                                let sid = b
                                    .session(&format!("c{s}"))
                                    .and_then(|x| x.in_flight.keys().next().copied());
                                if let Some(sid) = sid {
                                    b.bytes_received(
                                        s,
                                        &encode(Packet::PubAck(PubAck::new(sid))),
                                        0,
                                    );
                                }
                            }
                            drain(&mut b);
                        }
                        black_box(out)
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
