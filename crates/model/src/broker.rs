//! The broker core: connections, sessions, routing, retained messages,
//! wills, keep-alive and expiry, as a sans-IO state machine.
//!
//! Inputs: a connection opened, bytes received on it, the connection lost,
//! time advanced to `now`. Outputs ([`Broker::poll_output`]): bytes to
//! write to a connection (whole encoded packets, in the connection's
//! protocol version), connections to close, and reports of messages
//! dropped by a limit. [`Broker::next_deadline`] says when time next
//! matters. No clock is read and nothing is random except through the
//! seeded generator in [`Config`]: the same inputs give the same outputs.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use mqttkit_codec::{
    Auth, AuthReasonCode, ConnAck, ConnAckProperties, Connect, ConnectReasonCode, DecodeError,
    Disconnect, DisconnectReasonCode, ErrorKind, Lazy, List, Packet, ProtocolVersion, PubAck,
    PubAckReasonCode, PubComp, PubRec, PubRel, PubRelReasonCode, Publish, PublishProperties, QoS,
    RetainHandling, Role, StreamDecoder, SubAck, Subscribe, SubscribeReasonCode,
    SubscriptionOptions, UnsubAck, Unsubscribe, UnsubscribeReasonCode,
};

use crate::auth::{AllowAll, Authorizer, Credentials, Refusal};
use crate::config::{Config, ShareStrategy};
use crate::enhanced_auth::{self, AuthStart, AuthStep, Authenticator, Challenge, ConnAuth};
use crate::message::{Delivery, Message, MessageProperties};
use crate::session::{InFlight, OutState, Session, Subscribed};
use crate::topic::{matches, FilterKind, SubscriptionTree};
use crate::{ConnId, Millis};

#[path = "persist.rs"]
pub mod persist;
mod sys;

/// What the broker asks its I/O layer to do, or reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes (whole packets) to the connection.
    Send {
        /// The connection.
        conn: ConnId,
        /// Encoded packets.
        bytes: Bytes,
    },
    /// Close the connection (after writing what was sent before).
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// A message was not delivered to a session because of a limit.
    Dropped {
        /// The session's client.
        client_id: Arc<str>,
        /// The message's topic.
        topic: Arc<str>,
        /// Which limit.
        reason: DropReason,
    },
}

/// Why a message was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The session's queue was full.
    QueueFull,
    /// Larger than the client's Maximum Packet Size (MQTT-3.1.2-25).
    TooLarge,
    /// Its Message Expiry Interval passed while it waited.
    Expired,
}

/// Counters for `$SYS` and operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections that completed CONNECT.
    pub connections: u64,
    /// PUBLISH packets received from clients.
    pub messages_received: u64,
    /// PUBLISH packets sent to clients.
    pub messages_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Messages dropped by a limit.
    pub messages_dropped: u64,
}

/// Per client, what its matching subscriptions add up to: the highest
/// granted QoS, Retain As Published on any, the subscription identifiers.
type Merged = (QoS, bool, Vec<u32>);

