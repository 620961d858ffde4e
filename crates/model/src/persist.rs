//! Durable state, still without I/O: what the broker core reports it
//! changed, and how a core is rebuilt from what was stored.
//!
//! The durable part of a broker is its sessions (subscriptions, messages
//! queued, messages in flight towards the client, QoS 2 packet ids received
//! and not yet released) and its retained messages. With persistence
//! enabled ([`Broker::enable_persistence`] or [`Broker::restore`]) the core
//! remembers which sessions and retained topics changed (a dirty set: a
//! handful of one-line hooks in `broker.rs` mark them) and
//! [`Broker::take_store_ops`] turns that set into [`StoreOp`]s that bring
//! the store to the state as it stands when taken. So the order of changes
//! inside a batch does not matter: an I/O layer that commits the ops taken
//! after a batch before writing that batch's packets has every acknowledged
//! message on disk before the acknowledgement leaves.
//!
//! Records: one per session (`sessions`, keyed by client id: version,
//! expiry, next packet id, subscriptions, QoS 2 ids received), one per
//! message of a session (`messages`, keyed `{client}\0f{packet id:04x}` for
//! one in flight, `{client}\0q{sequence:016x}` for one queued; client ids
//! never contain U+0000) and one per retained message (`retained`, keyed by
//! topic). To keep the work per batch proportional to what changed, not to
//! the size of a session, the model keeps a shadow of what it last reported
//! for each stored session: its session record, its in-flight messages, its
//! queue with the sequence numbers given to each entry. At take time the
//! in-flight map is compared by packet id and the queue by message identity
//! (the queue only loses entries at the front and gains them at the back),
//! so a delivery costs one put and its acknowledgement one delete.
//!
//! Times: the model's clock is the caller's `now` (milliseconds since an
//! epoch the caller chooses, in the reference broker the process start).
//! Records hold wall-clock times instead (milliseconds since the Unix
//! epoch), computed with the `wall_base` the caller gives: model time `t`
//! is wall time `wall_base + t`. So session expiry and message expiry keep
//! counting while the broker is down, and a session whose expiry passed in
//! the meantime is ended when it is restored. A session that was attached
//! when its state was stored (the broker stopped or was killed under it) is
//! restored detached, its expiry counting from the restore.
//!
//! Not stored: connections, wills (pending or not), `$delayed/` messages
//! not yet due, shared-subscription cursors and counters.
//!
//! Record format (all integers big-endian; strings and byte strings are a
//! `u32` length and the bytes; an option is a `0`/`1` byte then the value;
//! a list is a `u32` count then the items):
//!
//! ```text
//! session  = FORMAT u8, protocol level u8, expiry u32, expires_at opt u64,
//!            next packet id u16,
//!            subscriptions list (filter str, options u8, id opt u32),
//!            qos2 ids list (u16)
//! in flight = FORMAT u8, state u8 (0 PUBACK, 1 PUBREC, 2 PUBCOMP awaited),
//!            delivery
//! queued   = FORMAT u8, delivery
//! retained = FORMAT u8, message
//! delivery = qos u8, retain u8, subscription ids list (u32), message
//! message  = topic str, payload bytes, qos u8, retain u8,
//!            payload format opt u8, content type opt str,
//!            response topic opt str, correlation data opt bytes,
//!            user properties list (str, str), expires_at opt u64,
//!            publisher opt str
//! ```
//!
//! Decoding never trusts a length or a count: each is checked against the
//! bytes left before anything is read or allocated, and a bad record is a
//! [`RestoreError`] naming the table, the key, the byte offset and what is
//! wrong.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use super::*;

/// Version of the record format, the first byte of every record.
pub const FORMAT: u8 = 1;

/// The two kinds of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Sessions, keyed by client identifier.
    Sessions,
    /// Messages of sessions (in flight or queued), keyed by client
    /// identifier, NUL, `f` and the packet id or `q` and a sequence number.
    Messages,
    /// Retained messages, keyed by topic name.
    Retained,
}

impl Table {
    /// The table's name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Sessions => "sessions",
            Table::Messages => "messages",
            Table::Retained => "retained",
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One change to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// Write (create or replace) a record.
    Put {
        /// Which table.
        table: Table,
        /// Client identifier or topic name.
        key: Arc<str>,
        /// The encoded record.
        value: Vec<u8>,
    },
    /// Remove a record (absent already is fine).
    Delete {
        /// Which table.
        table: Table,
        /// Client identifier or topic name.
        key: Arc<str>,
    },
}

