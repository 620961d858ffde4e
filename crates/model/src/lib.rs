//! mqttkit-model: the MQTT protocol as a pure state machine.
//!
//! No sockets, no threads, no clock: inputs are events (a connection
//! opened, a packet received, a connection lost, time advanced to `now`),
//! outputs are packets to send, connections to close and the next
//! deadline. The same inputs always give the same outputs.
//!
//! - [`topic`]: topic names and filters, matching, shared subscriptions and
//!   the subscription tree used for fan-out.
//! - [`broker`]: the broker core (connections, sessions, QoS flows,
//!   routing, retained messages, wills, keep-alive, expiry), driven by
//!   events and time given by the caller.
//! - [`client`]: the client side of a session (identifiers, QoS flows,
//!   redelivery, the Server's limits, Keep Alive), also sans-IO.
//! - [`enhanced_auth`]: the 5.0 AUTH exchange behind a pluggable
//!   [`Authenticator`].

#![deny(unsafe_code)]

pub mod auth;
pub mod broker;
pub mod client;
pub mod config;
pub mod enhanced_auth;
pub mod fuzz_targets;
pub mod message;
pub mod session;
pub mod sim;
pub mod testkit;
pub mod topic;

pub use auth::{AllowAll, Authorizer, Credentials, Refusal};
pub use broker::persist;
pub use broker::{Broker, DropReason, Output, Stats};
pub use client::{Client, ClientConfig, ClientError, ClientEvent, CloseReason};
pub use config::{Config, ShareStrategy};
pub use enhanced_auth::{AuthExchange, AuthStart, AuthStep, Authenticator, Challenge};
pub use message::{Delivery, Message, MessageProperties};
pub use persist::{RestoreError, RestoreReport, StoreOp, StoredState, Table};

/// Identifies one client connection for its whole life (never reused).
pub type ConnId = u64;

/// Milliseconds since an epoch the caller chooses: the model's only clock.
pub type Millis = u64;
