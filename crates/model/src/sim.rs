//! A deterministic simulation of the broker core, shared by the seeded
//! simulation test (`tests/simulation.rs`, 100k steps per seed) and the
//! `model` fuzz target (choices read from the fuzzer's bytes).
//!
//! Clients connect (clean or resuming, 3.1.1 or 5.0, persistent or not),
//! subscribe, unsubscribe, publish at every QoS, hold back their
//! acknowledgements and release them in any amount, disconnect normally or
//! drop, and time advances. Every packet the broker sends is checked as it
//! arrives, and at the end every persistent session is resumed and drained.
//! Invariants (a violation panics with the run's label and step):
//!
//! - no QoS 1/2 message acknowledged to its publisher is lost for a
//!   persistent subscriber (subscribed at QoS >= 1 when it was published,
//!   session not discarded since) unless the broker reported a drop for
//!   that client and topic;
//! - QoS 2 messages reach a subscriber exactly once (redeliveries carry
//!   DUP and the packet id still in flight);
//! - messages of one publisher on one topic at one QoS arrive in the order
//!   they were published (4.6);
//! - a new PUBLISH never reuses a packet id still in flight;
//! - every packet the broker sends decodes strictly;
//! - the broker's memory stays within its limits (sessions, queues,
//!   in-flight windows).
//!
//! `SIM_TRACE` (environment) prints each step.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::BytesMut;
use mqttkit_codec::{
    Connect, Decoder, Disconnect, Packet, ProtocolVersion, PubAck, PubComp, PubRec, PubRel,
    Publish, QoS, Subscribe, Subscription, Unsubscribe,
};

use crate::{Broker, Config, ConnId, Output};

/// The topics messages go to (a run uses the first [`SimConfig::topics`]).
pub const TOPICS: [&str; 4] = ["t/0", "t/1", "t/2", "t/3"];

fn trace() -> bool {
    std::env::var_os("SIM_TRACE").is_some()
}

/// Where the simulation's choices come from.
pub trait Choices {
    /// Any 64-bit value.
    fn next(&mut self) -> u64;
    /// A value in `0..n` (`n >= 1`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True with `percent` % probability.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// Whether the source has run dry (the run then stops early).
    fn exhausted(&self) -> bool {
        false
    }
}

/// A seeded xorshift64* generator: the same seed, the same run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
}

impl Choices for Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Choices read from a byte string (a fuzzer's input): one byte per
/// choice, then zeros once it runs out.
#[derive(Debug, Clone)]
pub struct ByteChoices<'a>(&'a [u8]);

impl<'a> ByteChoices<'a> {
    /// Reads choices from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        ByteChoices(data)
    }
}

impl Choices for ByteChoices<'_> {
    fn next(&mut self) -> u64 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                u64::from(b)
            }
            None => 0,
        }
    }
    fn below(&mut self, n: u64) -> u64 {
        // Small ranges take one byte, larger ones two.
        let v = if n > 256 {
            self.next() << 8 | self.next()
        } else {
            self.next()
        };
        v % n.max(1)
    }
    fn exhausted(&self) -> bool {
        self.0.is_empty()
    }
}

/// The shape of one run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Protocol version of each client (its length is the client count).
    pub versions: Vec<ProtocolVersion>,
    /// Which clients keep their sessions (same length as `versions`).
    pub persistent: Vec<bool>,
    /// How many of [`TOPICS`] are used (1 to 4).
    pub topics: usize,
    /// The broker's per-session queue limit.
    pub max_queued: usize,
    /// The broker's in-flight window per client.
    pub max_inflight: u16,
    /// How many of its own PUBLISHes a client keeps unacknowledged.
    pub max_publishing: usize,
    /// Steps at most.
    pub steps: u64,
    /// Checks the memory limits every this many steps.
    pub check_every: u64,
    /// The broker's seed.
    pub seed: u64,
}

