//! The coverage matrix: which tests check which statement.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One normative statement from an inventory.
#[derive(Debug, Clone)]
pub struct Statement {
    pub id: String,
    pub section: String,
    pub topic: String,
    pub who: String,
    pub summary: String,
}

/// The two inventories, by file stem.
pub const INVENTORIES: [(&str, &str); 2] = [("mqtt311", "MQTT 3.1.1"), ("mqtt5", "MQTT 5.0")];

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Reads `spec/<inventory>.tsv`.
pub fn statements(inventory: &str) -> Vec<Statement> {
    let path = root().join("spec").join(format!("{inventory}.tsv"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert!(f.len() >= 5, "{}: bad line {l:?}", path.display());
            Statement {
                id: f[0].into(),
                section: f[1].into(),
                topic: f[2].into(),
                who: f[3].into(),
                summary: f[4].into(),
            }
        })
        .collect()
}

/// Statement id for a test function name such as
/// `mqtt_3_1_2_22_password_needs_user_name` (`MQTT-3.1.2-22`): the number
/// groups up to the first word; the last group is the statement number.
pub fn id_of_test(name: &str) -> Option<String> {
    let rest = name.strip_prefix("mqtt_")?;
    let nums: Vec<&str> = rest
        .split('_')
        .take_while(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    if nums.len() < 3 {
        return None;
    }
    let (last, section) = nums.split_last()?;
    Some(format!("MQTT-{}-{}", section.join("."), last))
}

/// Test names per inventory found in `tests/*.rs`: `v311.rs` belongs to
/// mqtt311, `v5.rs` to mqtt5, other files name theirs on the first line as
/// `// inventory: mqtt5`.
pub fn tests_by_inventory() -> BTreeMap<String, Vec<(String, PathBuf)>> {
    let mut out: BTreeMap<String, Vec<(String, PathBuf)>> = BTreeMap::new();
    let dir = root().join("tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let inventory = match inventory_of(&path, &text) {
            Some(i) => i,
            None => continue,
        };
        let mut pending_test = false;
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with("#[test]") {
                pending_test = true;
            } else if let Some(rest) = t.strip_prefix("fn ") {
                if pending_test {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if name.starts_with("mqtt_") {
                        out.entry(inventory.clone())
                            .or_default()
                            .push((name, path.clone()));
                    }
                }
                pending_test = false;
            }
        }
    }
    out
}

fn inventory_of(path: &Path, text: &str) -> Option<String> {
    if let Some(i) = text
        .lines()
        .next()
        .and_then(|l| l.trim().strip_prefix("// inventory: "))
    {
        return Some(i.trim().to_string());
    }
    match path.file_stem()?.to_str()? {
        "v311" => Some("mqtt311".into()),
        "v5" => Some("mqtt5".into()),
        _ => None,
    }
}

/// `waivers.tsv`: id, inventory, reason.
pub fn waivers() -> BTreeMap<(String, String), String> {
    let path = root().join("waivers.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.splitn(3, '\t').collect();
            assert_eq!(f.len(), 3, "waivers.tsv: bad line {l:?}");
            ((f[1].to_string(), f[0].to_string()), f[2].to_string())
        })
        .collect()
}

/// Problems that make the matrix test fail: tests citing unknown ids,
/// Codec statements with neither a test nor a waiver, waivers for ids that
/// do not exist.
pub fn problems() -> Vec<String> {
    let tests = tests_by_inventory();
    let waivers = waivers();
    let mut out = Vec::new();
    for (inv, _) in INVENTORIES {
        let st = statements(inv);
        let known: std::collections::BTreeSet<&str> = st.iter().map(|s| s.id.as_str()).collect();
        let names = tests.get(inv).cloned().unwrap_or_default();
        for (name, path) in &names {
            match id_of_test(name) {
                Some(id) if known.contains(id.as_str()) => {}
                Some(id) => out.push(format!(
                    "{}: {name} cites {id}, which is not in {inv}",
                    path.display()
                )),
                None => out.push(format!(
                    "{}: {name} does not start with a statement id",
                    path.display()
                )),
            }
        }
        for s in &st {
            let tested = names
                .iter()
                .any(|(n, _)| id_of_test(n).as_deref() == Some(s.id.as_str()));
            if !tested && !waivers.contains_key(&(inv.to_string(), s.id.clone())) {
                out.push(format!(
                    "{inv} {}: {} statement with no test and no waiver",
                    s.id, s.who
                ));
            }
        }
    }
    for (inv, id) in waivers.keys() {
        if !statements(inv).iter().any(|s| &s.id == id) {
            out.push(format!("waivers.tsv: {inv} {id} is not a statement"));
        }
    }
    out
}

