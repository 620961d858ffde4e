//! `mqttkit broker`: the reference broker in the foreground.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args as ClapArgs;
use mqttkit_broker::model::{Broker, Config};
use mqttkit_broker::{tls_config_from_pem, Builder, Limits, Transport};

const AFTER_HELP: &str = "\
Examples:
  mqttkit broker                                   MQTT on 127.0.0.1:1883
  mqttkit broker --listen 0.0.0.0:1883 --ws 127.0.0.1:8083
  mqttkit broker --tls 127.0.0.1:8883 --cert cert.pem --key key.pem

Every protocol decision is made by the mqttkit model (the same code the
conformance runner uses as its oracle). Logs go to stderr; RUST_LOG
(e.g. RUST_LOG=debug) selects the level. Stops cleanly on Ctrl-C or SIGTERM.";

/// Arguments of `mqttkit broker`.
#[derive(Debug, ClapArgs)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// MQTT over TCP on this address (repeatable; default 127.0.0.1:1883 when no listener is given).
    #[arg(long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// MQTT over WebSocket on this address (repeatable).
    #[arg(long, value_name = "ADDR")]
    ws: Vec<SocketAddr>,
    /// MQTT over TLS on this address (repeatable; needs --cert and --key).
    #[arg(long, value_name = "ADDR", requires_all = ["cert", "key"])]
    tls: Vec<SocketAddr>,
    /// PEM certificate chain for --tls.
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// PEM private key for --tls.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Connections accepted at once.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_connections: usize,
    /// Largest packet accepted, in bytes.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    max_packet_size: u32,
    /// Messages kept per session while its client is away or slow.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    max_queued: usize,
    /// Keep Alive imposed on MQTT 5.0 clients (seconds).
    #[arg(long, value_name = "SECONDS")]
    server_keep_alive: Option<u16>,
    /// Keep sessions, their messages and retained messages in this directory across restarts.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(serve(args))
}

async fn serve(args: Args) -> ExitCode {
    let mut builder = Builder::default().limits(Limits {
        max_connections: args.max_connections,
        ..Limits::default()
    });
    if let Some(dir) = &args.data_dir {
        builder = builder.data_dir(dir);
    }
    let mut tcp = args.listen.clone();
    if tcp.is_empty() && args.ws.is_empty() && args.tls.is_empty() {
        tcp.push(SocketAddr::from(([127, 0, 0, 1], 1883)));
    }
    for a in tcp {
        builder = builder.listen_tcp(a);
    }
    for a in &args.ws {
        builder = builder.listen_ws(*a);
    }
    if !args.tls.is_empty() {
        let (Some(cert), Some(key)) = (&args.cert, &args.key) else {
            eprintln!("error: --tls needs --cert and --key");
            return ExitCode::from(2);
        };
        let config = match tls_config_from_pem(cert, key) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        for a in &args.tls {
            builder = builder.listen_tls(*a, config.clone());
        }
    }
    let config = Config {
        maximum_packet_size: args.max_packet_size,
        max_queued_messages: args.max_queued,
        server_keep_alive: args.server_keep_alive,
        ..Config::default()
    };
    let running = match builder.start(Broker::new(config)).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for b in running.listeners() {
        let scheme = match b.transport {
            Transport::Tcp => "mqtt",
            Transport::WebSocket => "ws",
            Transport::Tls(_) => "mqtts",
        };
        println!("mqttkit broker listening on {scheme}://{}", b.addr);
    }
    wait_for_signal().await;
    eprintln!("shutting down");
    running.shutdown().await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
