//! mqttkit-codec against mqttrs 0.4, rumqttc 0.25 (its v4 and v5 codecs) and
//! mqttbytes 0.6, side by side in one run.
//!
//! Every stream is built once, outside the timed region, with mqttkit's
//! encoder (the bytes are plain MQTT; every peer's decoder is first checked
//! to decode each stream completely). What is timed per codec:
//! - mqttkit: `Decoder::decode` over a slice in a loop (strict: every rule
//!   checked), advancing by the returned length;
//! - mqttrs: `decode_slice` in a loop; it does not return the packet length,
//!   so the loop reads the fixed header itself to advance (a few
//!   instructions per packet, counted against mqttrs);
//! - mqttbytes / rumqttc: `read(&mut BytesMut, max)` until the buffer is
//!   empty; the `BytesMut` copy of the stream is made in criterion's batch
//!   setup and is not timed.
//!
//! Times are reported per packet (`Throughput::Elements`).

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mqttkit_codec::{Decoder, Packet, ProtocolVersion, Publish};

use mqttkit_bench::{frame_len, mixed, qos1_1k, small_publish, MAX};

// ---- decode loops -------------------------------------------------------

fn mqttkit(d: &Decoder, buf: &[u8]) -> usize {
    let mut at = 0;
    let mut n = 0;
    while at < buf.len() {
        let (p, used) = d.decode(&buf[at..]).expect("mqttkit decode");
        black_box(&p);
        at += used;
        n += 1;
    }
    n
}

fn mqttkit_lenient(d: &Decoder, buf: &[u8]) -> usize {
    let mut at = 0;
    let mut n = 0;
    while at < buf.len() {
        let (p, used, v) = d.decode_lenient(&buf[at..]).expect("mqttkit decode");
        black_box((&p, &v));
        at += used;
        n += 1;
    }
    n
}

fn mqttrs(buf: &[u8]) -> usize {
    let mut at = 0;
    let mut n = 0;
    while at < buf.len() {
        let p = mqttrs::decode_slice(&buf[at..])
            .expect("mqttrs decode")
            .expect("whole packet");
        black_box(&p);
        at += frame_len(&buf[at..]);
        n += 1;
    }
    n
}

fn mqttbytes_v4(mut b: BytesMut) -> usize {
    let mut n = 0;
    while !b.is_empty() {
        black_box(mqttbytes::v4::read(&mut b, MAX).expect("mqttbytes v4"));
        n += 1;
    }
    n
}

fn mqttbytes_v5(mut b: BytesMut) -> usize {
    let mut n = 0;
    while !b.is_empty() {
        black_box(mqttbytes::v5::read(&mut b, MAX).expect("mqttbytes v5"));
        n += 1;
    }
    n
}

fn rumqttc_v4(mut b: BytesMut) -> usize {
    let mut n = 0;
    while !b.is_empty() {
        black_box(rumqttc::mqttbytes::v4::Packet::read(&mut b, MAX).expect("rumqttc v4"));
        n += 1;
    }
    n
}

fn rumqttc_v5(mut b: BytesMut) -> usize {
    let mut n = 0;
    while !b.is_empty() {
        black_box(
            rumqttc::v5::mqttbytes::v5::Packet::read(&mut b, Some(MAX as u32)).expect("rumqttc v5"),
        );
        n += 1;
    }
    n
}

fn decode_group(
    c: &mut Criterion,
    name: &str,
    v: ProtocolVersion,
    stream: &[u8],
    n: usize,
    lenient: bool,
) {
    let d = Decoder::new(v);
    let v5 = v.is_v5();
    // Every codec must decode the whole stream before it is timed.
    assert_eq!(mqttkit(&d, stream), n, "{name}: mqttkit");
    if v5 {
        assert_eq!(
            mqttbytes_v5(BytesMut::from(stream)),
            n,
            "{name}: mqttbytes v5"
        );
        assert_eq!(rumqttc_v5(BytesMut::from(stream)), n, "{name}: rumqttc v5");
    } else {
        assert_eq!(mqttrs(stream), n, "{name}: mqttrs");
        assert_eq!(
            mqttbytes_v4(BytesMut::from(stream)),
            n,
            "{name}: mqttbytes v4"
        );
        assert_eq!(rumqttc_v4(BytesMut::from(stream)), n, "{name}: rumqttc v4");
    }
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("mqttkit", |b| b.iter(|| mqttkit(&d, black_box(stream))));
    if lenient {
        g.bench_function("mqttkit_lenient", |b| {
            b.iter(|| mqttkit_lenient(&d, black_box(stream)))
        });
    }
    let batch = || BytesMut::from(stream);
    if v5 {
        g.bench_function("mqttbytes", |b| {
            b.iter_batched(batch, mqttbytes_v5, BatchSize::LargeInput)
        });
        g.bench_function("rumqttc", |b| {
            b.iter_batched(batch, rumqttc_v5, BatchSize::LargeInput)
        });
    } else {
        g.bench_function("mqttrs", |b| b.iter(|| mqttrs(black_box(stream))));
        g.bench_function("mqttbytes", |b| {
            b.iter_batched(batch, mqttbytes_v4, BatchSize::LargeInput)
        });
        g.bench_function("rumqttc", |b| {
            b.iter_batched(batch, rumqttc_v4, BatchSize::LargeInput)
        });
    }
    g.finish();
}