/// Everything a store holds: the input of [`Broker::restore`]. Also a
/// complete in-memory store ([`StoredState::apply`]) for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredState {
    /// Session records by client identifier.
    pub sessions: BTreeMap<String, Vec<u8>>,
    /// Session message records (see [`Table::Messages`]).
    pub messages: BTreeMap<String, Vec<u8>>,
    /// Retained-message records by topic name.
    pub retained: BTreeMap<String, Vec<u8>>,
}

impl StoredState {
    /// Applies changes in order.
    pub fn apply(&mut self, ops: impl IntoIterator<Item = StoreOp>) {
        for op in ops {
            match op {
                StoreOp::Put { table, key, value } => {
                    self.table_mut(table).insert(key.to_string(), value);
                }
                StoreOp::Delete { table, key } => {
                    self.table_mut(table).remove(&*key);
                }
            }
        }
    }

    fn table_mut(&mut self, t: Table) -> &mut BTreeMap<String, Vec<u8>> {
        match t {
            Table::Sessions => &mut self.sessions,
            Table::Messages => &mut self.messages,
            Table::Retained => &mut self.retained,
        }
    }
}

/// A stored record that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreError {
    /// Its table.
    pub table: Table,
    /// Its key.
    pub key: String,
    /// Byte offset in the record where reading failed.
    pub offset: usize,
    /// What is wrong.
    pub what: &'static str,
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stored {} record {:?} is unreadable at byte {}: {}",
            self.table, self.key, self.offset, self.what
        )
    }
}

impl std::error::Error for RestoreError {}

/// What a restore found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Sessions restored.
    pub sessions: usize,
    /// Sessions whose expiry had passed: ended (and deleted from the store
    /// with the next [`Broker::take_store_ops`], as are message records
    /// without a session).
    pub expired_sessions: usize,
    /// Subscriptions restored.
    pub subscriptions: usize,
    /// Messages restored in session queues.
    pub queued: usize,
    /// Messages restored in flight towards clients.
    pub in_flight: usize,
    /// QoS 2 packet ids restored as received and not released.
    pub incoming_qos2: usize,
    /// Retained messages restored.
    pub retained: usize,
    /// Retained messages whose expiry had passed (dropped).
    pub expired_retained: usize,
}

/// What changed since the last [`Broker::take_store_ops`].
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    wall_base: u64,
    sessions: BTreeSet<Arc<str>>,
    retained: BTreeSet<Arc<str>>,
    /// What the store holds for each stored session (a session which never
    /// needed a record has none and costs no delete).
    shadows: HashMap<Arc<str>, Shadow>,
}

/// The store's view of one session, as last reported.
#[derive(Debug, Default)]
struct Shadow {
    /// The session record (empty: none stored).
    record: Vec<u8>,
    /// Messages in flight by packet id.
    flight: BTreeMap<u16, (Delivery, OutState)>,
    /// Queued messages with their sequence numbers, in order.
    queue: VecDeque<(u64, Delivery)>,
    next_seq: u64,
}

fn same(a: &Delivery, b: &Delivery) -> bool {
    Arc::ptr_eq(&a.message, &b.message)
        && a.qos == b.qos
        && a.retain == b.retain
        && a.subscription_ids == b.subscription_ids
}

fn flight_key(client: &str, id: u16) -> Arc<str> {
    Arc::from(format!("{client}\0f{id:04x}"))
}

fn queue_key(client: &str, seq: u64) -> Arc<str> {
    Arc::from(format!("{client}\0q{seq:016x}"))
}

/// Splits a message key into client id and, for an in-flight message, its
/// packet id or, for a queued one, its sequence number.
fn parse_message_key(key: &str) -> Option<(&str, Result<u16, u64>)> {
    let (client, rest) = key.split_once('\0')?;
    let hex = |s: &str, n: usize| {
        (s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(s, 16).ok())
            .flatten()
    };
    if let Some(id) = rest.strip_prefix('f') {
        let id = u16::try_from(hex(id, 4)?).ok().filter(|&i| i != 0)?;
        Some((client, Ok(id)))
    } else {
        let seq = hex(rest.strip_prefix('q')?, 16)?;
        Some((client, Err(seq)))
    }
}

impl<A: Authorizer> Broker<A> {
    /// Rebuilds a broker from stored records. `wall_base` is the wall-clock
    /// time (ms since the Unix epoch) at this broker's model time 0, `now`
    /// the model time of the restore. Persistence is enabled on the result.
    pub fn restore(
        config: Config,
        auth: A,
        state: &StoredState,
        wall_base: u64,
        now: Millis,
    ) -> Result<(Self, RestoreReport), RestoreError> {
        let mut b = Broker::with_authorizer(config, auth);
        let report = b.load(state, wall_base, now)?;
        Ok((b, report))
    }

