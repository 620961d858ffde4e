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
