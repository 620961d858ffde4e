//! Test cases as data: a case names the statements it checks and a script
//! of steps. The built-in cases live in `cases/*.toml` and are compiled
//! into the binary.

use std::fmt;

use mqttkit_codec::ProtocolVersion;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How strongly the specification words the behaviour a case checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
pub enum Level {
    /// MUST / MUST NOT: a failure fails the run.
    #[serde(rename = "MUST")]
    Must,
    /// SHOULD / SHOULD NOT: a failure is reported but does not fail the run.
    #[serde(rename = "SHOULD")]
    Should,
    /// MAY: the broker's choice is reported as a note.
    #[serde(rename = "MAY")]
    May,
}

impl Level {
    /// The keyword as the specification writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One conformance case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique id, e.g. `publish-qos1-puback`.
    pub id: String,
    /// One line saying what is checked.
    pub title: String,
    /// Statement ids checked under MQTT 3.1.1 (the case runs on 3.1.1 when
    /// this is not empty).
    #[serde(default)]
    pub v311: Vec<String>,
    /// Statement ids checked under MQTT 5.0 (the case runs on 5.0 when this
    /// is not empty).
    #[serde(default)]
    pub v5: Vec<String>,
    /// MUST, SHOULD or MAY.
    pub level: Level,
    /// What the broker chose when the case passes (MAY/SHOULD cases).
    #[serde(default)]
    pub note: Option<String>,
    /// Overall deadline; by default the sum of the waits plus a margin.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Runs alone, after every other case (for subscriptions such as `#`
    /// that would see the traffic of concurrent cases).
    #[serde(default)]
    pub exclusive: bool,
    /// The script.
    pub step: Vec<Step>,
}

impl Case {
    /// The versions the case applies to.
    pub fn protocols(&self) -> Vec<ProtocolVersion> {
        let mut v = Vec::new();
        if !self.v311.is_empty() {
            v.push(ProtocolVersion::V3_1_1);
        }
        if !self.v5.is_empty() {
            v.push(ProtocolVersion::V5);
        }
        v
    }

    /// The statements checked under `version`.
    pub fn statements(&self, version: ProtocolVersion) -> &[String] {
        if version.is_v5() {
            &self.v5
        } else {
            &self.v311
        }
    }
}

fn default_conn() -> String {
    "a".into()
}

/// A version restriction on a step: `"3.1.1"` or `"5"`.
pub type Only = Option<String>;

/// CONNECT fields (used by the `connect` step and by a CONNECT `send`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectSpec {
    /// Client identifier; default `{client}` followed by the connection
    /// name. `""` sends an empty one.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Clean Session / Clean Start (default true).
    #[serde(default)]
    pub clean: Option<bool>,
    /// Keep Alive seconds (default 60).
    #[serde(default)]
    pub keep_alive: Option<u16>,
    /// User Name; by default the one given to the runner.
    #[serde(default)]
    pub username: Option<String>,
    /// Password; by default the one given to the runner.
    #[serde(default)]
    pub password: Option<String>,
    /// The will message.
    #[serde(default)]
    pub will: Option<WillSpec>,
    /// CONNECT properties (5.0), by their snake_case names.
    #[serde(default)]
    pub properties: Option<Value>,
}

/// A will message.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WillSpec {
    /// Will Topic.
    pub topic: String,
    /// Will Payload as text.
    #[serde(default)]
    pub payload: String,
    /// Will QoS.
    #[serde(default)]
    pub qos: u8,
    /// Will Retain.
    #[serde(default)]
    pub retain: bool,
    /// Will properties (5.0).
    #[serde(default)]
    pub properties: Option<Value>,
}

