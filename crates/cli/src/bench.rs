//! `mqttkit bench`: a load generator for MQTT brokers.
//!
//! Publishers put a 20-byte header in every payload (publisher index,
//! sequence number, send time in nanoseconds since the run began), so the
//! subscribers can count each message once, spot duplicates and measure the
//! latency from send to delivery without any clock shared with the broker.
//!
//! Every run is bounded: each publisher stops after `--messages` or
//! `--duration`, whichever comes first; subscribers wait at most
//! [`DRAIN`] for the rest; every connection attempt has a deadline; the
//! whole run sits under an overall deadline, and a watchdog thread ends the
//! process if even that cannot fire (a runtime wedged by a broker that
//! stopped answering).
//!
//! Publishers run closed-loop: a publisher does not get more than
//! `--window` messages ahead of what the subscribers have received (and
//! QoS 1/2 publishers keep at most `--inflight` unacknowledged messages,
//! or fewer when a 5.0 broker announces a smaller Receive Maximum). The
//! numbers measure what a broker sustains, not how much it can buffer.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use clap::{Parser, ValueEnum};
use mqttkit_codec::{
    Connect, ConnectReasonCode, Packet, ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish,
    QoS, Role, StreamDecoder, Subscribe, SubscribeReasonCode, Subscription,
};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify, Semaphore};

/// Exit status: the run completed and the broker kept its QoS promises.
const OK: u8 = 0;
/// Exit status: the broker lost QoS 1/2 messages or duplicated QoS 2 ones.
const BROKEN: u8 = 1;
/// Exit status: usage error, refused target, or the broker cannot be used.
const USAGE: u8 = 2;

/// Bytes of the header every payload starts with.
const HEADER: usize = 20;
/// How long subscribers wait for the last messages once publishing ended.
const DRAIN: Duration = Duration::from_secs(5);
/// Deadline of one connection attempt (TCP, CONNECT, CONNACK, SUBACK).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A publisher that sees no progress at the subscribers for this long
/// stops: the broker dropped messages (QoS 0) or stopped delivering.
const STALL: Duration = Duration::from_secs(2);
/// Connections opened at once by `idle`.
const IDLE_PARALLEL: usize = 64;
/// Largest packet accepted from the broker.
const MAX_PACKET: usize = 1 << 20;
/// Upper bound of publishers x messages x subscribers (the duplicate
/// detector keeps one bit per expected delivery).
const MAX_DELIVERIES: u64 = 400_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Scenario {
    /// N publishers -> M subscribers at QoS 0 (default 1 -> 1).
    Qos0,
    /// N publishers -> M subscribers at QoS 1 (default 1 -> 1).
    Qos1,
    /// N publishers -> M subscribers at QoS 2 (default 1 -> 1).
    Qos2,
    /// 1 publisher -> 10 subscribers at QoS 0 unless told otherwise.
    Fanout,
    /// C idle connections: resident memory of the broker per connection
    /// (after --warmup connections that are not counted).
    Idle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Protocol {
    /// MQTT 3.1.1.
    #[value(name = "3.1.1")]
    V311,
    /// MQTT 5.0.
    #[value(name = "5")]
    V5,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Lines for people.
    Text,
    /// One JSON object.
    Json,
}

/// Arguments of `mqttkit bench`.
#[derive(Debug, Parser)]
#[command(after_long_help = "\
Exit status:
  0  the run completed (QoS 0 losses are reported, not failed)
  1  the broker lost QoS 1/2 messages or duplicated QoS 2 messages
  2  usage error, refused target, or the broker could not be used

Idle memory:
  --scenario idle opens --warmup connections (default 50) and holds them,
  reads the broker's resident memory (VmRSS of --pid), opens the C
  connections, holds everything for --duration seconds and reads it again:
  (after - before) / C. The warm-up keeps what a broker spends once on its
  first clients (code pages mapped, allocator arenas) out of the figure;
  it is the same for every broker measured. --warmup 0 measures without.

Examples:
  mqttkit bench --scenario qos1                      the embedded reference broker
  mqttkit bench mqtt://127.0.0.1:1883 --scenario fanout --messages 100000 --duration 5
  mqttkit bench mqtt://127.0.0.1:1883 --scenario idle --connections 1000 --pid 4242")]
pub struct Args {
    /// The broker: mqtt://HOST[:PORT] (port 1883 by default; plain TCP).
    /// Without a URL mqttkit starts its own reference broker on a loopback
    /// port and measures that.
    url: Option<String>,
    /// What to measure.
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Publishing clients (default 1).
    #[arg(long, value_name = "N")]
    publishers: Option<u32>,
    /// Subscribing clients (default 1; 10 for fanout).
    #[arg(long, value_name = "M")]
    subscribers: Option<u32>,
    /// Messages each publisher sends at most.
    #[arg(long, value_name = "K", default_value_t = 10_000)]
    messages: u64,
    /// Payload size in bytes (at least 20, the header).
    #[arg(long, value_name = "B", default_value_t = 64)]
    size: usize,
    /// Seconds of publishing at most (idle: seconds the connections are held).
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    duration: f64,
    /// Idle connections to open (idle scenario).
    #[arg(long, value_name = "C", default_value_t = 1000)]
    connections: u32,
    /// Idle scenario: connections opened (and held) before the first
    /// memory reading and not counted, so that what every broker spends
    /// once on its first clients (code pages mapped, allocator arenas)
    /// is not charged to each of the C connections.
    #[arg(long, value_name = "W", default_value_t = 50)]
    warmup: u32,
    /// QoS of the fanout scenario.
    #[arg(long, value_name = "0|1|2", default_value_t = 0)]
    qos: u8,
    /// Unacknowledged QoS 1/2 messages per publisher.
    #[arg(long, value_name = "N", default_value_t = 64)]
    inflight: u16,
    /// Messages a publisher may be ahead of the subscribers.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    window: u64,
    /// Protocol version of every client.
    #[arg(long, value_enum, default_value = "3.1.1")]
    protocol: Protocol,
    /// Process id of the broker, to read its resident memory (idle).
    #[arg(long, value_name = "PID")]
    pid: Option<u32>,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Allow a target that is not a loopback address.
    #[arg(long)]
    allow_remote: bool,
}

/// A checked plan of one run.
#[derive(Debug, Clone)]
struct Plan {
    scenario: Scenario,
    qos: QoS,
    publishers: u32,
    subscribers: u32,
    messages: u64,
    size: usize,
    duration: Duration,
    connections: u32,
    warmup: u32,
    inflight: u16,
    window: u64,
    version: ProtocolVersion,
    topic: String,
    client_prefix: String,
}

fn plan(args: &Args) -> Result<Plan, String> {
    let (qos, pubs, subs) = match args.scenario {
        Scenario::Qos0 => (0, 1, 1),
        Scenario::Qos1 => (1, 1, 1),
        Scenario::Qos2 => (2, 1, 1),
        Scenario::Fanout => (args.qos, 1, 10),
        Scenario::Idle => (0, 0, 0),
    };
    let qos = match qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        q => return Err(format!("--qos {q}: expected 0, 1 or 2")),
    };
    let publishers = args.publishers.unwrap_or(pubs);
    let subscribers = args.subscribers.unwrap_or(subs);
    if args.scenario != Scenario::Idle {
        if !(1..=1000).contains(&publishers) {
            return Err("--publishers must be 1 to 1000".into());
        }
        if !(1..=1000).contains(&subscribers) {
            return Err("--subscribers must be 1 to 1000".into());
        }
        if args.messages == 0 || args.messages > 100_000_000 {
            return Err("--messages must be 1 to 100000000".into());
        }
        let deliveries = u64::from(publishers) * args.messages * u64::from(subscribers);
        if deliveries > MAX_DELIVERIES {
            return Err(format!(
                "publishers x messages x subscribers = {deliveries} is above the limit of {MAX_DELIVERIES}"
            ));
        }
    }
    if !(HEADER..=256 * 1024).contains(&args.size) {
        return Err(format!("--size must be {HEADER} to 262144 bytes"));
    }
    if !(args.duration > 0.0 && args.duration <= 3600.0) {
        return Err("--duration must be more than 0 and at most 3600 seconds".into());
    }
    if args.scenario == Scenario::Idle && !(1..=1_000_000).contains(&args.connections) {
        return Err("--connections must be 1 to 1000000".into());
    }
    if args.warmup > 10_000 {
        return Err("--warmup must be 0 to 10000".into());
    }
    if args.inflight == 0 {
        return Err("--inflight must be at least 1".into());
    }
    if args.window == 0 {
        return Err("--window must be at least 1".into());
    }
    let run = std::process::id();
    let name = format!("{:?}", args.scenario).to_lowercase();
    Ok(Plan {
        scenario: args.scenario,
        qos,
        publishers,
        subscribers,
        messages: args.messages,
        size: args.size,
        duration: Duration::from_secs_f64(args.duration),
        connections: args.connections,
        warmup: args.warmup,
        inflight: args.inflight,
        window: args.window,
        version: match args.protocol {
            Protocol::V311 => ProtocolVersion::V3_1_1,
            Protocol::V5 => ProtocolVersion::V5,
        },
        topic: format!("mqttkit-bench/{run}/{name}"),
        client_prefix: format!("mqttkit-bench-{run}-"),
    })
}

