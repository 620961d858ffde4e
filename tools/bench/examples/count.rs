//! Runs one codec operation many times, for instruction counting with
//! `valgrind --tool=callgrind` (repeatable on a shared, noisy machine,
//! unlike wall time):
//!
//! ```text
//! cargo build --release --example count
//! valgrind --tool=callgrind target/release/examples/count encode-mqttkit-v311 1000000
//! ```
//!
//! Operations: encode-{mqttkit,mqttbytes,mqttrs}-v311, encode-mqttkit-v5,
//! decode-{mqttkit,mqttrs}-v311 (a small PUBLISH QoS 0: 20-byte
//! topic, 32-byte payload, as in the criterion benches).

use std::hint::black_box;

use bytes::BytesMut;
use mqttkit_codec::{Decoder, Packet, ProtocolVersion, Publish};

const TOPIC: &str = "sensors/000042/temp1";

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().unwrap_or_default();
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let payload = [0x5au8; 32];
    let mut wire = Vec::new();
    Packet::Publish(Publish::new(TOPIC, &payload))
        .encode(ProtocolVersion::V3_1_1, &mut wire)
        .expect("valid packet");
    let mut out = Vec::with_capacity(128);
    let mut bm = BytesMut::with_capacity(128);
    match op.as_str() {
        "encode-mqttkit-v311" | "encode-mqttkit-v5" => {
            let v = if op.ends_with("v5") {
                ProtocolVersion::V5
            } else {
                ProtocolVersion::V3_1_1
            };
            let p = Packet::Publish(Publish::new(TOPIC, &payload));
            for _ in 0..n {
                out.clear();
                black_box(&p).encode(v, &mut out).expect("valid");
                black_box(&out);
            }
        }
        "encode-mqttbytes-v311" => {
            let p =
                mqttbytes::v4::Publish::new(TOPIC, mqttbytes::QoS::AtMostOnce, payload.to_vec());
            for _ in 0..n {
                bm.clear();
                black_box(&p).write(&mut bm).expect("valid");
                black_box(&bm);
            }
        }
        "encode-mqttrs-v311" => {
            let p = mqttrs::Packet::Publish(mqttrs::Publish {
                dup: false,
                qospid: mqttrs::QosPid::AtMostOnce,
                retain: false,
                topic_name: TOPIC,
                payload: &payload,
            });
            let mut slice = [0u8; 128];
            for _ in 0..n {
                black_box(mqttrs::encode_slice(black_box(&p), &mut slice).expect("valid"));
            }
        }
        "decode-mqttkit-v311" => {
            let d = Decoder::new(ProtocolVersion::V3_1_1);
            for _ in 0..n {
                black_box(d.decode(black_box(&wire)).expect("valid"));
            }
        }
        "decode-mqttrs-v311" => {
            for _ in 0..n {
                black_box(mqttrs::decode_slice(black_box(&wire[..])).expect("valid"));
            }
        }
        other => {
            eprintln!("unknown operation {other:?}; see the file's header");
            std::process::exit(2);
        }
    }
}
