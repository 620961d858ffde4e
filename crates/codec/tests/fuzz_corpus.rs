//! Replays the fuzz corpora through the fuzz target functions, so that
//! every input the fuzzers kept (minimised finds, seeds, `regress-*`
//! reproducers of fixed or known bugs) is checked by a plain `cargo test`:
//!
//! - every file in `corpus/fuzz/<target>/` through `<target>_target`;
//! - every `corpus/packets/*.hex` case converted as `fuzz/seed.sh` does,
//!   with every selector value (decode, stream), as stream chunkings, as a
//!   stream of all the cases of one version back to back, and (feature
//!   `arbitrary`) as round-trip entropy.
//!
//! A missing or empty corpus directory fails the test.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use mqttkit_codec::fuzz_targets::{decode_target, selector, stream_target};
use mqttkit_codec::ProtocolVersion;

fn corpus_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

/// The files of a directory, sorted; fails when it is missing or empty.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus directory {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no corpus files in {}", dir.display());
    out
}

/// Runs `f` on each input, collecting the names of those that panic (the
/// panic message is printed by the default hook).
fn replay(inputs: &[(String, Vec<u8>)], f: impl Fn(&[u8])) {
    let failed: Vec<&str> = inputs
        .iter()
        .filter(|(_, data)| catch_unwind(AssertUnwindSafe(|| f(data))).is_err())
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} inputs failed:\n{}",
        failed.len(),
        inputs.len(),
        failed.join("\n")
    );
}

fn fuzz_dir(target: &str) -> Vec<(String, Vec<u8>)> {
    files(&corpus_root().join("fuzz").join(target))
        .into_iter()
        .map(|p| {
            let name = format!(
                "corpus/fuzz/{target}/{}",
                p.file_name().unwrap().to_string_lossy()
            );
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

fn cases() -> Vec<common::Case> {
    common::load()
}

fn prefixed(prefix: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.extend_from_slice(bytes);
    v
}

#[test]
fn decode_corpus() {
    replay(&fuzz_dir("decode"), decode_target);
}

#[test]
fn stream_corpus() {
    replay(&fuzz_dir("stream"), stream_target);
}

#[cfg(feature = "arbitrary")]
#[test]
fn roundtrip_corpus() {
    replay(
        &fuzz_dir("roundtrip"),
        mqttkit_codec::fuzz_targets::roundtrip_target,
    );
}

/// Each case with its own selector (as seeded), then with every selector:
/// every version, direction, mode and size limit.
#[test]
fn packets_through_decode() {
    let mut inputs = Vec::new();
    for c in cases() {
        let own = selector(c.version, c.from);
        inputs.push((format!("{} (seed)", c.name), prefixed(&[own], &c.bytes)));
        for sel in 0..=255u8 {
            inputs.push((format!("{} sel={sel}", c.name), prefixed(&[sel], &c.bytes)));
        }
    }
    replay(&inputs, decode_target);
}

/// Each case as seeded (chunks of 5), and in one-byte chunks with empty
/// feeds in between, under every selector.
#[test]
fn packets_through_stream() {
    let mut inputs = Vec::new();
    for c in cases() {
        let own = selector(c.version, c.from);
        inputs.push((
            format!("{} (seed)", c.name),
            prefixed(&[own, 0, 5], &c.bytes),
        ));
        for sel in 0..=255u8 {
            let name = format!("{} sel={sel}", c.name);
            inputs.push((name, prefixed(&[sel, 1, 1, 0], &c.bytes)));
        }
    }
    replay(&inputs, stream_target);
}

/// All cases of one version back to back (valid or not: the stream must
/// report the same errors and resynchronise the same way), under every
/// selector for that version.
#[test]
fn packet_streams() {
    let cases = cases();
    let mut inputs = Vec::new();
    for (vi, v) in [
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ]
    .into_iter()
    .enumerate()
    {
        let stream: Vec<u8> = cases
            .iter()
            .filter(|c| c.version == v)
            .flat_map(|c| c.bytes.iter().copied())
            .collect();
        for sel in (vi as u8..=255).step_by(3) {
            inputs.push((
                format!("{v} stream sel={sel}"),
                prefixed(&[sel, 2, 3, 17, 250], &stream),
            ));
        }
    }
    replay(&inputs, stream_target);
}

#[cfg(feature = "arbitrary")]
#[test]
fn packets_through_roundtrip() {
    let inputs: Vec<(String, Vec<u8>)> = cases().into_iter().map(|c| (c.name, c.bytes)).collect();
    replay(&inputs, mqttkit_codec::fuzz_targets::roundtrip_target);
}

#[cfg(feature = "arbitrary")]
#[test]
fn agree_corpus() {
    replay(
        &fuzz_dir("agree"),
        mqttkit_codec::fuzz_targets::agree_target,
    );
}

/// Every corpus case under its own decoder: strict and lenient agree on
/// validity, and exactly the cases stated `ok` are valid.
#[test]
fn packets_strict_and_lenient_agree() {
    use mqttkit_codec::fuzz_targets::check_agree;
    let cases = cases();
    for c in &cases {
        let valid = check_agree(&c.decoder(), &c.bytes);
        assert_eq!(valid, c.expect == "ok", "{}: expected {}", c.name, c.expect);
    }
    assert!(cases.iter().filter(|c| c.expect == "ok").count() >= 45);
}
