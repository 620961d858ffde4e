//! `mqttkit broker`: the reference broker in the foreground, and
//! `mqttkit broker passwd` to manage its password file.

use std::io::{BufRead, IsTerminal, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args as ClapArgs, Subcommand};
use mqttkit_broker::security::{hash_password, PasswordFile};
use mqttkit_broker::{tls_config_from_pem, FileConfig, Settings, Transport};

const AFTER_HELP: &str = "\
Examples:
  mqttkit broker                                   MQTT on 127.0.0.1:1883
  mqttkit broker --listen 0.0.0.0:1883 --ws 127.0.0.1:8083 --password-file passwd
  mqttkit broker --tls 127.0.0.1:8883 --cert cert.pem --key key.pem
  mqttkit broker --config broker.toml --sys-interval 0
  mqttkit broker passwd passwd alice               add or change a user

Security: clients without a user name may connect when every listener is on
a loopback address, and are refused otherwise (--allow-anonymous true|false
decides explicitly; the log says which applies). With --password-file, a
client that sends a user name must give its password. With --acl-file, a
client may only publish, subscribe and receive what a rule allows (see
ARCHITECTURE.md for the file formats).

Settings come from the defaults, then --config FILE (TOML; unknown keys are
errors), then the flags given. $SYS/broker/... statistics are published as
retained messages every --sys-interval seconds (10; 0 turns them off).

Every protocol decision is made by the mqttkit model (the same code the
conformance runner uses as its oracle). Logs go to stderr; RUST_LOG
(e.g. RUST_LOG=debug) selects the level. Stops cleanly on Ctrl-C or SIGTERM.";

/// Arguments of `mqttkit broker`.
#[derive(Debug, ClapArgs)]
#[command(after_help = AFTER_HELP, args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<BrokerCommand>,
    /// Settings file (TOML); flags given on the command line override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// MQTT over TCP on this address (repeatable; default 127.0.0.1:1883 when no listener is given).
    #[arg(long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// MQTT over WebSocket on this address (repeatable).
    #[arg(long, value_name = "ADDR")]
    ws: Vec<SocketAddr>,
    /// MQTT over TLS on this address (repeatable; needs --cert and --key, here or in --config).
    #[arg(long, value_name = "ADDR")]
    tls: Vec<SocketAddr>,
    /// PEM certificate chain for --tls.
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// PEM private key for --tls.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Let clients without a user name connect [default: true when every listener is loopback, else false].
    #[arg(long, value_name = "BOOL")]
    allow_anonymous: Option<bool>,
    /// Password file of `user:argon2-hash` lines (write it with `mqttkit broker passwd`).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// ACL file (user/client/topic/pattern rules); without one, every client may do everything.
    #[arg(long, value_name = "FILE")]
    acl_file: Option<PathBuf>,
    /// Seconds between $SYS/broker/... updates; 0 turns them off [default: 10].
    #[arg(long, value_name = "SECONDS")]
    sys_interval: Option<u64>,
    /// Keep sessions, their messages and retained messages in this directory across restarts.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Connections accepted at once [default: 10000].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Largest packet accepted, in bytes [default: 1048576].
    #[arg(long, value_name = "BYTES")]
    max_packet_size: Option<u32>,
    /// Messages kept per session while its client is away or slow [default: 1000].
    #[arg(long, value_name = "N")]
    max_queued: Option<usize>,
    /// Unacknowledged QoS 1/2 messages sent to one client [default: 1024].
    #[arg(long, value_name = "N")]
    max_inflight: Option<u16>,
    /// Unacknowledged QoS 2 messages a client may send (5.0 Receive Maximum) [default: 1024].
    #[arg(long, value_name = "N")]
    receive_maximum: Option<u16>,
    /// Bytes waiting for a client that does not read before it is dropped [default: 16777216].
    #[arg(long, value_name = "BYTES")]
    max_queued_bytes: Option<usize>,
    /// Seconds a new connection has to send CONNECT [default: 10].
    #[arg(long, value_name = "SECONDS")]
    connect_timeout: Option<u64>,
    /// Keep Alive imposed on MQTT 5.0 clients (seconds).
    #[arg(long, value_name = "SECONDS")]
    server_keep_alive: Option<u16>,
    /// Seconds without traffic before a TCP connection is handed to the parker thread, which holds idle connections cheaply; 0 = never [default: 2].
    #[arg(long, value_name = "SECONDS")]
    park_after: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum BrokerCommand {
    /// Add a user to a password file or change its password (or remove it with --delete).
    Passwd(PasswdArgs),
}

