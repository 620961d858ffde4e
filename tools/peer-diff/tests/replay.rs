//! Replays the `peer` fuzz corpus (`corpus/fuzz/peer/`) and every 3.1.1
//! and 5.0 case of `corpus/packets/` through the comparison with
//! mqttbytes; run by `.ci/run` (`cargo test --manifest-path
//! tools/peer-diff/Cargo.toml`).

use std::path::PathBuf;

use mqttkit_codec::fuzz_targets::pseudo_random_inputs;
use mqttkit_codec::ProtocolVersion;
use mqttkit_peer_diff::{compare, peer_target, Outcome};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

fn sorted(dir: PathBuf) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn peer_corpus() {
    let files = sorted(corpus().join("fuzz/peer"));
    assert!(files.len() >= 5, "only {} files", files.len());
    for f in files {
        eprintln!("{}", f.display());
        peer_target(&std::fs::read(&f).unwrap());
    }
}

/// Every valid 3.1.1 and 5.0 corpus case the peer also accepts has the
/// same fields; at least some of each version are compared.
#[test]
fn packet_cases_agree_with_the_peer() {
    let mut agree = [0usize; 2];
    let mut peer_refused = Vec::new();
    for f in sorted(corpus().join("packets")) {
        if f.extension().and_then(|e| e.to_str()) != Some("hex") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let version = if header.contains("version=3.1.1 ") {
            ProtocolVersion::V3_1_1
        } else if header.contains("version=5 ") {
            ProtocolVersion::V5
        } else {
            continue;
        };
        let hex: String = lines.flat_map(|l| l.split_whitespace()).collect();
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        match compare(version, &bytes) {
            Outcome::Agree => agree[usize::from(version.is_v5())] += 1,
            Outcome::PeerRefused | Outcome::PeerDefect(_) => {
                peer_refused.push(f.display().to_string())
            }
            Outcome::OursRefused => {}
        }
    }
    eprintln!(
        "agree: {} (3.1.1), {} (5.0); the peer refused {} valid cases",
        agree[0],
        agree[1],
        peer_refused.len()
    );
    assert!(
        agree[0] >= 10 && agree[1] >= 10,
        "too few compared: {agree:?}"
    );
}

#[test]
fn structured_random_inputs() {
    for (i, mut data) in pseudo_random_inputs(0xdead_beef_0bad_f00d, 2000, 200).enumerate() {
        data[0] = 2 | (i & 1) as u8;
        peer_target(&data);
    }
}

/// The defect the `peer` target found in mqttbytes 0.6: its reading of a
/// PUBLISH with three Subscription Identifiers differs from mqttkit's
/// (which is right: three identifiers, empty payload), and the comparison
/// attributes it to the known defect instead of failing.
#[test]
fn mqttbytes_subscription_identifier_defect_is_recognised() {
    let bytes = [
        0x3c, 0x0c, 0, 1, b't', 0xe3, 0x2b, 6, 0x0b, 1, 0x0b, 2, 0x0b, 3,
    ];
    let (p, _) = mqttkit_codec::Decoder::new(ProtocolVersion::V5)
        .decode(&bytes)
        .unwrap();
    let mqttkit_codec::Packet::Publish(x) = &p else {
        panic!("{p:?}")
    };
    assert_eq!(
        x.properties
            .get()
            .subscription_identifiers
            .iter()
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(x.payload.is_empty());
    assert!(matches!(
        compare(ProtocolVersion::V5, &bytes),
        Outcome::PeerDefect(_)
    ));
}
