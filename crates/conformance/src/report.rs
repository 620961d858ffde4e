//! Reports: a terminal table, JSON, JUnit XML and a Markdown matrix by
//! statement.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;

use crate::case::Level;
use crate::result::{must_failed, CaseResult, Summary, Verdict};

/// A finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Who was checked (URL or description).
    pub broker: String,
    /// One result per (case, version), in run order.
    pub results: Vec<CaseResult>,
    /// Wall time of the run.
    pub duration_ms: f64,
}

/// The section a statement id belongs to: `MQTT-3.3.1-1` -> `3.3`,
/// `§2.2.2.2/duplicate-property` -> `2.2`.
pub fn section_of(statement: &str) -> String {
    let s = statement
        .strip_prefix("MQTT-")
        .or_else(|| statement.strip_prefix('§'))
        .unwrap_or(statement);
    let s = s.split(['-', '/']).next().unwrap_or(s);
    let mut parts = s.split('.');
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => format!("{a}.{b}"),
        (Some(a), None) => a.to_string(),
        _ => "?".into(),
    }
}

fn section_title(section: &str) -> &'static str {
    match section {
        "1.5" => "Data representation",
        "2.1" | "2.2" => "Fixed header / properties",
        "2.3" => "Packet Identifier",
        "3.1" => "CONNECT",
        "3.2" => "CONNACK",
        "3.3" => "PUBLISH",
        "3.4" => "PUBACK",
        "3.5" => "PUBREC",
        "3.6" => "PUBREL",
        "3.7" => "PUBCOMP",
        "3.8" => "SUBSCRIBE",
        "3.9" => "SUBACK",
        "3.10" => "UNSUBSCRIBE",
        "3.11" => "UNSUBACK",
        "3.12" => "PINGREQ",
        "3.13" => "PINGRESP",
        "3.14" => "DISCONNECT",
        "3.15" => "AUTH",
        "4.1" => "Session state",
        "4.2" => "Network connection",
        "4.3" => "Quality of Service",
        "4.4" => "Message delivery retry",
        "4.5" => "Message receipt",
        "4.6" => "Message ordering",
        "4.7" => "Topic Names and Filters",
        "4.8" => "Error handling / Subscriptions",
        "4.9" => "Flow Control",
        "4.10" => "Request / Response",
        "4.12" => "Enhanced authentication",
        "4.13" => "Handling errors",
        _ => "",
    }
}

fn section_key(section: &str) -> (u32, u32) {
    let mut p = section.split('.').map(|x| x.parse::<u32>().unwrap_or(999));
    (p.next().unwrap_or(999), p.next().unwrap_or(0))
}

fn result_section(r: &CaseResult) -> String {
    r.statements
        .first()
        .map(|s| section_of(s))
        .unwrap_or_else(|| "?".into())
}

fn paint(color: bool, v: Verdict) -> String {
    let word = v.as_str().to_uppercase();
    if !color {
        return word;
    }
    let code = match v {
        Verdict::Pass => "32",
        Verdict::Fail => "31",
        Verdict::Skip => "33",
        Verdict::Note => "36",
    };
    format!("\x1b[{code}m{word}\x1b[0m")
}

fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > max {
        let cut: String = line.chars().take(max).collect();
        format!("{cut}...")
    } else {
        line.to_string()
    }
}

/// The terminal table, grouped by spec section; failures are followed by
/// their trace. `color` adds ANSI colours (only on a terminal).
pub fn text(report: &Report, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "mqttkit check: {}", report.broker);
    let mut groups: BTreeMap<(u32, u32), (String, Vec<&CaseResult>)> = BTreeMap::new();
    for r in &report.results {
        let s = result_section(r);
        groups
            .entry(section_key(&s))
            .or_insert_with(|| (s.clone(), Vec::new()))
            .1
            .push(r);
    }
    for (section, rows) in groups.values() {
        let _ = writeln!(out);
        let _ = writeln!(out, "§{section} {}", section_title(section));
        for r in rows {
            let _ = writeln!(
                out,
                "  {:<4}  {:<5}  {:<6}  {}  [{}]",
                paint(color, r.verdict),
                r.protocol.as_str(),
                r.level.as_str(),
                r.id,
                r.statements.join(", ")
            );
            if r.verdict != Verdict::Pass && !r.title.is_empty() {
                let _ = writeln!(out, "          checks: {}", first_line(&r.title, 200));
            }
            if r.verdict != Verdict::Pass && !r.detail.is_empty() {
                let _ = writeln!(out, "          {}", first_line(&r.detail, 400));
            } else if r.verdict == Verdict::Pass && !r.detail.is_empty() {
                let _ = writeln!(out, "          note: {}", first_line(&r.detail, 400));
            }
            if r.verdict == Verdict::Fail {
                for t in &r.trace {
                    let _ = writeln!(
                        out,
                        "          {:>9.1} ms  {:<3} {:<8} {}{}",
                        t.at_ms,
                        t.conn,
                        format!("{:?}", t.dir).to_lowercase(),
                        if t.hex.is_empty() {
                            String::new()
                        } else {
                            format!("{}  ", t.hex)
                        },
                        first_line(&t.decoded, 300)
                    );
                }
            }
        }
    }
    let s = Summary::of(&report.results);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{} cases: {} pass, {} fail, {} skip, {} note in {:.1} s; {}",
        report.results.len(),
        s.pass,
        s.fail,
        s.skip,
        s.note,
        report.duration_ms / 1000.0,
        if must_failed(&report.results) {
            "a MUST-level case failed"
        } else {
            "no MUST-level case failed"
        }
    );
    out
}