/// The text of `MATRIX.md`.
pub fn render() -> String {
    let tests = tests_by_inventory();
    let waivers = waivers();
    let mut md = String::new();
    md.push_str("# Statement coverage matrix\n\n");
    md.push_str(
        "Generated by `spec-tests/tests/matrix.rs` from `spec-tests/spec/*.tsv` and the test \
         names in `spec-tests/tests/`; regenerate with \
         `UPDATE_MATRIX=1 cargo test -p mqttkit-spec-tests --test matrix`.\n\n",
    );
    md.push_str(
        "`covered` counts statements with at least one test; `by model` counts those \
         with a test on the model (files `tests/model_*.rs`: the model's topic logic, \
         broker core or client session driven directly, or the conformance cases citing \
         the statement run against the reference broker, which is the model on loopback \
         sockets); `tests/broker_*.rs` check transport statements on the reference \
         broker's listeners. Waivers (`waivers.tsv`) give the reason a statement has \
         no test.\n\n",
    );
    md.push_str("| inventory | class | statements | covered | by model | waived | not yet |\n|---|---|---|---|---|---|---|\n");
    let mut tables = String::new();
    for (inv, title) in INVENTORIES {
        let st = statements(inv);
        let names = tests.get(inv).cloned().unwrap_or_default();
        let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut model_ids = std::collections::BTreeSet::new();
        for (n, path) in &names {
            if let Some(id) = id_of_test(n) {
                let model = path
                    .file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(|f| f.starts_with("model_"));
                if model {
                    model_ids.insert(id.clone());
                }
                by_id.entry(id).or_default().push(n.clone());
            }
        }
        let mut counts: BTreeMap<&str, [usize; 5]> = BTreeMap::new();
        let _ = writeln!(tables, "\n## {title} ({inv})\n");
        tables.push_str(
            "| id | section | who | summary | tests | status |\n|---|---|---|---|---|---|\n",
        );
        for s in &st {
            let t = by_id.get(&s.id).cloned().unwrap_or_default();
            let waiver = waivers.get(&(inv.to_string(), s.id.clone()));
            let status = if model_ids.contains(&s.id) {
                "covered (model)".to_string()
            } else if !t.is_empty() {
                "covered".to_string()
            } else if let Some(w) = waiver {
                format!("waived: {w}")
            } else if s.who == "Codec" {
                "not yet".to_string()
            } else {
                "not yet: needs the model, broker or conformance runner".to_string()
            };
            let c = counts.entry(s.who.as_str()).or_default();
            c[0] += 1;
            if !t.is_empty() {
                c[1] += 1;
            } else if waiver.is_some() {
                c[2] += 1;
            } else {
                c[3] += 1;
            }
            if model_ids.contains(&s.id) {
                c[4] += 1;
            }
            let tests_cell = t
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join("<br>");
            let _ = writeln!(
                tables,
                "| {} | {} | {} | {} | {} | {} |",
                s.id,
                s.section,
                s.who,
                s.summary.replace('|', "\\|"),
                tests_cell,
                status
            );
        }
        let mut total = [0usize; 5];
        for (who, c) in &counts {
            let _ = writeln!(
                md,
                "| {inv} | {who} | {} | {} | {} | {} | {} |",
                c[0], c[1], c[4], c[2], c[3]
            );
            for k in 0..5 {
                total[k] += c[k];
            }
        }
        let _ = writeln!(
            md,
            "| {inv} | **all** | {} | {} | {} | {} | {} |",
            total[0], total[1], total[4], total[2], total[3]
        );
    }
    md.push_str(&conformance_section());
    md.push_str(&tables);
    md
}

/// How the conformance runner (`mqttkit check`) covers the Server and Both
/// statements: cited by at least one case, or listed in
/// `crates/conformance/UNCOVERED.tsv` with the reason no client can
/// observe it.
fn conformance_section() -> String {
    let cases = mqttkit_conformance::builtin_cases().expect("conformance cases parse");
    let uncovered_path = root().join("../crates/conformance/UNCOVERED.tsv");
    let uncovered_text = std::fs::read_to_string(uncovered_path).unwrap_or_default();
    let mut md = String::from(
        "\n## Conformance runner coverage\n\n\
         Server and Both statements cited by at least one case of `mqttkit check` \
         (`crates/conformance/cases`), and those no client can observe over the wire, \
         with the reason (`crates/conformance/UNCOVERED.tsv`; \
         `crates/conformance/tests/cases.rs` fails when a statement is in neither).\n\n\
         | inventory | class | statements | checked by cases | cases citing them | not observable |\n\
         |---|---|---|---|---|---|\n",
    );
    let mut reasons = String::new();
    for (inv, label) in [("mqtt311", "3.1.1"), ("mqtt5", "5")] {
        let v5 = inv == "mqtt5";
        let cited = |id: &str| {
            cases
                .iter()
                .filter(|c| {
                    let list = if v5 { &c.v5 } else { &c.v311 };
                    list.iter().any(|s| s == id)
                })
                .count()
        };
        for who in ["Server", "Both"] {
            let st: Vec<Statement> = statements(inv)
                .into_iter()
                .filter(|s| s.who == who)
                .collect();
            let checked: Vec<&Statement> = st.iter().filter(|s| cited(&s.id) > 0).collect();
            let citing: usize = checked.iter().map(|s| cited(&s.id)).sum();
            let mut not_observable = 0;
            for s in &st {
                let reason = uncovered_text.lines().skip(1).find_map(|l| {
                    let f: Vec<&str> = l.splitn(3, '\t').collect();
                    (f.len() == 3 && f[0] == label && f[1] == s.id).then(|| f[2].to_string())
                });
                if let Some(r) = reason {
                    not_observable += 1;
                    let _ = writeln!(
                        reasons,
                        "| {inv} | {} | {} | {} |",
                        s.id,
                        s.who,
                        r.replace('|', "\\|")
                    );
                }
            }
            let _ = writeln!(
                md,
                "| {inv} | {who} | {} | {} | {citing} | {not_observable} |",
                st.len(),
                checked.len()
            );
        }
    }
    md.push_str("\n| inventory | id | who | why no case checks it |\n|---|---|---|---|\n");
    md.push_str(&reasons);
    md
}
