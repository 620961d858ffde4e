//! Verdicts and the evidence that goes with them.

use std::fmt;

use mqttkit_codec::ProtocolVersion;
use serde::Serialize;

use crate::case::Level;

/// The outcome of one case under one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The broker did what the statements require.
    Pass,
    /// It did not; the trace shows what happened.
    Fail,
    /// Not applicable: version not offered, optional feature declared
    /// unavailable, authentication needed.
    Skip,
    /// A MAY choice: what the broker chose.
    Note,
}

impl Verdict {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Skip => "skip",
            Verdict::Note => "note",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Direction of a trace entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// Sent by the runner.
    Sent,
    /// Received from the broker.
    Received,
    /// Connection events (opened, closed, errors).
    Event,
}

/// One line of a case's packet trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceEntry {
    /// Milliseconds since the case started.
    pub at_ms: f64,
    /// Connection name in the case.
    pub conn: String,
    /// Direction.
    pub dir: Dir,
    /// Bytes in hex (empty for events).
    pub hex: String,
    /// The decoded packet (JSON) or the event.
    pub decoded: String,
}

/// The result of one case under one version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseResult {
    /// Case id.
    pub id: String,
    /// What the case checks.
    #[serde(skip)]
    pub title: String,
    /// Version it ran under.
    pub protocol: ProtocolVersion,
    /// Statement ids checked.
    pub statements: Vec<String>,
    /// MUST / SHOULD / MAY.
    pub level: Level,
    /// The verdict.
    pub verdict: Verdict,
    /// Why (failures, skips) or what the broker chose (notes).
    pub detail: String,
    /// Packets sent and received (failures and notes only).
    pub trace: Vec<TraceEntry>,
    /// Wall time of the case.
    #[serde(skip)]
    pub duration_ms: f64,
}

/// Counts per verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// Skipped.
    pub skip: usize,
    /// MAY notes.
    pub note: usize,
}

impl Summary {
    /// Counts `results`.
    pub fn of(results: &[CaseResult]) -> Summary {
        let mut s = Summary::default();
        for r in results {
            match r.verdict {
                Verdict::Pass => s.pass += 1,
                Verdict::Fail => s.fail += 1,
                Verdict::Skip => s.skip += 1,
                Verdict::Note => s.note += 1,
            }
        }
        s
    }
}

/// True when a MUST-level case failed (the run's exit status is then 1).
pub fn must_failed(results: &[CaseResult]) -> bool {
    results
        .iter()
        .any(|r| r.verdict == Verdict::Fail && r.level == Level::Must)
}