impl SimConfig {
    /// The simulation test's setup: 8 clients, even ones 3.1.1, odd ones
    /// 5.0, every fourth one clean, a queue limit of 50.
    pub fn standard(seed: u64, steps: u64) -> Self {
        let n = 8;
        SimConfig {
            versions: (0..n)
                .map(|i| {
                    if i % 2 == 0 {
                        ProtocolVersion::V3_1_1
                    } else {
                        ProtocolVersion::V5
                    }
                })
                .collect(),
            persistent: (0..n).map(|i| i % 4 != 3).collect(),
            topics: TOPICS.len(),
            max_queued: 50,
            max_inflight: Config::default().max_inflight,
            max_publishing: 16,
            steps,
            check_every: 1000,
            seed,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Steps taken.
    pub steps: u64,
    /// Deliveries owed to persistent sessions (acknowledged QoS 1/2).
    pub owed: usize,
    /// Of those, the ones whose session lived to the end (checked).
    pub checked: usize,
    /// Distinct (client, topic) drops the broker reported.
    pub drops: usize,
}

fn qos(n: u64) -> QoS {
    match n % 3 {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// A message as the test knows it: who published it, its sequence number,
/// topic and QoS, all recoverable from the payload.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Msg {
    publisher: usize,
    seq: u64,
    topic: usize,
    qos: u8,
}

impl Msg {
    fn payload(&self) -> Vec<u8> {
        format!(
            "{}:{}:{}:{}",
            self.publisher, self.seq, self.topic, self.qos
        )
        .into_bytes()
    }
    fn parse(b: &[u8]) -> Msg {
        let s = std::str::from_utf8(b).unwrap();
        let f: Vec<u64> = s.split(':').map(|x| x.parse().unwrap()).collect();
        Msg {
            publisher: f[0] as usize,
            seq: f[1],
            topic: f[2] as usize,
            qos: f[3] as u8,
        }
    }
}

/// A PUBLISH of ours in progress: the message, the (subscriber, epoch)
/// pairs owed it once acknowledged, whether PUBREC came.
type Pending = (Msg, Vec<(usize, u32)>, bool);

#[derive(Debug, Default)]
struct Client {
    version: Option<ProtocolVersion>,
    persistent: bool,
    conn: Option<ConnId>,
    /// Bumped whenever the broker-side session is discarded.
    epoch: u32,
    /// Whether the broker holds a session for it (persistent clients).
    session: bool,
    subs: BTreeMap<usize, QoS>,
    // Publisher side.
    seq: u64,
    next_id: u16,
    /// Our PUBLISHes not yet complete: message, who is owed it once the
    /// broker acknowledges, and whether PUBREC came (PUBREL sent).
    publishing: BTreeMap<u16, Pending>,
    // Receiver side: ids in flight from the broker and what they carry.
    in_flight: BTreeMap<u16, Msg>,
    qos2_released: BTreeSet<u16>,
    /// Packets held back, with the incoming packet id each one frees.
    outbox: Vec<(Vec<u8>, Option<u16>)>,
    /// Messages received (first receipts) in this epoch.
    received: BTreeSet<Msg>,
    /// Last sequence received per (publisher, topic, qos), for order.
    last: HashMap<(usize, usize, u8), u64>,
}

struct Sim<'s, S: Choices> {
    b: Broker,
    rng: &'s mut S,
    limits: SimConfig,
    now: u64,
    next_conn: ConnId,
    clients: Vec<Client>,
    by_conn: HashMap<ConnId, usize>,
    /// (subscriber, message, subscriber epoch) the broker owes.
    owed: Vec<(usize, Msg, u32)>,
    dropped: BTreeSet<(String, String)>,
    step: u64,
    label: String,
}

impl<S: Choices> Sim<'_, S> {
    fn fail(&self, what: String) -> ! {
        panic!("{} step {}: {what}", self.label, self.step)
    }

    fn send(&mut self, c: usize, p: Packet<'_>) {
        let (Some(conn), Some(v)) = (self.clients[c].conn, self.clients[c].version) else {
            return;
        };
        let mut buf = BytesMut::new();
        p.encode(v, &mut buf).unwrap();
        self.b.bytes_received(conn, &buf, self.now);
        self.pump();
    }

    fn pump(&mut self) {
        let mut closed = Vec::new();
        while let Some(o) = self.b.poll_output() {
            match o {
                Output::Send { conn, bytes } => {
                    let Some(&c) = self.by_conn.get(&conn) else {
                        continue;
                    };
                    let v = self.clients[c].version.unwrap();
                    let mut at = 0;
                    while at < bytes.len() {
                        let (p, n) = match Decoder::new(v).decode(&bytes[at..]) {
                            Ok(x) => x,
                            Err(e) => self.fail(format!("broker sent an invalid packet: {e:?}")),
                        };
                        self.receive(c, p);
                        at += n;
                    }
                }
                Output::Close { conn } => closed.push(conn),
                Output::Dropped {
                    client_id, topic, ..
                } => {
                    self.dropped
                        .insert((client_id.to_string(), topic.to_string()));
                }
            }
        }
        for conn in closed {
            if let Some(c) = self.by_conn.remove(&conn) {
                if self.clients[c].conn == Some(conn) {
                    self.clients[c].conn = None;
                    self.clients[c].outbox.clear();
                }
            }
        }
    }

    fn receive(&mut self, c: usize, p: Packet<'_>) {
        match p {
            Packet::ConnAck(a) => {
                let cl = &mut self.clients[c];
                if cl.session && !a.session_present {
                    self.fail(format!("client {c}: session lost (session present 0)"));
                }
                if trace() {
                    eprintln!(
                        "c{c} CONNACK present {} code {:?} session {}",
                        a.session_present, a.reason_code, cl.session
                    );
                }
                if a.session_present {
                    self.resume_publishing(c);
                } else {
                    let cl = &mut self.clients[c];
                    // A new session: nothing of an earlier one carries over.
                    cl.publishing.clear();
                    cl.epoch += 1;
                    cl.subs.clear();
                    cl.in_flight.clear();
                    cl.received.clear();
                    cl.last.clear();
                }
            }
            Packet::Publish(p) => {
                let m = Msg::parse(p.payload);
                let v = self.clients[c].version.unwrap();
                let cl = &mut self.clients[c];
                let new = match p.packet_id {
                    None => true,
                    Some(id) => match cl.in_flight.get(&id) {
                        Some(prev) if prev == &m && p.dup => false,
                        Some(prev) => {
                            let msg = format!(
                                "client {c}: id {id} reused for {m:?} while {prev:?} in flight"
                            );
                            self.fail(msg)
                        }
                        None => true,
                    },
                };
                let cl = &mut self.clients[c];
                if new {
                    if p.qos == QoS::ExactlyOnce && cl.received.contains(&m) {
                        let msg = format!("client {c}: QoS 2 message {m:?} delivered twice");
                        self.fail(msg);
                    }
                    let key = (m.publisher, m.topic, p.qos as u8);
                    if p.qos != QoS::AtMostOnce && !cl.received.contains(&m) {
                        if let Some(&last) = cl.last.get(&key) {
                            if m.seq < last {
                                let msg = format!("client {c}: {m:?} after seq {last}");
                                self.fail(msg);
                            }
                        }
                        cl.last.insert(key, m.seq);
                    }
                    cl.received.insert(m.clone());
                }
                let mut buf = BytesMut::new();
                match (p.qos, p.packet_id) {
                    (QoS::AtLeastOnce, Some(id)) => {
                        cl.in_flight.insert(id, m);
                        Packet::PubAck(PubAck::new(id)).encode(v, &mut buf).unwrap();
                        cl.outbox.push((buf.to_vec(), Some(id)));
                    }
                    (QoS::ExactlyOnce, Some(id)) => {
                        cl.in_flight.insert(id, m);
                        Packet::PubRec(PubRec::new(id)).encode(v, &mut buf).unwrap();
                        cl.outbox.push((buf.to_vec(), None));
                    }
                    _ => {}
                }
            }
            Packet::PubRel(r) => {
                let v = self.clients[c].version.unwrap();
                let cl = &mut self.clients[c];
                cl.qos2_released.insert(r.packet_id);
                let mut buf = BytesMut::new();
                Packet::PubComp(PubComp::new(r.packet_id))
                    .encode(v, &mut buf)
                    .unwrap();
                cl.outbox.push((buf.to_vec(), Some(r.packet_id)));
            }
            Packet::PubAck(a) => self.acknowledged(c, a.packet_id, false),
            Packet::PubRec(a) => self.acknowledged(c, a.packet_id, true),
            Packet::PubComp(a) => {
                self.clients[c].publishing.remove(&a.packet_id);
            }
            Packet::Disconnect(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {}
            other => self.fail(format!("client {c}: unexpected {other:?}")),
        }
    }

    /// On a resumed session, send again what the broker has not
    /// acknowledged: PUBLISH with DUP, or PUBREL after a PUBREC (4.4).
    fn resume_publishing(&mut self, c: usize) {
        let v = self.clients[c].version.unwrap();
        let pending: Vec<(u16, Msg, bool)> = self.clients[c]
            .publishing
            .iter()
            .map(|(id, (m, _, rel))| (*id, m.clone(), *rel))
            .collect();
        for (id, m, released) in pending {
            let mut buf = BytesMut::new();
            if released {
                Packet::PubRel(PubRel::new(id)).encode(v, &mut buf).unwrap();
            } else {
                let payload = m.payload();
                let mut p = Publish::new(TOPICS[m.topic], &payload);
                p.qos = qos(u64::from(m.qos));
                p.packet_id = Some(id);
                p.dup = true;
                Packet::Publish(p).encode(v, &mut buf).unwrap();
            }
            self.clients[c].outbox.push((buf.to_vec(), None));
        }
    }

    /// The publisher got PUBACK or PUBREC: the broker owes the message to
    /// the persistent subscribers recorded when it was published.
    fn acknowledged(&mut self, c: usize, id: u16, qos2: bool) {
        let v = self.clients[c].version.unwrap();
        let Some((m, owed, _)) = self.clients[c].publishing.get(&id).cloned() else {
            return;
        };
        for (s, epoch) in owed {
            self.owed.push((s, m.clone(), epoch));
        }
        if qos2 {
            let mut buf = BytesMut::new();
            Packet::PubRel(PubRel::new(id)).encode(v, &mut buf).unwrap();
            self.clients[c].outbox.push((buf.to_vec(), None));
            // Keep the entry until PUBCOMP, but owe the message only once.
            if let Some(e) = self.clients[c].publishing.get_mut(&id) {
                e.1.clear();
                e.2 = true;
            }
        } else {
            self.clients[c].publishing.remove(&id);
        }
    }

    fn connect(&mut self, c: usize, clean: bool) {
        self.next_conn += 1;
        let conn = self.next_conn;
        let cl = &mut self.clients[c];
        let v = cl.version.unwrap();
        let clean = clean || !cl.persistent;
        if clean {
            cl.epoch += 1;
            cl.session = false;
            cl.subs.clear();
            cl.in_flight.clear();
            cl.received.clear();
            cl.last.clear();
        }
        cl.conn = Some(conn);
        cl.outbox.clear();
        self.by_conn.insert(conn, c);
        self.b.connection_opened(conn, self.now);
        let id = format!("c{c}");
        let mut p = Connect::new(v, &id);
        p.clean_start = clean;
        if v.is_v5() && cl.persistent {
            p.properties.session_expiry_interval = Some(u32::MAX);
        }
        // The session outlives this connection unless it is a 3.1.1 clean
        // session (5.0: Clean Start only discards the old one; the expiry
        // interval keeps the new one).
        let lasting = cl.persistent && (!clean || v.is_v5());
        self.send(c, Packet::Connect(mqttkit_codec::Lazy::new(&p)));
        if self.clients[c].conn.is_some() {
            self.clients[c].session = lasting;
        }
    }

    fn act(&mut self) {
        let c = self.rng.below(self.clients.len() as u64) as usize;
        let r = self.rng.below(100);
        if trace() {
            eprintln!(
                "step {} client {c} action {r} connected {}",
                self.step,
                self.clients[c].conn.is_some()
            );
        }
        let connected = self.clients[c].conn.is_some();
        if !connected {
            if r < 60 {
                let clean = self.rng.chance(2);
                self.connect(c, clean);
            }
            return;
        }
        match r {
            0..=2 => {
                self.send(c, Packet::Disconnect(Disconnect::default()));
                self.pump();
                if let Some(conn) = self.clients[c].conn.take() {
                    self.by_conn.remove(&conn);
                }
                self.clients[c].outbox.clear();
            }
            3..=5 => {
                let conn = self.clients[c].conn.take().unwrap();
                self.by_conn.remove(&conn);
                self.clients[c].outbox.clear();
                self.b.connection_lost(conn, self.now);
                self.pump();
            }
            6..=15 => {
                let t = self.rng.below(self.limits.topics as u64) as usize;
                let q = qos(self.rng.next());
                let subs = [Subscription::new(TOPICS[t], q)];
                self.clients[c].subs.insert(t, q);
                self.send(c, Packet::Subscribe(Subscribe::new(1, &subs)));
            }
            16..=18 => {
                let t = self.rng.below(self.limits.topics as u64) as usize;
                self.clients[c].subs.remove(&t);
                self.send(c, Packet::Unsubscribe(Unsubscribe::new(1, &[TOPICS[t]])));
            }
            19..=60 => self.publish(c),
            61..=90 => {
                // Send held-back acknowledgements, all or some.
                let n = self.clients[c].outbox.len();
                let k = if self.rng.chance(50) {
                    n
                } else {
                    self.rng.below(n as u64 + 1) as usize
                };
                let batch: Vec<_> = self.clients[c].outbox.drain(..k).collect();
                self.flush(c, batch);
            }
            _ => {
                self.now += 1 + self.rng.below(500);
                self.b.handle_timeout(self.now);
                self.pump();
            }
        }
    }

    fn publish(&mut self, c: usize) {
        if self.clients[c].publishing.len() >= self.limits.max_publishing {
            return;
        }
        let t = self.rng.below(self.limits.topics as u64) as usize;
        let q = qos(self.rng.next());
        let cl = &mut self.clients[c];
        cl.seq += 1;
        let m = Msg {
            publisher: c,
            seq: cl.seq,
            topic: t,
            qos: q as u8,
        };
        // Who must get it if the broker acknowledges it: persistent
        // sessions subscribed at QoS >= 1 now.
        let owed: Vec<(usize, u32)> = if q == QoS::AtMostOnce {
            Vec::new()
        } else {
            self.clients
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    s.persistent
                        && s.session
                        && s.subs.get(&t).is_some_and(|&sq| sq != QoS::AtMostOnce)
                })
                .map(|(i, s)| (i, s.epoch))
                .collect()
        };
        let cl = &mut self.clients[c];
        let payload = m.payload();
        let mut p = Publish::new(TOPICS[t], &payload);
        p.qos = q;
        if q != QoS::AtMostOnce {
            let mut id = cl.next_id;
            loop {
                id = if id == u16::MAX { 1 } else { id + 1 };
                if !cl.publishing.contains_key(&id) {
                    break;
                }
            }
            cl.next_id = id;
            p.packet_id = Some(id);
            cl.publishing.insert(id, (m, owed, false));
        }
        self.send(c, Packet::Publish(p));
    }