    /// Starts tracking changes for [`take_store_ops`](Self::take_store_ops),
    /// with model time 0 at wall-clock `wall_base` (ms since the Unix epoch).
    pub fn enable_persistence(&mut self, wall_base: u64) {
        let p = self.persist.get_or_insert_with(Default::default);
        p.wall_base = wall_base;
    }

    /// True when changes are tracked.
    pub fn persistence_enabled(&self) -> bool {
        self.persist.is_some()
    }

    /// Loads stored records into this broker, which must hold no session
    /// and no retained message yet (records already present are replaced),
    /// and enables persistence. Nothing is changed when a record is
    /// unreadable.
    pub fn load(
        &mut self,
        state: &StoredState,
        wall_base: u64,
        now: Millis,
    ) -> Result<RestoreReport, RestoreError> {
        let from_wall = |w: u64| w.saturating_sub(wall_base);
        // Read everything first: an unreadable record changes nothing.
        let mut sessions: BTreeMap<&str, (StoredSession, Shadow)> = BTreeMap::new();
        for (key, value) in &state.sessions {
            let mut r = Reader::new(Table::Sessions, key, value);
            let s = r.session(from_wall)?;
            let shadow = Shadow {
                record: value.clone(),
                ..Shadow::default()
            };
            sessions.insert(key, (s, shadow));
        }
        // Message records of sessions that are not stored (left behind).
        let mut orphans: HashMap<&str, Shadow> = HashMap::new();
        for (key, value) in &state.messages {
            let mut r = Reader::new(Table::Messages, key, value);
            let Some((client, which)) = parse_message_key(key) else {
                return r.err("key is not {client}\\0f{id} or {client}\\0q{sequence}");
            };
            r.format()?;
            let shadow = match sessions.get_mut(client) {
                Some((_, shadow)) => shadow,
                None => orphans.entry(client).or_default(),
            };
            match which {
                Ok(id) => {
                    let state = r.out_state()?;
                    let delivery = r.delivery(&from_wall)?;
                    let want = if state == OutState::AwaitPubAck {
                        QoS::AtLeastOnce
                    } else {
                        QoS::ExactlyOnce
                    };
                    if delivery.qos != want {
                        return r.err("in-flight message's QoS does not match its state");
                    }
                    r.end()?;
                    shadow.flight.insert(id, (delivery, state));
                }
                Err(seq) => {
                    let d = r.delivery(&from_wall)?;
                    if d.qos == QoS::AtMostOnce {
                        return r.err("queued message with QoS 0");
                    }
                    r.end()?;
                    // Keys sort by sequence: the queue comes in order.
                    shadow.queue.push_back((seq, d));
                    shadow.next_seq = seq.saturating_add(1);
                }
            }
        }
        let mut retained = Vec::with_capacity(state.retained.len());
        for (key, value) in &state.retained {
            let mut r = Reader::new(Table::Retained, key, value);
            r.format()?;
            let m = r.message(&from_wall)?;
            r.end()?;
            retained.push((key, m));
        }

        self.enable_persistence(wall_base);
        let mut report = RestoreReport::default();
        for (client, shadow) in orphans {
            let client: Arc<str> = Arc::from(client);
            self.shadow_insert(&client, shadow);
            self.mark_session(&client);
        }
        for (key, (stored, shadow)) in sessions {
            let client: Arc<str> = Arc::from(key);
            let StoredSession {
                next_id,
                version,
                expiry,
                expires_at,
                subscriptions,
                incoming_qos2,
            } = stored;
            // An attached session restored: its connection is gone, its
            // expiry starts now.
            let expires_at = match expiry {
                u32::MAX => None,
                e => Some(expires_at.unwrap_or(now + u64::from(e) * 1000)),
            };
            let expired = expiry == 0 || expires_at.is_some_and(|t| t <= now);
            let in_flight: BTreeMap<u16, InFlight> = shadow
                .flight
                .iter()
                .map(|(id, (d, st))| {
                    (
                        *id,
                        InFlight {
                            delivery: d.clone(),
                            state: *st,
                        },
                    )
                })
                .collect();
            let queue: VecDeque<Delivery> = shadow.queue.iter().map(|(_, d)| d.clone()).collect();
            self.shadow_insert(&client, shadow);
            if expired {
                report.expired_sessions += 1;
                self.mark_session(&client);
                continue;
            }
            if let Some(n) = assigned_number(key) {
                self.next_assigned = self.next_assigned.max(n);
            }
            if self.sessions.contains_key(&client) {
                self.end_session_silently(&client);
            }
            let mut s = Session::new(client.clone(), version);
            s.expiry = expiry;
            s.expires_at = expires_at;
            s.next_id = next_id;
            for (filter, sub) in subscriptions {
                let kind = if version.is_v5() {
                    FilterKind::parse(&filter)
                } else {
                    FilterKind::Plain(&filter)
                };
                let key = match kind {
                    FilterKind::Shared { group, .. } => SubKey::Shared {
                        group: Arc::from(group),
                        client: client.clone(),
                    },
                    FilterKind::Plain(_) => SubKey::Client(client.clone()),
                };
                self.tree.insert(kind.filter(), key, sub.clone());
                s.subscriptions.insert(Arc::from(filter), sub);
            }
            report.subscriptions += s.subscriptions.len();
            report.incoming_qos2 += incoming_qos2.len();
            report.in_flight += in_flight.len();
            report.queued += queue.len();
            s.incoming_qos2 = incoming_qos2.into();
            s.in_flight = in_flight.into();
            s.queue = queue.into();
            if let Some(at) = expires_at {
                self.named_timers
                    .push(Reverse((at, NamedTimer::Session(client.clone()))));
            }
            self.sessions.insert(client, Box::new(s));
            report.sessions += 1;
        }
        for (key, m) in retained {
            let topic: Arc<str> = Arc::from(key.as_str());
            if m.expired(now) {
                report.expired_retained += 1;
                self.mark_retained(&topic);
                continue;
            }
            self.retained.insert(topic, Arc::new(m));
            report.retained += 1;
        }
        Ok(report)
    }

