//! Replays the kept corpus of the `differential` fuzz target
//! (`corpus/fuzz/differential/`) through
//! `mqttkit_broker::fuzz_targets::differential_target`, plus a fixed set
//! of pseudo-random scripts: the model in memory and the reference broker
//! on loopback sockets must send every client the same packets.

use std::path::PathBuf;

use mqttkit_broker::fuzz_targets::differential_target;
use mqttkit_codec::fuzz_targets::pseudo_random_inputs;

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
    for data in pseudo_random_inputs(0x5555_0123_4567_89ab, 40, 60) {
        differential_target(&data);
    }
}
