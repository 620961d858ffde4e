//! mqttkit-broker: the reference MQTT broker.
//!
//! The broker is a protocol core (a sans-IO state machine, [`Core`]) with
//! sockets and a clock around it, and nothing else: every protocol
//! decision stays in the core. This crate owns the I/O: listeners,
//! per-connection reader and writer tasks, the core task, timers, limits
//! that protect the process (connections, bytes queued for slow readers),
//! and graceful shutdown.
//!
//! [`Broker::builder`] starts the reference broker (the model, with
//! [`security`] for passwords and ACL); [`Builder`] runs any other core:
//!
//! ```no_run
//! # async fn demo(core: impl mqttkit_broker::Core) -> std::io::Result<()> {
//! let broker = mqttkit_broker::Builder::default()
//!     .listen_tcp("127.0.0.1:0".parse().unwrap())
//!     .start(core)
//!     .await?;
//! println!("listening on {}", broker.tcp_addr());
//! broker.shutdown().await;
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]

mod core;
pub mod fuzz_targets;
mod park;
mod reference;
pub mod security;
mod server;
pub mod settings;
mod store;
mod tls;
mod ws;

pub use crate::core::{ConnId, Core, Millis, Output};
pub use crate::server::{Bound, Builder, Limits, Running, Transport};
pub use crate::settings::{Broker, BrokerBuilder, FileConfig, Settings};
pub use crate::store::{Store, FILE_NAME as STORE_FILE_NAME};
pub use crate::tls::{tls_config, tls_config_from_pem};
pub use mqttkit_model as model;
pub use tokio_rustls::rustls;