/// Members of shared groups matched by one message, by (group, filter).
type Groups = BTreeMap<(Arc<str>, Arc<str>), Vec<(Arc<str>, Subscribed)>>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SubKey {
    Client(Arc<str>),
    Shared { group: Arc<str>, client: Arc<str> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Conn(ConnId),
    Delayed(u64),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum NamedTimer {
    Session(Arc<str>),
    Will(Arc<str>),
}

#[derive(Debug)]
struct Will {
    message: Message,
    delay: u32,
}

/// One network connection. Boxed in the connection map, and its rarely
/// used parts (will, topic aliases, enhanced authentication) boxed again,
/// so an idle connection costs one small allocation.
#[derive(Debug)]
struct Conn {
    /// The decoder of a packet that arrived in part, with its bytes. None
    /// between packets (the usual case): a decoder is made per read.
    partial: Option<Box<StreamDecoder>>,
    client: Option<Arc<str>>,
    username: Option<Arc<str>>,
    /// Keep-alive (or CONNECT) deadline.
    deadline: Option<Millis>,
    /// When this connection's one entry in the timer queue is due (`None`:
    /// it has none). Entries queued for another time are stale.
    timer_at: Option<Millis>,
    /// 1.5 x Keep Alive (at most 65,535 x 1,500 ms, so it fits).
    keep_alive_ms: u32,
    /// Session expiry asked for in CONNECT (5.0), for MQTT-3.14.2-2.
    connect_expiry: u32,
    /// Client's Maximum Packet Size (5.0).
    client_max_packet: u32,
    /// Client's Receive Maximum (5.0; 3.x: the broker's own limit).
    client_receive_max: u16,
    version: ProtocolVersion,
    /// A CONNECT was decoded: `version` is the stream's.
    versioned: bool,
    will: Option<Box<Will>>,
    /// Topic aliases the client set (5.0), once it sets one. Boxed on
    /// purpose: 8 bytes in every connection instead of an empty map's 48.
    #[allow(clippy::box_collection)]
    aliases: Option<Box<HashMap<u16, Arc<str>>>>,
    /// Enhanced authentication (5.0 §4.12), once a method is named.
    auth: Option<Box<ConnAuth>>,
}

impl Conn {
    /// True while a CONNECT waits for its authentication exchange.
    fn auth_connecting(&self) -> bool {
        self.auth.as_ref().is_some_and(|a| a.connecting())
    }

    /// The authentication method named in CONNECT, if any.
    fn auth_method(&self) -> Option<Arc<str>> {
        self.auth.as_ref().and_then(|a| a.method.clone())
    }

    /// The enhanced-authentication state, created when first needed.
    fn auth_mut(&mut self) -> &mut ConnAuth {
        self.auth.get_or_insert_with(Box::default)
    }
}

/// The broker core. `A` decides who may connect, publish and subscribe.
#[derive(Debug)]
pub struct Broker<A: Authorizer = AllowAll> {
    config: Config,
    auth: A,
    /// Boxed values: a table's spare slots then cost a pointer each, not a
    /// whole connection or session.
    conns: HashMap<ConnId, Box<Conn>>,
    sessions: HashMap<Arc<str>, Box<Session>>,
    tree: SubscriptionTree<SubKey, Subscribed>,
    retained: BTreeMap<Arc<str>, Arc<Message>>,
    out: VecDeque<Output>,
    timers: BinaryHeap<Reverse<(Millis, Timer)>>,
    named_timers: BinaryHeap<Reverse<(Millis, NamedTimer)>>,
    pending_wills: HashMap<Arc<str>, (Millis, Arc<Message>)>,
    delayed: HashMap<u64, Arc<Message>>,
    next_delayed: u64,
    share_cursor: HashMap<(Arc<str>, Arc<str>), usize>,
    rng: u64,
    next_assigned: u64,
    stats: Stats,
    authenticator: Option<Box<dyn Authenticator>>,
    /// Durable changes not yet taken (persistence enabled), see `persist`.
    persist: Option<persist::Dirty>,
    sys: sys::SysState,
}

impl Broker<AllowAll> {
    /// A broker that lets every client do everything.
    pub fn new(config: Config) -> Self {
        Broker::with_authorizer(config, AllowAll)
    }
}

impl<A: Authorizer> Broker<A> {
    /// A broker that consults `auth`.
    pub fn with_authorizer(config: Config, auth: A) -> Self {
        let rng = config.seed | 1;
        Broker {
            sys: sys::SysState::new(&config),
            config,
            auth,
            conns: HashMap::new(),
            sessions: HashMap::new(),
            tree: SubscriptionTree::new(),
            retained: BTreeMap::new(),
            out: VecDeque::new(),
            timers: BinaryHeap::new(),
            named_timers: BinaryHeap::new(),
            pending_wills: HashMap::new(),
            delayed: HashMap::new(),
            next_delayed: 0,
            share_cursor: HashMap::new(),
            rng,
            next_assigned: 0,
            stats: Stats::default(),
            authenticator: None,
            persist: None,
        }
    }

    /// Offers enhanced authentication (5.0 §4.12) through `a`. Without
    /// one, a CONNECT naming an Authentication Method is refused with
    /// 0x8C Bad authentication method.
    pub fn set_authenticator(&mut self, a: Box<dyn Authenticator>) {
        self.authenticator = Some(a);
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Sessions held (attached or not).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Retained messages held.
    pub fn retained_count(&self) -> usize {
        self.retained.len()
    }

    /// A session by client id.
    pub fn session(&self, client_id: &str) -> Option<&Session> {
        self.sessions.get(client_id).map(|s| &**s)
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next run.
    pub fn next_deadline(&self) -> Option<Millis> {
        let a = self.timers.peek().map(|Reverse((t, _))| *t);
        let b = self.named_timers.peek().map(|Reverse((t, _))| *t);
        [a, b, self.sys.next].into_iter().flatten().min()
    }

    // ---- inputs -----------------------------------------------------------

    /// A client connected; it has `connect_timeout_ms` to send CONNECT.
    pub fn connection_opened(&mut self, conn: ConnId, now: Millis) {
        let deadline = now + self.config.connect_timeout_ms;
        self.conns.insert(
            conn,
            Box::new(Conn {
                partial: None,
                client: None,
                username: None,
                deadline: Some(deadline),
                timer_at: Some(deadline),
                keep_alive_ms: 0,
                connect_expiry: 0,
                client_max_packet: u32::MAX,
                client_receive_max: u16::MAX,
                version: ProtocolVersion::V3_1_1,
                versioned: false,
                will: None,
                aliases: None,
                auth: None,
            }),
        );
        self.timers.push(Reverse((deadline, Timer::Conn(conn))));
    }

    /// Bytes arrived from a client.
    pub fn bytes_received(&mut self, conn: ConnId, bytes: &[u8], now: Millis) {
        self.stats.bytes_received += bytes.len() as u64;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let mut decoder = match c.partial.take() {
            Some(d) => *d,
            None => {
                // Before CONNECT the decoder learns the version from it.
                let d = if c.versioned {
                    StreamDecoder::with_version(c.version)
                } else {
                    StreamDecoder::new()
                };
                d.sent_by(Role::Client)
                    .max_packet_size(self.config.maximum_packet_size as usize)
            }
        };
        decoder.feed(bytes);
        loop {
            match decoder.next_packet() {
                Ok(Some(p)) => {
                    self.handle_packet(conn, p, now);
                    if !self.conns.contains_key(&conn) {
                        return;
                    }
                    self.mark_conn(conn);
                }
                Ok(None) => break,
                Err(DecodeError::Incomplete { .. }) => break,
                Err(DecodeError::Invalid(v)) => {
                    self.decode_failed(conn, v, now);
                    return;
                }
            }
        }
        if decoder.buffered() > 0 {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.partial = Some(Box::new(decoder));
            }
        }
    }

    /// The network connection ended without the broker closing it.
    pub fn connection_lost(&mut self, conn: ConnId, now: Millis) {
        if self.conns.contains_key(&conn) {
            self.detach(conn, true, now);
        }
    }

    /// Time has reached `now`.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.sys_tick(now);
        while let Some(Reverse((at, t))) = self.timers.peek().cloned() {
            if at > now {
                break;
            }
            self.timers.pop();
            match t {
                Timer::Conn(id) => {
                    let Some(c) = self.conns.get_mut(&id) else {
                        continue;
                    };
                    if c.timer_at != Some(at) {
                        // Stale: the connection's entry was queued anew.
                        continue;
                    }
                    c.timer_at = None;
                    match c.deadline {
                        Some(d) if d <= now => {
                            if c.client.is_some() {
                                // MQTT-3.1.2-24: nothing within 1.5 x Keep Alive.
                                self.close_with(id, DisconnectReasonCode::KeepAliveTimeout, now);
                            } else {
                                // No CONNECT in time.
                                self.out.push_back(Output::Close { conn: id });
                                self.detach(id, false, now);
                            }
                        }
                        // The deadline moved on (traffic): one entry, later.
                        Some(d) => self.arm_conn_timer(id, d),
                        None => {}
                    }
                }
                Timer::Delayed(seq) => {
                    if let Some(m) = self.delayed.remove(&seq) {
                        self.accept_message(m, now);
                    }
                }
            }
        }
        while let Some(Reverse((at, t))) = self.named_timers.peek().cloned() {
            if at > now {
                break;
            }
            self.named_timers.pop();
            match t {
                NamedTimer::Session(client) => {
                    let due = self.sessions.get(&client).is_some_and(|s| {
                        s.conn.is_none() && s.expires_at.is_some_and(|e| e <= now)
                    });
                    if due {
                        self.end_session(&client, now);
                    }
                }
                NamedTimer::Will(client) => {
                    if self
                        .pending_wills
                        .get(&client)
                        .is_some_and(|(t, _)| *t <= now)
                    {
                        if let Some((_, m)) = self.pending_wills.remove(&client) {
                            self.accept_message(m, now);
                        }
                    }
                }
            }
        }
    }

    // ---- packets ----------------------------------------------------------

    fn handle_packet(&mut self, conn: ConnId, p: Packet<'_>, now: Millis) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.keep_alive_ms > 0 {
            c.deadline = Some(now + u64::from(c.keep_alive_ms));
        }
        let connected = c.client.is_some();
        if c.auth_connecting() {
            return self.on_packet_while_authenticating(conn, p, now);
        }
        match p {
            Packet::Connect(ref connect) if !connected => {
                self.on_connect(conn, &connect.get(), now)
            }
            // MQTT-3.1.0-2: a second CONNECT is a protocol violation.
            Packet::Connect(_) => self.close_with(conn, DisconnectReasonCode::ProtocolError, now),
            _ if !connected => {
                // The stream decoder rejects anything before CONNECT; be safe.
                self.out.push_back(Output::Close { conn });
                self.detach(conn, false, now);
            }
            Packet::Publish(ref publish) => self.on_publish(conn, publish, now),
            Packet::PubAck(a) => self.on_puback(conn, a.packet_id, now),
            Packet::PubRec(r) => self.on_pubrec(conn, r.packet_id, now),
            Packet::PubRel(r) => self.on_pubrel(conn, r.packet_id, now),
            Packet::PubComp(c) => self.on_pubcomp(conn, c.packet_id, now),
            Packet::Subscribe(ref s) => self.on_subscribe(conn, s, now),
            Packet::Unsubscribe(ref u) => self.on_unsubscribe(conn, u, now),
            Packet::PingReq => {
                let v = self.version_of(conn);
                self.send(conn, &Packet::PingResp, v);
            }
            Packet::Disconnect(d) => {
                let v5 = self.version_of(conn).is_v5();
                if v5 {
                    if let Some(e) = d.properties.session_expiry_interval {
                        let c = &self.conns[&conn];
                        if c.connect_expiry == 0 && e != 0 {
                            // MQTT-3.14.2-2.
                            self.close_with(conn, DisconnectReasonCode::ProtocolError, now);
                            return;
                        }
                        if let Some(client) = c.client.clone() {
                            if let Some(s) = self.sessions.get_mut(&client) {
                                s.expiry = e.min(self.config.max_session_expiry);
                            }
                        }
                    }
                }
                let keep_will =
                    v5 && d.reason_code == DisconnectReasonCode::DisconnectWithWillMessage;
                if !keep_will {
                    // MQTT-3.1.2-10 / MQTT-3.14.4-3: a normal DISCONNECT
                    // discards the will.
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.will = None;
                    }
                }
                self.out.push_back(Output::Close { conn });
                self.detach(conn, keep_will, now);
            }
            Packet::Auth(ref a) => self.on_reauth(conn, a, now),
            // Server-to-client packets are rejected by the decoder (sent_by
            // Client); anything that slips through closes the connection.
            _ => self.close_with(conn, DisconnectReasonCode::ProtocolError, now),
        }
    }

    fn decode_failed(&mut self, conn: ConnId, v: mqttkit_codec::Violation, now: Millis) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let connected = c.client.is_some();
        let rule = v.rule;
        if !connected {
            // Before CONNECT is accepted: answer with CONNACK where the
            // specification asks for one, else just close.
            let id = rule.statement(v.version);
            if std::ptr::eq(rule, &mqttkit_codec::rules::PROTOCOL_LEVEL) {
                // MQTT-3.1.2-2: return code 1 in a 3.1.1-form CONNACK.
                self.raw(conn, Bytes::from_static(&[0x20, 0x02, 0x00, 0x01]));
            } else if v.version.is_v5() && id != "MQTT-3.1.0-1" {
                let code = if rule.kind == ErrorKind::Malformed {
                    ConnectReasonCode::MalformedPacket
                } else {
                    ConnectReasonCode::ProtocolError
                };
                self.send(conn, &Packet::ConnAck(ConnAck::new(false, code)), v.version);
            } else if id == "MQTT-3.1.3-8" || id == "MQTT-3.1.3-7" {
                let code = ConnectReasonCode::ClientIdentifierNotValid;
                self.send(conn, &Packet::ConnAck(ConnAck::new(false, code)), v.version);
            }
            self.out.push_back(Output::Close { conn });
            self.detach(conn, false, now);
            return;
        }
        let reason = if std::ptr::eq(rule, &mqttkit_codec::rules::PACKET_TOO_LARGE) {
            DisconnectReasonCode::PacketTooLarge
        } else if rule.kind == ErrorKind::Malformed {
            DisconnectReasonCode::MalformedPacket
        } else {
            DisconnectReasonCode::ProtocolError
        };
        self.close_with(conn, reason, now);
    }

    fn on_connect(&mut self, conn: ConnId, c: &Connect<'_>, now: Millis) {
        let v = c.protocol;
        let v5 = v.is_v5();
        if let Some(cc) = self.conns.get_mut(&conn) {
            cc.version = v;
            cc.versioned = true;
        }
        if let (true, Some(method)) = (v5, c.properties.authentication_method) {
            return self.begin_connect_auth(conn, c, method, now);
        }
        self.finish_connect(conn, c, None, now);
    }

    /// Accepts or refuses a CONNECT whose authentication (if any) has
    /// succeeded; `auth` is the method and the final data for CONNACK.
    fn finish_connect(
        &mut self,
        conn: ConnId,
        c: &Connect<'_>,
        auth: Option<(Arc<str>, Option<Vec<u8>>)>,
        now: Millis,
    ) {
        let v = c.protocol;
        let v5 = v.is_v5();
        let refuse = |me: &mut Self, code: ConnectReasonCode| {
            me.send(conn, &Packet::ConnAck(ConnAck::new(false, code)), v);
            me.out.push_back(Output::Close { conn });
            me.detach(conn, false, now);
        };
        let mut assigned = None;
        let client_id: Arc<str> = if c.client_id.is_empty() {
            if !v5 && !c.clean_start {
                // MQTT-3.1.3-8.
                return refuse(self, ConnectReasonCode::ClientIdentifierNotValid);
            }
            self.next_assigned += 1;
            let id: Arc<str> = Arc::from(format!("mqttkit-{:08x}", self.next_assigned));
            assigned = Some(id.clone());
            id
        } else {
            if c.client_id.len() > self.config.max_client_id_len {
                return refuse(self, ConnectReasonCode::ClientIdentifierNotValid);
            }
            Arc::from(c.client_id)
        };
        let creds = Credentials {
            client_id: &client_id,
            username: c.username,
            password: c.password,
        };
        match self.auth.connect(&creds) {
            Ok(()) => {}
            Err(Refusal::BadCredentials) => {
                return refuse(self, ConnectReasonCode::BadUserNameOrPassword)
            }
            Err(Refusal::NotAuthorized) => return refuse(self, ConnectReasonCode::NotAuthorized),
        }
        if let Some(w) = &c.will {
            if w.qos > self.config.maximum_qos && v5 {
                // MQTT-3.2.2-12.
                return refuse(self, ConnectReasonCode::QoSNotSupported);
            }
            if w.retain && !self.config.retain_available && v5 {
                // MQTT-3.2.2-13.
                return refuse(self, ConnectReasonCode::RetainNotSupported);
            }
        }
        // Session takeover (MQTT-3.1.4-3).
        if let Some(old) = self.sessions.get(&client_id).and_then(|s| s.conn) {
            self.close_with(old, DisconnectReasonCode::SessionTakenOver, now);
        }
        // MQTT-3.1.3-9 (5.0) / will delay: a reconnection before the delay
        // has passed cancels the pending will.
        self.pending_wills.remove(&client_id);
        let clean = c.clean_start;
        if clean {
            self.end_session_silently(&client_id);
        }
        let present = !clean && self.sessions.contains_key(&client_id);
        let expiry = if v5 {
            c.properties
                .session_expiry_interval
                .unwrap_or(0)
                .min(self.config.max_session_expiry)
        } else if clean {
            0
        } else {
            u32::MAX
        };
        let session = self
            .sessions
            .entry(client_id.clone())
            .or_insert_with(|| Box::new(Session::new(client_id.clone(), v)));
        session.conn = Some(conn);
        session.version = v;
        session.expiry = expiry;
        session.expires_at = None;

        let keep_alive = if v5 {
            self.config.server_keep_alive.unwrap_or(c.keep_alive)
        } else {
            c.keep_alive
        };
        let will = c.will.as_ref().map(|w| Will {
            message: Message {
                topic: Arc::from(w.topic),
                payload: Bytes::copy_from_slice(w.payload),
                qos: w.qos.min(self.config.maximum_qos),
                retain: w.retain && self.config.retain_available,
                properties: MessageProperties::from_will(&w.properties),
                expires_at: None,
                publisher: Some(client_id.clone()),
            },
            delay: w.properties.will_delay_interval.unwrap_or(0),
        });
        let will_expiry = c
            .will
            .as_ref()
            .and_then(|w| w.properties.message_expiry_interval);
        let cc = self.conns.get_mut(&conn).expect("connection present");
        cc.client = Some(client_id.clone());
        cc.username = c.username.map(Arc::from);
        cc.keep_alive_ms = u32::from(keep_alive) * 1500;
        cc.deadline = (keep_alive > 0).then(|| now + u64::from(cc.keep_alive_ms));
        cc.will = will.map(Box::new);
        if let (Some(w), Some(s)) = (cc.will.as_mut(), will_expiry) {
            // Counted from when the will is published; kept as an interval
            // until then.
            w.message.expires_at = Some(u64::from(s) * 1000);
        }
        cc.connect_expiry = expiry;
        match &auth {
            Some((m, _)) => cc.auth_mut().method = Some(m.clone()),
            None => cc.auth = None,
        }
        if v5 {
            cc.client_receive_max = c.properties.receive_maximum.unwrap_or(u16::MAX);
            cc.client_max_packet = c.properties.maximum_packet_size.unwrap_or(u32::MAX);
        } else {
            cc.client_receive_max = self.config.max_inflight;
        }
        if let Some(d) = cc.deadline {
            self.arm_conn_timer(conn, d);
        }
        self.stats.connections += 1;

        let mut ack = ConnAck::new(present, ConnectReasonCode::Success);
        let props;
        if v5 {
            let cfg = &self.config;
            props = ConnAckProperties {
                assigned_client_identifier: assigned.as_deref(),
                receive_maximum: (cfg.receive_maximum != u16::MAX).then_some(cfg.receive_maximum),
                maximum_qos: (cfg.maximum_qos != QoS::ExactlyOnce).then_some(cfg.maximum_qos),
                retain_available: (!cfg.retain_available).then_some(false),
                maximum_packet_size: Some(cfg.maximum_packet_size),
                topic_alias_maximum: (cfg.topic_alias_maximum > 0)
                    .then_some(cfg.topic_alias_maximum),
                wildcard_subscription_available: (!cfg.wildcard_subscription_available)
                    .then_some(false),
                subscription_identifiers_available: (!cfg.subscription_identifiers_available)
                    .then_some(false),
                shared_subscription_available: (!cfg.shared_subscription_available)
                    .then_some(false),
                server_keep_alive: cfg.server_keep_alive,
                session_expiry_interval: c
                    .properties
                    .session_expiry_interval
                    .filter(|&e| e > cfg.max_session_expiry)
                    .map(|_| cfg.max_session_expiry),
                // MQTT-4.12.0-5: a successful CONNACK repeats the method.
                authentication_method: auth.as_ref().map(|(m, _)| &**m),
                authentication_data: auth.as_ref().and_then(|(_, d)| d.as_deref()),
                ..ConnAckProperties::default()
            };
            ack.properties = Lazy::new(&props);
        }
        self.send(conn, &Packet::ConnAck(ack), v);
        if present {
            self.resend_in_flight(&client_id, conn, now);
        }
        self.pump(&client_id, now);
    }

    fn on_publish(&mut self, conn: ConnId, p: &Publish<'_>, now: Millis) {
        self.stats.messages_received += 1;
        let c = self.conns.get_mut(&conn).expect("connection present");
        let v = c.version;
        let v5 = v.is_v5();
        let client = c.client.clone().expect("connected");
        // Topic alias (5.0 §3.3.2.3.4).
        let props = p.properties.get();
        let topic: Arc<str> = match props.topic_alias {
            Some(a) if a == 0 || a > self.config.topic_alias_maximum => {
                // MQTT-3.3.2-8 / MQTT-3.3.2-9.
                return self.close_with(conn, DisconnectReasonCode::TopicAliasInvalid, now);
            }
            Some(a) if p.topic.is_empty() => match c.aliases.as_ref().and_then(|m| m.get(&a)) {
                Some(t) => t.clone(),
                None => return self.close_with(conn, DisconnectReasonCode::ProtocolError, now),
            },
            Some(a) => {
                let t: Arc<str> = Arc::from(p.topic);
                c.aliases
                    .get_or_insert_with(Box::default)
                    .insert(a, t.clone());
                t
            }
            None => Arc::from(p.topic),
        };
        if p.qos > self.config.maximum_qos {
            // MQTT-3.2.2-11.
            return self.close_with(conn, DisconnectReasonCode::QoSNotSupported, now);
        }
        if p.retain && !self.config.retain_available {
            // MQTT-3.2.2-14.
            return self.close_with(conn, DisconnectReasonCode::RetainNotSupported, now);
        }
        let id = p.packet_id.unwrap_or(0);
        if p.qos == QoS::ExactlyOnce {
            let s = self
                .sessions
                .get_mut(&client)
                .expect("session of a connection");
            if s.incoming_qos2.contains(&id) {
                // A resent PUBLISH whose PUBREL has not come: acknowledge
                // again, deliver nothing again (4.3.3).
                self.send(conn, &Packet::PubRec(PubRec::new(id)), v);
                return;
            }
            if s.incoming_qos2.len() >= usize::from(self.config.receive_maximum) {
                // MQTT-3.3.4-7 (5.0): more than Receive Maximum unacknowledged.
                return self.close_with(conn, DisconnectReasonCode::ReceiveMaximumExceeded, now);
            }
        }
        let username = self.conns[&conn].username.clone();
        // While it publishes `$SYS`, the broker alone writes there.
        let allowed =
            !self.sys_reserved(&topic) && self.auth.publish(&client, username.as_deref(), &topic);
        if allowed {
            let m = Arc::new(Message::from_publish(
                p,
                &props,
                topic,
                Some(client.clone()),
                now,
            ));
            if let Some((secs, real)) = delayed_topic(&m.topic) {
                let mut d = (*m).clone();
                d.topic = Arc::from(real);
                self.next_delayed += 1;
                let seq = self.next_delayed;
                self.delayed.insert(seq, Arc::new(d));
                self.timers
                    .push(Reverse((now + secs * 1000, Timer::Delayed(seq))));
            } else {
                self.accept_message(m, now);
            }
        }
        match p.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => {
                let mut ack = PubAck::new(id);
                if v5 && !allowed {
                    ack.reason_code = PubAckReasonCode::NotAuthorized;
                }
                self.send(conn, &Packet::PubAck(ack), v);
            }
            QoS::ExactlyOnce => {
                let mut rec = PubRec::new(id);
                if v5 && !allowed {
                    rec.reason_code = PubAckReasonCode::NotAuthorized;
                } else if let Some(s) = self.sessions.get_mut(&client) {
                    s.incoming_qos2.insert(id);
                }
                self.send(conn, &Packet::PubRec(rec), v);
            }
        }
    }

    /// A message accepted from a publisher (or a will): retain, then route.
    fn accept_message(&mut self, m: Arc<Message>, now: Millis) {
        if m.retain {
            self.mark_retained(&m.topic);
            if m.payload.is_empty() {
                // MQTT-3.3.1-10/11: an empty retained message clears the topic
                // and is not stored.
                self.retained.remove(&m.topic);
            } else {
                self.retained.insert(m.topic.clone(), m.clone());
            }
        }
        self.route(m, now);
    }

    fn route(&mut self, m: Arc<Message>, now: Millis) {
        // One delivery per client: the highest granted QoS of its matching
        // subscriptions, every subscription identifier (3.1.1 MQTT-3.3.5-1;
        // 5.0 allows one copy with all identifiers).
        let mut per_client: BTreeMap<Arc<str>, Merged> = BTreeMap::new();
        let mut groups: Groups = BTreeMap::new();
        let mut shared: Vec<(Arc<str>, Subscribed)> = Vec::new();
        let publisher = m.publisher.clone();
        self.tree
            .for_each_match(&m.topic, |filter, key, sub| match key {
                SubKey::Client(c) => {
                    if sub.options.no_local && publisher.as_deref() == Some(&**c) {
                        // MQTT-3.8.3-3.
                        return;
                    }
                    let e =
                        per_client
                            .entry(c.clone())
                            .or_insert((QoS::AtMostOnce, false, Vec::new()));
                    e.0 = e.0.max(sub.options.qos);
                    e.1 |= sub.options.retain_as_published;
                    if let Some(id) = sub.id {
                        e.2.push(id);
                    }
                }
                SubKey::Shared { group, client } => {
                    groups
                        .entry((group.clone(), Arc::from(filter)))
                        .or_default()
                        .push((client.clone(), sub.clone()));
                }
            });
        for (key, mut members) in groups {
            members.sort_by(|a, b| a.0.cmp(&b.0));
            let i = match self.config.share_strategy {
                ShareStrategy::RoundRobin => {
                    let cursor = self.share_cursor.entry(key).or_insert(0);
                    let i = *cursor % members.len();
                    *cursor = cursor.wrapping_add(1);
                    i
                }
                ShareStrategy::Random => (self.next_random() % members.len() as u64) as usize,
                ShareStrategy::ByPublisher => {
                    let h = publisher.as_deref().map_or(0, fnv1a);
                    (h % members.len() as u64) as usize
                }
            };
            let (client, sub) = members.swap_remove(i);
            // A shared subscription's copy is its own (5.0 §4.8.2: a client
            // with a shared and a non-shared match gets both).
            shared.push((client, sub));
        }
        for (client, (granted, rap, ids)) in per_client {
            let d = Delivery {
                message: m.clone(),
                // MQTT-3.8.4-6 / 3.3.5: the lower of the two QoS.
                qos: m.qos.min(granted),
                // MQTT-3.3.1-9 (3.1.1), 3.3.1-12/13 (5.0).
                retain: rap && m.retain,
                subscription_ids: ids,
            };
            self.deliver(&client, d, now);
        }
        for (client, sub) in shared {
            let d = Delivery {
                message: m.clone(),
                qos: m.qos.min(sub.options.qos),
                retain: sub.options.retain_as_published && m.retain,
                subscription_ids: sub.id.into_iter().collect(),
            };
            self.deliver(&client, d, now);
        }
    }

    fn deliver(&mut self, client: &Arc<str>, d: Delivery, now: Millis) {
        self.mark_session(client);
        let Some(s) = self.sessions.get_mut(client) else {
            return;
        };
        let Some(conn) = s.conn else {
            // Offline: QoS 1 and 2 wait in the session; QoS 0 is not kept.
            if d.qos != QoS::AtMostOnce {
                self.enqueue(client, d);
            }
            return;
        };
        if d.qos == QoS::AtMostOnce {
            self.transmit(conn, client, d, None, false, now);
            return;
        }
        let window = self.window(conn);
        let s = self.sessions.get_mut(client).expect("session");
        if s.queue.is_empty() && s.in_flight.len() < window {
            self.start_flight(conn, client, d, now);
        } else {
            self.enqueue(client, d);
        }
    }

    fn enqueue(&mut self, client: &Arc<str>, d: Delivery) {
        let s = self.sessions.get_mut(client).expect("session");
        if s.queue.len() >= self.config.max_queued_messages {
            self.stats.messages_dropped += 1;
            self.out.push_back(Output::Dropped {
                client_id: client.clone(),
                topic: d.message.topic.clone(),
                reason: DropReason::QueueFull,
            });
        } else {
            s.queue.push_back(d);
        }
    }

    fn window(&self, conn: ConnId) -> usize {
        let c = &self.conns[&conn];
        usize::from(c.client_receive_max.min(self.config.max_inflight)).max(1)
    }

    /// Sends a QoS 1/2 delivery with a fresh packet id and records it.
    fn start_flight(&mut self, conn: ConnId, client: &Arc<str>, d: Delivery, now: Millis) {
        let s = self.sessions.get_mut(client).expect("session");
        let Some(id) = s.allocate_id() else {
            s.queue.push_front(d);
            return;
        };
        let state = if d.qos == QoS::AtLeastOnce {
            OutState::AwaitPubAck
        } else {
            OutState::AwaitPubRec
        };
        if self.transmit(conn, client, d.clone(), Some(id), false, now) {
            let s = self.sessions.get_mut(client).expect("session");
            s.in_flight.insert(id, InFlight { delivery: d, state });
        }
    }

    /// Encodes and sends a PUBLISH; false when it was dropped instead.
    fn transmit(
        &mut self,
        conn: ConnId,
        client: &Arc<str>,
        d: Delivery,
        id: Option<u16>,
        dup: bool,
        now: Millis,
    ) -> bool {
        let c = &self.conns[&conn];
        let v = c.version;
        // A message whose PUBLISH already went out (a DUP resend) is no
        // longer expired away: its exchange completes (MQTT-4.3.3-7); the
        // interval sent is at least 1 s so it is not read as "no expiry".
        if d.message.expired(now) && !dup {
            self.drop_report(client, &d, DropReason::Expired);
            return false;
        }
        if !self
            .auth
            .deliver(client, c.username.as_deref(), &d.message.topic)
        {
            // Not allowed to read this topic: not sent (see Authorizer::deliver).
            return false;
        }
        let m = &d.message;
        let users: Vec<(&str, &str)> = m
            .properties
            .user_properties
            .iter()
            .map(|(k, v)| (&**k, &**v))
            .collect();
        let mut publish = Publish::new(&m.topic, &m.payload);
        publish.qos = d.qos;
        publish.retain = d.retain;
        publish.dup = dup;
        publish.packet_id = id;
        let props;
        if v.is_v5() {
            props = PublishProperties {
                payload_format_indicator: m.properties.payload_format_indicator,
                message_expiry_interval: m.remaining_expiry(now).map(|s| s.max(1)),
                content_type: m.properties.content_type.as_deref(),
                response_topic: m.properties.response_topic.as_deref(),
                correlation_data: m.properties.correlation_data.as_deref(),
                user_properties: List::from_slice(&users),
                subscription_identifiers: List::from_slice(&d.subscription_ids),
                ..PublishProperties::default()
            };
            publish.properties = Lazy::new(&props);
        }
        let packet = Packet::Publish(publish);
        let mut buf = BytesMut::new();
        match packet.encode(v, &mut buf) {
            Ok(n) if n as u64 <= u64::from(c.client_max_packet) => {
                self.stats.messages_sent += 1;
                self.stats.bytes_sent += n as u64;
                self.out.push_back(Output::Send {
                    conn,
                    bytes: buf.freeze(),
                });
                true
            }
            _ => {
                // MQTT-3.1.2-25: too large for the client; dropped as if sent.
                self.drop_report(client, &d, DropReason::TooLarge);
                false
            }
        }
    }

    fn drop_report(&mut self, client: &Arc<str>, d: &Delivery, reason: DropReason) {
        self.stats.messages_dropped += 1;
        self.out.push_back(Output::Dropped {
            client_id: client.clone(),
            topic: d.message.topic.clone(),
            reason,
        });
    }

    /// Sends queued messages while the window allows.
    fn pump(&mut self, client: &Arc<str>, now: Millis) {
        let Some(conn) = self.sessions.get(client).and_then(|s| s.conn) else {
            return;
        };
        let window = self.window(conn);
        loop {
            let s = self.sessions.get_mut(client).expect("session");
            if s.in_flight.len() >= window {
                return;
            }
            if s.queue.is_empty() {
                return;
            }
            let Some(d) = s.queue.pop_front() else { return };
            if d.qos == QoS::AtMostOnce {
                self.transmit(conn, client, d, None, false, now);
            } else {
                self.start_flight(conn, client, d, now);
            }
        }
    }

    /// On a resumed session: PUBLISH again (DUP set) what was not
    /// acknowledged, PUBREL what was (MQTT-4.4.0-1), in id order.
    fn resend_in_flight(&mut self, client: &Arc<str>, conn: ConnId, now: Millis) {
        let items: Vec<(u16, InFlight)> = self.sessions[client]
            .in_flight
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let v = self.conns[&conn].version;
        for (id, f) in items {
            match f.state {
                OutState::AwaitPubAck | OutState::AwaitPubRec => {
                    if !self.transmit(conn, client, f.delivery, Some(id), true, now) {
                        if let Some(s) = self.sessions.get_mut(client) {
                            s.in_flight.remove(&id);
                            s.in_flight.tidy();
                        }
                    }
                }
                OutState::AwaitPubComp => {
                    self.send(conn, &Packet::PubRel(PubRel::new(id)), v);
                }
            }
        }
    }

    /// Gives back the memory of a session's in-flight window and queue
    /// once both are empty (an idle session keeps none).
    fn tidy(&mut self, client: &Arc<str>) {
        if let Some(s) = self.sessions.get_mut(client) {
            if s.in_flight.is_empty() {
                s.in_flight.tidy();
                s.queue.tidy();
            }
        }
    }

    fn client_of(&self, conn: ConnId) -> Option<Arc<str>> {
        self.conns.get(&conn).and_then(|c| c.client.clone())
    }

    fn on_puback(&mut self, conn: ConnId, id: u16, now: Millis) {
        let Some(client) = self.client_of(conn) else {
            return;
        };
        let s = self.sessions.get_mut(&client).expect("session");
        if s.in_flight
            .get(&id)
            .is_some_and(|f| f.state == OutState::AwaitPubAck)
        {
            s.in_flight.remove(&id);
            self.pump(&client, now);
            self.tidy(&client);
        }
    }

    fn on_pubrec(&mut self, conn: ConnId, id: u16, now: Millis) {
        let Some(client) = self.client_of(conn) else {
            return;
        };
        let v = self.version_of(conn);
        let s = self.sessions.get_mut(&client).expect("session");
        let mut rel = PubRel::new(id);
        let found = if s.in_flight.contains_key(&id) {
            s.in_flight.get_mut(&id)
        } else {
            None
        };
        match found {
            Some(f) if f.state == OutState::AwaitPubRec => f.state = OutState::AwaitPubComp,
            Some(f) if f.state == OutState::AwaitPubComp => {}
            _ if v.is_v5() => rel.reason_code = PubRelReasonCode::PacketIdentifierNotFound,
            _ => {}
        }
        self.send(conn, &Packet::PubRel(rel), v);
        let _ = now;
    }

    fn on_pubrel(&mut self, conn: ConnId, id: u16, _now: Millis) {
        let Some(client) = self.client_of(conn) else {
            return;
        };
        let v = self.version_of(conn);
        let s = self.sessions.get_mut(&client).expect("session");
        let known = s.incoming_qos2.contains(&id) && s.incoming_qos2.remove(&id);
        s.incoming_qos2.tidy();
        let mut comp = PubComp::new(id);
        if !known && v.is_v5() {
            comp.reason_code = PubRelReasonCode::PacketIdentifierNotFound;
        }
        self.send(conn, &Packet::PubComp(comp), v);
    }

    fn on_pubcomp(&mut self, conn: ConnId, id: u16, now: Millis) {
        let Some(client) = self.client_of(conn) else {
            return;
        };
        let s = self.sessions.get_mut(&client).expect("session");
        if s.in_flight
            .get(&id)
            .is_some_and(|f| f.state == OutState::AwaitPubComp)
        {
            s.in_flight.remove(&id);
            self.pump(&client, now);
            self.tidy(&client);
        }
    }

    fn on_subscribe(&mut self, conn: ConnId, sub: &Subscribe<'_>, now: Millis) {
        let Some(client) = self.client_of(conn) else {
            return;
        };
        let v = self.version_of(conn);
        let v5 = v.is_v5();
        let sub_id = sub.properties.subscription_identifier;
        if sub_id.is_some() && !self.config.subscription_identifiers_available {
            // MQTT-3.8.2-? (5.0 §3.8.2.1.2): not supported -> 0xA1.
            return self.close_with(
                conn,
                DisconnectReasonCode::SubscriptionIdentifiersNotSupported,
                now,
            );
        }
        let username = self.conns[&conn].username.clone();
        let mut codes = Vec::new();
        let mut retained_to_send: Vec<(Arc<str>, SubscriptionOptions, Option<u32>)> = Vec::new();
        for s in sub.subscriptions.iter() {
            let kind = if v5 {
                FilterKind::parse(s.filter)
            } else {
                FilterKind::Plain(s.filter)
            };
            let plain = kind.filter();
            let shared = matches!(kind, FilterKind::Shared { .. });
            let wild = plain.contains(['+', '#']);
            let code = if shared && !self.config.shared_subscription_available {
                SubscribeReasonCode::SharedSubscriptionsNotSupported
            } else if wild && !self.config.wildcard_subscription_available {
                SubscribeReasonCode::WildcardSubscriptionsNotSupported
            } else if !self.auth.subscribe(&client, username.as_deref(), s.filter) {
                SubscribeReasonCode::NotAuthorized
            } else {
                let mut options = s.options;
                options.qos = options.qos.min(self.config.maximum_qos);
                let entry = Subscribed {
                    options,
                    id: sub_id,
                };
                let key = match kind {
                    FilterKind::Shared { group, .. } => SubKey::Shared {
                        group: Arc::from(group),
                        client: client.clone(),
                    },
                    FilterKind::Plain(_) => SubKey::Client(client.clone()),
                };
                let existed = self.tree.insert(plain, key, entry.clone()).is_some();
                let session = self.sessions.get_mut(&client).expect("session");
                session.subscriptions.insert(Arc::from(s.filter), entry);
                // Retained messages: never on a shared subscription; per
                // Retain Handling in 5.0 (MQTT-3.3.1-9/10/11), always in 3.x
                // (MQTT-3.3.1-6).
                let send = !shared
                    && self.config.retain_available
                    && match options.retain_handling {
                        RetainHandling::SendOnSubscribe => true,
                        RetainHandling::SendIfNew => !existed,
                        RetainHandling::DoNotSend => false,
                    };
                if send {
                    retained_to_send.push((Arc::from(plain), options, sub_id));
                }
                match options.qos {
                    QoS::AtMostOnce => SubscribeReasonCode::GrantedQoS0,
                    QoS::AtLeastOnce => SubscribeReasonCode::GrantedQoS1,
                    QoS::ExactlyOnce => SubscribeReasonCode::GrantedQoS2,
                }
            };
            // 3.x has one failure code.
            codes.push(if !v5 && code.is_error() {
                SubscribeReasonCode::UnspecifiedError
            } else {
                code
            });
        }
        let ack = SubAck {
            packet_id: sub.packet_id,
            properties: Default::default(),
            reason_codes: List::from_slice(&codes),
        };
        // MQTT-3.8.4-1: SUBACK, then the retained messages.
        self.send(conn, &Packet::SubAck(ack), v);
        for (filter, options, id) in retained_to_send {
            let matching: Vec<Arc<Message>> = self
                .retained
                .iter()
                .filter(|(t, m)| matches(&filter, t) && !m.expired(now))
                .map(|(_, m)| m.clone())
                .collect();
            for m in matching {
                let d = Delivery {
                    qos: m.qos.min(options.qos),
                    // Sent because of the subscription: RETAIN set
                    // (MQTT-3.3.1-8).
                    retain: true,
                    subscription_ids: id.into_iter().collect(),
                    message: m,
                };
                self.deliver(&client, d, now);
            }
        }
    }

    fn on_unsubscribe(&mut self, conn: ConnId, u: &Unsubscribe<'_>, _now: Millis) {
        let Some(client) = self.client_of(conn) else {
            return;
        };
        let v = self.version_of(conn);
        let mut codes = Vec::new();
        for f in u.filters.iter() {
            let kind = if v.is_v5() {
                FilterKind::parse(f)
            } else {
                FilterKind::Plain(f)
            };
            let key = match kind {
                FilterKind::Shared { group, .. } => SubKey::Shared {
                    group: Arc::from(group),
                    client: client.clone(),
                },
                FilterKind::Plain(_) => SubKey::Client(client.clone()),
            };
            let removed = self.tree.remove(kind.filter(), &key).is_some();
            let session = self.sessions.get_mut(&client).expect("session");
            session.subscriptions.remove(f);
            codes.push(if removed {
                UnsubscribeReasonCode::Success
            } else {
                UnsubscribeReasonCode::NoSubscriptionExisted
            });
        }
        let ack = UnsubAck {
            packet_id: u.packet_id,
            properties: Default::default(),
            reason_codes: if v.is_v5() {
                List::from_slice(&codes)
            } else {
                List::new()
            },
        };
        self.send(conn, &Packet::UnsubAck(ack), v);
    }

    // ---- closing ----------------------------------------------------------

    /// Closes a connection for a reason: 5.0 gets a DISCONNECT first; the
    /// will is published (the client did not disconnect normally).
    fn close_with(&mut self, conn: ConnId, reason: DisconnectReasonCode, now: Millis) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.version.is_v5() && c.client.is_some() {
            let v = c.version;
            self.send(conn, &Packet::Disconnect(Disconnect::new(reason)), v);
        }
        self.out.push_back(Output::Close { conn });
        self.detach(conn, true, now);
    }

    /// Forgets a connection; publishes or schedules its will when
    /// `publish_will`; starts the session's expiry.
    fn detach(&mut self, conn: ConnId, publish_will: bool, now: Millis) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        let Some(client) = c.client else { return };
        self.mark_session(&client);
        let Some(s) = self.sessions.get_mut(&client) else {
            return;
        };
        if s.conn != Some(conn) {
            return;
        }
        s.conn = None;
        let expiry = s.expiry;
        if publish_will {
            if let Some(w) = c.will {
                let mut m = w.message;
                // The will's Message Expiry Interval starts when it is
                // published.
                let delay_ms = u64::from(w.delay) * 1000;
                let end_ms = if expiry == u32::MAX {
                    u64::MAX
                } else {
                    u64::from(expiry) * 1000
                };
                let at = now + delay_ms.min(end_ms);
                m.expires_at = m.expires_at.map(|iv| at + iv);
                let m = Arc::new(m);
                if at <= now {
                    self.accept_message(m, now);
                } else {
                    self.pending_wills.insert(client.clone(), (at, m));
                    self.named_timers
                        .push(Reverse((at, NamedTimer::Will(client.clone()))));
                }
            }
        }
        let Some(s) = self.sessions.get_mut(&client) else {
            return;
        };
        if expiry == 0 {
            self.end_session(&client, now);
        } else if expiry != u32::MAX {
            let at = now + u64::from(expiry) * 1000;
            s.expires_at = Some(at);
            self.named_timers
                .push(Reverse((at, NamedTimer::Session(client))));
        }
    }

    /// A session ends: its subscriptions go, and a will still waiting for
    /// its delay is published now (the session's end comes first).
    fn end_session(&mut self, client: &Arc<str>, now: Millis) {
        self.end_session_silently(client);
        if let Some((_, m)) = self.pending_wills.remove(client) {
            self.accept_message(m, now);
        }
    }

    fn end_session_silently(&mut self, client: &Arc<str>) {
        self.mark_session(client);
        if let Some(s) = self.sessions.remove(client) {
            for f in s.subscriptions.keys() {
                let kind = if s.version.is_v5() {
                    FilterKind::parse(f)
                } else {
                    FilterKind::Plain(f)
                };
                let key = match kind {
                    FilterKind::Shared { group, .. } => SubKey::Shared {
                        group: Arc::from(group),
                        client: client.clone(),
                    },
                    FilterKind::Plain(_) => SubKey::Client(client.clone()),
                };
                self.tree.remove(kind.filter(), &key);
            }
        }
    }

    // ---- output -----------------------------------------------------------

    /// Makes sure the connection's timer entry is due no later than `at`.
    /// A connection keeps one entry: when it fires before the deadline
    /// (which traffic keeps moving on) it is queued again for the deadline.
    fn arm_conn_timer(&mut self, conn: ConnId, at: Millis) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.timer_at.is_some_and(|t| t <= at) {
            return;
        }
        // None queued, or the queued one is later (it becomes stale).
        c.timer_at = Some(at);
        self.timers.push(Reverse((at, Timer::Conn(conn))));
    }

    fn version_of(&self, conn: ConnId) -> ProtocolVersion {
        self.conns
            .get(&conn)
            .map_or(ProtocolVersion::V3_1_1, |c| c.version)
    }

    fn send(&mut self, conn: ConnId, p: &Packet<'_>, v: ProtocolVersion) {
        let mut buf = BytesMut::new();
        match p.encode(v, &mut buf) {
            Ok(n) => {
                self.stats.bytes_sent += n as u64;
                self.out.push_back(Output::Send {
                    conn,
                    bytes: buf.freeze(),
                });
            }
            // Only packets the model builds itself reach here; one that
            // cannot be encoded is a bug in the model, not in the client.
            Err(e) => debug_assert!(false, "model built an invalid packet: {e:?} {p:?}"),
        }
    }

    fn raw(&mut self, conn: ConnId, bytes: Bytes) {
        self.stats.bytes_sent += bytes.len() as u64;
        self.out.push_back(Output::Send { conn, bytes });
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

// ---- enhanced authentication (5.0 §4.12) -------------------------------

impl<A: Authorizer> Broker<A> {
    /// Refuses a CONNECT with `code` (a 5.0 CONNACK) and closes.
    fn refuse_connect(&mut self, conn: ConnId, code: ConnectReasonCode, now: Millis) {
        let ack = ConnAck::new(false, code);
        self.send(conn, &Packet::ConnAck(ack), ProtocolVersion::V5);
        self.out.push_back(Output::Close { conn });
        self.detach(conn, false, now);
    }

    /// A 5.0 CONNECT named an Authentication Method.
    fn begin_connect_auth(&mut self, conn: ConnId, c: &Connect<'_>, method: &str, now: Millis) {
        let start = AuthStart {
            method,
            client_id: c.client_id,
            username: c.username,
            reauthentication: false,
        };
        let Some(exchange) = self.authenticator.as_mut().and_then(|a| a.begin(&start)) else {
            // MQTT-4.12.0-1: unsupported method, CONNACK 0x8C and close.
            return self.refuse_connect(conn, ConnectReasonCode::BadAuthenticationMethod, now);
        };
        let Ok(pending) = Packet::Connect(Lazy::new(c)).into_owned(ProtocolVersion::V5) else {
            return self.refuse_connect(conn, ConnectReasonCode::UnspecifiedError, now);
        };
        let Some(cc) = self.conns.get_mut(&conn) else {
            return;
        };
        let a = cc.auth_mut();
        a.method = Some(Arc::from(method));
        a.exchange = Some(exchange);
        a.pending_connect = Some(pending);
        a.pending_max_packet = c.properties.maximum_packet_size.unwrap_or(u32::MAX);
        let data = c.properties.authentication_data.unwrap_or_default();
        self.connect_auth_step(conn, data, now);
    }

    /// Runs one step of the exchange of a CONNECT that waits for it.
    fn connect_auth_step(&mut self, conn: ConnId, data: &[u8], now: Millis) {
        let Some(cc) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(auth) = cc.auth.as_deref_mut() else {
            return;
        };
        let (Some(method), Some(exchange)) = (auth.method.clone(), auth.exchange.as_mut()) else {
            return;
        };
        match exchange.step(data) {
            AuthStep::Continue(challenge) => {
                let max = auth.pending_max_packet;
                self.send_auth_continue(conn, &method, &challenge, max, now);
            }
            AuthStep::Success { data } => {
                auth.exchange = None;
                let Some(pending) = auth.pending_connect.take() else {
                    return;
                };
                match pending.packet() {
                    Packet::Connect(c) => {
                        self.finish_connect(conn, &c.get(), Some((method, data)), now)
                    }
                    _ => self.refuse_connect(conn, ConnectReasonCode::UnspecifiedError, now),
                }
            }
            // MQTT-4.12.0-4: a refusal is a CONNACK of 0x80 or above, then
            // the connection is closed.
            AuthStep::Fail => self.refuse_connect(conn, ConnectReasonCode::NotAuthorized, now),
        }
    }

    /// Sends the AUTH 0x18 of a `Continue` step (MQTT-4.12.0-2, the method
    /// repeated per MQTT-4.12.0-5); the Reason String and User Properties
    /// are left out when they would break the client's Maximum Packet Size
    /// (MQTT-3.15.2-2, MQTT-3.15.2-3).
    fn send_auth_continue(
        &mut self,
        conn: ConnId,
        method: &str,
        challenge: &Challenge,
        max_packet: u32,
        now: Millis,
    ) {
        match enhanced_auth::continue_packet(method, challenge, max_packet) {
            Some(bytes) => self.raw(conn, Bytes::from(bytes)),
            // Not even the bare challenge fits the client's limit: the
            // exchange cannot continue.
            None => {
                let connecting = self.conns.get(&conn).is_some_and(|c| c.auth_connecting());
                if connecting {
                    self.refuse_connect(conn, ConnectReasonCode::ImplementationSpecificError, now);
                } else {
                    self.close_with(conn, DisconnectReasonCode::ImplementationSpecificError, now);
                }
            }
        }
    }

    /// A packet on a connection whose CONNECT waits for authentication:
    /// only AUTH 0x18 with the same method and DISCONNECT are expected
    /// (MQTT-3.1.2-30 binds the client; anything else is a protocol error).
    fn on_packet_while_authenticating(&mut self, conn: ConnId, p: Packet<'_>, now: Millis) {
        match p {
            Packet::Auth(a) => {
                let method = self.conns.get(&conn).and_then(|c| c.auth_method());
                let same_method = a.properties.authentication_method == method.as_deref();
                if a.reason_code != AuthReasonCode::ContinueAuthentication || !same_method {
                    // MQTT-4.12.0-3 / MQTT-4.12.0-5 broken by the client.
                    return self.refuse_connect(conn, ConnectReasonCode::ProtocolError, now);
                }
                let data = a.properties.authentication_data.unwrap_or_default();
                self.connect_auth_step(conn, data, now);
            }
            Packet::Disconnect(_) => {
                self.out.push_back(Output::Close { conn });
                self.detach(conn, false, now);
            }
            _ => self.refuse_connect(conn, ConnectReasonCode::ProtocolError, now),
        }
    }

    /// AUTH from a connected client: re-authentication (5.0 §4.12.1).
    fn on_reauth(&mut self, conn: ConnId, a: &Auth<'_>, now: Millis) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(method) = c.auth_method() else {
            // MQTT-4.12.0-7: no method in CONNECT, so no AUTH may follow.
            return self.close_with(conn, DisconnectReasonCode::ProtocolError, now);
        };
        if a.properties.authentication_method != Some(&*method) {
            // MQTT-4.12.1-1 / MQTT-4.12.0-5: the same method throughout.
            return self.close_with(conn, DisconnectReasonCode::ProtocolError, now);
        }
        let running = c.auth.as_ref().is_some_and(|x| x.exchange.is_some());
        match (a.reason_code, running) {
            (AuthReasonCode::ReAuthenticate, false) => {
                let start = AuthStart {
                    method: &method,
                    client_id: c.client.as_deref().unwrap_or(""),
                    username: c.username.as_deref(),
                    reauthentication: true,
                };
                let Some(exchange) = self.authenticator.as_mut().and_then(|x| x.begin(&start))
                else {
                    return self.close_with(conn, DisconnectReasonCode::NotAuthorized, now);
                };
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.auth_mut().exchange = Some(exchange);
                }
            }
            (AuthReasonCode::ContinueAuthentication, true) => {}
            // A second 0x19 while one runs, a 0x18 with none running, or
            // a Success from the client.
            _ => return self.close_with(conn, DisconnectReasonCode::ProtocolError, now),
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let max = c.client_max_packet;
        let Some(auth) = c.auth.as_deref_mut() else {
            return;
        };
        let Some(exchange) = auth.exchange.as_mut() else {
            return;
        };
        let data = a.properties.authentication_data.unwrap_or_default();
        match exchange.step(data) {
            AuthStep::Continue(challenge) => {
                self.send_auth_continue(conn, &method, &challenge, max, now);
            }
            AuthStep::Success { data } => {
                auth.exchange = None;
                let mut ok = Auth::new(AuthReasonCode::Success);
                ok.properties.authentication_method = Some(&method);
                ok.properties.authentication_data = data.as_deref();
                self.send(conn, &Packet::Auth(ok), ProtocolVersion::V5);
            }
            // MQTT-4.12.1-2: a failed re-authentication ends the
            // connection; the DISCONNECT says why.
            AuthStep::Fail => self.close_with(conn, DisconnectReasonCode::NotAuthorized, now),
        }
    }
}

