//! Text and JSON output for every capture in corpus/captures, pinned with
//! insta (review changes with `cargo insta review`).

mod common;

use common::{captures, captures_dir, config_for};
use mqttkit_pcap::analyze;
use mqttkit_pcap::output::{Format, Options, Payload, Writer};

fn render(capture: &str, format: Format) -> String {
    let file = std::fs::File::open(captures_dir().join(capture)).expect("capture");
    let opts = Options {
        format,
        payload: Payload::None,
        only_violations: false,
        packets: true,
        notices: true,
        stats: false,
    };
    let mut w = Writer::new(Vec::new(), opts);
    analyze(std::io::BufReader::new(file), &config_for(capture), &mut w);
    let (out, err) = w.into_inner();
    assert!(err.is_none());
    String::from_utf8(out).expect("UTF-8 output")
}

fn name(capture: &str) -> String {
    capture
        .trim_end_matches(".pcapng")
        .trim_end_matches(".pcap")
        .replace(['/', '.'], "_")
}

#[test]
fn text_output_per_capture() {
    let list = captures();
    assert!(list.len() >= 40);
    for c in &list {
        let out = render(c, Format::Text);
        assert!(!out.is_empty(), "{c}: no output");
        insta::assert_snapshot!(format!("text__{}", name(c)), out);
    }
}

#[test]
fn json_output_per_capture() {
    for c in &captures() {
        let out = render(c, Format::Json);
        // Every line is one JSON object.
        for line in out.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{c}: invalid JSON line {line}: {e}"));
            assert!(v.get("frame").is_some());
        }
        insta::assert_snapshot!(format!("json__{}", name(c)), out);
    }
}

/// A Write into a shared buffer (the pipe writer's thread owns its writer).
#[derive(Clone, Default)]
struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn threaded_writer_output_is_identical() {
    use mqttkit_pcap::pipe::PipeWriter;
    for c in &captures() {
        for format in [Format::Text, Format::Json] {
            let opts = Options {
                format,
                payload: Payload::Hex,
                only_violations: false,
                packets: true,
                notices: true,
                stats: false,
            };
            let file = std::fs::File::open(captures_dir().join(c)).unwrap();
            let mut w = Writer::new(Vec::new(), opts);
            analyze(file, &config_for(c), &mut w);
            let (plain, _) = w.into_inner();
            assert!(!plain.is_empty());
            // The default, then tiny batches over three formatting threads
            // so that batches finish out of order and must be put back in it.
            let piped = |threads: Option<(usize, usize)>| {
                let shared = Shared::default();
                let file = std::fs::File::open(captures_dir().join(c)).unwrap();
                let mut p = match threads {
                    None => PipeWriter::new(shared.clone(), opts),
                    Some((n, batch)) => PipeWriter::with_threads(shared.clone(), opts, n, batch),
                };
                analyze(file, &config_for(c), &mut p);
                p.finish().unwrap();
                let out = shared.0.lock().unwrap().clone();
                out
            };
            for threads in [None, Some((1, 1)), Some((3, 1)), Some((3, 7))] {
                assert!(
                    plain == piped(threads),
                    "{c} {format:?} {threads:?}: outputs differ"
                );
            }
        }
    }
}