/// `host` and port from mqtt://HOST[:PORT], and whether the target is
/// allowed. Only IP literals and `localhost` are checked without a
/// lookup; any other name needs `--allow-remote` (resolving it would
/// already be traffic to somewhere else).
fn target(url: &str, allow_remote: bool) -> Result<(String, u16), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not a URL; expected mqtt://HOST:PORT"))?;
    if !matches!(scheme, "mqtt" | "tcp") {
        return Err(format!(
            "{scheme}:// is not supported by bench; expected mqtt://HOST[:PORT]"
        ));
    }
    let host_port = rest.split('/').next().unwrap_or("");
    let (host, port) = if let Some(r) = host_port.strip_prefix('[') {
        let (h, after) = r
            .split_once(']')
            .ok_or_else(|| format!("{url:?}: unclosed '['"))?;
        match after.strip_prefix(':') {
            Some(p) => (h.to_string(), Some(p)),
            None if after.is_empty() => (h.to_string(), None),
            None => return Err(format!("{url:?}: unexpected text after ']'")),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (host_port.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(format!("{url:?} names no host"));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("{url:?}: bad port {p:?}"))?,
        None => 1883,
    };
    if !allow_remote {
        let loopback = match host.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => host.eq_ignore_ascii_case("localhost"),
        };
        if !loopback {
            return Err(format!(
                "refusing to load {host}: not a loopback address (give --allow-remote to bench a remote broker you are allowed to load)"
            ));
        }
    }
    Ok((host, port))
}