/// One step of a case's script.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Step {
    /// Opens a connection, sends CONNECT and waits for CONNACK.
    Connect(Box<ConnectStep>),
    /// Opens a connection without sending anything (for raw CONNECTs).
    Open {
        /// Connection name.
        #[serde(default = "default_conn")]
        conn: String,
        /// Answer PUBLISH/PUBREC/PUBREL automatically (default true).
        #[serde(default)]
        auto_ack: Option<bool>,
        /// Only under this version.
        #[serde(default)]
        only: Only,
    },
    /// Sends a packet described by fields, raw hex, or a frame.
    Send {
        /// Connection name.
        #[serde(default = "default_conn")]
        conn: String,
        /// The packet as fields (`type` = "PUBLISH", ...).
        #[serde(default)]
        packet: Option<Value>,
        /// Raw bytes in hex.
        #[serde(default)]
        hex: Option<String>,
        /// Sends the packet this many times; `{i}` counts 1, 2, ...
        #[serde(default)]
        repeat: Option<u32>,
        /// A packet built from a first byte and body pieces, the
        /// Remaining Length computed.
        #[serde(default)]
        frame: Option<Frame>,
        /// Only under this version.
        #[serde(default)]
        only: Only,
    },
    /// Waits for a packet matching `packet`; packets that do not match stay
    /// queued for later steps.
    Expect {
        /// Connection name.
        #[serde(default = "default_conn")]
        conn: String,
        /// The pattern (only the fields given are compared).
        packet: Value,
        /// Deadline; default the runner's step timeout.
        #[serde(default)]
        within_ms: Option<u64>,
        /// Only the oldest queued packet of the pattern's type may match
        /// (checks ordering).
        #[serde(default)]
        in_order: bool,
        /// Names for values of the matched packet: name -> field path
        /// (`packet_id`, `properties.topic_alias`).
        #[serde(default)]
        capture: Option<serde_json::Map<String, Value>>,
        /// Only under this version.
        #[serde(default)]
        only: Only,
    },
    /// No packet matching `packet` (by default: none at all) arrives for `for_ms`.
    ExpectNone {
        /// Connection name.
        #[serde(default = "default_conn")]
        conn: String,
        /// The pattern; any packet when absent.
        #[serde(default)]
        packet: Option<Value>,
        /// How long to watch.
        for_ms: u64,
        /// Only under this version.
        #[serde(default)]
        only: Only,
    },
    /// The Server closes the network connection within the deadline. Under
    /// 5.0 a DISCONNECT it sends first must carry one of `reason`.
    ExpectClose {
        /// Connection name.
        #[serde(default = "default_conn")]
        conn: String,
        /// Deadline; default the runner's step timeout.
        #[serde(default)]
        within_ms: Option<u64>,
        /// Reason codes allowed in a DISCONNECT (5.0); empty: any error
        /// code (0x80 or above).
        #[serde(default)]
        reason: Vec<u8>,
        /// The broker must close without sending DISCONNECT.
        #[serde(default)]
        no_disconnect: bool,
        /// The broker must close without sending anything not yet consumed
        /// by an earlier step (e.g. no CONNACK for a malformed CONNECT).
        #[serde(default)]
        silent: bool,
        /// Only under this version.
        #[serde(default)]
        only: Only,
    },
    /// Waits.
    Sleep {
        /// Milliseconds.
        ms: u64,
        /// Only under this version.
        #[serde(default)]
        only: Only,
    },
    /// Sends DISCONNECT (with optional reason code and properties) and
    /// closes the connection.
    Disconnect {
        /// Connection name.
        #[serde(default = "default_conn")]
        conn: String,
        /// Reason code (5.0).
        #[serde(default)]
        reason_code: Option<u8>,
        /// DISCONNECT properties (5.0).
        #[serde(default)]
        properties: Option<Value>,
        /// Only under this version.
        #[serde(default)]
        only: Only,
    },
    /// Closes the network connection without DISCONNECT.
    Drop {
        /// Connection name.
        #[serde(default = "default_conn")]
        conn: String,
        /// Only under this version.
        #[serde(default)]
        only: Only,
    },
    /// Skips the case unless the connection's CONNACK offers a feature
    /// (a CONNACK property that is absent or true, or at least `min`).
    Require {
        /// Connection name.
        #[serde(default = "default_conn")]
        conn: String,
        /// CONNACK property name, e.g. `retain_available`.
        capability: String,
        /// For numeric properties (maximum_qos, topic_alias_maximum): the
        /// least value needed; absent numeric properties count as `absent_is`.
        #[serde(default)]
        min: Option<u64>,
        /// Value assumed when the property is absent (default: feature on).
        #[serde(default)]
        absent_is: Option<u64>,
        /// For numeric properties: the largest value the case can handle.
        #[serde(default)]
        max: Option<u64>,
        /// Runs only when the property has exactly this value (for cases
        /// about a feature being off); an absent property counts as
        /// `absent_is`.
        #[serde(default)]
        equals: Option<Value>,
        /// Only under this version.
        #[serde(default)]
        only: Only,
    },
    /// Matches a captured value (e.g. `connack_a`, the CONNACK of
    /// connection `a`) against a pattern.
    Check {
        /// The captured value's name.
        var: String,
        /// The pattern.
        pattern: Value,
        /// Only under this version.
        #[serde(default)]
        only: Only,
    },
    /// Records what the broker sent within the deadline (for MAY choices).
    Observe {
        /// Connection name.
        #[serde(default = "default_conn")]
        conn: String,
        /// Which packet to look for; any when absent.
        #[serde(default)]
        packet: Option<Value>,
        /// How long to wait.
        within_ms: u64,
        /// What is being observed, e.g. "SUBACK code for a filter with `#` in the middle".
        what: String,
        /// Only under this version.
        #[serde(default)]
        only: Only,
    },
    /// WebSocket only (the case skips over any other transport): sends
    /// packets (field-described, concatenated) cut into binary messages
    /// at the `split` offsets, or one text message; with `subprotocol`,
    /// checks the subprotocol the server chose in its handshake.
    WebSocket {
        /// Connection name.
        #[serde(default = "default_conn")]
        conn: String,
        /// Packets as fields, written back to back.
        #[serde(default)]
        packets: Vec<Value>,
        /// Offsets into the bytes where a new binary message starts.
        #[serde(default)]
        split: Vec<usize>,
        /// A text message to send instead.
        #[serde(default)]
        text: Option<String>,
        /// The subprotocol the handshake must have selected.
        #[serde(default)]
        subprotocol: Option<String>,
        /// Only under this version.
        #[serde(default)]
        only: Only,
    },
}

