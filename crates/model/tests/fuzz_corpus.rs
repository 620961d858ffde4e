//! Replays the kept fuzz corpus of the model's targets through the target
//! functions (as the fuzzers run them), plus a fixed set of pseudo-random
//! scripts so the check has teeth whatever the corpus holds.

use std::path::PathBuf;

use mqttkit_codec::fuzz_targets::pseudo_random_inputs;
use mqttkit_model::fuzz_targets::{model_target, topic_tree_target};

#[test]
fn topic_tree_corpus_replays() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus/fuzz/topic");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        topic_tree_target(&data);
        n += 1;
    }
    assert!(n >= 5, "only {n} corpus files in {}", dir.display());
}

#[test]
fn topic_tree_random_scripts() {
    for data in pseudo_random_inputs(0x9E37_79B9_7F4A_7C15, 500, 300) {
        topic_tree_target(&data);
    }
}

fn corpus_files(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../corpus/fuzz")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn model_corpus_replays() {
    let files = corpus_files("model");
    assert!(files.len() >= 5, "only {} model corpus files", files.len());
    for (name, data) in &files {
        eprintln!("corpus/fuzz/model/{name}");
        model_target(data);
    }
}

#[test]
fn model_random_scripts() {
    let (mut checked, mut drops) = (0, 0);
    for data in pseudo_random_inputs(0x2545_F491_4F6C_DD1D, 200, 1200) {
        let s = model_target(&data);
        checked += s.checked;
        drops += s.drops;
    }
    // The scripts reach the interesting states: deliveries owed to
    // persistent sessions are checked, and small queues drop.
    assert!(checked > 100, "only {checked} deliveries checked");
    assert!(drops > 0, "no drop reported");
}