/// Arguments of `mqttkit broker passwd`.
#[derive(Debug, ClapArgs)]
#[command(after_help = "\
The password is read from --password, else from the terminal without echo,
else as one line from standard input. The file is created when missing and
rewritten atomically with owner-only permissions; each line is
`user:$argon2id$...` (a salted Argon2id hash).")]
struct PasswdArgs {
    /// The password file.
    file: PathBuf,
    /// The user name.
    user: String,
    /// The password (visible to other local users in the process list: prefer stdin).
    #[arg(long, value_name = "P", conflicts_with = "delete")]
    password: Option<String>,
    /// Remove the user instead.
    #[arg(long)]
    delete: bool,
}

pub fn run(args: Args) -> ExitCode {
    if let Some(BrokerCommand::Passwd(p)) = args.command {
        return passwd(p);
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let settings = match settings(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match crate::common::runtime("broker") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(serve(settings))
}

/// Defaults, then the file, then the flags.
fn settings(args: &Args) -> Result<Settings, String> {
    let mut s = Settings::default();
    if let Some(path) = &args.config {
        s.apply(FileConfig::load(path)?);
    }
    let set = |v: &Vec<SocketAddr>, into: &mut Vec<SocketAddr>| {
        if !v.is_empty() {
            *into = v.clone();
        }
    };
    set(&args.listen, &mut s.listen);
    set(&args.ws, &mut s.ws);
    set(&args.tls, &mut s.tls);
    s.cert = args.cert.clone().or(s.cert);
    s.key = args.key.clone().or(s.key);
    if args.allow_anonymous.is_some() {
        s.security.allow_anonymous = args.allow_anonymous;
    }
    s.security.password_file = args.password_file.clone().or(s.security.password_file);
    s.security.acl_file = args.acl_file.clone().or(s.security.acl_file);
    if let Some(v) = args.sys_interval {
        s.sys_interval = v;
    }
    s.data_dir = args.data_dir.clone().or(s.data_dir.take());
    if let Some(v) = args.max_connections {
        s.limits.max_connections = v;
    }
    if let Some(v) = args.max_queued_bytes {
        s.limits.max_queued_bytes = v;
    }
    if let Some(v) = args.max_packet_size {
        s.model.maximum_packet_size = v;
    }
    if let Some(v) = args.max_queued {
        s.model.max_queued_messages = v;
    }
    if let Some(v) = args.max_inflight {
        s.model.max_inflight = v;
    }
    if let Some(v) = args.receive_maximum {
        s.model.receive_maximum = v;
    }
    if let Some(v) = args.connect_timeout {
        s.model.connect_timeout_ms = v.saturating_mul(1000);
    }
    if args.server_keep_alive.is_some() {
        s.model.server_keep_alive = args.server_keep_alive;
    }
    if let Some(v) = args.park_after {
        s.set_park_after(v);
    }
    s.validate()?;
    if !s.tls.is_empty() && (s.cert.is_none() || s.key.is_none()) {
        return Err("TLS listeners need --cert and --key (or cert and key in --config)".into());
    }
    Ok(s)
}

async fn serve(settings: Settings) -> ExitCode {
    let tls = match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) if !settings.tls.is_empty() => {
            match tls_config_from_pem(cert, key) {
                Ok(c) => Some(c),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => None,
    };
    let started = match settings.builder(tls) {
        Ok(b) => b.start().await,
        Err(e) => Err(e),
    };
    let running = match started {
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

fn passwd(args: PasswdArgs) -> ExitCode {
    match passwd_inner(&args) {
        Ok(msg) => {
            eprintln!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn passwd_inner(args: &PasswdArgs) -> Result<String, String> {
    let mut file = if args.file.exists() {
        PasswordFile::load(&args.file).map_err(|e| e.to_string())?
    } else if args.delete {
        return Err(format!("{}: no such file", args.file.display()));
    } else {
        PasswordFile::default()
    };
    let path = args.file.display();
    if args.delete {
        if !file.remove(&args.user) {
            return Err(format!("{path}: no user {}", args.user));
        }
        save(&file, &args.file)?;
        return Ok(format!("{path}: removed user {}", args.user));
    }
    let password = match &args.password {
        Some(p) => p.clone(),
        None => read_password()?,
    };
    if password.is_empty() {
        return Err("empty password".into());
    }
    let existed = file.contains(&args.user);
    let hash = hash_password(password.as_bytes())?;
    file.set(&args.user, hash)
        .map_err(|e| format!("{path}: {e}"))?;
    save(&file, &args.file)?;
    Ok(format!(
        "{path}: {} user {}",
        if existed { "updated" } else { "added" },
        args.user
    ))
}

fn save(file: &PasswordFile, path: &Path) -> Result<(), String> {
    file.save(path)
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

/// From the terminal without echo, or one line from a pipe.
fn read_password() -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password("Password: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        let again = rpassword::prompt_password("Again: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        if p != again {
            return Err("the passwords differ".into());
        }
        return Ok(p);
    }
    let mut line = String::new();
    // One line, at most 4 KiB: a password, not a file.
    std::io::stdin()
        .lock()
        .take(4096)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
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
