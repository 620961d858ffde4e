//! Encode → decode round trips of generated packets
//! ([`ArbitraryPacket`]): every packet the encoder accepts decodes back to
//! itself (see `fuzz_targets::check_roundtrip` for the full list of checks).
#![cfg(feature = "arbitrary")]

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use mqttkit_codec::arbitrary_packet::{ArbitraryPacket, PACKET_TYPES};
use mqttkit_codec::fuzz_targets::{check_roundtrip, selector};
use mqttkit_codec::{PacketType, ProtocolVersion};
use proptest::prelude::*;

const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

fn applies(v: ProtocolVersion, t: PacketType) -> bool {
    t != PacketType::Auth || v.is_v5()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// One case per (version, type, bytes): 3,000 cases spread over the 45
    /// combinations (AUTH under 3.x must be refused by the encoder).
    #[test]
    fn every_type_and_version_round_trips(
        vi in 0usize..3,
        ti in 0usize..15,
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let (v, t) = (VERSIONS[vi], PACKET_TYPES[ti]);
        let mut u = Unstructured::new(&bytes);
        let ap = ArbitraryPacket::generate(&mut u, v, t).expect("generation never fails");
        prop_assert_eq!(ap.packet_type(), t);
        prop_assert_eq!(ap.version(), v);
        let out = ap.with_packet(|p| {
            assert_eq!(p.packet_type(), t);
            check_roundtrip(p, v)
        });
        if !applies(v, t) {
            prop_assert!(out.is_none(), "AUTH encoded under {}", v);
        }
    }

    /// Packets from the plain `Arbitrary` impl (version and type chosen by
    /// the bytes too).
    #[test]
    fn arbitrary_packets_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(ap) = ArbitraryPacket::arbitrary_take_rest(Unstructured::new(&bytes)) {
            ap.with_packet(|p| check_roundtrip(p, ap.version()));
        }
    }
}

/// A fixed xorshift stream of bytes.
struct Bytes(u64);

impl Bytes {
    fn fill(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 >> 24) as u8
            })
            .collect()
    }
}

/// The plain `Arbitrary` impl generates, and the encoder accepts, every
/// packet type under every version it exists in, and accepts most of what
/// is generated.
#[test]
fn generator_covers_every_type_in_every_version() {
    let mut rng = Bytes(0x9E37_79B9_7F4A_7C15);
    let mut generated: BTreeMap<(ProtocolVersion, u8), usize> = BTreeMap::new();
    let mut encoded: BTreeMap<(ProtocolVersion, u8), usize> = BTreeMap::new();
    let total = 4000;
    let mut accepted = 0;
    for i in 0..total {
        let bytes = rng.fill(16 + i % 300);
        let ap = ArbitraryPacket::arbitrary_take_rest(Unstructured::new(&bytes)).unwrap();
        let key = (ap.version(), ap.packet_type() as u8);
        *generated.entry(key).or_default() += 1;
        if ap
            .with_packet(|p| check_roundtrip(p, ap.version()))
            .is_some()
        {
            *encoded.entry(key).or_default() += 1;
            accepted += 1;
        }
    }
    let mut missing = Vec::new();
    for v in VERSIONS {
        for t in PACKET_TYPES {
            let key = (v, t as u8);
            if applies(v, t) && encoded.get(&key).copied().unwrap_or(0) == 0 {
                missing.push(format!(
                    "{t} under {v} (generated {} times, never encodable)",
                    generated.get(&key).copied().unwrap_or(0)
                ));
            }
            if !applies(v, t) {
                assert_eq!(encoded.get(&key), None, "{t} encoded under {v}");
            }
        }
    }
    assert!(missing.is_empty(), "not covered:\n{}", missing.join("\n"));
    assert!(
        accepted * 10 >= total * 6,
        "only {accepted} of {total} generated packets were encodable"
    );
}

/// The generated seed streams kept in `corpus/fuzz/{decode,stream}` are
/// what the generator makes: per version, two small encodable packets of
/// each type back to back, CONNECT first. Regenerate with
/// `UPDATE_SEEDS=1 cargo test -p mqttkit-codec --features arbitrary --test roundtrip`.
#[test]
fn seed_streams_are_current() {
    let update = std::env::var_os("UPDATE_SEEDS").is_some();
    let check = |path: std::path::PathBuf, want: Vec<u8>| {
        if update {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} is stale: regenerate with UPDATE_SEEDS=1",
            path.display()
        );
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/fuzz");
    let mut rng = Bytes(0x0123_4567_89AB_CDEF);
    for (vi, v) in VERSIONS.into_iter().enumerate() {
        let mut stream = Vec::new();
        for t in PACKET_TYPES.into_iter().filter(|&t| applies(v, t)) {
            let mut found = 0;
            while found < 2 {
                let bytes = rng.fill(64);
                let ap = ArbitraryPacket::generate(&mut Unstructured::new(&bytes), v, t).unwrap();
                if let Some(out) = ap.with_packet(|p| check_roundtrip(p, v)) {
                    if out.len() <= 120 {
                        stream.extend_from_slice(&out);
                        found += 1;
                    }
                }
            }
        }
        let name = ["3.1", "3.1.1", "5"][vi];
        // decode: selector with "all packets" on (bit 0 of byte / 9).
        let mut d = vec![selector(v, None) + 9];
        d.extend_from_slice(&stream);
        check(root.join(format!("decode/seed-all-types-v{name}")), d);
        // stream: the version learnt from CONNECT, chunks of 1, 7 and 40.
        let mut s = vec![selector(v, None) + 27, 2, 1, 7, 40];
        s.extend_from_slice(&stream);
        check(root.join(format!("stream/seed-all-types-v{name}")), s);
    }
}
