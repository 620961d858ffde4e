//! Replays `corpus/packets`: every case decodes (strictly) to the outcome
//! its header states, the lenient decoder agrees, valid cases round-trip
//! through the encoder byte for byte, and each decoded case is snapshotted.

mod common;

use std::collections::BTreeMap;

use mqttkit_codec::{DecodeError, PacketType, ProtocolVersion};

#[test]
fn every_case_has_its_stated_outcome() {
    let cases = common::load();
    let mut failures = Vec::new();
    for c in &cases {
        let d = c.decoder();
        let strict = d.decode(&c.bytes);
        let lenient = d.decode_lenient(&c.bytes);
        let got = match &strict {
            Ok((_, n)) if *n == c.bytes.len() => "ok".to_string(),
            Ok((_, n)) => format!("ok but used {n} of {} bytes", c.bytes.len()),
            Err(DecodeError::Incomplete { .. }) => "incomplete".to_string(),
            Err(e) => e.statement().unwrap_or("?").to_string(),
        };
        if got != c.expect {
            failures.push(format!(
                "{}: expected {}, got {} ({:?})",
                c.name,
                c.expect,
                got,
                strict.err()
            ));
            continue;
        }
        match (&strict, &lenient) {
            (Ok((p, n)), Ok((lp, ln, v))) => {
                assert!(
                    v.is_empty(),
                    "{}: lenient found {v:?} in a valid packet",
                    c.name
                );
                assert_eq!((p, n), (lp, ln), "{}", c.name);
                // Re-encoding a valid packet gives back the same bytes.
                let out = p
                    .to_vec(c.version)
                    .unwrap_or_else(|e| panic!("{}: encode: {e}", c.name));
                assert_eq!(out, c.bytes, "{}: re-encoding differs", c.name);
            }
            (Err(DecodeError::Incomplete { .. }), Err(DecodeError::Incomplete { .. })) => {}
            (Err(e), Ok((_, _, v))) => {
                let first = v.first().map(|v| v.statement());
                assert_eq!(
                    first,
                    e.statement(),
                    "{}: lenient's first violation",
                    c.name
                );
            }
            (Err(e), Err(le)) => assert_eq!(e, le, "{}: lenient fails differently", c.name),
            (Ok(_), Err(le)) => panic!("{}: lenient failed on a valid packet: {le}", c.name),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_covers_every_packet_type_in_every_version() {
    let mut seen: BTreeMap<(ProtocolVersion, u8), usize> = BTreeMap::new();
    for c in common::load().iter().filter(|c| c.expect == "ok") {
        if let Ok((p, _)) = c.decoder().decode(&c.bytes) {
            let v = p.connect_version().unwrap_or(c.version);
            *seen.entry((v, p.packet_type() as u8)).or_default() += 1;
        }
    }
    let mut missing = Vec::new();
    for v in [
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ] {
        for t in 1..=15u8 {
            if t == PacketType::Auth as u8 && !v.is_v5() {
                continue;
            }
            if !seen.contains_key(&(v, t)) {
                missing.push(format!("{v} {:?}", PacketType::from_nibble(t)));
            }
        }
    }
    assert!(missing.is_empty(), "no valid corpus case for: {missing:?}");
}

/// One snapshot per case: the strict result, and for bad packets what the
/// lenient decoder recovers and reports.
#[test]
fn snapshots_of_every_case() {
    for c in common::load() {
        let d = c.decoder();
        let text = match d.decode(&c.bytes) {
            Ok((p, n)) => format!("{}\nlength: {n}\n{p:#?}", c.about),
            Err(e) => {
                let lenient = match d.decode_lenient(&c.bytes) {
                    Ok((p, n, v)) => {
                        let vs: Vec<String> = v.iter().map(|v| v.to_string()).collect();
                        format!(
                            "lenient: length {n}\nviolations:\n  {}\n{p:#?}",
                            vs.join("\n  ")
                        )
                    }
                    Err(le) => format!("lenient: {le}"),
                };
                format!("{}\nstrict: {e}\n{lenient}", c.about)
            }
        };
        let text = clip(text);
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(c.name.clone(), text);
        });
    }
}

/// Keeps snapshots of the big-payload cases readable (the payload is
/// printed one byte per line).
fn clip(text: String) -> String {
    const KEEP: usize = 4000;
    if text.len() <= KEEP {
        return text;
    }
    let mut cut = KEEP;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}\n... ({} more characters)",
        &text[..cut],
        text.len() - cut
    )
}
