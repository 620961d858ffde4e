//! Runs one codec operation many times, for instruction counting with
//! `valgrind --tool=callgrind` (repeatable on a shared, noisy machine,
//! unlike wall time):
//!
//! ```text
//! cargo build --profile bench --example count   # as criterion: thin LTO, one CGU
//! valgrind --tool=callgrind target/release/examples/count decode-small-v311-mqttkit 200000
//! ```
//!
//! The second argument is the number of packets (or encodes). Run each
//! operation twice with different counts and divide the difference in
//! instructions by the difference in counts: that removes the setup.
//! `count list` prints every operation.
//!
//! Streams are the criterion benches' (`benches/codecs.rs`): a small PUBLISH
//! QoS 0 (20-byte topic, 32-byte payload) and the mixed stream (CONNECT,
//! SUBSCRIBE, PUBLISH QoS 1, PUBACK, PUBLISH QoS 0). A stream of 1000 packets
//! is built once and decoded over and over. For mqttbytes and rumqttc each
//! pass copies the 1000 packets into a fresh `BytesMut` (their API consumes
//! it); that copy is counted against them (a few instructions per packet).

use std::hint::black_box;

use bytes::BytesMut;
use mqttkit_codec::{Decoder, Packet, ProtocolVersion, PubAck, Publish, StreamDecoder, Subscribe};

use mqttkit_bench::{frame_len, mixed, small_publish, MAX, TOPIC};
const PASS: usize = 1000;

/// Calls `pass` on the stream until `n` packets were decoded.
fn passes(n: usize, mut pass: impl FnMut() -> usize) {
    let mut done = 0;
    while done < n {
        done += pass();
    }
}

const OPS: &[&str] = &[
    "decode-small-v311-mqttkit",
    "decode-small-v311-mqttrs",
    "decode-small-v311-mqttbytes",
    "decode-small-v311-rumqttc",
    "decode-small-v5-mqttkit",
    "decode-small-v5-mqttbytes",
    "decode-small-v5-rumqttc",
    "decode-mixed-v311-mqttkit",
    "decode-mixed-v311-mqttrs",
    "decode-mixed-v311-mqttbytes",
    "decode-mixed-v311-rumqttc",
    "decode-mixed-v5-mqttkit",
    "decode-mixed-v5-mqttbytes",
    "decode-mixed-v5-rumqttc",
    "stream-small-v311-mqttkit",
    "encode-v311-mqttkit",
    "encode-v311-mqttrs",
    "encode-v311-mqttbytes",
    "encode-v311-rumqttc",
    "encode-v5-mqttkit",
    "encode-v5-mqttbytes",
    "encode-v5-rumqttc",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().unwrap_or_default();
    let n: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    if op == "sizes" {
        sizes();
        return;
    }
    if op == "list" {
        for o in OPS {
            println!("{o}");
        }
        return;
    }
    let parts: Vec<&str> = op.split('-').collect();
    let payload = [0x5au8; 32];
    if parts.len() == 3 && parts[0] == "encode" {
        let v5 = parts[1] == "v5";
        encode(parts[2], v5, n, &payload);
        return;
    }
    if parts.len() != 4 {
        eprintln!("unknown operation {op:?}; try `count list`");
        std::process::exit(2);
    }
    let v = if parts[2] == "v5" {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V3_1_1
    };
    let stream = match parts[1] {
        "small" => small_publish(v, PASS),
        "mixed" => mixed(v, PASS),
        _ => {
            eprintln!("unknown stream in {op:?}");
            std::process::exit(2);
        }
    };
    let v5 = v.is_v5();
    match (parts[0], parts[3]) {
        ("decode", "mqttkit") => decode_mqttkit(&stream, v, n),
        ("stream", "mqttkit") => stream_mqttkit(&stream, v, n),
        ("decode", "mqttrs") => decode_mqttrs(&stream, n),
        ("decode", "mqttbytes") => decode_mqttbytes(&stream, v5, n),
        ("decode", "rumqttc") => decode_rumqttc(&stream, v5, n),
        _ => {
            eprintln!("unknown operation {op:?}; try `count list`");
            std::process::exit(2);
        }
    }
}

// One function per loop, kept out of line, so that a change in one does
// not move the registers (and instruction counts) of another.

#[inline(never)]
fn decode_mqttkit(stream: &[u8], v: ProtocolVersion, n: usize) {
    let d = Decoder::new(v);
    passes(n, || {
        let buf = black_box(stream);
        let mut at = 0;
        let mut k = 0;
        while at < buf.len() {
            let (p, used) = d.decode(&buf[at..]).expect("valid");
            black_box(&p);
            at += used;
            k += 1;
        }
        k
    });
}

#[inline(never)]
fn stream_mqttkit(stream: &[u8], v: ProtocolVersion, n: usize) {
    let mut sd = StreamDecoder::with_version(v);
    passes(n, || {
        sd.feed(black_box(stream));
        let mut k = 0;
        while let Some(p) = sd.next_packet().expect("valid") {
            black_box(&p);
            k += 1;
        }
        k
    });
}