/// The JSON report: `{"broker", "cases": [...], "summary": {...}}`.
pub fn json(report: &Report) -> String {
    let v = json!({
        "broker": report.broker,
        "cases": report.results,
        "summary": Summary::of(&report.results),
    });
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn trace_text(r: &CaseResult) -> String {
    let mut s = String::new();
    for t in &r.trace {
        let _ = writeln!(
            s,
            "{:.1} ms {} {:?} {} {}",
            t.at_ms, t.conn, t.dir, t.hex, t.decoded
        );
    }
    s
}

/// JUnit XML: one test suite per version, one test case per case.
pub fn junit(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let s = Summary::of(&report.results);
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
        xml_escape(&format!("mqttkit check {}", report.broker)),
        report.results.len(),
        s.fail,
        s.skip
    );
    let mut versions: Vec<_> = report.results.iter().map(|r| r.protocol).collect();
    versions.sort();
    versions.dedup();
    for v in versions {
        let rows: Vec<&CaseResult> = report.results.iter().filter(|r| r.protocol == v).collect();
        let fails = rows.iter().filter(|r| r.verdict == Verdict::Fail).count();
        let skips = rows.iter().filter(|r| r.verdict == Verdict::Skip).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"MQTT {}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
            v,
            rows.len(),
            fails,
            skips
        );
        for r in rows {
            let _ = write!(
                out,
                "    <testcase classname=\"mqtt{}.{}\" name=\"{}\" time=\"{:.3}\"",
                v.as_str().replace('.', ""),
                xml_escape(&format!("s{}", result_section(r))),
                xml_escape(&format!(
                    "{} [{}] {}",
                    r.id,
                    r.statements.join(" "),
                    r.level
                )),
                r.duration_ms / 1000.0
            );
            match r.verdict {
                Verdict::Pass => {
                    let _ = writeln!(out, "/>");
                }
                Verdict::Fail => {
                    let _ = writeln!(out, ">");
                    let _ = writeln!(
                        out,
                        "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                        xml_escape(&first_line(&r.detail, 500)),
                        r.level,
                        xml_escape(&trace_text(r))
                    );
                    let _ = writeln!(out, "    </testcase>");
                }
                Verdict::Skip => {
                    let _ = writeln!(out, ">");
                    let _ = writeln!(
                        out,
                        "      <skipped message=\"{}\"/>",
                        xml_escape(&first_line(&r.detail, 500))
                    );
                    let _ = writeln!(out, "    </testcase>");
                }
                Verdict::Note => {
                    let _ = writeln!(out, ">");
                    let _ = writeln!(
                        out,
                        "      <system-out>{}</system-out>",
                        xml_escape(&format!("MAY: {}", r.detail))
                    );
                    let _ = writeln!(out, "    </testcase>");
                }
            }
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

fn md_cell(s: &str) -> String {
    first_line(s, 200).replace('|', "\\|")
}

/// The Markdown matrix: one row per (statement, version) with the combined
/// verdict of the cases that check it.
pub fn markdown(report: &Report) -> String {
    let mut rows: BTreeMap<(String, String), Vec<&CaseResult>> = BTreeMap::new();
    for r in &report.results {
        for s in &r.statements {
            rows.entry((r.protocol.as_str().to_string(), s.clone()))
                .or_default()
                .push(r);
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "# Conformance of {}", report.broker);
    let _ = writeln!(out);
    let s = Summary::of(&report.results);
    let _ = writeln!(
        out,
        "{} cases: {} pass, {} fail, {} skip, {} note.",
        report.results.len(),
        s.pass,
        s.fail,
        s.skip,
        s.note
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| Version | Statement | Level | Verdict | Cases | Detail |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- |");
    let mut keys: Vec<_> = rows.keys().cloned().collect();
    keys.sort_by(|a, b| {
        (a.0.clone(), statement_key(&a.1)).cmp(&(b.0.clone(), statement_key(&b.1)))
    });
    for key in keys {
        let rs = &rows[&key];
        let verdict = [Verdict::Fail, Verdict::Pass, Verdict::Note, Verdict::Skip]
            .into_iter()
            .find(|v| rs.iter().any(|r| r.verdict == *v))
            .unwrap_or(Verdict::Skip);
        let level = rs.iter().map(|r| r.level).min().unwrap_or(Level::Must);
        let cases = rs
            .iter()
            .map(|r| {
                if r.verdict == verdict {
                    r.id.clone()
                } else {
                    format!("{} ({})", r.id, r.verdict)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let detail = rs
            .iter()
            .find(|r| r.verdict == verdict && !r.detail.is_empty())
            .map(|r| md_cell(&r.detail))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            key.0,
            key.1,
            level,
            verdict.as_str().to_uppercase(),
            md_cell(&cases),
            detail
        );
    }
    out
}

/// Sort key of a statement id: numeric parts in order, then the text.
fn statement_key(id: &str) -> (Vec<u32>, String) {
    let nums = id
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().unwrap_or(u32::MAX))
        .collect();
    (nums, id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections() {
        assert_eq!(section_of("MQTT-3.3.1-1"), "3.3");
        assert_eq!(section_of("MQTT-4.7.1-2"), "4.7");
        assert_eq!(section_of("§2.2.2.2/duplicate-property"), "2.2");
        assert_eq!(section_of("MQTT-3.10.4-1"), "3.10");
        assert!(section_key("3.10") > section_key("3.9"));
    }

    #[test]
    fn xml_is_escaped() {
        assert_eq!(
            xml_escape("a<b>&\"'\u{1}"),
            "a&lt;b&gt;&amp;&quot;&apos;\\u0001"
        );
    }
}