    fn shadow_insert(&mut self, client: &Arc<str>, shadow: Shadow) {
        if let Some(p) = self.persist.as_mut() {
            p.shadows.insert(client.clone(), shadow);
        }
    }

    /// The changes since the last call, bringing the store to the state as
    /// it stands now. Empty when persistence is not enabled.
    pub fn take_store_ops(&mut self) -> Vec<StoreOp> {
        let Some(p) = self.persist.as_mut() else {
            return Vec::new();
        };
        if p.sessions.is_empty() && p.retained.is_empty() {
            return Vec::new();
        }
        let sessions = std::mem::take(&mut p.sessions);
        let retained = std::mem::take(&mut p.retained);
        let base = p.wall_base;
        let mut ops = Vec::with_capacity(sessions.len() + retained.len());
        for client in sessions {
            match self.sessions.get(&client) {
                // A session that ends with its connection is never stored.
                Some(s) if s.expiry != 0 => {
                    let sh = p.shadows.entry(client.clone()).or_default();
                    sync_session(&client, s, sh, base, &mut ops);
                }
                _ => {
                    if let Some(sh) = p.shadows.remove(&client) {
                        if !sh.record.is_empty() {
                            ops.push(StoreOp::Delete {
                                table: Table::Sessions,
                                key: client.clone(),
                            });
                        }
                        for id in sh.flight.keys() {
                            ops.push(StoreOp::Delete {
                                table: Table::Messages,
                                key: flight_key(&client, *id),
                            });
                        }
                        for (seq, _) in &sh.queue {
                            ops.push(StoreOp::Delete {
                                table: Table::Messages,
                                key: queue_key(&client, *seq),
                            });
                        }
                    }
                }
            }
        }
        for topic in retained {
            match self.retained.get(&topic) {
                Some(m) => {
                    let mut w = Vec::with_capacity(64 + m.payload.len());
                    w.push(FORMAT);
                    put_message(&mut w, m, base);
                    ops.push(StoreOp::Put {
                        table: Table::Retained,
                        key: topic,
                        value: w,
                    });
                }
                None => ops.push(StoreOp::Delete {
                    table: Table::Retained,
                    key: topic,
                }),
            }
        }
        ops
    }

    /// Every durable record as it stands, numbered afresh (a full snapshot,
    /// independent of what was reported before): what a new store would be
    /// given.
    pub fn stored_state(&self, wall_base: u64) -> StoredState {
        let mut st = StoredState::default();
        for (client, s) in &self.sessions {
            if s.expiry == 0 {
                continue;
            }
            let mut ops = Vec::new();
            sync_session(client, s, &mut Shadow::default(), wall_base, &mut ops);
            st.apply(ops);
        }
        for (topic, m) in &self.retained {
            let mut w = vec![FORMAT];
            put_message(&mut w, m, wall_base);
            st.retained.insert(topic.to_string(), w);
        }
        st
    }

