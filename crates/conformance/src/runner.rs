//! Runs cases against a broker: one task per (case, version), bounded
//! concurrency, a deadline on every step and on every case.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::transport::{Reader as OwnedReadHalf, Transport, Writer as OwnedWriteHalf};
use mqttkit_codec::{Decoder, Packet, ProtocolVersion, PubAck, PubRel, Role, StreamDecoder};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use crate::case::{Case, ConnectStep, Level, Step};
use crate::pattern::{lookup, matches, substitute, substitute_str, Vars};
use crate::result::{CaseResult, Dir, TraceEntry, Verdict};
use crate::wire::{encode_connect, encode_frame, encode_packet, hex, packet_json, parse_hex};

pub use crate::wire::Credentials;

/// Largest packet accepted from a broker; a larger one fails the case
/// instead of being buffered.
const MAX_INBOUND_PACKET: usize = 16 * 1024 * 1024;

/// Received packets a connection holds for later steps; a broker flooding
/// past this fails the case instead of filling memory.
const MAX_QUEUED: usize = 10_000;

/// Events buffered between a connection's reader and the script; a full
/// buffer makes the reader wait (and the broker with it, through TCP).
const EVENT_BUFFER: usize = 4096;

/// Trace entries kept per case (the rest are counted, not stored).
const MAX_TRACE: usize = 2_000;

/// What to run and where.
#[derive(Debug, Clone)]
pub struct Config {
    /// `host:port` of the broker.
    pub address: String,
    /// Credentials for every CONNECT that names none.
    pub credentials: Credentials,
    /// Default deadline of a waiting step.
    pub step_timeout: Duration,
    /// Cases running at once.
    pub concurrency: usize,
    /// Versions to run.
    pub protocols: Vec<ProtocolVersion>,
    /// Run only cases whose id (or id prefix, or a statement) is listed.
    pub only: Vec<String>,
    /// Leave out cases whose id (or id prefix, or a statement) is listed.
    pub skip: Vec<String>,
    /// How connections reach the broker.
    pub transport: Transport,
}

impl Config {
    /// Defaults for `address`: both versions, 3 s steps, 32 at once.
    pub fn new(address: impl Into<String>) -> Self {
        Config {
            address: address.into(),
            credentials: Credentials::default(),
            step_timeout: Duration::from_millis(3000),
            concurrency: 32,
            protocols: vec![ProtocolVersion::V3_1_1, ProtocolVersion::V5],
            only: Vec::new(),
            skip: Vec::new(),
            transport: Transport::Tcp,
        }
    }
}

fn selected(case: &Case, version: ProtocolVersion, list: &[String]) -> bool {
    list.iter().any(|s| {
        case.id == *s
            || (s.ends_with('-') && case.id.starts_with(s.as_str()))
            || case.id.starts_with(&format!("{s}-"))
            || case.statements(version).iter().any(|st| st == s)
    })
}

/// The (case, version) pairs a config selects, in case order.
pub fn plan<'c>(cases: &'c [Case], config: &Config) -> Vec<(&'c Case, ProtocolVersion)> {
    let mut out = Vec::new();
    for c in cases {
        for v in c.protocols() {
            if !config.protocols.contains(&v) {
                continue;
            }
            if !config.only.is_empty() && !selected(c, v, &config.only) {
                continue;
            }
            if selected(c, v, &config.skip) {
                continue;
            }
            out.push((c, v));
        }
    }
    out
}

/// Checks that the broker accepts TCP connections.
pub async fn probe(address: &str, within: Duration) -> Result<(), String> {
    match tokio::time::timeout(within, TcpStream::connect(address)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("cannot connect to {address}: {e}")),
        Err(_) => Err(format!(
            "cannot connect to {address}: no answer within {} ms",
            within.as_millis()
        )),
    }
}

/// Runs the selected cases; results in plan order.
pub async fn run(cases: &[Case], config: &Config) -> Vec<CaseResult> {
    let run_id = {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        ((t ^ (u128::from(std::process::id()) << 20)) & 0xFF_FFFF) as u32
    };
    let sem = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let planned = plan(cases, config);
    let mut slots: Vec<Option<CaseResult>> = vec![None; planned.len()];
    // A version the broker refuses is not applicable: its cases skip.
    for v in &config.protocols {
        if !planned.iter().any(|(_, pv)| pv == v) {
            continue;
        }
        if let Some(why) = version_refused(*v, config).await {
            for (index, (case, version)) in planned.iter().enumerate() {
                if version == v {
                    slots[index] = Some(CaseResult {
                        id: case.id.clone(),
                        title: case.title.clone(),
                        protocol: *v,
                        statements: case.statements(*v).to_vec(),
                        level: case.level,
                        verdict: Verdict::Skip,
                        detail: why.clone(),
                        trace: Vec::new(),
                        duration_ms: 0.0,
                    });
                }
            }
        }
    }
    // Concurrent cases first, then the exclusive ones one at a time.
    for exclusive in [false, true] {
        let mut handles: Vec<(usize, JoinHandle<CaseResult>)> = Vec::new();
        for (index, (case, version)) in planned.iter().enumerate() {
            if case.exclusive != exclusive || slots[index].is_some() {
                continue;
            }
            let case = (*case).clone();
            let version = *version;
            let config = config.clone();
            let sem = sem.clone();
            let task = tokio::spawn(async move {
                let _permit = sem.acquire_owned().await.ok();
                run_case(&case, version, &config, run_id, index).await
            });
            if exclusive {
                let r = task.await;
                slots[index] = Some(joined(r));
            } else {
                handles.push((index, task));
            }
        }
        for (index, h) in handles {
            slots[index] = Some(joined(h.await));
        }
    }
    slots.into_iter().flatten().collect()
}

