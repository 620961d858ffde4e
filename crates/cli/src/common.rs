//! Pieces the subcommands share.

use std::process::ExitCode;

use clap::ValueEnum;
use mqttkit_codec::ProtocolVersion;

/// Exit status for usage errors and brokers that cannot be reached.
const USAGE: u8 = 2;

/// `--protocol` of `check` and `fuzz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocols {
    /// MQTT 3.1.1.
    #[value(name = "3.1.1")]
    V311,
    /// MQTT 5.0.
    #[value(name = "5")]
    V5,
    /// Both.
    All,
}

impl Protocols {
    /// The versions selected.
    pub fn versions(self) -> Vec<ProtocolVersion> {
        match self {
            Protocols::V311 => vec![ProtocolVersion::V3_1_1],
            Protocols::V5 => vec![ProtocolVersion::V5],
            Protocols::All => vec![ProtocolVersion::V3_1_1, ProtocolVersion::V5],
        }
    }
}

/// A multi-threaded tokio runtime, or the exit status after saying why
/// there is none (`command` names the subcommand in the message).
pub fn runtime(command: &str) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("mqttkit {command}: cannot start the runtime: {e}");
            ExitCode::from(USAGE)
        })
}

/// The embedded reference broker with the default configuration on a free
/// loopback port, or the exit status after saying why it could not start.
pub fn start_embedded(
    rt: &tokio::runtime::Runtime,
    command: &str,
) -> Result<mqttkit_broker::Running, ExitCode> {
    use mqttkit_broker::model::{Broker, Config};
    rt.block_on(mqttkit_broker::Builder::default().start(Broker::new(Config::default())))
        .map_err(|e| {
            eprintln!("mqttkit {command}: cannot start the embedded broker: {e}");
            ExitCode::from(USAGE)
        })
}