    fn flush(&mut self, c: usize, batch: Vec<(Vec<u8>, Option<u16>)>) {
        for (b, frees) in batch {
            let Some(conn) = self.clients[c].conn else {
                return;
            };
            if let Some(id) = frees {
                self.clients[c].in_flight.remove(&id);
            }
            self.b.bytes_received(conn, &b, self.now);
            self.pump();
        }
    }

    fn check_limits(&self) {
        assert!(self.b.session_count() <= self.clients.len());
        for i in 0..self.clients.len() {
            if let Some(s) = self.b.session(&format!("c{i}")) {
                if s.queue.len() > self.limits.max_queued {
                    self.fail(format!("c{i}: queue {} over the limit", s.queue.len()));
                }
                let window = usize::from(self.b.config().max_inflight);
                if s.in_flight.len() > window {
                    self.fail(format!(
                        "c{i}: {} in flight over the limit",
                        s.in_flight.len()
                    ));
                }
            }
        }
    }

    /// Resume every persistent session and let everything drain.
    fn drain(&mut self) {
        for c in 0..self.clients.len() {
            if self.clients[c].conn.is_none() && self.clients[c].persistent {
                self.connect(c, false);
            }
        }
        for _ in 0..10_000 {
            let mut any = false;
            for c in 0..self.clients.len() {
                let batch: Vec<_> = self.clients[c].outbox.drain(..).collect();
                any |= !batch.is_empty();
                self.flush(c, batch);
            }
            if !any {
                return;
            }
        }
        self.fail("did not drain in 10,000 rounds".into());
    }
}