/// Runs `mqttkit bench`.
pub fn run(args: Args) -> ExitCode {
    let plan = match plan(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mqttkit bench: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let remote = match &args.url {
        Some(u) => match target(u, args.allow_remote) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("mqttkit bench: {e}");
                return ExitCode::from(USAGE);
            }
        },
        None => None,
    };
    let fd = raise_fd_limit();
    if plan.scenario == Scenario::Idle {
        // Each connection is one descriptor here, and one more in this
        // process when the broker is the embedded one.
        let per = if remote.is_none() { 2 } else { 1 };
        let need = (u64::from(plan.connections) + u64::from(plan.warmup)) * per + 64;
        if fd.soft < need {
            eprintln!(
                "mqttkit bench: {} connections need about {need} file descriptors; RLIMIT_NOFILE allows {} (hard limit {}). Lower --connections or raise the limit (ulimit -n).",
                plan.connections, fd.soft, fd.hard
            );
            return ExitCode::from(USAGE);
        }
    }
    let rt = match crate::common::runtime("bench") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    // The overall deadline, and a watchdog in case the runtime cannot
    // honour it.
    let hard = plan.duration + DRAIN + CONNECT_TIMEOUT * 2 + Duration::from_secs(5);
    std::thread::spawn(move || {
        std::thread::sleep(hard + Duration::from_secs(10));
        eprintln!("mqttkit bench: watchdog: the run exceeded its time limit; exiting");
        std::process::exit(i32::from(USAGE));
    });
    let (addr, label, embedded) = match remote {
        Some((host, port)) => {
            let addrs: Vec<SocketAddr> = match rt.block_on(tokio::net::lookup_host((host, port))) {
                Ok(a) => a.collect(),
                Err(e) => {
                    eprintln!("mqttkit bench: cannot resolve the broker address: {e}");
                    return ExitCode::from(USAGE);
                }
            };
            let Some(addr) = addrs.first().copied() else {
                eprintln!("mqttkit bench: the broker address resolves to nothing");
                return ExitCode::from(USAGE);
            };
            if !args.allow_remote && !addr.ip().is_loopback() {
                eprintln!("mqttkit bench: refusing {addr}: not a loopback address");
                return ExitCode::from(USAGE);
            }
            (addr, format!("mqtt://{addr}"), None)
        }
        None => match crate::common::start_embedded(&rt, "bench") {
            Ok(b) => {
                let addr = b.tcp_addr();
                (
                    addr,
                    format!("embedded mqttkit broker (mqtt://{addr})"),
                    Some(b),
                )
            }
            Err(code) => return code,
        },
    };
    let rss_pid = match (args.pid, &embedded) {
        (Some(p), _) => Some(RssSource::Pid(p)),
        (None, Some(_)) => Some(RssSource::Own),
        (None, None) => None,
    };
    let outcome = rt.block_on(async {
        match tokio::time::timeout(hard, measure(&plan, addr, rss_pid)).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "the run exceeded its overall limit of {:.0} s",
                hard.as_secs_f64()
            )),
        }
    });
    if let Some(b) = embedded {
        rt.block_on(async {
            let _ = tokio::time::timeout(Duration::from_secs(5), b.shutdown()).await;
        });
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    let mut report = match outcome {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mqttkit bench: {e}");
            return ExitCode::from(USAGE);
        }
    };
    report.broker = label;
    report.fd_limit = fd.soft;
    match args.format {
        Format::Json => match serde_json::to_string(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("mqttkit bench: cannot write JSON: {e}");
                return ExitCode::from(USAGE);
            }
        },
        Format::Text => print!("{}", text(&report)),
    }
    let broken = report.traffic.as_ref().is_some_and(|t| {
        (t.qos >= 1 && t.lost > 0) || (t.qos == 2 && t.duplicates > 0) || t.unexpected > 0
    });
    ExitCode::from(if broken { BROKEN } else { OK })
}