/// The `connect` step.
#[derive(Debug, Clone, Deserialize)]
pub struct ConnectStep {
    /// Connection name.
    #[serde(default = "default_conn")]
    pub conn: String,
    /// The CONNECT fields.
    #[serde(flatten)]
    pub spec: ConnectSpec,
    /// Pattern for the CONNACK; default a successful one. When the default
    /// is used, a CONNACK refusing the version, the credentials or the
    /// client identifier skips the case; a connection closed without
    /// CONNACK fails it.
    #[serde(default)]
    pub expect: Option<Value>,
    /// Deadline for the CONNACK.
    #[serde(default)]
    pub within_ms: Option<u64>,
    /// Answer PUBLISH/PUBREC/PUBREL automatically (default true).
    #[serde(default)]
    pub auto_ack: Option<bool>,
    /// Only under this version.
    #[serde(default)]
    pub only: Only,
}

/// A packet put together from its first byte and body pieces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Frame {
    /// The first byte (type and flags).
    pub byte0: u8,
    /// Body pieces: `hex:0a0b`, `str:text` (two-byte length + UTF-8),
    /// `raw:text` (UTF-8 without length), `u16:N`, `vbi:N`.
    pub body: Vec<String>,
    /// Remaining Length to write instead of the body's real length.
    #[serde(default)]
    pub remaining_length: Option<u32>,
}

impl Step {
    /// The version restriction of the step.
    pub fn only(&self) -> Option<&str> {
        match self {
            Step::Connect(c) => c.only.as_deref(),
            Step::Open { only, .. }
            | Step::Send { only, .. }
            | Step::Expect { only, .. }
            | Step::ExpectNone { only, .. }
            | Step::ExpectClose { only, .. }
            | Step::Sleep { only, .. }
            | Step::Disconnect { only, .. }
            | Step::Drop { only, .. }
            | Step::Require { only, .. }
            | Step::Check { only, .. }
            | Step::Observe { only, .. }
            | Step::WebSocket { only, .. } => only.as_deref(),
        }
    }