/// Runs one simulation with choices from `rng`; panics when an invariant
/// breaks (the message starts with `label` and the step).
pub fn run<S: Choices>(cfg: &SimConfig, rng: &mut S, label: &str) -> Summary {
    assert_eq!(cfg.versions.len(), cfg.persistent.len());
    let config = Config {
        max_queued_messages: cfg.max_queued,
        max_inflight: cfg.max_inflight,
        seed: cfg.seed,
        ..Config::default()
    };
    let clients: Vec<Client> = cfg
        .versions
        .iter()
        .zip(&cfg.persistent)
        .map(|(&v, &p)| Client {
            version: Some(v),
            persistent: p,
            ..Client::default()
        })
        .collect();
    let mut sim = Sim {
        b: Broker::new(config),
        rng,
        limits: SimConfig {
            topics: cfg.topics.clamp(1, TOPICS.len()),
            max_publishing: cfg.max_publishing.max(1),
            ..cfg.clone()
        },
        now: 0,
        next_conn: 0,
        clients,
        by_conn: HashMap::new(),
        owed: Vec::new(),
        dropped: BTreeSet::new(),
        step: 0,
        label: label.to_string(),
    };
    let mut steps = 0;
    for step in 0..cfg.steps {
        if sim.rng.exhausted() {
            break;
        }
        sim.step = step;
        sim.act();
        steps += 1;
        if step % cfg.check_every.max(1) == 0 {
            sim.check_limits();
        }
    }
    sim.check_limits();
    sim.drain();
    sim.check_limits();
    let mut checked = 0;
    for (s, m, epoch) in &sim.owed {
        let cl = &sim.clients[*s];
        if cl.epoch != *epoch {
            if trace() {
                eprintln!("skip c{s} epoch {} owed at {epoch} {m:?}", cl.epoch);
            }
            continue; // the session was discarded since (clean start)
        }
        checked += 1;
        if !cl.received.contains(m) {
            let key = (format!("c{s}"), TOPICS[m.topic].to_string());
            if !sim.dropped.contains(&key) {
                sim.fail(format!("c{s} never got {m:?} and no drop was reported"));
            }
        }
    }
    Summary {
        steps,
        owed: sim.owed.len(),
        checked,
        drops: sim.dropped.len(),
    }
}
