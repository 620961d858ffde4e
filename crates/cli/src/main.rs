//! `mqttkit`: the command-line front end of the MQTT toolkit.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod broker;
mod check;
mod common;
mod decode;
mod fuzz;
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
    /// Run the reference MQTT broker (TCP, WebSocket, TLS) in the foreground.
    Broker(Box<broker::Args>),
    /// Check a broker against the MQTT 3.1.1 and 5.0 statements, case by case.
    Check(check::Args),
    /// Decode MQTT from a pcap/pcapng capture and report every violation.
    Pcap(pcap::Args),
    /// Load a broker (or the embedded one): throughput, latency, memory per idle connection.
    Bench(bench::Args),
    /// Fuzz a live broker with mutated conversations, or replay a finding.
    Fuzz(fuzz::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Decode(args) => decode::run(args),
        Command::Broker(args) => broker::run(*args),
        Command::Check(args) => check::run(args),
        Command::Pcap(args) => pcap::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Fuzz(args) => fuzz::run(args),
    }
}