/// The descriptor limit after trying to raise it.
#[derive(Debug, Clone, Copy)]
struct FdLimit {
    soft: u64,
    hard: u64,
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (a process may always
/// do that; it changes nothing for other processes).
fn raise_fd_limit() -> FdLimit {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let lim = getrlimit(Resource::Nofile);
    let soft = lim.current.unwrap_or(u64::MAX);
    let hard = lim.maximum.unwrap_or(u64::MAX);
    if soft < hard {
        let mut raised = lim;
        // An unlimited hard limit is not a valid soft limit for files on
        // Linux; stay at a large finite number then.
        raised.current = Some(hard.min(1 << 20));
        if setrlimit(Resource::Nofile, raised).is_ok() {
            let now = getrlimit(Resource::Nofile);
            return FdLimit {
                soft: now.current.unwrap_or(u64::MAX),
                hard,
            };
        }
    }
    FdLimit { soft, hard }
}

#[derive(Debug, Clone, Copy)]
enum RssSource {
    Pid(u32),
    Own,
}

impl RssSource {
    fn path(self) -> String {
        match self {
            RssSource::Pid(p) => format!("/proc/{p}/status"),
            RssSource::Own => "/proc/self/status".into(),
        }
    }

    fn describe(self) -> String {
        match self {
            RssSource::Pid(p) => format!("pid {p}"),
            RssSource::Own => "this process (embedded broker and the bench clients)".into(),
        }
    }

    /// VmRSS in KiB.
    fn read(self) -> Result<u64, String> {
        let path = self.path();
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
        parse_vmrss(&text).ok_or_else(|| format!("{path} has no VmRSS line"))
    }
}

fn parse_vmrss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let n = words.next()?.parse::<u64>().ok()?;
    match words.next() {
        Some("kB") | None => Some(n),
        Some(_) => None,
    }
}

/// The report of one run.
#[derive(Debug, Serialize)]
struct Report {
    broker: String,
    scenario: Scenario,
    protocol: &'static str,
    fd_limit: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    traffic: Option<Traffic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    idle: Option<Idle>,
}

#[derive(Debug, Serialize)]
struct Traffic {
    qos: u8,
    publishers: u32,
    subscribers: u32,
    messages_per_publisher: u64,
    size: usize,
    /// Messages the publishers sent (acknowledged, for QoS 1/2).
    published: u64,
    /// Deliveries expected: published x subscribers.
    expected: u64,
    /// Distinct messages received, summed over subscribers.
    delivered: u64,
    lost: u64,
    duplicates: u64,
    /// Payloads that were not ours (wrong header).
    unexpected: u64,
    /// QoS 1/2 messages sent whose acknowledgement never came (not in
    /// `published`).
    unacknowledged: u64,
    /// The publishers stopped on --duration before --messages.
    stopped_by_duration: bool,
    /// A publisher stopped because the subscribers made no progress.
    stalled: bool,
    publish_seconds: f64,
    deliver_seconds: f64,
    published_per_s: f64,
    delivered_per_s: f64,
    latency_us: Latency,
}

#[derive(Debug, Serialize)]
struct Latency {
    p50: u64,
    p99: u64,
    max: u64,
}

#[derive(Debug, Serialize)]
struct Idle {
    requested: u32,
    /// Connections opened before the first reading, held, not counted.
    warmup: u32,
    connected: u32,
    failed: u32,
    held_seconds: f64,
    rss_source: Option<String>,
    rss_before_kib: Option<u64>,
    rss_after_kib: Option<u64>,
    bytes_per_connection: Option<f64>,
    kib_per_connection: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_error: Option<String>,
}

fn text(r: &Report) -> String {
    let name = serde_json::to_value(r.scenario)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut s = format!(
        "broker: {}\nscenario: {name} (MQTT {})\n",
        r.broker, r.protocol
    );
    if let Some(t) = &r.traffic {
        s += &format!(
            "clients: {} publisher(s) -> {} subscriber(s), QoS {}, {} B payload\n\
             published: {} msgs in {:.3} s = {:.0} msgs/s{}\n\
             delivered: {} of {} expected in {:.3} s = {:.0} msgs/s\n\
             lost: {}  duplicates: {}  unexpected: {}  unacknowledged: {}{}\n\
             latency: p50 {} us  p99 {} us  max {} us\n",
            t.publishers,
            t.subscribers,
            t.qos,
            t.size,
            t.published,
            t.publish_seconds,
            t.published_per_s,
            if t.stopped_by_duration {
                " (stopped by --duration)"
            } else {
                ""
            },
            t.delivered,
            t.expected,
            t.deliver_seconds,
            t.delivered_per_s,
            t.lost,
            t.duplicates,
            t.unexpected,
            t.unacknowledged,
            if t.stalled {
                "  (publishing stopped: no progress at the subscribers)"
            } else {
                ""
            },
            t.latency_us.p50,
            t.latency_us.p99,
            t.latency_us.max,
        );
    }
    if let Some(i) = &r.idle {
        s += &format!(
            "connections: {} of {} open ({} failed, after {} warm-up ones), held {:.1} s; descriptor limit {}\n",
            i.connected, i.requested, i.failed, i.warmup, i.held_seconds, r.fd_limit
        );
        match (&i.rss_source, i.rss_before_kib, i.rss_after_kib) {
            (Some(src), Some(b), Some(a)) => {
                s += &format!(
                    "resident memory of {src}: {b} KiB before, {a} KiB after = {:.0} bytes ({:.2} KiB) per connection\n",
                    i.bytes_per_connection.unwrap_or(0.0),
                    i.kib_per_connection.unwrap_or(0.0)
                );
            }
            _ => s += "resident memory: not measured (give --pid of a local broker)\n",
        }
        if let Some(e) = &i.first_error {
            s += &format!("first connection error: {e}\n");
        }
    }
    s
}

async fn measure(plan: &Plan, addr: SocketAddr, rss: Option<RssSource>) -> Result<Report, String> {
    let protocol = if plan.version == ProtocolVersion::V5 {
        "5"
    } else {
        "3.1.1"
    };
    let mut report = Report {
        broker: String::new(),
        scenario: plan.scenario,
        protocol,
        fd_limit: 0,
        traffic: None,
        idle: None,
    };
    if plan.scenario == Scenario::Idle {
        report.idle = Some(idle(plan, addr, rss).await?);
    } else {
        report.traffic = Some(traffic(plan, addr).await?);
    }
    Ok(report)
}

// ---------------------------------------------------------------------------
// One client connection.

struct Client {
    sock: TcpStream,
    dec: StreamDecoder,
    out: BytesMut,
    version: ProtocolVersion,
    /// The broker's Receive Maximum (5.0), or u16::MAX.
    receive_max: u16,
}

impl Client {
    async fn connect(
        addr: SocketAddr,
        client_id: &str,
        version: ProtocolVersion,
        keep_alive: u16,
    ) -> Result<Client, String> {
        let sock = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = sock.set_nodelay(true);
        let mut c = Client {
            sock,
            dec: StreamDecoder::with_version(version)
                .sent_by(Role::Server)
                .max_packet_size(MAX_PACKET),
            out: BytesMut::with_capacity(256),
            version,
            receive_max: u16::MAX,
        };
        let mut connect = Connect::new(version, client_id);
        connect.keep_alive = keep_alive;
        c.push(&Packet::Connect((&connect).into()))?;
        c.flush().await?;
        loop {
            match c.dec.next_packet() {
                Ok(Some(Packet::ConnAck(ack))) => {
                    if ack.reason_code != ConnectReasonCode::Success {
                        return Err(format!("CONNACK refused: {:?}", ack.reason_code));
                    }
                    if let Some(rm) = ack.properties.get().receive_maximum {
                        c.receive_max = rm;
                    }
                    return Ok(c);
                }
                Ok(Some(p)) => return Err(format!("expected CONNACK, got {:?}", p.packet_type())),
                Ok(None) => c.fill().await?,
                Err(e) => return Err(format!("bad packet from the broker: {e}")),
            }
        }
    }

    /// Encodes a packet into the output buffer.
    fn push(&mut self, p: &Packet<'_>) -> Result<(), String> {
        let n = p
            .encoded_len(self.version)
            .map_err(|e| format!("cannot encode {:?}: {e}", p.packet_type()))?;
        self.out.reserve(n);
        p.encode(self.version, &mut self.out)
            .map_err(|e| format!("cannot encode {:?}: {e}", p.packet_type()))?;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), String> {
        if !self.out.is_empty() {
            self.sock
                .write_all(&self.out)
                .await
                .map_err(|e| format!("write failed: {e}"))?;
            self.out.clear();
        }
        Ok(())
    }