/// `$delayed/{seconds}/{topic}`: the delay and the real topic.
fn delayed_topic(topic: &str) -> Option<(u64, &str)> {
    let rest = topic.strip_prefix("$delayed/")?;
    let (secs, real) = rest.split_once('/')?;
    let secs: u64 = secs.parse().ok()?;
    (!real.is_empty()).then_some((secs.min(u64::from(u32::MAX)), real))
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(test)]
mod idle_cost {
    use super::*;
    use crate::testkit::World;
    use mqttkit_codec::Packet;

    const V: ProtocolVersion = ProtocolVersion::V3_1_1;

    #[test]
    fn a_connection_is_small() {
        // Was 448 bytes inline in the map; the rarely used parts (and a
        // partly received packet) are boxed.
        assert!(
            std::mem::size_of::<Conn>() <= 112,
            "Conn is {} bytes",
            std::mem::size_of::<Conn>()
        );
    }

    #[test]
    fn each_connection_keeps_one_timer_entry() {
        let mut w = World::new(Config::default());
        for c in 1..=20 {
            w.connect(c, V, &format!("c{c}"), true); // Keep Alive 10 s
        }
        assert_eq!(w.b.timers.len(), 20);
        // Traffic moves the deadlines; the CONNECT timeout entries fire
        // and are queued again for the keep-alive deadlines.
        for _ in 0..10 {
            for c in 1..=20 {
                w.send(c, Packet::PingReq);
                assert!(matches!(w.take(c)[0].packet(), Packet::PingResp));
            }
            w.advance(5_000);
            assert!(w.closed.is_empty());
            assert!(w.b.timers.len() <= 20, "{} entries", w.b.timers.len());
        }
        // Silence: every connection is closed 15 s after its last packet.
        w.advance(9_999);
        assert!(w.closed.is_empty());
        w.advance(1);
        assert_eq!(w.closed.len(), 20);
        assert!(w.b.timers.is_empty());
    }

