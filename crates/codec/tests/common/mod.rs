//! Reading `corpus/packets/*.hex`: one packet per file, a header comment
//! `# version=V from=F expect=E : description`, then hex bytes.
#![allow(dead_code)]

use std::path::PathBuf;

use mqttkit_codec::{Decoder, ProtocolVersion, Role};

#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub version: ProtocolVersion,
    pub from: Option<Role>,
    /// `ok`, `incomplete`, or a statement id.
    pub expect: String,
    pub about: String,
    pub bytes: Vec<u8>,
}

impl Case {
    pub fn decoder(&self) -> Decoder {
        let d = Decoder::new(self.version);
        match self.from {
            Some(r) => d.sent_by(r),
            None => d,
        }
    }
}

/// `corpus/packets`, found from the crate directory upwards (this file is
/// shared by the codec's tests and `spec-tests`).
pub fn corpus_dir() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let candidate = dir.join("corpus/packets");
        if candidate.is_dir() || !dir.pop() {
            return candidate;
        }
    }
}

/// The case called `name` (file name without `.hex`).
pub fn load_one(name: &str) -> Case {
    let path = corpus_dir().join(format!("{name}.hex"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_case(name, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

pub fn parse_case(name: &str, text: &str) -> Result<Case, String> {
    let mut lines = text.lines();
    let header = lines.next().ok_or("empty file")?;
    let header = header
        .strip_prefix('#')
        .ok_or("first line must be a # comment")?;
    let (fields, about) = header.split_once(" : ").unwrap_or((header, ""));
    let mut version = None;
    let mut from = None;
    let mut expect = None;
    for f in fields.split_whitespace() {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| format!("bad field {f:?}"))?;
        match k {
            "version" => version = Some(v.parse::<ProtocolVersion>().map_err(|e| e.to_string())?),
            "from" => {
                from = match v {
                    "client" => Some(Role::Client),
                    "server" => Some(Role::Server),
                    "any" => None,
                    _ => return Err(format!("bad from={v}")),
                }
            }
            "expect" => expect = Some(v.to_string()),
            _ => return Err(format!("unknown field {k}")),
        }
    }
    let rest: Vec<&str> = lines.collect();
    if rest.iter().any(|l| l.trim_start().starts_with('#')) {
        return Err("only the first line may be a comment".into());
    }
    Ok(Case {
        name: name.to_string(),
        version: version.ok_or("missing version=")?,
        from,
        expect: expect.ok_or("missing expect=")?,
        about: about.trim().to_string(),
        bytes: parse_hex(&rest.join("\n"))?,
    })
}

/// Every case, sorted by file name. Panics (failing the test) when the
/// corpus is missing or a file is unreadable.
pub fn load() -> Vec<Case> {
    let dir = corpus_dir();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus directory {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "hex"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no corpus cases in {}", dir.display());
    names
        .iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(p).unwrap();
            parse_case(&name, &text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect()
}