    // ---- hooks (called from broker.rs where durable state changes) -------

    pub(crate) fn mark_session(&mut self, client: &Arc<str>) {
        if let Some(p) = self.persist.as_mut() {
            if !p.sessions.contains(client) {
                p.sessions.insert(client.clone());
            }
        }
    }

    pub(crate) fn mark_conn(&mut self, conn: ConnId) {
        if self.persist.is_some() {
            if let Some(client) = self.conns.get(&conn).and_then(|c| c.client.clone()) {
                self.mark_session(&client);
            }
        }
    }

    pub(crate) fn mark_retained(&mut self, topic: &Arc<str>) {
        if let Some(p) = self.persist.as_mut() {
            if !p.retained.contains(topic) {
                p.retained.insert(topic.clone());
            }
        }
    }
}

/// `mqttkit-{8 hex}`: the number of an id the broker assigned.
fn assigned_number(client: &str) -> Option<u64> {
    let hex = client.strip_prefix("mqttkit-")?;
    (hex.len() == 8)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

// ---- encoding ---------------------------------------------------------------

/// Brings the store's view of one session (`sh`) to the session as it
/// stands, pushing the ops that do it.
fn sync_session(
    client: &Arc<str>,
    s: &Session,
    sh: &mut Shadow,
    base: u64,
    ops: &mut Vec<StoreOp>,
) {
    let record = encode_session(s, base);
    if record != sh.record {
        ops.push(StoreOp::Put {
            table: Table::Sessions,
            key: client.clone(),
            value: record.clone(),
        });
        sh.record = record;
    }
    // In flight: by packet id.
    let gone: Vec<u16> = sh
        .flight
        .keys()
        .filter(|id| !s.in_flight.contains_key(id))
        .copied()
        .collect();
    for id in gone {
        sh.flight.remove(&id);
        ops.push(StoreOp::Delete {
            table: Table::Messages,
            key: flight_key(client, id),
        });
    }
    for (id, f) in &s.in_flight {
        let known = sh
            .flight
            .get(id)
            .is_some_and(|(d, st)| *st == f.state && same(d, &f.delivery));
        if !known {
            let mut w = Vec::with_capacity(64 + f.delivery.message.payload.len());
            w.push(FORMAT);
            w.push(match f.state {
                OutState::AwaitPubAck => 0,
                OutState::AwaitPubRec => 1,
                OutState::AwaitPubComp => 2,
            });
            put_delivery(&mut w, &f.delivery, base);
            ops.push(StoreOp::Put {
                table: Table::Messages,
                key: flight_key(client, *id),
                value: w,
            });
            sh.flight.insert(*id, (f.delivery.clone(), f.state));
        }
    }
    // Queue: entries leave at the front and arrive at the back. Find how
    // many stored entries left (the first `k` for which the rest of the
    // stored queue is the start of the current one; all of them when
    // nothing else matches), then store what arrived.
    let stored = sh.queue.len();
    let left = (0..=stored)
        .find(|&k| {
            stored - k <= s.queue.len()
                && sh
                    .queue
                    .iter()
                    .skip(k)
                    .zip(s.queue.iter())
                    .all(|((_, a), b)| same(a, b))
        })
        .unwrap_or(stored);
    for _ in 0..left {
        if let Some((seq, _)) = sh.queue.pop_front() {
            ops.push(StoreOp::Delete {
                table: Table::Messages,
                key: queue_key(client, seq),
            });
        }
    }
    for d in s.queue.iter().skip(sh.queue.len()) {
        let seq = sh.next_seq;
        sh.next_seq += 1;
        let mut w = Vec::with_capacity(64 + d.message.payload.len());
        w.push(FORMAT);
        put_delivery(&mut w, d, base);
        ops.push(StoreOp::Put {
            table: Table::Messages,
            key: queue_key(client, seq),
            value: w,
        });
        sh.queue.push_back((seq, d.clone()));
    }
}

fn encode_session(s: &Session, base: u64) -> Vec<u8> {
    let mut w = Vec::with_capacity(64);
    w.push(FORMAT);
    w.push(s.version.level());
    put_u32(&mut w, s.expiry);
    // Attached: no expiry time yet (it starts when the connection ends).
    let at = if s.conn.is_some() { None } else { s.expires_at };
    put_opt_u64(&mut w, at.map(|t| base.saturating_add(t)));
    w.extend_from_slice(&s.next_id.to_be_bytes());
    put_len(&mut w, s.subscriptions.len());
    for (filter, sub) in &s.subscriptions {
        put_str(&mut w, filter);
        let o = sub.options;
        w.push(
            o.qos as u8
                | u8::from(o.no_local) << 2
                | u8::from(o.retain_as_published) << 3
                | (o.retain_handling as u8) << 4,
        );
        put_opt_u32(&mut w, sub.id);
    }
    put_len(&mut w, s.incoming_qos2.len());
    for id in &s.incoming_qos2 {
        w.extend_from_slice(&id.to_be_bytes());
    }
    w
}

fn put_delivery(w: &mut Vec<u8>, d: &Delivery, base: u64) {
    w.push(d.qos as u8);
    w.push(u8::from(d.retain));
    put_len(w, d.subscription_ids.len());
    for id in &d.subscription_ids {
        put_u32(w, *id);
    }
    put_message(w, &d.message, base);
}

fn put_message(w: &mut Vec<u8>, m: &Message, base: u64) {
    put_str(w, &m.topic);
    put_bytes(w, &m.payload);
    w.push(m.qos as u8);
    w.push(u8::from(m.retain));
    let p = &m.properties;
    match p.payload_format_indicator {
        Some(v) => w.extend_from_slice(&[1, v]),
        None => w.push(0),
    }
    put_opt_str(w, p.content_type.as_deref());
    put_opt_str(w, p.response_topic.as_deref());
    match &p.correlation_data {
        Some(d) => {
            w.push(1);
            put_bytes(w, d);
        }
        None => w.push(0),
    }
    put_len(w, p.user_properties.len());
    for (k, v) in &p.user_properties {
        put_str(w, k);
        put_str(w, v);
    }
    put_opt_u64(w, m.expires_at.map(|t| base.saturating_add(t)));
    put_opt_str(w, m.publisher.as_deref());
}

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_be_bytes());
}

