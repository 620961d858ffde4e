//! Replays the kept corpora of the capture fuzz targets
//! (`corpus/fuzz/pcap_file/`, `corpus/fuzz/pcap_reorder/`) through the
//! target functions, plus every capture in `corpus/captures/` as a
//! `pcap_file` input and a fixed set of pseudo-random reorderings.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use mqttkit_codec::fuzz_targets::pseudo_random_inputs;
use mqttkit_pcap::fuzz_targets::{pcap_file_target, pcap_reorder_target};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
    out.sort();
}

fn replay(paths: &[PathBuf], min: usize, f: impl Fn(&[u8])) {
    assert!(paths.len() >= min, "only {} inputs", paths.len());
    let failed: Vec<String> = paths
        .iter()
        .filter(|p| {
            let data = std::fs::read(p).unwrap();
            catch_unwind(AssertUnwindSafe(|| f(&data))).is_err()
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(failed.is_empty(), "failed:\n{}", failed.join("\n"));
}

#[test]
fn pcap_file_corpus() {
    let mut v = Vec::new();
    files(&root().join("fuzz/pcap_file"), &mut v);
    replay(&v, 5, pcap_file_target);
}

#[test]
fn captures_as_pcap_file_inputs() {
    let mut v = Vec::new();
    files(&root().join("captures"), &mut v);
    v.retain(|p| {
        let e = p.extension().and_then(|e| e.to_str());
        matches!(e, Some("pcap" | "pcapng"))
    });
    replay(&v, 10, pcap_file_target);
}

#[test]
fn pcap_reorder_corpus() {
    let mut v = Vec::new();
    files(&root().join("fuzz/pcap_reorder"), &mut v);
    replay(&v, 5, pcap_reorder_target);
}

#[test]
fn pcap_reorder_random() {
    for data in pseudo_random_inputs(0x0123_4567_89ab_cdef, 300, 400) {
        pcap_reorder_target(&data);
    }
    // The in-order cut, every version.
    for v in 0..3u8 {
        pcap_reorder_target(&[v]);
    }
}
