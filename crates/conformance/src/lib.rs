//! # mqttkit-conformance
//!
//! Judges an MQTT broker over the wire, statement by statement. Each case
//! is data (`cases/*.toml`, compiled in): the statement ids it checks under
//! 3.1.1 and 5.0, a level (MUST/SHOULD/MAY) and a script of steps (connect,
//! send a packet or raw bytes, expect a packet matching a partial pattern
//! within a deadline, expect silence, expect the connection to close, ...).
//! [`runner::run`] runs the cases concurrently, each with its own client ids
//! and topic prefix, and every wait has a deadline, so a broker that hangs
//! fails cases rather than the run. [`report`] renders the results.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod case;
pub mod pattern;
pub mod report;
pub mod result;
pub mod runner;
pub mod transport;
pub mod wire;

pub use case::{builtin_cases, Case, Level, Step};
pub use report::Report;
pub use result::{must_failed, CaseResult, Summary, Verdict};
pub use runner::{run, Config, Credentials};
pub use transport::{tls_client_config, Tls, Transport};