fn put_len(w: &mut Vec<u8>, n: usize) {
    // Every length the model holds fits: strings and payloads come from
    // packets (at most 256 MiB), counts are bounded by configured limits.
    put_u32(w, u32::try_from(n).unwrap_or(u32::MAX));
}

fn put_bytes(w: &mut Vec<u8>, b: &[u8]) {
    put_len(w, b.len());
    w.extend_from_slice(b);
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    put_bytes(w, s.as_bytes());
}

fn put_opt_str(w: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            w.push(1);
            put_str(w, s);
        }
        None => w.push(0),
    }
}

fn put_opt_u32(w: &mut Vec<u8>, v: Option<u32>) {
    match v {
        Some(v) => {
            w.push(1);
            put_u32(w, v);
        }
        None => w.push(0),
    }
}

fn put_opt_u64(w: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => {
            w.push(1);
            w.extend_from_slice(&v.to_be_bytes());
        }
        None => w.push(0),
    }
}

// ---- decoding ---------------------------------------------------------------

struct StoredSession {
    next_id: u16,
    version: ProtocolVersion,
    expiry: u32,
    expires_at: Option<Millis>,
    subscriptions: Vec<(String, Subscribed)>,
    incoming_qos2: BTreeSet<u16>,
}

struct Reader<'a> {
    table: Table,
    key: &'a str,
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(table: Table, key: &'a str, buf: &'a [u8]) -> Self {
        Reader {
            table,
            key,
            buf,
            pos: 0,
        }
    }

    fn err<T>(&self, what: &'static str) -> Result<T, RestoreError> {
        Err(RestoreError {
            table: self.table,
            key: self.key.to_string(),
            offset: self.pos,
            what,
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], RestoreError> {
        if self.buf.len() - self.pos < n {
            return self.err("record ends early (truncated)");
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, RestoreError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, RestoreError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, RestoreError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, RestoreError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    fn flag(&mut self) -> Result<bool, RestoreError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => {
                self.pos -= 1;
                self.err("flag byte is neither 0 nor 1")
            }
        }
    }

    /// A count of items each at least `min` bytes long: never more than
    /// the bytes left can hold.
    fn count(&mut self, min: usize) -> Result<usize, RestoreError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min) > self.buf.len() - self.pos {
            self.pos -= 4;
            return self.err("count larger than the record can hold");
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<&'a [u8], RestoreError> {
        let n = self.u32()? as usize;
        if n > self.buf.len() - self.pos {
            self.pos -= 4;
            return self.err("length runs past the end of the record");
        }
        self.take(n)
    }

    fn str(&mut self) -> Result<&'a str, RestoreError> {
        let start = self.pos;
        let b = self.bytes()?;
        std::str::from_utf8(b).or_else(|_| {
            self.pos = start;
            self.err("string is not UTF-8")
        })
    }

    fn opt_u64(&mut self) -> Result<Option<u64>, RestoreError> {
        Ok(if self.flag()? {
            Some(self.u64()?)
        } else {
            None
        })
    }

    fn opt_str(&mut self) -> Result<Option<Arc<str>>, RestoreError> {
        Ok(if self.flag()? {
            Some(Arc::from(self.str()?))
        } else {
            None
        })
    }

    fn qos(&mut self) -> Result<QoS, RestoreError> {
        let b = self.u8()?;
        QoS::from_bits(b).map_or_else(
            || {
                self.pos -= 1;
                self.err("QoS is not 0, 1 or 2")
            },
            Ok,
        )
    }

    fn out_state(&mut self) -> Result<OutState, RestoreError> {
        match self.u8()? {
            0 => Ok(OutState::AwaitPubAck),
            1 => Ok(OutState::AwaitPubRec),
            2 => Ok(OutState::AwaitPubComp),
            _ => {
                self.pos -= 1;
                self.err("unknown in-flight state")
            }
        }
    }

    fn format(&mut self) -> Result<(), RestoreError> {
        if self.u8()? != FORMAT {
            self.pos -= 1;
            return self.err("unknown record format (written by another version?)");
        }
        Ok(())
    }

    fn end(&self) -> Result<(), RestoreError> {
        if self.pos != self.buf.len() {
            return self.err("bytes left over after the record");
        }
        Ok(())
    }

    fn session(
        &mut self,
        from_wall: impl Fn(u64) -> Millis,
    ) -> Result<StoredSession, RestoreError> {
        self.format()?;
        let level = self.u8()?;
        let Some(version) = ProtocolVersion::from_level(level) else {
            self.pos -= 1;
            return self.err("unknown protocol level");
        };
        let expiry = self.u32()?;
        let expires_at = self.opt_u64()?.map(&from_wall);
        let next_id = self.u16()?;
        let mut subscriptions = Vec::new();
        for _ in 0..self.count(6)? {
            let filter = self.str()?;
            if filter.is_empty() {
                return self.err("empty topic filter");
            }
            let o = self.u8()?;
            let (Some(qos), rh) = (QoS::from_bits(o & 3), (o >> 4) & 3) else {
                self.pos -= 1;
                return self.err("subscription options hold QoS 3");
            };
            let retain_handling = match rh {
                0 => RetainHandling::SendOnSubscribe,
                1 => RetainHandling::SendIfNew,
                2 => RetainHandling::DoNotSend,
                _ => {
                    self.pos -= 1;
                    return self.err("subscription options hold Retain Handling 3");
                }
            };
            let options = SubscriptionOptions {
                qos,
                no_local: o & 4 != 0,
                retain_as_published: o & 8 != 0,
                retain_handling,
            };
            let id = if self.flag()? {
                Some(self.u32()?)
            } else {
                None
            };
            subscriptions.push((filter.to_string(), Subscribed { options, id }));
        }
        let mut incoming_qos2 = BTreeSet::new();
        for _ in 0..self.count(2)? {
            let id = self.u16()?;
            if id == 0 {
                self.pos -= 2;
                return self.err("packet id 0");
            }
            incoming_qos2.insert(id);
        }
        self.end()?;
        Ok(StoredSession {
            next_id,
            version,
            expiry,
            expires_at,
            subscriptions,
            incoming_qos2,
        })
    }

    fn delivery(&mut self, from_wall: &impl Fn(u64) -> Millis) -> Result<Delivery, RestoreError> {
        let qos = self.qos()?;
        let retain = self.flag()?;
        let mut subscription_ids = Vec::new();
        for _ in 0..self.count(4)? {
            subscription_ids.push(self.u32()?);
        }
        let message = Arc::new(self.message(from_wall)?);
        if qos > message.qos {
            return self.err("delivery QoS above the message's QoS");
        }
        Ok(Delivery {
            message,
            qos,
            retain,
            subscription_ids,
        })
    }

    fn message(&mut self, from_wall: &impl Fn(u64) -> Millis) -> Result<Message, RestoreError> {
        let topic = self.str()?;
        if topic.is_empty() {
            return self.err("empty topic name");
        }
        let topic = Arc::from(topic);
        let payload = Bytes::copy_from_slice(self.bytes()?);
        let qos = self.qos()?;
        let retain = self.flag()?;
        let payload_format_indicator = if self.flag()? { Some(self.u8()?) } else { None };
        let content_type = self.opt_str()?;
        let response_topic = self.opt_str()?;
        let correlation_data = if self.flag()? {
            Some(Bytes::copy_from_slice(self.bytes()?))
        } else {
            None
        };
        let mut user_properties = Vec::new();
        for _ in 0..self.count(8)? {
            let k = Arc::from(self.str()?);
            let v = Arc::from(self.str()?);
            user_properties.push((k, v));
        }
        let expires_at = self.opt_u64()?.map(from_wall);
        let publisher = self.opt_str()?;
        Ok(Message {
            topic,
            payload,
            qos,
            retain,
            properties: MessageProperties {
                payload_format_indicator,
                content_type,
                response_topic,
                correlation_data,
                user_properties,
            },
            expires_at,
            publisher,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_keys_round_trip() {
        assert_eq!(
            parse_message_key(&flight_key("a/b", 7)),
            Some(("a/b", Ok(7)))
        );
        assert_eq!(
            parse_message_key(&queue_key("c", 0x1234)),
            Some(("c", Err(0x1234)))
        );
        assert_eq!(parse_message_key("c\0f0000"), None);
        assert_eq!(parse_message_key("c\0x0001"), None);
        assert_eq!(parse_message_key("c\0q12"), None);
        assert_eq!(parse_message_key("no-separator"), None);
    }

    #[test]
    fn assigned_numbers_are_recognised() {
        assert_eq!(assigned_number("mqttkit-0000000a"), Some(10));
        assert_eq!(assigned_number("mqttkit-0000000"), None);
        assert_eq!(assigned_number("mqttkit-zzzzzzzz"), None);
        assert_eq!(assigned_number("other"), None);
    }

    #[test]
    fn every_truncation_of_a_record_is_an_error() {
        let m = Message {
            topic: Arc::from("a/b"),
            payload: Bytes::from_static(b"xyz"),
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: MessageProperties {
                payload_format_indicator: Some(1),
                content_type: Some(Arc::from("text/plain")),
                response_topic: Some(Arc::from("r")),
                correlation_data: Some(Bytes::from_static(b"c")),
                user_properties: vec![(Arc::from("k"), Arc::from("v"))],
            },
            expires_at: Some(5000),
            publisher: Some(Arc::from("p")),
        };
        let mut s = Session::new(Arc::from("c"), ProtocolVersion::V5);
        s.expiry = 60;
        s.expires_at = Some(1000);
        s.subscriptions.insert(
            Arc::from("a/#"),
            Subscribed {
                options: SubscriptionOptions::qos(QoS::ExactlyOnce),
                id: Some(7),
            },
        );
        s.incoming_qos2.insert(9);
        let d = Delivery {
            message: Arc::new(m),
            qos: QoS::ExactlyOnce,
            retain: false,
            subscription_ids: vec![7],
        };
        s.in_flight.insert(
            3,
            InFlight {
                delivery: d.clone(),
                state: OutState::AwaitPubComp,
            },
        );
        s.queue.push_back(d);
        let from_wall = |w: u64| w.saturating_sub(100);
        let mut ops = Vec::new();
        sync_session(&Arc::from("c"), &s, &mut Shadow::default(), 100, &mut ops);
        let mut st = StoredState::default();
        st.apply(ops);
        assert_eq!((st.sessions.len(), st.messages.len()), (1, 2));
        let rec = st.sessions["c"].clone();
        let full = Reader::new(Table::Sessions, "c", &rec)
            .session(from_wall)
            .map_err(|e| e.to_string())
            .expect("whole record reads");
        assert_eq!(full.expires_at, Some(1000));
        assert_eq!(full.incoming_qos2.len(), 1);
        for cut in 0..rec.len() {
            let r = Reader::new(Table::Sessions, "c", &rec[..cut]).session(from_wall);
            let e = r.err().expect("a truncated record is refused");
            assert!(e.offset <= cut, "{e}");
        }
        for (key, msg) in &st.messages {
            let (_, which) = parse_message_key(key).expect("well-formed key");
            let read = |b: &[u8]| {
                let mut r = Reader::new(Table::Messages, key, b);
                r.format()?;
                if which.is_ok() {
                    r.out_state()?;
                }
                let d = r.delivery(&from_wall)?;
                r.end()?;
                Ok::<_, RestoreError>(d)
            };
            let d = read(msg).expect("whole record reads");
            assert_eq!(d.message.expires_at, Some(5000));
            for cut in 0..msg.len() {
                assert!(read(&msg[..cut]).is_err(), "{key:?} cut at {cut}");
            }
        }
        let mut longer = rec.clone();
        longer.push(0);
        assert!(Reader::new(Table::Sessions, "c", &longer)
            .session(from_wall)
            .is_err());
    }
}
