//! Findings as replayable TOML scripts.

use mqttkit_codec::ProtocolVersion;
use mqttkit_conformance::wire::parse_hex;
use serde::{Deserialize, Serialize};

use crate::gen::{Class, Conversation, Role, Step, Wait};

/// Format version written into every script.
pub const FORMAT: u32 = 1;

/// Largest script file read (bytes).
pub const MAX_SCRIPT_BYTES: u64 = 4 << 20;

/// Most steps a script may have.
const MAX_STEPS: usize = 1000;

/// One finding: the conversation and what was expected and seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Format version ([`FORMAT`]).
    pub format: u32,
    /// `3.1.1` or `5`.
    pub protocol: String,
    /// Mutation class.
    pub class: String,
    /// Kind of finding (`not-closed`, `broker-unhealthy`, ...); a replay
    /// reproduces when it finds the same kind.
    pub finding: String,
    /// Statement ids the expectation rests on.
    pub statements: Vec<String>,
    /// What the specification allows.
    pub expected: String,
    /// What the broker did.
    pub observed: String,
    /// The finding in a sentence.
    pub detail: String,
    /// The broker it was found on (informational).
    pub broker: String,
    /// Seed of the run that found it.
    pub seed: u64,
    /// Case number in that run.
    pub case: u64,
    /// The conversation, target last.
    pub steps: Vec<ScriptStep>,
}

/// One step of a script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptStep {
    /// `setup`, `optional` or `target`.
    pub role: String,
    /// What the step is.
    pub note: String,
    /// `none`, `connack` or `ping`.
    pub wait: String,
    /// Bytes sent, hex.
    pub send: String,
}

/// Hex with a space between bytes.
pub fn spaced_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

impl Script {
    /// The steps of `conv` in script form.
    pub fn steps_of(conv: &Conversation) -> Vec<ScriptStep> {
        conv.steps
            .iter()
            .map(|s| ScriptStep {
                role: s.role.as_str().into(),
                note: s.note.clone(),
                wait: s.wait.as_str().into(),
                send: spaced_hex(&s.send),
            })
            .collect()
    }

    /// The conversation back from the script.
    pub fn conversation(&self) -> Result<Conversation, String> {
        if self.format != FORMAT {
            return Err(format!(
                "script format {} is not supported (expected {FORMAT})",
                self.format
            ));
        }
        let version = match self.protocol.as_str() {
            "3.1.1" => ProtocolVersion::V3_1_1,
            "5" | "5.0" => ProtocolVersion::V5,
            p => return Err(format!("protocol {p:?}: expected \"3.1.1\" or \"5\"")),
        };
        let class = Class::from_name(&self.class)
            .ok_or_else(|| format!("unknown class {:?}", self.class))?;
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            return Err(format!(
                "a script has 1 to {MAX_STEPS} steps, this one {}",
                self.steps.len()
            ));
        }
        let mut steps = Vec::with_capacity(self.steps.len());
        for (i, s) in self.steps.iter().enumerate() {
            let at = |e: String| format!("step {}: {e}", i + 1);
            let role = Role::parse(&s.role).ok_or_else(|| at(format!("role {:?}", s.role)))?;
            let wait = Wait::parse(&s.wait).ok_or_else(|| at(format!("wait {:?}", s.wait)))?;
            let last = i + 1 == self.steps.len();
            if (role == Role::Target) != last {
                return Err(at(
                    "the target, and only the target, is the last step".into()
                ));
            }
            let send = parse_hex(&s.send).map_err(at)?;
            if send.is_empty() {
                return Err(at("a step sends at least one byte".into()));
            }
            steps.push(Step {
                send,
                wait,
                role,
                note: s.note.clone(),
            });
        }
        Ok(Conversation {
            version,
            class,
            steps,
        })
    }

    /// TOML text with a header comment.
    pub fn to_toml(&self) -> Result<String, String> {
        let body = toml::to_string(self).map_err(|e| e.to_string())?;
        Ok(format!(
            "# mqttkit live-fuzz finding. Replay: mqttkit fuzz mqtt://HOST:PORT --replay FILE\n\
             # (exit 1: still reproduces, 0: no longer).\n{body}"
        ))
    }

    /// Parses a script.
    pub fn from_toml(text: &str) -> Result<Script, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Reads a script file (bounded in size).
    pub fn load(path: &std::path::Path) -> Result<Script, String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.len() > MAX_SCRIPT_BYTES {
            return Err(format!(
                "{}: {} bytes; scripts are at most {MAX_SCRIPT_BYTES}",
                path.display(),
                meta.len()
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Script::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{generate, Ctx};
    use crate::rng::Rng;

    #[test]
    fn scripts_round_trip_and_bad_ones_are_refused() {
        let ctx = Ctx {
            version: ProtocolVersion::V5,
            client_id: "c".into(),
            prefix: "p".into(),
        };
        let conv = generate(Class::TopicWildcard, &ctx, &mut Rng::new(5));
        let s = Script {
            format: FORMAT,
            protocol: "5".into(),
            class: conv.class.name().into(),
            finding: "not-closed".into(),
            statements: vec!["MQTT-3.3.2-2".into()],
            expected: "close".into(),
            observed: "open".into(),
            detail: "d".into(),
            broker: "b".into(),
            seed: 1,
            case: 2,
            steps: Script::steps_of(&conv),
        };
        let text = s.to_toml().unwrap();
        let back = Script::from_toml(&text).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.conversation().unwrap(), conv);
        let mut bad = s.clone();
        bad.steps.reverse();
        if bad.steps.len() > 1 {
            assert!(bad.conversation().is_err());
        }
        let mut bad = s.clone();
        bad.class = "nope".into();
        assert!(bad.conversation().is_err());
        let mut bad = s.clone();
        bad.steps[0].send = "zz".into();
        assert!(bad.conversation().is_err());
        let mut bad = s.clone();
        bad.steps[0].send = String::new();
        assert!(bad.conversation().is_err());
        // A class whose expectation reads the target, with a target of
        // another shape: judged generically, no panic.
        let mut odd = s;
        odd.class = "pubrel-unknown".into();
        odd.steps = vec![odd.steps.pop().unwrap()];
        odd.steps[0].send = "c0 00".into();
        let c = odd.conversation().unwrap();
        let _ = crate::judge::expect(&c);
        odd.class = "flood".into();
        let _ = crate::judge::expect(&odd.conversation().unwrap());
        assert!(Script::from_toml("format = 1").is_err());
    }
}