    /// Reads more bytes (waits for them).
    async fn fill(&mut self) -> Result<(), String> {
        let buf = self.dec.buffer_mut();
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        match self.sock.read_buf(buf).await {
            Ok(0) => Err("the broker closed the connection".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("read failed: {e}")),
        }
    }

    /// Reads what is there without waiting; false when nothing was.
    fn try_fill(&mut self) -> Result<bool, String> {
        let buf = self.dec.buffer_mut();
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        match self.sock.try_read_buf(buf) {
            Ok(0) => Err("the broker closed the connection".into()),
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(format!("read failed: {e}")),
        }
    }
}

// ---------------------------------------------------------------------------
// Traffic scenarios.

/// State shared by the clients of one run.
struct Shared {
    base: Instant,
    /// Messages published (sent; for QoS 1/2 counted when acknowledged).
    published: AtomicU64,
    /// Distinct deliveries over all subscribers.
    delivered: AtomicU64,
    /// Nanoseconds since `base` of the last delivery.
    last_delivery: AtomicU64,
    /// Publishers still running.
    publishing: AtomicU64,
    /// Subscribers notify progress; publishers wait on it.
    progress: Notify,
    /// Set when every publisher is done: `published` is final.
    done: AtomicBool,
    stalled: AtomicBool,
}

struct SubResult {
    delivered: u64,
    duplicates: u64,
    unexpected: u64,
    hist: Histogram,
}

async fn traffic(plan: &Plan, addr: SocketAddr) -> Result<Traffic, String> {
    let shared = Arc::new(Shared {
        base: Instant::now(),
        published: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        last_delivery: AtomicU64::new(0),
        publishing: AtomicU64::new(u64::from(plan.publishers)),
        progress: Notify::new(),
        done: AtomicBool::new(false),
        stalled: AtomicBool::new(false),
    });
    let keep_alive = keep_alive_for(plan.duration + DRAIN);
    // Subscribers first, each subscribed before anything is published.
    let mut subs = Vec::new();
    for i in 0..plan.subscribers {
        let id = format!("{}s{i}", plan.client_prefix);
        let c = tokio::time::timeout(CONNECT_TIMEOUT, subscribe(addr, &id, plan, keep_alive))
            .await
            .map_err(|_| {
                format!("subscriber {i}: no CONNACK/SUBACK within {CONNECT_TIMEOUT:?}")
            })??;
        subs.push(c);
    }
    let mut pubs = Vec::new();
    for i in 0..plan.publishers {
        let id = format!("{}p{i}", plan.client_prefix);
        let c = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Client::connect(addr, &id, plan.version, keep_alive),
        )
        .await
        .map_err(|_| format!("publisher {i}: no CONNACK within {CONNECT_TIMEOUT:?}"))??;
        pubs.push(c);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sub_tasks = Vec::new();
    for c in subs {
        let shared = shared.clone();
        let plan = plan.clone();
        let stop = stop_rx.clone();
        sub_tasks.push(tokio::spawn(async move {
            run_subscriber(c, &plan, &shared, stop).await
        }));
    }
    let start = shared.base.elapsed();
    let mut pub_tasks = Vec::new();
    for (i, c) in pubs.into_iter().enumerate() {
        let shared = shared.clone();
        let plan = plan.clone();
        pub_tasks.push(tokio::spawn(async move {
            let r = run_publisher(c, i as u32, &plan, &shared).await;
            shared.publishing.fetch_sub(1, Ordering::SeqCst);
            r
        }));
    }
    let mut stopped_by_duration = false;
    let mut unacknowledged = 0;
    let mut first_error = None;
    for t in pub_tasks {
        match t.await {
            Ok(Ok((by_duration, unacked))) => {
                stopped_by_duration |= by_duration;
                unacknowledged += unacked;
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(format!("publisher task failed: {e}"));
            }
        }
    }
    let publish_end = shared.base.elapsed();
    shared.done.store(true, Ordering::SeqCst);
    shared.progress.notify_waiters();
    // Let the subscribers finish, up to the drain limit.
    let drain_until = tokio::time::Instant::now() + DRAIN;
    let expected = shared.published.load(Ordering::SeqCst) * u64::from(plan.subscribers);
    while shared.delivered.load(Ordering::SeqCst) < expected
        && tokio::time::Instant::now() < drain_until
    {
        let _ = tokio::time::timeout(Duration::from_millis(20), shared.progress.notified()).await;
    }
    let _ = stop_tx.send(true);
    let mut delivered = 0;
    let mut duplicates = 0;
    let mut unexpected = 0;
    let mut hist = Histogram::new();
    for t in sub_tasks {
        match t.await {
            Ok(Ok(r)) => {
                delivered += r.delivered;
                duplicates += r.duplicates;
                unexpected += r.unexpected;
                hist.merge(&r.hist);
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(format!("subscriber task failed: {e}"));
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let published = shared.published.load(Ordering::SeqCst);
    let last = Duration::from_nanos(shared.last_delivery.load(Ordering::SeqCst));
    let publish_seconds = publish_end.saturating_sub(start).as_secs_f64();
    let deliver_seconds = last.saturating_sub(start).as_secs_f64();
    let rate = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    Ok(Traffic {
        qos: plan.qos as u8,
        publishers: plan.publishers,
        subscribers: plan.subscribers,
        messages_per_publisher: plan.messages,
        size: plan.size,
        published,
        expected,
        delivered,
        lost: expected.saturating_sub(delivered),
        duplicates,
        unexpected,
        unacknowledged,
        stopped_by_duration,
        stalled: shared.stalled.load(Ordering::SeqCst),
        publish_seconds,
        deliver_seconds,
        published_per_s: rate(published, publish_seconds),
        delivered_per_s: rate(delivered, deliver_seconds),
        latency_us: Latency {
            p50: hist.quantile(0.50),
            p99: hist.quantile(0.99),
            max: hist.max,
        },
    })
}

/// A Keep Alive that outlasts a run of this length (seconds, at most
/// 65535), so no client needs to ping.
fn keep_alive_for(d: Duration) -> u16 {
    let s = d.as_secs().saturating_mul(2).saturating_add(60);
    u16::try_from(s).unwrap_or(u16::MAX)
}

async fn subscribe(
    addr: SocketAddr,
    id: &str,
    plan: &Plan,
    keep_alive: u16,
) -> Result<Client, String> {
    let mut c = Client::connect(addr, id, plan.version, keep_alive).await?;
    let filters = [Subscription::new(&plan.topic, plan.qos)];
    c.push(&Packet::Subscribe(Subscribe::new(1, &filters)))?;
    c.flush().await?;
    loop {
        match c.dec.next_packet() {
            Ok(Some(Packet::SubAck(ack))) => {
                let code = ack.reason_codes.iter().next();
                return match code {
                    Some(
                        SubscribeReasonCode::GrantedQoS0
                        | SubscribeReasonCode::GrantedQoS1
                        | SubscribeReasonCode::GrantedQoS2,
                    ) => Ok(c),
                    other => Err(format!("subscription refused: {other:?}")),
                };
            }
            Ok(Some(p)) => return Err(format!("expected SUBACK, got {:?}", p.packet_type())),
            Ok(None) => c.fill().await?,
            Err(e) => return Err(format!("bad packet from the broker: {e}")),
        }
    }
}

/// The payload header: publisher, sequence number, send time.
fn header(publisher: u32, seq: u64, sent_ns: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..4].copy_from_slice(&publisher.to_be_bytes());
    h[4..12].copy_from_slice(&seq.to_be_bytes());
    h[12..20].copy_from_slice(&sent_ns.to_be_bytes());
    h
}

fn read_header(payload: &[u8]) -> Option<(u32, u64, u64)> {
    let h = payload.get(..HEADER)?;
    let p = u32::from_be_bytes(h[..4].try_into().ok()?);
    let s = u64::from_be_bytes(h[4..12].try_into().ok()?);
    let t = u64::from_be_bytes(h[12..20].try_into().ok()?);
    Some((p, s, t))
}

/// Packet identifiers of one publisher's unacknowledged messages.
struct Ids {
    used: Vec<bool>,
    next: u16,
    count: usize,
}

impl Ids {
    fn new() -> Self {
        Ids {
            used: vec![false; 65536],
            next: 1,
            count: 0,
        }
    }

    fn take(&mut self) -> Option<u16> {
        if self.count >= 65535 {
            return None;
        }
        loop {
            let id = self.next;
            self.next = if self.next == u16::MAX {
                1
            } else {
                self.next + 1
            };
            if !self.used[usize::from(id)] {
                self.used[usize::from(id)] = true;
                self.count += 1;
                return Some(id);
            }
        }
    }

    /// Frees an id; false when it was not in use.
    fn free(&mut self, id: u16) -> bool {
        let slot = &mut self.used[usize::from(id)];
        if *slot {
            *slot = false;
            self.count -= 1;
            true
        } else {
            false
        }
    }
}

/// Publishes until `messages` or `duration`; returns whether the duration
/// ended it.
async fn run_publisher(
    mut c: Client,
    index: u32,
    plan: &Plan,
    shared: &Shared,
) -> Result<(bool, u64), String> {
    let qos = plan.qos;
    let inflight_max = usize::from(plan.inflight.min(c.receive_max).max(1));
    let subs = u64::from(plan.subscribers);
    let mut payload = vec![0u8; plan.size];
    let mut ids = Ids::new();
    let mut seq = 0u64;
    let end = tokio::time::Instant::now() + plan.duration;
    let mut by_duration = false;
    let mut last_progress = (shared.delivered.load(Ordering::Relaxed), Instant::now());
    // Sent and not yet acknowledged by PUBACK (QoS 1) or PUBCOMP (QoS 2).
    loop {
        // Acknowledgements that have arrived.
        if qos != QoS::AtMostOnce {
            while c.try_fill()? {}
            handle_acks(&mut c, &mut ids, shared)?;
        }
        let sending_done = seq >= plan.messages || by_duration;
        if sending_done {
            if ids.count == 0 {
                break;
            }
            c.flush().await?;
            // Wait for the remaining acknowledgements, up to the drain limit.
            match tokio::time::timeout_at(end + DRAIN, c.fill()).await {
                Ok(r) => r?,
                Err(_) => break,
            }
            continue;
        }
        if tokio::time::Instant::now() >= end {
            by_duration = true;
            continue;
        }
        // Send a batch while the window and the in-flight limit allow.
        let mut sent = 0;
        while seq < plan.messages && sent < 64 {
            if qos != QoS::AtMostOnce && ids.count >= inflight_max {
                break;
            }
            let ahead = (shared.published.load(Ordering::Relaxed) + ids.count as u64) * subs;
            let delivered = shared.delivered.load(Ordering::Relaxed);
            if ahead.saturating_sub(delivered) > plan.window * subs {
                break;
            }
            let now_ns = shared.base.elapsed().as_nanos() as u64;
            payload[..HEADER].copy_from_slice(&header(index, seq, now_ns));
            let mut p = Publish::new(&plan.topic, &payload);
            p.qos = qos;
            if qos != QoS::AtMostOnce {
                p.packet_id = ids.take();
            }
            c.push(&Packet::Publish(p))?;
            if qos == QoS::AtMostOnce {
                shared.published.fetch_add(1, Ordering::Relaxed);
            }
            seq += 1;
            sent += 1;
        }
        c.flush().await?;
        if sent == 0 {
            // Blocked by the window or the in-flight limit: wait for
            // progress (acknowledgements or deliveries).
            let delivered = shared.delivered.load(Ordering::Relaxed);
            if delivered != last_progress.0 {
                last_progress = (delivered, Instant::now());
            } else if last_progress.1.elapsed() > STALL {
                shared.stalled.store(true, Ordering::Relaxed);
                by_duration = true;
                continue;
            }
            let notified = shared.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wait = Duration::from_millis(5);
            if qos == QoS::AtMostOnce {
                let _ = tokio::time::timeout(wait, notified).await;
            } else {
                tokio::select! {
                    r = c.sock.readable() => r.map_err(|e| format!("read failed: {e}"))?,
                    _ = notified => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
    Ok((by_duration, ids.count as u64))
}

fn handle_acks(c: &mut Client, ids: &mut Ids, shared: &Shared) -> Result<(), String> {
    let mut rels = Vec::new();
    loop {
        match c.dec.next_packet() {
            Ok(Some(Packet::PubAck(a))) => {
                if ids.free(a.packet_id) {
                    shared.published.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(Some(Packet::PubRec(r))) => rels.push(r.packet_id),
            Ok(Some(Packet::PubComp(p))) => {
                if ids.free(p.packet_id) {
                    shared.published.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(Some(Packet::PingResp)) => {}
            Ok(Some(p)) => {
                return Err(format!("publisher got an unexpected {:?}", p.packet_type()))
            }
            Ok(None) => break,
            Err(e) => return Err(format!("bad packet from the broker: {e}")),
        }
    }
    for id in rels {
        c.push(&Packet::PubRel(PubRel::new(id)))?;
    }
    Ok(())
}

async fn run_subscriber(
    mut c: Client,
    plan: &Plan,
    shared: &Shared,
    mut stop: watch::Receiver<bool>,
) -> Result<SubResult, String> {
    let per_pub = plan.messages;
    let mut seen = BitSet::new(u64::from(plan.publishers) * per_pub);
    let mut r = SubResult {
        delivered: 0,
        duplicates: 0,
        unexpected: 0,
        hist: Histogram::new(),
    };
    loop {
        let before = r.delivered;
        loop {
            let p = match c.dec.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => return Err(format!("bad packet from the broker: {e}")),
            };
            let ack = match p {
                Packet::Publish(p) => {
                    let now_ns = shared.base.elapsed().as_nanos() as u64;
                    match read_header(p.payload) {
                        Some((pi, seq, sent)) if pi < plan.publishers && seq < per_pub => {
                            if seen.insert(u64::from(pi) * per_pub + seq) {
                                r.delivered += 1;
                                r.hist.record(now_ns.saturating_sub(sent) / 1000);
                            } else {
                                r.duplicates += 1;
                            }
                        }
                        _ => r.unexpected += 1,
                    }
                    match (p.qos, p.packet_id) {
                        (QoS::AtLeastOnce, Some(id)) => Some(Packet::PubAck(PubAck::new(id))),
                        (QoS::ExactlyOnce, Some(id)) => Some(Packet::PubRec(PubRec::new(id))),
                        _ => None,
                    }
                }
                Packet::PubRel(rel) => Some(Packet::PubComp(PubComp::new(rel.packet_id))),
                Packet::PingResp => None,
                other => {
                    return Err(format!(
                        "subscriber got an unexpected {:?}",
                        other.packet_type()
                    ))
                }
            };
            if let Some(a) = ack {
                // Encoding borrows nothing from the decoder's buffer here.
                let n = a.encoded_len(c.version).map_err(|e| e.to_string())?;
                c.out.reserve(n);
                a.encode(c.version, &mut c.out).map_err(|e| e.to_string())?;
            }
        }
        if r.delivered != before {
            let n = r.delivered - before;
            shared.delivered.fetch_add(n, Ordering::SeqCst);
            shared
                .last_delivery
                .fetch_max(shared.base.elapsed().as_nanos() as u64, Ordering::SeqCst);
            shared.progress.notify_waiters();
        }
        c.flush().await?;
        if shared.done.load(Ordering::SeqCst)
            && r.delivered >= shared.published.load(Ordering::SeqCst)
        {
            break;
        }
        tokio::select! {
            res = c.fill() => res?,
            _ = stop.changed() => break,
        }
    }
    Ok(r)
}

// ---------------------------------------------------------------------------
// Idle connections.

async fn idle(plan: &Plan, addr: SocketAddr, rss: Option<RssSource>) -> Result<Idle, String> {
    let keep_alive = keep_alive_for(plan.duration);
    // Warm-up connections first, held to the end: the baseline then
    // already includes what the broker spends once, not per connection.
    let warm = open_idle(plan, addr, keep_alive, "w", plan.warmup).await;
    if warm.failed > 0 {
        return Err(format!(
            "{} of {} warm-up connections failed: {}",
            warm.failed,
            plan.warmup,
            warm.first_error.unwrap_or_default()
        ));
    }
    // Let the broker settle before the first reading.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = match rss {
        Some(src) => Some(src.read()?),
        None => None,
    };
    let Opened {
        socks,
        failed,
        first_error,
    } = open_idle(plan, addr, keep_alive, "i", plan.connections).await;
    let held = Instant::now();
    tokio::time::sleep(plan.duration).await;
    let after = match rss {
        Some(src) => Some(src.read()?),
        None => None,
    };
    let held_seconds = held.elapsed().as_secs_f64();
    let connected = socks.len() as u32;
    drop(socks);
    drop(warm);
    let per = match (before, after) {
        (Some(b), Some(a)) if connected > 0 => {
            Some((a as f64 - b as f64) * 1024.0 / f64::from(connected))
        }
        _ => None,
    };
    Ok(Idle {
        requested: plan.connections,
        warmup: plan.warmup,
        connected,
        failed,
        held_seconds,
        rss_source: rss.map(RssSource::describe),
        rss_before_kib: before,
        rss_after_kib: after,
        bytes_per_connection: per,
        kib_per_connection: per.map(|b| b / 1024.0),
        first_error,
    })
}

/// Idle connections that got their CONNACK (sockets only), and the rest.
struct Opened {
    socks: Vec<TcpStream>,
    failed: u32,
    first_error: Option<String>,
}

/// Opens `n` idle connections, [`IDLE_PARALLEL`] at a time, with client
/// ids `{prefix}{tag}{i}`.
async fn open_idle(plan: &Plan, addr: SocketAddr, keep_alive: u16, tag: &str, n: u32) -> Opened {
    let gate = Arc::new(Semaphore::new(IDLE_PARALLEL));
    let mut tasks = Vec::with_capacity(n as usize);
    for i in 0..n {
        let gate = gate.clone();
        let id = format!("{}{tag}{i}", plan.client_prefix);
        let version = plan.version;
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            match tokio::time::timeout(
                CONNECT_TIMEOUT,
                Client::connect(addr, &id, version, keep_alive),
            )
            .await
            {
                // Keep only the socket: no task, no buffers.
                Ok(Ok(c)) => Ok(c.sock),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(format!("no CONNACK within {CONNECT_TIMEOUT:?}")),
            }
        }));
    }
    let mut socks = Vec::with_capacity(tasks.len());
    let mut failed = 0;
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok(Ok(s)) => socks.push(s),
            Ok(Err(e)) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    Opened {
        socks,
        failed,
        first_error,
    }
}

// ---------------------------------------------------------------------------
// Counting helpers.

/// One bit per expected delivery.
struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    fn new(bits: u64) -> Self {
        BitSet {
            words: vec![0; bits.div_ceil(64) as usize],
        }
    }

    /// Sets the bit; false when it was already set.
    fn insert(&mut self, i: u64) -> bool {
        let Some(w) = self.words.get_mut((i / 64) as usize) else {
            return false;
        };
        let m = 1u64 << (i % 64);
        let fresh = *w & m == 0;
        *w |= m;
        fresh
    }
}

/// A log-linear histogram of microseconds: exact below 256, then 128
/// sub-buckets per power of two (under 1 % error).
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

const LINEAR: u64 = 256;
const SUB: u64 = 128;
/// Values are clamped to 2^40 us (12 days).
const TOP_EXP: u32 = 40;

impl Histogram {
    fn new() -> Self {
        let n = LINEAR + u64::from(TOP_EXP - 7) * SUB;
        Histogram {
            counts: vec![0; n as usize],
            total: 0,
            max: 0,
        }
    }

    fn index(v: u64) -> usize {
        let v = v.min((1u64 << TOP_EXP) - 1);
        if v < LINEAR {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros(); // >= 8
        let mantissa = (v >> (exp - 7)) & (SUB - 1);
        (LINEAR + u64::from(exp - 8) * SUB + mantissa) as usize
    }

    fn value(i: usize) -> u64 {
        let i = i as u64;
        if i < LINEAR {
            return i;
        }
        let exp = (i - LINEAR) / SUB + 8;
        let m = (i - LINEAR) % SUB;
        (SUB + m) << (exp - 7)
    }

    fn record(&mut self, v: u64) {
        self.counts[Self::index(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.total += o.total;
        self.max = self.max.max(o.max);
    }

    fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(target("mqtt://127.0.0.1:1884", false).unwrap().1, 1884);
        assert_eq!(target("mqtt://localhost", false).unwrap().1, 1883);
        assert_eq!(target("mqtt://[::1]:9", false).unwrap().0, "::1");
        assert!(target("mqtt://192.0.2.1:1883", false).is_err());
        assert!(target("mqtt://broker.example:1883", false).is_err());
        assert!(target("mqtt://192.0.2.1:1883", true).is_ok());
        assert!(target("ws://127.0.0.1/mqtt", false).is_err());
        assert!(target("mqtt://127.0.0.1:99999", false).is_err());
        assert!(target("127.0.0.1:1883", false).is_err());
    }

    #[test]
    fn histogram_quantiles() {
        let mut h = Histogram::new();
        for v in 1..=1000 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), 500);
        let p99 = h.quantile(0.99);
        assert!((985..=990).contains(&p99), "{p99}");
        assert_eq!(h.max, 1000);
        for v in [0, 1, 255, 256, 257, 1000, 123_456, 1 << 39] {
            let b = Histogram::value(Histogram::index(v));
            assert!(b <= v && v - b <= v / 128, "{v} -> {b}");
        }
    }

    #[test]
    fn header_round_trip_and_bits() {
        let h = header(7, 123_456_789, 42);
        assert_eq!(read_header(&h), Some((7, 123_456_789, 42)));
        assert_eq!(read_header(&h[..19]), None);
        let mut b = BitSet::new(130);
        assert!(b.insert(129));
        assert!(!b.insert(129));
        assert!(!b.insert(130 + 64));
    }

    #[test]
    fn vmrss() {
        let s = "Name:\tx\nVmRSS:\t   12345 kB\nThreads: 2\n";
        assert_eq!(parse_vmrss(s), Some(12345));
        assert_eq!(parse_vmrss("Name: x\n"), None);
    }

    #[test]
    fn ids_wrap_and_free() {
        let mut ids = Ids::new();
        let a = ids.take().unwrap();
        assert_eq!(a, 1);
        assert!(ids.free(a));
        assert!(!ids.free(a));
        for _ in 0..65535 {
            assert!(ids.take().is_some());
        }
        assert!(ids.take().is_none());
    }
}
