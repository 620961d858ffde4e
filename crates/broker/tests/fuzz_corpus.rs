//! Replays the kept corpus of the `differential` fuzz target
//! (`corpus/fuzz/differential/`) through
//! `mqttkit_broker::fuzz_targets::differential_target`, plus a fixed set
//! of pseudo-random scripts: the model in memory and the reference broker
//! on loopback sockets must send every client the same packets.

use std::path::PathBuf;

use mqttkit_broker::fuzz_targets::differential_target;

#[test]
fn differential_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus/fuzz/differential");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "only {} corpus files", files.len());
    for f in files {
        eprintln!("{}", f.display());
        differential_target(&std::fs::read(&f).unwrap());
    }
}

#[test]
fn differential_random_scripts() {
    let mut s = 0x5555_0123_4567_89abu64;
    let mut next = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u8
    };
    for _ in 0..40 {
        let data: Vec<u8> = (0..60).map(|_| next()).collect();
        differential_target(&data);
    }
}
