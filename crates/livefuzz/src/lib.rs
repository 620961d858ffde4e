//! # mqttkit-livefuzz
//!
//! Fuzzes a running MQTT broker over loopback TCP. Each case opens a
//! session, sends a structure-aware mutation of a valid conversation (a
//! field broken on purpose, a bad Remaining Length, a cut packet, packets
//! in a forbidden order, a rate-bounded flood), and then:
//!
//! 1. judges the broker's reaction: the codec's strict decoder, run on the
//!    mutated bytes with the connection's version as a client's packet,
//!    says which statement they break, and [`judge::expect`] turns that
//!    into what the specification allows (close, optionally after a
//!    DISCONNECT or refusing CONNACK; or normal processing for valid
//!    input);
//! 2. probes the broker with a well-behaved client (connect, subscribe,
//!    publish QoS 1 to itself and receive it, within a deadline).
//!
//! Disagreements are shrunk and saved as TOML scripts ([`script::Script`])
//! that [`run::replay`] runs again. Everything is seeded ([`rng::Rng`]):
//! the same seed gives the same cases.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod exec;
pub mod gen;
pub mod judge;
pub mod rng;
pub mod run;
pub mod script;

pub use exec::Timing;
pub use gen::{Class, Conversation};
pub use run::{check_target, fuzz, replay, Finding, Options, Replay, Summary};
pub use script::Script;
