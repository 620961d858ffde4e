//! The streams the benchmarks decode, shared by the criterion bench
//! (`benches/codecs.rs`) and the instruction counter (`examples/count.rs`).
//! Each is built with mqttkit's encoder; the bytes are plain MQTT.

use mqttkit_codec::{
    Connect, Packet, ProtocolVersion, PubAck, Publish, QoS, Subscribe, Subscription,
};

/// Largest packet any decoder is allowed in the benches.
pub const MAX: usize = 1 << 20;

/// The topic of the mixed stream's PUBLISH packets (20 bytes).
pub const TOPIC: &str = "sensors/000042/temp1";

pub fn small_publish(v: ProtocolVersion, n: usize) -> Vec<u8> {
    let payload = [0x5au8; 32];
    let mut out = Vec::new();
    for i in 0..n {
        let topic = format!("sensors/{:06}/temp1", i % 1000);
        assert_eq!(topic.len(), 20);
        Packet::Publish(Publish::new(&topic, &payload))
            .encode(v, &mut out)
            .unwrap();
    }
    out
}

pub fn qos1_1k(v: ProtocolVersion, n: usize) -> Vec<u8> {
    let payload = vec![0x42u8; 1024];
    let mut out = Vec::new();
    for i in 0..n {
        let mut p = Publish::new("factory/line4/press7", &payload);
        p.qos = QoS::AtLeastOnce;
        p.packet_id = Some((i % 65535 + 1) as u16);
        Packet::Publish(p).encode(v, &mut out).unwrap();
    }
    out
}

pub fn mixed(v: ProtocolVersion, n: usize) -> Vec<u8> {
    let subs = [
        Subscription::new("sensors/+/temp1", QoS::AtLeastOnce),
        Subscription::new("alerts/#", QoS::AtMostOnce),
    ];
    let payload = [7u8; 32];
    let connect = Connect::new(v, "bench-client-0001");
    let mut out = Vec::new();
    for i in 0..n {
        let id = (i % 65535 + 1) as u16;
        let p = match i % 5 {
            0 => Packet::Connect((&connect).into()),
            1 => Packet::Subscribe(Subscribe::new(id, &subs)),
            2 => {
                let mut p = Publish::new(TOPIC, &payload);
                p.qos = QoS::AtLeastOnce;
                p.packet_id = Some(id);
                Packet::Publish(p)
            }
            3 => Packet::PubAck(PubAck::new(id)),
            _ => Packet::Publish(Publish::new(TOPIC, &payload)),
        };
        p.encode(v, &mut out).unwrap();
    }
    out
}

/// Length of the packet at the start of `buf` (fixed header + body).
pub fn frame_len(buf: &[u8]) -> usize {
    let mut len = 0usize;
    for i in 0..4 {
        let b = buf[1 + i];
        len |= ((b & 0x7f) as usize) << (7 * i);
        if b & 0x80 == 0 {
            return 2 + i + len;
        }
    }
    unreachable!("bench streams have valid headers")
}