    /// A 5.0 CONNECT, SUBSCRIBE and QoS 1 PUBLISH to itself, fed in
    /// chunks of `size` (the whole stream when 0); what the client got.
    fn chunked_session(size: usize) -> Vec<String> {
        let v5 = ProtocolVersion::V5;
        let mut bytes = BytesMut::new();
        let mut c = Connect::new(v5, "chunks");
        c.keep_alive = 30;
        Packet::Connect((&c).into()).encode(v5, &mut bytes).unwrap();
        let subs = [mqttkit_codec::Subscription::new("t/#", QoS::AtLeastOnce)];
        Packet::Subscribe(Subscribe::new(1, &subs))
            .encode(v5, &mut bytes)
            .unwrap();
        let mut p = Publish::new("t/a", b"payload");
        p.qos = QoS::AtLeastOnce;
        p.packet_id = Some(2);
        let props = mqttkit_codec::PublishProperties {
            message_expiry_interval: Some(60),
            ..Default::default()
        };
        p.properties = (&props).into();
        Packet::Publish(p).encode(v5, &mut bytes).unwrap();
        let mut w = World::new(Config::default());
        w.open(1, v5);
        let size = if size == 0 { bytes.len() } else { size };
        for piece in bytes.chunks(size) {
            w.raw(1, piece);
        }
        assert!(w.closed.is_empty());
        w.take(1)
            .iter()
            .map(|p| format!("{:?}", p.packet()))
            .collect()
    }

    #[test]
    fn packets_split_anywhere_decode_as_whole_ones() {
        // Between reads a connection keeps only the part of a packet that
        // came; the stream's version (5.0, learnt from CONNECT) must hold.
        let whole = chunked_session(0);
        assert_eq!(whole.len(), 4, "{whole:?}"); // CONNACK, SUBACK, PUBACK, PUBLISH
        for size in [1, 2, 3, 5, 8, 13] {
            assert_eq!(chunked_session(size), whole, "chunks of {size}");
        }
    }

    #[test]
    fn a_keep_alive_shorter_than_the_connect_timeout_still_fires() {
        let mut w = World::new(Config::default());
        w.open(1, V);
        let mut c = Connect::new(V, "short");
        c.keep_alive = 1;
        w.send(1, Packet::Connect((&c).into()));
        assert!(matches!(w.take(1)[0].packet(), Packet::ConnAck(_)));
        w.advance(1_499);
        assert!(w.closed.is_empty());
        w.advance(1);
        assert_eq!(w.closed, vec![1]);
        // The CONNECT timeout's entry went stale and does nothing.
        w.advance(20_000);
        assert_eq!(w.closed, vec![1]);
        assert!(w.b.timers.is_empty());
    }
}
