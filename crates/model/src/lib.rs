//! mqttkit-model: the MQTT protocol as a pure state machine.
//!
//! No sockets, no threads, no clock: inputs are events (a connection
//! opened, a packet received, a connection lost, time advanced to `now`),
//! outputs are packets to send, connections to close and the next
//! deadline. The same inputs always give the same outputs.
//!
//! - [`topic`]: topic names and filters, matching, shared subscriptions and
//!   the subscription tree used for fan-out.

#![deny(unsafe_code)]

pub mod fuzz_targets;
pub mod topic;
