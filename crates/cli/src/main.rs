//! `mqttkit`: the command-line front end of the MQTT toolkit.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod decode;
mod pcap;

/// MQTT toolkit: decode packets and check them against the MQTT 3.1, 3.1.1
/// and 5.0 specifications.
#[derive(Debug, Parser)]
#[command(name = "mqttkit", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode MQTT packets from hex or a binary file and report every rule they break.
    Decode(decode::Args),
    /// Decode MQTT from a pcap/pcapng capture and report every violation.
    Pcap(pcap::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Decode(args) => decode::run(args),
        Command::Pcap(args) => pcap::run(args),
    }
}