    /// Whether the step runs under `version`.
    pub fn applies(&self, version: ProtocolVersion) -> bool {
        match self.only() {
            None => true,
            Some(s) => s.parse::<ProtocolVersion>().ok() == Some(version),
        }
    }

    /// The longest the step can take given a default step deadline.
    pub fn budget_ms(&self, step_timeout: u64) -> u64 {
        match self {
            Step::Connect(c) => c.within_ms.unwrap_or(step_timeout),
            Step::Expect { within_ms, .. } | Step::ExpectClose { within_ms, .. } => {
                within_ms.unwrap_or(step_timeout)
            }
            Step::ExpectNone { for_ms, .. } => *for_ms,
            Step::Observe { within_ms, .. } => *within_ms,
            Step::Sleep { ms, .. } => *ms,
            _ => 200,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    case: Vec<Case>,
}

/// An error in a case file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

impl std::error::Error for CaseError {}

/// Parses one TOML case file (`[[case]]` tables with `[[case.step]]`s).
pub fn parse_cases(file: &str, text: &str) -> Result<Vec<Case>, CaseError> {
    let parsed: CaseFile = toml::from_str(text).map_err(|e| CaseError {
        file: file.into(),
        message: e.to_string(),
    })?;
    for c in &parsed.case {
        if c.v311.is_empty() && c.v5.is_empty() {
            return Err(CaseError {
                file: file.into(),
                message: format!("case {}: no statements (v311 / v5)", c.id),
            });
        }
        if c.step.is_empty() {
            return Err(CaseError {
                file: file.into(),
                message: format!("case {}: no steps", c.id),
            });
        }
        for s in &c.step {
            if let Some(o) = s.only() {
                if o.parse::<ProtocolVersion>().is_err() {
                    return Err(CaseError {
                        file: file.into(),
                        message: format!("case {}: bad `only` {o:?}", c.id),
                    });
                }
            }
            if let Step::Send {
                packet, hex, frame, ..
            } = s
            {
                let n = packet.is_some() as u8 + hex.is_some() as u8 + frame.is_some() as u8;
                if n != 1 {
                    return Err(CaseError {
                        file: file.into(),
                        message: format!(
                            "case {}: a send step needs exactly one of packet, hex, frame",
                            c.id
                        ),
                    });
                }
            }
        }
    }
    Ok(parsed.case)
}

/// The case files compiled into the crate: (name, text).
pub const CASE_FILES: &[(&str, &str)] = &[
    ("connect.toml", include_str!("../cases/connect.toml")),
    ("publish.toml", include_str!("../cases/publish.toml")),
    ("subscribe.toml", include_str!("../cases/subscribe.toml")),
    ("session.toml", include_str!("../cases/session.toml")),
    ("will.toml", include_str!("../cases/will.toml")),
    ("keepalive.toml", include_str!("../cases/keepalive.toml")),
    ("topics.toml", include_str!("../cases/topics.toml")),
    ("v5.toml", include_str!("../cases/v5.toml")),
    ("flow.toml", include_str!("../cases/flow.toml")),
    ("malformed.toml", include_str!("../cases/malformed.toml")),
    ("websocket.toml", include_str!("../cases/websocket.toml")),
];

/// Every built-in case, in file order. Fails on the first bad file or a
/// duplicate id.
pub fn builtin_cases() -> Result<Vec<Case>, CaseError> {
    let mut all: Vec<Case> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (name, text) in CASE_FILES {
        for c in parse_cases(name, text)? {
            if !seen.insert(c.id.clone()) {
                return Err(CaseError {
                    file: (*name).into(),
                    message: format!("duplicate case id {}", c.id),
                });
            }
            all.push(c);
        }
    }
    Ok(all)
}
