//! The built-in cases: they parse, cite statements that exist, and together
//! with UNCOVERED.tsv account for every Server and Both statement.

use std::collections::{BTreeSet, HashMap};

use mqttkit_conformance::{builtin_cases, case::parse_cases, Step};

const V311: &str = include_str!("../../../spec-tests/spec/mqtt311.tsv");
const V5: &str = include_str!("../../../spec-tests/spec/mqtt5.tsv");
const UNCOVERED: &str = include_str!("../UNCOVERED.tsv");

/// id -> who, from an inventory.
fn inventory(text: &str) -> HashMap<String, String> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Some((f.first()?.to_string(), f.get(3)?.to_string()))
        })
        .collect()
}

#[test]
fn builtin_cases_parse_with_unique_ids() {
    let cases = builtin_cases().expect("cases parse");
    let runs: usize = cases.iter().map(|c| c.protocols().len()).sum();
    assert!(cases.len() >= 300, "{} cases", cases.len());
    assert!(runs >= 300, "{runs} runs");
}

#[test]
fn every_cited_statement_exists() {
    let inv311 = inventory(V311);
    let inv5 = inventory(V5);
    for c in builtin_cases().expect("cases parse") {
        for s in &c.v311 {
            assert!(
                s.starts_with('§') || inv311.contains_key(s),
                "{}: unknown 3.1.1 id {s}",
                c.id
            );
        }
        for s in &c.v5 {
            assert!(
                s.starts_with('§') || inv5.contains_key(s),
                "{}: unknown 5.0 id {s}",
                c.id
            );
        }
    }
}

#[test]
fn every_server_statement_is_covered_or_waived() {
    let cases = builtin_cases().expect("cases parse");
    let mut covered: BTreeSet<(String, String)> = BTreeSet::new();
    for c in &cases {
        covered.extend(c.v311.iter().map(|s| ("3.1.1".to_string(), s.clone())));
        covered.extend(c.v5.iter().map(|s| ("5".to_string(), s.clone())));
    }
    let mut waived: BTreeSet<(String, String)> = BTreeSet::new();
    for l in UNCOVERED.lines().skip(1) {
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(f.len(), 3, "UNCOVERED.tsv line {l:?}");
        assert!(!f[2].trim().is_empty(), "{l:?} has no reason");
        let key = (f[0].to_string(), f[1].to_string());
        assert!(!covered.contains(&key), "{key:?} is waived but covered");
        waived.insert(key);
    }
    let mut missing = Vec::new();
    for (name, text) in [("3.1.1", V311), ("5", V5)] {
        for (id, who) in inventory(text) {
            if who == "Server" || who == "Both" {
                let key = (name.to_string(), id.clone());
                if !covered.contains(&key) && !waived.contains(&key) {
                    missing.push(format!("{name} {id}"));
                }
            }
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "neither covered nor waived: {missing:?}"
    );
}

#[test]
fn bad_case_files_are_refused() {
    let no_statements = "[[case]]\nid = \"x\"\ntitle = \"t\"\nlevel = \"MUST\"\n[[case.step]]\nop = \"sleep\"\nms = 1\n";
    assert!(parse_cases("t", no_statements)
        .unwrap_err()
        .message
        .contains("no statements"));
    let two_payloads = "[[case]]\nid = \"x\"\ntitle = \"t\"\nv5 = [\"MQTT-1\"]\nlevel = \"MUST\"\n[[case.step]]\nop = \"send\"\nhex = \"c000\"\nframe = { byte0 = 0, body = [] }\n";
    assert!(parse_cases("t", two_payloads)
        .unwrap_err()
        .message
        .contains("exactly one"));
    let unknown_op = "[[case]]\nid = \"x\"\ntitle = \"t\"\nv5 = [\"MQTT-1\"]\nlevel = \"MUST\"\n[[case.step]]\nop = \"fly\"\n";
    assert!(parse_cases("t", unknown_op).is_err());
    let bad_only = "[[case]]\nid = \"x\"\ntitle = \"t\"\nv5 = [\"MQTT-1\"]\nlevel = \"MUST\"\n[[case.step]]\nop = \"sleep\"\nms = 1\nonly = \"6\"\n";
    assert!(parse_cases("t", bad_only)
        .unwrap_err()
        .message
        .contains("only"));
    let ok = "[[case]]\nid = \"x\"\ntitle = \"t\"\nv5 = [\"MQTT-1\"]\nlevel = \"MAY\"\n[[case.step]]\nop = \"sleep\"\nms = 1\n";
    let cases = parse_cases("t", ok).expect("valid");
    assert!(matches!(cases[0].step[0], Step::Sleep { ms: 1, .. }));
}