/// Connects once with a plain CONNECT of version `v`; says why the version
/// is not offered when the broker refuses it (CONNACK "unsupported
/// protocol version") or closes without a CONNACK. Anything else (an
/// accepting CONNACK, a timeout, another refusal) runs the cases, which
/// judge it.
async fn version_refused(v: ProtocolVersion, config: &Config) -> Option<String> {
    let probe = async {
        let (mut rd, mut wr) = crate::transport::open(&config.address, &config.transport)
            .await
            .ok()?;
        let id = format!("mqttkit-probe-{}", v.level());
        let mut connect = mqttkit_codec::Connect::new(v, &id);
        connect.username = config.credentials.username.as_deref();
        connect.password = config.credentials.password.as_deref().map(str::as_bytes);
        let mut buf = bytes::BytesMut::new();
        Packet::Connect((&connect).into())
            .encode(v, &mut buf)
            .ok()?;
        wr.write_all(&buf).await.ok()?;
        let mut dec = mqttkit_codec::StreamDecoder::with_version(v);
        loop {
            match dec.next_packet() {
                Ok(Some(Packet::ConnAck(a))) => {
                    let refused = matches!(
                        a.reason_code,
                        mqttkit_codec::ConnectReasonCode::UnsupportedProtocolVersion
                    );
                    let _ = wr.shutdown().await;
                    return refused.then(|| {
                        format!(
                            "version not offered: the broker answers a {v} CONNECT with {}",
                            a.reason_code
                        )
                    });
                }
                Err(_) => {
                    // A 3.1.1-form CONNACK 0x01 (no property length) to a
                    // 5.0 CONNECT.
                    let b = dec.buffer_mut();
                    let refused = b.len() >= 4 && b[..4] == [0x20, 0x02, 0x00, 0x01];
                    return refused.then(|| {
                        format!("version not offered: CONNACK return code 1 to a {v} CONNECT")
                    });
                }
                Ok(Some(_)) => return None,
                Ok(None) => {}
            }
            match rd.read_buf(dec.buffer_mut()).await {
                Ok(0) | Err(_) => {
                    // A 3.1.1-form CONNACK 0x01 answers a 5.0 CONNECT from
                    // brokers that only speak 3.1.1.
                    let b = dec.buffer_mut();
                    if b.len() >= 4 && b[0] == 0x20 && b[3] == 0x01 {
                        return Some(format!(
                            "version not offered: CONNACK return code 1 to a {v} CONNECT"
                        ));
                    }
                    return Some(format!(
                        "version not offered: the broker closes a {v} CONNECT without CONNACK"
                    ));
                }
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(config.step_timeout, probe)
        .await
        .ok()
        .flatten()
}

fn joined(r: Result<CaseResult, tokio::task::JoinError>) -> CaseResult {
    match r {
        Ok(r) => r,
        Err(e) => CaseResult {
            id: "?".into(),
            title: String::new(),
            protocol: ProtocolVersion::V3_1_1,
            statements: Vec::new(),
            level: Level::Must,
            verdict: Verdict::Fail,
            detail: format!("runner task failed: {e}"),
            trace: Vec::new(),
            duration_ms: 0.0,
        },
    }
}

/// Why a script stopped early.
enum Stop {
    Fail(String),
    Skip(String),
}

#[derive(Clone)]
struct Tracer {
    start: Instant,
    entries: Arc<Mutex<Vec<TraceEntry>>>,
}

impl Tracer {
    fn log(&self, conn: &str, dir: Dir, bytes: &[u8], decoded: String) {
        let at_ms = (self.start.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
        if let Ok(mut e) = self.entries.lock() {
            if e.len() >= MAX_TRACE {
                if e.len() == MAX_TRACE {
                    e.push(TraceEntry {
                        at_ms,
                        conn: conn.to_string(),
                        dir: Dir::Event,
                        hex: String::new(),
                        decoded: format!("trace cut after {MAX_TRACE} entries"),
                    });
                }
                return;
            }
            e.push(TraceEntry {
                at_ms,
                conn: conn.to_string(),
                dir,
                hex: hex(bytes),
                decoded,
            });
        }
    }
}

enum Event {
    Packet(Value),
    Closed(String),
    Garbage(String),
}

struct Conn {
    version: ProtocolVersion,
    level: Arc<AtomicU8>,
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    rx: mpsc::Receiver<Event>,
    queue: VecDeque<Value>,
    closed: Option<String>,
    garbage: Option<String>,
    disconnect: Option<Value>,
    connack: Option<Value>,
    reader: JoinHandle<()>,
    /// Message-level access when the transport is WebSocket.
    ws: Option<crate::transport::WsControl>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn describe(bytes: &[u8], version: ProtocolVersion, from: Role) -> String {
    match Decoder::new(version).sent_by(from).decode_lenient(bytes) {
        Ok((p, _, violations)) => {
            let mut s = packet_json(&p, version).to_string();
            for v in violations.iter() {
                s.push_str(&format!(
                    " [violation {} at byte {}: {}]",
                    v.statement(),
                    v.offset,
                    v.message()
                ));
            }
            s
        }
        Err(e) => format!("undecodable: {e}"),
    }
}

async fn write_logged(
    writer: &tokio::sync::Mutex<OwnedWriteHalf>,
    tracer: &Tracer,
    name: &str,
    version: ProtocolVersion,
    bytes: &[u8],
) -> Result<(), String> {
    tracer.log(
        name,
        Dir::Sent,
        bytes,
        describe(bytes, version, Role::Client),
    );
    let mut w = writer.lock().await;
    w.write_all(bytes)
        .await
        .map_err(|e| format!("write failed: {e}"))
}

async fn auto_ack(
    p: &Packet<'_>,
    writer: &tokio::sync::Mutex<OwnedWriteHalf>,
    tracer: &Tracer,
    name: &str,
    version: ProtocolVersion,
) {
    let reply = match p {
        Packet::Publish(pb) => match (pb.qos as u8, pb.packet_id) {
            (1, Some(id)) => Packet::PubAck(PubAck::new(id)),
            (2, Some(id)) => Packet::PubRec(PubAck::new(id)),
            _ => return,
        },
        Packet::PubRec(r) if !r.reason_code.is_error() => Packet::PubRel(PubRel::new(r.packet_id)),
        Packet::PubRel(r) => Packet::PubComp(PubRel::new(r.packet_id)),
        _ => return,
    };
    if let Ok(bytes) = reply.to_vec(version) {
        if let Err(e) = write_logged(writer, tracer, name, version, &bytes).await {
            tracer.log(name, Dir::Event, &[], e);
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn read_loop(
    mut rd: OwnedReadHalf,
    max_packet: usize,
    level: Arc<AtomicU8>,
    ack: bool,
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    tx: mpsc::Sender<Event>,
    tracer: Tracer,
    name: String,
) {
    let mut version = level_version(level.load(Ordering::Relaxed));
    let mut dec = StreamDecoder::with_version(version)
        .sent_by(Role::Server)
        .max_packet_size(max_packet);
    loop {
        let now = level_version(level.load(Ordering::Relaxed));
        if now != version {
            version = now;
            dec.set_version(now);
        }
        loop {
            match dec.next_owned() {
                Ok(Some(owned)) => {
                    let p = owned.packet();
                    let j = packet_json(&p, version);
                    tracer.log(&name, Dir::Received, owned.bytes(), j.to_string());
                    if ack {
                        auto_ack(&p, &writer, &tracer, &name, version).await;
                    }
                    let _ = tx.send(Event::Packet(j)).await;
                }
                Ok(None) => break,
                Err(e) => {
                    let buf = dec.buffer_mut();
                    let take = dec_len(buf, version).min(buf.len()).min(4096);
                    let bytes = buf[..take].to_vec();
                    let shown = describe(&bytes, version, Role::Server);
                    let msg = format!(
                        "malformed packet from the broker: {e}; decoded leniently: {shown}"
                    );
                    tracer.log(&name, Dir::Received, &bytes, msg.clone());
                    let _ = tx.send(Event::Garbage(msg)).await;
                    return;
                }
            }
        }
        match rd.read_buf(dec.buffer_mut()).await {
            Ok(0) => {
                tracer.log(
                    &name,
                    Dir::Event,
                    &[],
                    "connection closed by the broker".into(),
                );
                let _ = tx.send(Event::Closed("closed by the broker".into())).await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                tracer.log(&name, Dir::Event, &[], format!("connection error: {e}"));
                let _ = tx
                    .send(Event::Closed(format!("connection error: {e}")))
                    .await;
                return;
            }
        }
    }
}

/// The version a connection's packets are decoded under, from the
/// protocol level of the CONNECT sent on it (3.1.1 framing for levels the
/// codec does not know: a Server cannot answer them in any other form).
fn level_version(level: u8) -> ProtocolVersion {
    match level {
        5 => ProtocolVersion::V5,
        _ => ProtocolVersion::V3_1_1,
    }
}

/// The protocol level of a CONNECT, if `bytes` starts with one.
fn connect_level(bytes: &[u8]) -> Option<u8> {
    if bytes.first()? >> 4 != 1 {
        return None;
    }
    let mut i = 1;
    while *bytes.get(i)? & 0x80 != 0 {
        i += 1;
    }
    i += 1;
    let name_len = u16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]) as usize;
    bytes.get(i + 2 + name_len).copied()
}

/// Bytes of the packet at the start of `buf` as its header declares.
fn dec_len(buf: &[u8], version: ProtocolVersion) -> usize {
    match mqttkit_codec::FixedHeader::parse(buf, version) {
        Ok((h, _)) => h.packet_len(),
        Err(_) => buf.len(),
    }
}

impl Conn {
    /// Opens a connection; packets larger than `max_packet` (the client's
    /// Maximum Packet Size, when it gave one) fail the case.
    #[allow(clippy::too_many_arguments)]
    async fn open(
        address: &str,
        transport: &Transport,
        version: ProtocolVersion,
        max_packet: usize,
        ack: bool,
        tracer: &Tracer,
        name: &str,
        within: Duration,
    ) -> Result<Conn, Stop> {
        let opened = tokio::time::timeout(
            within,
            crate::transport::open_with_control(address, transport),
        );
        let (rd, wr, ws) = match opened.await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(Stop::Fail(format!("cannot connect to {address}: {e}"))),
            Err(_) => return Err(Stop::Fail(format!("cannot connect to {address}: timeout"))),
        };
        let writer = Arc::new(tokio::sync::Mutex::new(wr));
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        tracer.log(name, Dir::Event, &[], "connection opened".into());
        let level = Arc::new(AtomicU8::new(version.level()));
        let reader = tokio::spawn(read_loop(
            rd,
            max_packet,
            level.clone(),
            ack,
            writer.clone(),
            tx,
            tracer.clone(),
            name.to_string(),
        ));
        Ok(Conn {
            version,
            level,
            writer,
            rx,
            queue: VecDeque::new(),
            closed: None,
            garbage: None,
            disconnect: None,
            connack: None,
            reader,
            ws,
        })
    }

    fn apply(&mut self, ev: Option<Event>) {
        match ev {
            Some(Event::Packet(p)) => {
                if p["type"] == "DISCONNECT" {
                    self.disconnect = Some(p.clone());
                }
                if self.queue.len() >= MAX_QUEUED {
                    self.garbage.get_or_insert_with(|| {
                        format!("the broker sent more than {MAX_QUEUED} packets no step asked for")
                    });
                    self.closed.get_or_insert_with(|| "stopped reading".into());
                    return;
                }
                self.queue.push_back(p);
            }
            Some(Event::Closed(why)) => self.closed = Some(why),
            Some(Event::Garbage(why)) => {
                self.garbage = Some(why);
                self.closed.get_or_insert_with(|| "stopped reading".into());
            }
            None => {
                self.closed.get_or_insert_with(|| "reader ended".into());
            }
        }
    }

    /// The packets no step consumed (the first ten).
    fn unmatched(&self) -> String {
        const SHOWN: usize = 10;
        if self.queue.is_empty() {
            return "nothing".into();
        }
        let mut s = self
            .queue
            .iter()
            .take(SHOWN)
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        if self.queue.len() > SHOWN {
            s.push_str(&format!(" and {} more", self.queue.len() - SHOWN));
        }
        s
    }

    /// Waits for the next event until `deadline`; false on timeout.
    async fn next_event(&mut self, deadline: tokio::time::Instant) -> bool {
        if self.closed.is_some() {
            return false;
        }
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Ok(ev) => {
                self.apply(ev);
                true
            }
            Err(_) => false,
        }
    }

    async fn expect(
        &mut self,
        pattern: &Value,
        within: Duration,
        in_order: bool,
    ) -> Result<Value, Stop> {
        let deadline = tokio::time::Instant::now() + within;
        // Packets before `scanned` were already compared with the pattern.
        let mut scanned = 0;
        loop {
            if let Some(g) = &self.garbage {
                return Err(Stop::Fail(g.clone()));
            }
            if in_order {
                let same_type = self
                    .queue
                    .iter()
                    .position(|p| pattern.get("type").is_none_or(|t| p.get("type") == Some(t)));
                if let Some(i) = same_type {
                    return match matches(pattern, &self.queue[i]) {
                        Ok(()) => Ok(self.queue.remove(i).unwrap_or(Value::Null)),
                        Err(e) => Err(Stop::Fail(format!(
                            "out of order: the next {} was {} ({e})",
                            pattern
                                .get("type")
                                .map(|t| t.to_string())
                                .unwrap_or("packet".into()),
                            self.queue[i]
                        ))),
                    };
                }
            }
            let found = self
                .queue
                .iter()
                .skip(scanned)
                .position(|p| matches(pattern, p).is_ok());
            if let Some(i) = found {
                return Ok(self.queue.remove(scanned + i).unwrap_or(Value::Null));
            }
            scanned = self.queue.len();
            if let Some(why) = &self.closed {
                return Err(Stop::Fail(format!(
                    "connection ended ({why}) before a packet matching {pattern} arrived; received and unmatched: {}",
                    self.unmatched()
                )));
            }
            if !self.next_event(deadline).await && self.closed.is_none() {
                let closest = self
                    .queue
                    .iter()
                    .filter(|p| p.get("type") == pattern.get("type"))
                    .filter_map(|p| matches(pattern, p).err())
                    .next();
                return Err(Stop::Fail(format!(
                    "no packet matching {pattern} within {} ms; received and unmatched: {}{}",
                    within.as_millis(),
                    self.unmatched(),
                    closest.map(|c| format!(" ({c})")).unwrap_or_default()
                )));
            }
        }
    }
}

fn version_from(s: &str) -> ProtocolVersion {
    s.parse().unwrap_or(ProtocolVersion::V3_1_1)
}

struct Script<'a> {
    case: &'a Case,
    version: ProtocolVersion,
    config: &'a Config,
    tracer: Tracer,
    vars: Vars,
    conns: std::collections::HashMap<String, Conn>,
    notes: Vec<String>,
}

impl Script<'_> {
    fn conn(&mut self, name: &str) -> Result<&mut Conn, Stop> {
        self.conns
            .get_mut(name)
            .ok_or_else(|| Stop::Fail(format!("case error: no connection named {name:?}")))
    }

    fn within(&self, ms: Option<u64>) -> Duration {
        ms.map(Duration::from_millis)
            .unwrap_or(self.config.step_timeout)
    }

    fn client_id_for(&self, conn: &str) -> String {
        let stem = match self.vars.get("client") {
            Some(Value::String(s)) => s.clone(),
            _ => "mk".into(),
        };
        format!("{stem}{conn}")
    }

    async fn connect(&mut self, c: &ConnectStep) -> Result<(), Stop> {
        if let Some(old) = self.conns.remove(&c.conn) {
            drop(old);
        }
        let mut spec = c.spec.clone();
        let client_id = match &spec.client_id {
            Some(id) => substitute_str(id, &self.vars),
            None => self.client_id_for(&c.conn),
        };
        if let Some(w) = &mut spec.will {
            w.topic = substitute_str(&w.topic, &self.vars);
            w.payload = substitute_str(&w.payload, &self.vars);
            w.properties = w.properties.as_ref().map(|p| substitute(p, &self.vars));
        }
        spec.properties = spec.properties.as_ref().map(|p| substitute(p, &self.vars));
        let bytes = encode_connect(&spec, &client_id, self.version, &self.config.credentials)
            .map_err(|e| Stop::Fail(format!("case error: {e}")))?;
        let within = self.within(c.within_ms);
        // MQTT-3.1.2-24: nothing larger than the client's Maximum Packet
        // Size may arrive; the decoder refuses it, failing the case.
        let max_packet = spec
            .properties
            .as_ref()
            .filter(|_| self.version.is_v5())
            .and_then(|p| p.get("maximum_packet_size"))
            .and_then(Value::as_u64)
            .map_or(MAX_INBOUND_PACKET, |m| {
                usize::try_from(m)
                    .unwrap_or(MAX_INBOUND_PACKET)
                    .min(MAX_INBOUND_PACKET)
            });
        let mut conn = Conn::open(
            &self.config.address,
            &self.config.transport,
            self.version,
            max_packet,
            c.auto_ack.unwrap_or(true),
            &self.tracer,
            &c.conn,
            within,
        )
        .await?;
        if let Err(e) =
            write_logged(&conn.writer, &self.tracer, &c.conn, self.version, &bytes).await
        {
            return Err(Stop::Fail(e));
        }
        let default = c.expect.is_none();
        let pattern = match &c.expect {
            Some(p) => substitute(p, &self.vars),
            None => json!({"type": "CONNACK"}),
        };
        let connack = conn.expect(&pattern, within, false).await;
        let connack = match connack {
            Ok(ca) => ca,
            Err(e) => return Err(e),
        };
        if default {
            let rc = connack["reason_code"].as_u64().unwrap_or(0);
            match rc {
                0 => {}
                0x84 | 0x01 => {
                    return Err(Stop::Skip(format!(
                        "MQTT {} not offered (CONNACK {connack})",
                        self.version
                    )))
                }
                0x86 | 0x87 | 0x04 | 0x05 | 0x8C => {
                    return Err(Stop::Skip(format!(
                        "authentication needed (CONNACK {connack}); give --username/--password"
                    )))
                }
                0x85 | 0x02 => {
                    return Err(Stop::Skip(format!(
                        "client identifier {client_id:?} refused (CONNACK {connack})"
                    )))
                }
                _ => return Err(Stop::Fail(format!("CONNECT refused: {connack}"))),
            }
        }
        conn.connack = Some(connack.clone());
        self.vars
            .insert(format!("connack_{}", c.conn), connack.clone());
        self.conns.insert(c.conn.clone(), conn);
        Ok(())
    }

    /// A `web_socket` step: skips the case unless the connection is a
    /// WebSocket; checks the subprotocol, or sends whole messages.
    async fn websocket_step(
        &mut self,
        conn: &str,
        packets: &[Value],
        split: &[usize],
        text: &Option<String>,
        subprotocol: &Option<String>,
    ) -> Result<(), Stop> {
        let client_id = self.client_id_for(conn);
        let mut bytes = Vec::new();
        for p in packets {
            let p = substitute(p, &self.vars);
            let b = encode_packet(&p, self.version, &client_id, &self.config.credentials)
                .map_err(|e| Stop::Fail(format!("case error: {e}")))?;
            bytes.extend(b);
        }
        let tracer = self.tracer.clone();
        let c = self.conn(conn)?;
        let Some(ws) = c.ws.clone() else {
            return Err(Stop::Skip(
                "a WebSocket check: run against a ws:// or wss:// URL".into(),
            ));
        };
        if let Some(want) = subprotocol {
            if ws.subprotocol.as_deref() != Some(want.as_str()) {
                return Err(Stop::Fail(format!(
                    "the handshake selected subprotocol {:?}; expected {want:?}",
                    ws.subprotocol
                )));
            }
        }
        let sent = if let Some(t) = text {
            tracer.log(conn, Dir::Sent, t.as_bytes(), format!("text message {t:?}"));
            ws.send_text(t).await
        } else {
            let mut cuts: Vec<usize> = split.iter().copied().filter(|&k| k < bytes.len()).collect();
            cuts.sort_unstable();
            cuts.dedup();
            cuts.push(bytes.len());
            let mut from = 0;
            let mut r = Ok(());
            for to in cuts {
                if to <= from {
                    continue;
                }
                let piece = bytes[from..to].to_vec();
                tracer.log(
                    conn,
                    Dir::Sent,
                    &piece,
                    format!("binary message of {} bytes", piece.len()),
                );
                r = ws.send_binary(piece).await;
                if r.is_err() {
                    break;
                }
                from = to;
            }
            r
        };
        if let Err(e) = sent {
            // The broker may have closed already; later steps judge.
            tracer.log(conn, Dir::Event, &[], e.to_string());
        }
        Ok(())
    }

    async fn send_once(
        &mut self,
        conn: &str,
        packet: &Option<Value>,
        hex: &Option<String>,
        frame: &Option<crate::case::Frame>,
    ) -> Result<(), Stop> {
        let client_id = self.client_id_for(conn);
        let bytes = if let Some(p) = packet {
            let p = substitute(p, &self.vars);
            encode_packet(&p, self.version, &client_id, &self.config.credentials)
        } else if let Some(h) = hex {
            parse_hex(&substitute_str(h, &self.vars))
        } else if let Some(f) = frame {
            let mut f = f.clone();
            f.body = f
                .body
                .iter()
                .map(|b| substitute_str(b, &self.vars))
                .collect();
            encode_frame(&f)
        } else {
            Err("nothing to send".into())
        }
        .map_err(|e| Stop::Fail(format!("case error: {e}")))?;
        let tracer = self.tracer.clone();
        let c = self.conn(conn)?;
        if let Some(level) = connect_level(&bytes) {
            // A raw CONNECT decides how the answers are framed.
            c.level.store(level, Ordering::Relaxed);
            c.version = level_version(level);
        }
        if let Err(e) = write_logged(&c.writer, &tracer, conn, c.version, &bytes).await {
            // The broker may have closed already; later steps judge.
            tracer.log(conn, Dir::Event, &[], e);
        }
        Ok(())
    }

    async fn step(&mut self, step: &Step) -> Result<(), Stop> {
        match step {
            Step::Connect(c) => self.connect(c).await,
            Step::Open {
                conn,
                auto_ack,
                only,
            } => {
                let v = only.as_deref().map(version_from).unwrap_or(self.version);
                let within = self.config.step_timeout;
                let c = Conn::open(
                    &self.config.address,
                    &self.config.transport,
                    v,
                    MAX_INBOUND_PACKET,
                    auto_ack.unwrap_or(true),
                    &self.tracer,
                    conn,
                    within,
                )
                .await?;
                self.conns.insert(conn.clone(), c);
                Ok(())
            }
            Step::Send {
                conn,
                packet,
                hex,
                frame,
                repeat,
                ..
            } => {
                for i in 1..=repeat.unwrap_or(1).max(1) {
                    self.vars.insert("i".into(), json!(i));
                    self.send_once(conn, packet, hex, frame).await?;
                }
                Ok(())
            }
            Step::Expect {
                conn,
                packet,
                within_ms,
                capture,
                in_order,
                ..
            } => {
                let pattern = substitute(packet, &self.vars);
                let within = self.within(*within_ms);
                let got = self.conn(conn)?.expect(&pattern, within, *in_order).await?;
                if let Some(cap) = capture {
                    for (name, path) in cap {
                        let path = path.as_str().unwrap_or_default();
                        match lookup(&got, path) {
                            Some(v) => {
                                self.vars.insert(name.clone(), v.clone());
                            }
                            None => {
                                return Err(Stop::Fail(format!(
                                    "the matched packet has no {path}: {got}"
                                )))
                            }
                        }
                    }
                }
                Ok(())
            }
            Step::ExpectNone {
                conn,
                packet,
                for_ms,
                ..
            } => {
                let pattern = packet
                    .as_ref()
                    .map(|p| substitute(p, &self.vars))
                    .unwrap_or_else(|| json!({}));
                let c = self.conn(conn)?;
                let deadline = tokio::time::Instant::now() + Duration::from_millis(*for_ms);
                let mut scanned = 0;
                loop {
                    if let Some(g) = &c.garbage {
                        return Err(Stop::Fail(g.clone()));
                    }
                    let found = c
                        .queue
                        .iter()
                        .skip(scanned)
                        .find(|p| matches(&pattern, p).is_ok());
                    scanned = c.queue.len();
                    if let Some(p) = found {
                        return Err(Stop::Fail(format!(
                            "unexpected packet {p} (nothing matching {pattern} was allowed for {for_ms} ms)"
                        )));
                    }
                    if let Some(why) = &c.closed {
                        return Err(Stop::Fail(format!(
                            "connection ended ({why}) while waiting {for_ms} ms for silence"
                        )));
                    }
                    if !c.next_event(deadline).await {
                        return Ok(());
                    }
                }
            }
            Step::ExpectClose {
                conn,
                within_ms,
                reason,
                no_disconnect,
                silent,
                ..
            } => {
                let within = self.within(*within_ms);
                let c = self.conn(conn)?;
                let deadline = tokio::time::Instant::now() + within;
                while c.closed.is_none() {
                    if !c.next_event(deadline).await {
                        break;
                    }
                }
                if let Some(g) = &c.garbage {
                    return Err(Stop::Fail(g.clone()));
                }
                if c.closed.is_none() {
                    return Err(Stop::Fail(format!(
                        "connection still open {} ms later (expected the broker to close it); received: {}",
                        within.as_millis(),
                        c.unmatched()
                    )));
                }
                if *silent && !c.queue.is_empty() {
                    return Err(Stop::Fail(format!(
                        "the broker closed the connection but sent {} first, where nothing is allowed",
                        c.unmatched()
                    )));
                }
                match &c.disconnect {
                    Some(d) if *no_disconnect => {
                        return Err(Stop::Fail(format!(
                            "the broker sent {d} where no DISCONNECT is allowed"
                        )));
                    }
                    Some(d) => {
                        let rc = d["reason_code"].as_u64().unwrap_or(0);
                        let allowed = if reason.is_empty() {
                            rc >= 0x80
                        } else {
                            reason.iter().any(|r| u64::from(*r) == rc)
                        };
                        if !allowed {
                            let want = if reason.is_empty() {
                                "a reason code of 0x80 or above".to_string()
                            } else {
                                reason
                                    .iter()
                                    .map(|r| format!("{r:#04x}"))
                                    .collect::<Vec<_>>()
                                    .join(" or ")
                            };
                            return Err(Stop::Fail(format!(
                                "closed after DISCONNECT with reason code {rc:#04x}; expected {want}"
                            )));
                        }
                        self.notes
                            .push(format!("closed after DISCONNECT {rc:#04x}"));
                    }
                    None if c.version.is_v5() => {
                        self.notes.push("closed without DISCONNECT".into());
                    }
                    None => {}
                }
                Ok(())
            }
            Step::Sleep { ms, .. } => {
                tokio::time::sleep(Duration::from_millis(*ms)).await;
                Ok(())
            }
            Step::Disconnect {
                conn,
                reason_code,
                properties,
                ..
            } => {
                let mut p = json!({"type": "DISCONNECT", "reason_code": reason_code.unwrap_or(0)});
                if let Some(props) = properties {
                    p["properties"] = substitute(props, &self.vars);
                }
                let bytes = encode_packet(&p, self.version, "", &self.config.credentials)
                    .map_err(|e| Stop::Fail(format!("case error: {e}")))?;
                let tracer = self.tracer.clone();
                if let Some(c) = self.conns.remove(conn) {
                    let _ = write_logged(&c.writer, &tracer, conn, c.version, &bytes).await;
                    let _ = c.writer.lock().await.shutdown().await;
                } else {
                    return Err(Stop::Fail(format!("case error: no connection {conn:?}")));
                }
                Ok(())
            }
            Step::Drop { conn, .. } => {
                if let Some(c) = self.conns.remove(conn) {
                    self.tracer.log(
                        conn,
                        Dir::Event,
                        &[],
                        "connection dropped without DISCONNECT".into(),
                    );
                    let _ = c.writer.lock().await.shutdown().await;
                }
                Ok(())
            }
            Step::Require {
                conn,
                capability,
                min,
                absent_is,
                max,
                equals,
                ..
            } => {
                let c = self.conn(conn)?;
                let props = c
                    .connack
                    .as_ref()
                    .and_then(|ca| ca.get("properties"))
                    .cloned()
                    .unwrap_or(Value::Null);
                let value = props.get(capability.as_str()).cloned();
                let present = value.clone().filter(|v| !v.is_null());
                let as_num = |v: &Option<Value>| match v {
                    Some(Value::Number(n)) => n.as_u64(),
                    Some(Value::Bool(b)) => Some(u64::from(*b)),
                    _ => *absent_is,
                };
                if let Some(want) = equals {
                    let got = present.clone().or_else(|| absent_is.map(|a| json!(a)));
                    let same = match (&got, want) {
                        (Some(g), w) => {
                            g == w || as_num(&Some(g.clone())) == as_num(&Some(w.clone()))
                        }
                        (None, _) => false,
                    };
                    if !same {
                        return Err(Stop::Skip(format!(
                            "only for brokers with CONNACK {capability} = {want}; this one has {}",
                            present.map(|v| v.to_string()).unwrap_or("it absent".into())
                        )));
                    }
                    return Ok(());
                }
                if let (Some(m), Some(n)) = (max, as_num(&present)) {
                    if n > *m {
                        return Err(Stop::Skip(format!(
                            "CONNACK {capability} = {n}, more than this case handles ({m})"
                        )));
                    }
                }
                let ok = match (&value, min) {
                    (Some(Value::Bool(b)), _) => *b,
                    (Some(Value::Number(n)), Some(m)) => n.as_u64().unwrap_or(0) >= *m,
                    (None | Some(Value::Null), Some(m)) => absent_is.unwrap_or(u64::MAX) >= *m,
                    (None | Some(Value::Null), None) => absent_is.unwrap_or(1) != 0,
                    _ => true,
                };
                if ok {
                    Ok(())
                } else {
                    Err(Stop::Skip(format!(
                        "feature not offered: CONNACK {capability} = {}",
                        value.map(|v| v.to_string()).unwrap_or("absent".into())
                    )))
                }
            }
            Step::WebSocket {
                conn,
                packets,
                split,
                text,
                subprotocol,
                ..
            } => {
                self.websocket_step(conn, packets, split, text, subprotocol)
                    .await
            }
            Step::Check { var, pattern, .. } => {
                let pattern = substitute(pattern, &self.vars);
                let value = self.vars.get(var).cloned().ok_or_else(|| {
                    Stop::Fail(format!("case error: nothing captured as {var:?}"))
                })?;
                matches(&pattern, &value).map_err(|e| Stop::Fail(format!("{var} {value}: {e}")))
            }
            Step::Observe {
                conn,
                packet,
                within_ms,
                what,
                ..
            } => {
                let pattern = packet
                    .as_ref()
                    .map(|p| substitute(p, &self.vars))
                    .unwrap_or_else(|| json!({}));
                let c = self.conn(conn)?;
                let note = match c
                    .expect(&pattern, Duration::from_millis(*within_ms), false)
                    .await
                {
                    Ok(p) => format!("{what}: {p}"),
                    Err(Stop::Fail(m)) | Err(Stop::Skip(m)) => format!("{what}: {m}"),
                };
                self.notes.push(note);
                Ok(())
            }
        }
    }
}

/// Runs one case under one version.
pub async fn run_case(
    case: &Case,
    version: ProtocolVersion,
    config: &Config,
    run_id: u32,
    index: usize,
) -> CaseResult {
    let start = Instant::now();
    let tracer = Tracer {
        start,
        entries: Arc::new(Mutex::new(Vec::new())),
    };
    let mut vars = Vars::new();
    vars.insert(
        "prefix".into(),
        json!(format!("mqttkit/{run_id:06x}/{index}")),
    );
    vars.insert("client".into(), json!(format!("mk{run_id:06x}n{index}")));
    vars.insert("protocol".into(), json!(version.as_str()));
    // A 23-character alphanumeric client id (the longest every Server must accept).
    let long = format!("mk{run_id:06x}n{index}ZZZZZZZZZZZZZZZZZZZZZZZ");
    vars.insert("client23".into(), json!(long[..23].to_string()));
    let step_ms = config.step_timeout.as_millis() as u64;
    let budget: u64 = case
        .step
        .iter()
        .filter(|s| s.applies(version))
        .map(|s| s.budget_ms(step_ms))
        .sum::<u64>()
        + 2000;
    let overall = Duration::from_millis(case.timeout_ms.unwrap_or(budget));
    let mut script = Script {
        case,
        version,
        config,
        tracer: tracer.clone(),
        vars,
        conns: std::collections::HashMap::new(),
        notes: Vec::new(),
    };
    let outcome = tokio::time::timeout(overall, async {
        for (i, step) in case.step.iter().enumerate() {
            if !step.applies(version) {
                continue;
            }
            if let Err(e) = script.step(step).await {
                return Err((i + 1, e));
            }
        }
        Ok(())
    })
    .await;
    let notes = std::mem::take(&mut script.notes);
    let case = script.case;
    drop(script);
    let (verdict, detail) = match outcome {
        Err(_) => (
            Verdict::Fail,
            format!(
                "case deadline of {} ms passed before the script ended",
                overall.as_millis()
            ),
        ),
        Ok(Ok(())) => {
            let detail = match (&case.note, notes.is_empty()) {
                (Some(n), true) => n.clone(),
                (Some(n), false) => format!("{n}; {}", notes.join("; ")),
                (None, _) => notes.join("; "),
            };
            (Verdict::Pass, detail)
        }
        Ok(Err((i, Stop::Skip(why)))) => (Verdict::Skip, format!("step {i}: {why}")),
        Ok(Err((i, Stop::Fail(why)))) => (Verdict::Fail, format!("step {i}: {why}")),
    };
    let (verdict, detail) = match (case.level, verdict) {
        (Level::May, Verdict::Pass) => (Verdict::Note, detail),
        (Level::May, Verdict::Fail) => (Verdict::Note, format!("broker chose otherwise: {detail}")),
        (_, v) => (v, detail),
    };
    let trace = if matches!(verdict, Verdict::Fail | Verdict::Note) {
        tracer.entries.lock().map(|e| e.clone()).unwrap_or_default()
    } else {
        Vec::new()
    };
    CaseResult {
        id: case.id.clone(),
        title: case.title.clone(),
        protocol: version,
        statements: case.statements(version).to_vec(),
        level: case.level,
        verdict,
        detail,
        trace,
        duration_ms: (start.elapsed().as_secs_f64() * 10_000.0).round() / 10.0,
    }
}