#[inline(never)]
fn decode_mqttrs(stream: &[u8], n: usize) {
    passes(n, || {
        let buf = black_box(stream);
        let mut at = 0;
        let mut k = 0;
        while at < buf.len() {
            let p = mqttrs::decode_slice(&buf[at..])
                .expect("valid")
                .expect("whole");
            black_box(&p);
            at += frame_len(&buf[at..]);
            k += 1;
        }
        k
    });
}

#[inline(never)]
fn decode_mqttbytes(stream: &[u8], v5: bool, n: usize) {
    passes(n, || {
        let mut b = BytesMut::from(black_box(stream));
        let mut k = 0;
        while !b.is_empty() {
            if v5 {
                black_box(mqttbytes::v5::read(&mut b, MAX).expect("valid"));
            } else {
                black_box(mqttbytes::v4::read(&mut b, MAX).expect("valid"));
            }
            k += 1;
        }
        k
    });
}

#[inline(never)]
fn decode_rumqttc(stream: &[u8], v5: bool, n: usize) {
    passes(n, || {
        let mut b = BytesMut::from(black_box(stream));
        let mut k = 0;
        while !b.is_empty() {
            if v5 {
                black_box(
                    rumqttc::v5::mqttbytes::v5::Packet::read(&mut b, Some(MAX as u32))
                        .expect("valid"),
                );
            } else {
                black_box(rumqttc::mqttbytes::v4::Packet::read(&mut b, MAX).expect("valid"));
            }
            k += 1;
        }
        k
    });
}

#[inline(never)]
fn encode(codec: &str, v5: bool, n: usize, payload: &[u8; 32]) {
    let v = if v5 {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V3_1_1
    };
    let mut out = Vec::with_capacity(128);
    let mut bm = BytesMut::with_capacity(128);
    match (codec, v5) {
        ("mqttkit", _) => {
            let p = Packet::Publish(Publish::new(TOPIC, payload));
            for _ in 0..n {
                out.clear();
                black_box(&p).encode(v, &mut out).expect("valid");
                black_box(&out);
            }
        }
        ("mqttrs", false) => {
            let p = mqttrs::Packet::Publish(mqttrs::Publish {
                dup: false,
                qospid: mqttrs::QosPid::AtMostOnce,
                retain: false,
                topic_name: TOPIC,
                payload,
            });
            let mut slice = [0u8; 128];
            for _ in 0..n {
                black_box(mqttrs::encode_slice(black_box(&p), &mut slice).expect("valid"));
            }
        }
        ("mqttbytes", false) => {
            let p =
                mqttbytes::v4::Publish::new(TOPIC, mqttbytes::QoS::AtMostOnce, payload.to_vec());
            for _ in 0..n {
                bm.clear();
                black_box(&p).write(&mut bm).expect("valid");
                black_box(&bm);
            }
        }
        ("mqttbytes", true) => {
            let p =
                mqttbytes::v5::Publish::new(TOPIC, mqttbytes::QoS::AtMostOnce, payload.to_vec());
            for _ in 0..n {
                bm.clear();
                black_box(&p).write(&mut bm).expect("valid");
                black_box(&bm);
            }
        }
        ("rumqttc", false) => {
            let p = rumqttc::mqttbytes::v4::Publish::new(
                TOPIC,
                rumqttc::mqttbytes::QoS::AtMostOnce,
                payload.to_vec(),
            );
            for _ in 0..n {
                bm.clear();
                black_box(&p).write(&mut bm).expect("valid");
                black_box(&bm);
            }
        }
        ("rumqttc", true) => {
            let p = rumqttc::v5::mqttbytes::v5::Publish::new(
                TOPIC,
                rumqttc::v5::mqttbytes::QoS::AtMostOnce,
                payload.to_vec(),
                None,
            );
            for _ in 0..n {
                bm.clear();
                black_box(&p).write(&mut bm).expect("valid");
                black_box(&bm);
            }
        }
        _ => {
            eprintln!("unknown encode operation for {codec}");
            std::process::exit(2);
        }
    }
}

#[inline(never)]
fn sizes() {
    use mqttkit_codec as m;
    use std::mem::size_of;
    println!("Packet {}", size_of::<Packet>());
    println!("Connect {}", size_of::<m::Connect>());
    println!("Will {}", size_of::<m::Will>());
    println!("ConnectProperties {}", size_of::<m::ConnectProperties>());
    println!("WillProperties {}", size_of::<m::WillProperties>());
    println!("ConnAck {}", size_of::<m::ConnAck>());
    println!("ConnAckProperties {}", size_of::<m::ConnAckProperties>());
    println!("Publish {}", size_of::<Publish>());
    println!("PublishProperties {}", size_of::<m::PublishProperties>());
    println!("Subscribe {}", size_of::<Subscribe>());
    println!("SubAck {}", size_of::<m::SubAck>());
    println!("PubAck {}", size_of::<PubAck>());
    println!("Disconnect {}", size_of::<m::Disconnect>());
    println!("Auth {}", size_of::<m::Auth>());
    println!("UserProperties {}", size_of::<m::UserProperties>());
}