fn decoding(c: &mut Criterion) {
    use ProtocolVersion::{V3_1_1, V5};
    let n = 100_000;
    decode_group(
        c,
        "small_publish_v311",
        V3_1_1,
        &small_publish(V3_1_1, n),
        n,
        true,
    );
    decode_group(c, "small_publish_v5", V5, &small_publish(V5, n), n, false);
    decode_group(
        c,
        "publish_qos1_1k_v311",
        V3_1_1,
        &qos1_1k(V3_1_1, 10_000),
        10_000,
        false,
    );
    decode_group(
        c,
        "publish_qos1_1k_v5",
        V5,
        &qos1_1k(V5, 10_000),
        10_000,
        false,
    );
    decode_group(c, "mixed_v311", V3_1_1, &mixed(V3_1_1, n), n, false);
    decode_group(c, "mixed_v5", V5, &mixed(V5, n), n, false);
}

/// Encoding one small PUBLISH (20-byte topic, 32-byte payload) into a
/// reused buffer that is cleared each time.
fn encoding(c: &mut Criterion) {
    let topic = "sensors/000042/temp1";
    let payload = [0x5au8; 32];
    for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let name = if v.is_v5() {
            "encode_small_publish_v5"
        } else {
            "encode_small_publish_v311"
        };
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        let p = Packet::Publish(Publish::new(topic, &payload));
        let mut out = Vec::with_capacity(128);
        g.bench_function("mqttkit", |b| {
            b.iter(|| {
                out.clear();
                black_box(&p).encode(v, &mut out).unwrap();
                black_box(&out);
            })
        });
        let mut bm = BytesMut::with_capacity(128);
        if v.is_v5() {
            let mb =
                mqttbytes::v5::Publish::new(topic, mqttbytes::QoS::AtMostOnce, payload.to_vec());
            g.bench_function("mqttbytes", |b| {
                b.iter(|| {
                    bm.clear();
                    black_box(&mb).write(&mut bm).unwrap();
                    black_box(&bm);
                })
            });
            let rp = rumqttc::v5::mqttbytes::v5::Publish::new(
                topic,
                rumqttc::v5::mqttbytes::QoS::AtMostOnce,
                payload.to_vec(),
                None,
            );
            g.bench_function("rumqttc", |b| {
                b.iter(|| {
                    bm.clear();
                    black_box(&rp).write(&mut bm).unwrap();
                    black_box(&bm);
                })
            });
        } else {
            let mp = mqttrs::Packet::Publish(mqttrs::Publish {
                dup: false,
                qospid: mqttrs::QosPid::AtMostOnce,
                retain: false,
                topic_name: topic,
                payload: &payload,
            });
            let mut slice = [0u8; 128];
            g.bench_function("mqttrs", |b| {
                b.iter(|| black_box(mqttrs::encode_slice(black_box(&mp), &mut slice).unwrap()))
            });
            let mb =
                mqttbytes::v4::Publish::new(topic, mqttbytes::QoS::AtMostOnce, payload.to_vec());
            g.bench_function("mqttbytes", |b| {
                b.iter(|| {
                    bm.clear();
                    black_box(&mb).write(&mut bm).unwrap();
                    black_box(&bm);
                })
            });
            let rp = rumqttc::mqttbytes::v4::Publish::new(
                topic,
                rumqttc::mqttbytes::QoS::AtMostOnce,
                payload.to_vec(),
            );
            g.bench_function("rumqttc", |b| {
                b.iter(|| {
                    bm.clear();
                    black_box(&rp).write(&mut bm).unwrap();
                    black_box(&bm);
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, decoding, encoding);
criterion_main!(benches);
