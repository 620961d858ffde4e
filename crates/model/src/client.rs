//! The client side of an MQTT session as a sans-IO state machine.
//!
//! [`Client`] keeps what the specification asks of a Client: the first
//! packet is CONNECT; Packet Identifiers are unique among those in use and
//! kept through retransmission; QoS 1 and 2 flows in both directions with
//! acknowledgements in arrival order; redelivery in the original order with
//! DUP after a reconnection; the Server's limits from CONNACK (Maximum QoS,
//! Retain Available, Maximum Packet Size, Topic Alias Maximum, Receive
//! Maximum, Server Keep Alive); PINGREQ when idle; nothing after
//! DISCONNECT; enhanced authentication with one method throughout.
//!
//! Like the broker core it does no I/O and reads no clock: the caller feeds
//! received bytes and `now`, and takes bytes to write
//! ([`Client::poll_transmit`]) and events ([`Client::poll_event`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use mqttkit_codec::{
    Auth, AuthReasonCode, Connect, ConnectReasonCode, DecodeError, Disconnect,
    DisconnectReasonCode, ErrorKind, Lazy, Packet, ProtocolVersion, PubAck, PubComp, PubRec,
    PubRel, Publish, PublishProperties, QoS, Role, StreamDecoder, Subscribe, SubscribeReasonCode,
    Subscription, Unsubscribe,
};

use crate::Millis;

/// How the client connects.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Protocol version spoken.
    pub version: ProtocolVersion,
    /// Client Identifier.
    pub client_id: String,
    /// Clean Start (5.0) / Clean Session (3.x) on the first connection;
    /// reconnections ask to resume.
    pub clean_start: bool,
    /// Keep Alive asked for (seconds; 0 = off).
    pub keep_alive: u16,
    /// Session Expiry Interval asked for (5.0, seconds).
    pub session_expiry: u32,
    /// Receive Maximum declared to the Server (5.0).
    pub receive_maximum: u16,
    /// Topic Alias Maximum declared to the Server (5.0): aliases it may use.
    pub topic_alias_maximum: u16,
    /// Authentication Method (5.0 enhanced authentication), and the
    /// initial data.
    pub auth: Option<(String, Vec<u8>)>,
}

impl ClientConfig {
    /// A configuration with a 60 s Keep Alive and a clean start.
    pub fn new(version: ProtocolVersion, client_id: &str) -> Self {
        ClientConfig {
            version,
            client_id: client_id.to_owned(),
            clean_start: true,
            keep_alive: 60,
            session_expiry: 0,
            receive_maximum: 65_535,
            topic_alias_maximum: 0,
            auth: None,
        }
    }
}

/// Why an operation was not done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientError {
    /// No accepted connection (before CONNACK, or after a close).
    NotConnected,
    /// DISCONNECT was sent: nothing more goes out (MQTT-3.14.4-2).
    Disconnected,
    /// Above the Server's Maximum QoS (MQTT-3.2.2-11).
    QoSNotSupported,
    /// RETAIN while the Server said Retain Available 0 (MQTT-3.2.2-14).
    RetainNotSupported,
    /// Larger than the Server's Maximum Packet Size (MQTT-3.2.2-15).
    PacketTooLarge,
    /// Every Packet Identifier is in use (MQTT-2.2.1-3 / MQTT-2.3.1-2).
    NoPacketIdentifier,
    /// No Authentication Method was given in CONNECT (MQTT-4.12.0-7).
    NoAuthentication,
    /// The packet could not be encoded (an invalid topic, for example).
    Invalid,
}

/// What happened, for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// CONNACK accepted the connection.
    Connected {
        /// Session Present as the Server sent it.
        session_present: bool,
    },
    /// CONNACK refused the connection.
    Refused(ConnectReasonCode),
    /// The Server asks for more authentication data; answer with
    /// [`Client::auth_continue`].
    AuthChallenge(Vec<u8>),
    /// A re-authentication succeeded.
    Reauthenticated,
    /// A message arrived (once per message, whatever the QoS).
    Message {
        /// Topic (resolved from a Topic Alias where one was used).
        topic: Arc<str>,
        /// Payload.
        payload: Bytes,
        /// QoS of the delivery.
        qos: QoS,
        /// RETAIN flag.
        retain: bool,
    },
    /// A QoS 1 or 2 PUBLISH of ours completed.
    Published(u16),
    /// A SUBSCRIBE was answered.
    Subscribed(u16, Vec<SubscribeReasonCode>),
    /// An UNSUBSCRIBE was answered.
    Unsubscribed(u16),
    /// The client wants the network connection closed (after writing what
    /// [`Client::poll_transmit`] still gives), for this reason.
    Close(CloseReason),
}

/// Why the client ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The application disconnected (MQTT-3.14.4-1).
    Disconnect,
    /// The Server sent DISCONNECT or refused the CONNECT.
    ByServer,
    /// Session Present 1 although the client holds no session
    /// (MQTT-3.2.2-4).
    UnexpectedSession,
    /// The Server sent something the specification forbids.
    ProtocolViolation,
    /// No PINGRESP (or anything else) within Keep Alive after a PINGREQ.
    KeepAliveTimeout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Connecting,
    Connected,
    Disconnected,
}

#[derive(Debug, Clone)]
struct OutMessage {
    topic: Arc<str>,
    payload: Bytes,
    qos: QoS,
    retain: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// PUBLISH sent, PUBACK (QoS 1) or PUBREC (QoS 2) awaited.
    Sent,
    /// PUBREL sent, PUBCOMP awaited.
    Released,
}

/// A sans-IO MQTT client session.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    state: State,
    decoder: StreamDecoder,
    transmit: VecDeque<Bytes>,
    events: VecDeque<ClientEvent>,
    /// Last time a packet was sent (for Keep Alive).
    last_sent: Millis,
    keep_alive_ms: u64,
    ping_outstanding: bool,
    next_id: u16,
    /// Our QoS 1/2 PUBLISHes in flight, in the order first sent.
    in_flight: VecDeque<(u16, OutMessage, Stage)>,
    /// Held back by the Server's Receive Maximum, with their identifiers.
    held: VecDeque<(u16, OutMessage)>,
    /// SUBSCRIBE / UNSUBSCRIBE identifiers awaiting their answer.
    requests: HashSet<u16>,
    /// QoS 2 identifiers received and not yet released.
    incoming_qos2: HashSet<u16>,
    /// Topic aliases the Server set, by alias.
    incoming_aliases: HashMap<u16, Arc<str>>,
    /// Topic aliases we set, by topic.
    outgoing_aliases: HashMap<Arc<str>, u16>,
    /// Whether the client holds session state from an earlier connection.
    has_session: bool,
    // The Server's limits from CONNACK.
    server_max_qos: QoS,
    server_retain: bool,
    server_max_packet: u32,
    server_alias_max: u16,
    server_receive_max: u16,
    reauthenticating: bool,
}

impl Client {
    /// A client that has not connected yet.
    pub fn new(config: ClientConfig) -> Self {
        let decoder = StreamDecoder::with_version(config.version).sent_by(Role::Server);
        Client {
            config,
            state: State::Idle,
            decoder,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            last_sent: 0,
            keep_alive_ms: 0,
            ping_outstanding: false,
            next_id: 0,
            in_flight: VecDeque::new(),
            held: VecDeque::new(),
            requests: HashSet::new(),
            incoming_qos2: HashSet::new(),
            incoming_aliases: HashMap::new(),
            outgoing_aliases: HashMap::new(),
            has_session: false,
            server_max_qos: QoS::ExactlyOnce,
            server_retain: true,
            server_max_packet: u32::MAX,
            server_alias_max: 0,
            server_receive_max: u16::MAX,
            reauthenticating: false,
        }
    }

    /// Bytes to write to the network, in order.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// True once CONNACK accepted the connection.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Identifiers of our QoS 1/2 PUBLISHes in flight, in sending order.
    pub fn in_flight_ids(&self) -> Vec<u16> {
        self.in_flight.iter().map(|(id, _, _)| *id).collect()
    }

    /// PUBLISHes held back by the Server's Receive Maximum.
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// A new network connection is up: CONNECT is the first packet on it
    /// (MQTT-3.1.0-1). After the first connection the client asks to
    /// resume its session.
    pub fn connect(&mut self, now: Millis) {
        self.decoder = StreamDecoder::with_version(self.config.version).sent_by(Role::Server);
        self.state = State::Connecting;
        self.ping_outstanding = false;
        self.incoming_aliases.clear();
        self.outgoing_aliases.clear();
        self.reauthenticating = false;
        let clean = self.config.clean_start && !self.has_session;
        if clean {
            self.forget_session();
        }
        let cfg = &self.config;
        let v5 = cfg.version.is_v5();
        let mut c = Connect::new(cfg.version, &cfg.client_id);
        c.clean_start = clean;
        c.keep_alive = cfg.keep_alive;
        if v5 {
            c.properties.session_expiry_interval =
                (cfg.session_expiry > 0).then_some(cfg.session_expiry);
            c.properties.receive_maximum =
                (cfg.receive_maximum != u16::MAX).then_some(cfg.receive_maximum);
            c.properties.topic_alias_maximum =
                (cfg.topic_alias_maximum > 0).then_some(cfg.topic_alias_maximum);
            if let Some((m, d)) = &cfg.auth {
                c.properties.authentication_method = Some(m);
                c.properties.authentication_data = (!d.is_empty()).then_some(&d[..]);
            }
        }
        let bytes = encode(&Packet::Connect(Lazy::new(&c)), cfg.version);
        if let Some(b) = bytes {
            self.push(b, now);
        }
    }

    /// The network connection ended (the session, if any, is kept).
    pub fn connection_lost(&mut self) {
        if self.state != State::Disconnected {
            self.state = State::Idle;
        }
    }

    /// Publishes; returns the Packet Identifier for QoS 1 and 2.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        now: Millis,
    ) -> Result<Option<u16>, ClientError> {
        self.ready()?;
        if qos > self.server_max_qos {
            return Err(ClientError::QoSNotSupported);
        }
        if retain && !self.server_retain {
            return Err(ClientError::RetainNotSupported);
        }
        let m = OutMessage {
            topic: Arc::from(topic),
            payload: Bytes::copy_from_slice(payload),
            qos,
            retain,
        };
        // Check the size with the full topic (the largest form) before
        // taking an identifier.
        let probe_id = (qos != QoS::AtMostOnce).then_some(1);
        let size = self
            .publish_packet(&m, probe_id, false, false)
            .ok_or(ClientError::Invalid)?
            .len();
        if size > self.server_max_packet as usize {
            return Err(ClientError::PacketTooLarge);
        }
        if qos == QoS::AtMostOnce {
            let bytes = self.publish_packet(&m, None, false, true);
            if let Some(b) = bytes {
                self.push(b, now);
            }
            return Ok(None);
        }
        let id = self.take_id()?;
        self.has_session = true;
        if self.in_flight.len() >= usize::from(self.server_receive_max) {
            // MQTT-3.3.4-7: wait for an acknowledgement first.
            self.held.push_back((id, m));
        } else {
            self.send_new_publish(id, m, now);
        }
        Ok(Some(id))
    }

    /// Subscribes to `filters`; returns the Packet Identifier. Never held
    /// back by Receive Maximum (MQTT-3.3.4-8).
    pub fn subscribe(&mut self, filters: &[(&str, QoS)], now: Millis) -> Result<u16, ClientError> {
        self.ready()?;
        let id = self.take_id()?;
        let subs: Vec<Subscription<'_>> = filters
            .iter()
            .map(|(f, q)| Subscription::new(f, *q))
            .collect();
        let bytes = encode(
            &Packet::Subscribe(Subscribe::new(id, &subs)),
            self.config.version,
        )
        .ok_or(ClientError::Invalid)?;
        self.checked_push(bytes, now)?;
        self.requests.insert(id);
        self.has_session = true;
        Ok(id)
    }

    /// Unsubscribes from `filters`; returns the Packet Identifier.
    pub fn unsubscribe(&mut self, filters: &[&str], now: Millis) -> Result<u16, ClientError> {
        self.ready()?;
        let id = self.take_id()?;
        let bytes = encode(
            &Packet::Unsubscribe(Unsubscribe::new(id, filters)),
            self.config.version,
        )
        .ok_or(ClientError::Invalid)?;
        self.checked_push(bytes, now)?;
        self.requests.insert(id);
        Ok(id)
    }

    /// Sends DISCONNECT; nothing is sent after it (MQTT-3.14.4-2) and the
    /// client asks for the connection to be closed (MQTT-3.14.4-1).
    pub fn disconnect(&mut self, now: Millis) -> Result<(), ClientError> {
        match self.state {
            State::Disconnected => return Err(ClientError::Disconnected),
            State::Idle => return Err(ClientError::NotConnected),
            State::Connecting | State::Connected => {}
        }
        let d = Disconnect::new(DisconnectReasonCode::NormalDisconnection);
        if let Some(b) = encode(&Packet::Disconnect(d), self.config.version) {
            self.push(b, now);
        }
        self.state = State::Disconnected;
        self.events
            .push_back(ClientEvent::Close(CloseReason::Disconnect));
        Ok(())
    }

    /// Answers an [`ClientEvent::AuthChallenge`] with AUTH 0x18 and the
    /// CONNECT's method (MQTT-4.12.0-3, MQTT-4.12.0-5).
    pub fn auth_continue(&mut self, data: &[u8], now: Millis) -> Result<(), ClientError> {
        if self.state == State::Disconnected {
            return Err(ClientError::Disconnected);
        }
        self.send_auth(AuthReasonCode::ContinueAuthentication, data, now)
    }

    /// Starts a re-authentication (AUTH 0x19) with the CONNECT's method
    /// (MQTT-4.12.1-1); refused without one (MQTT-4.12.0-7).
    pub fn reauthenticate(&mut self, data: &[u8], now: Millis) -> Result<(), ClientError> {
        self.ready()?;
        self.send_auth(AuthReasonCode::ReAuthenticate, data, now)?;
        self.reauthenticating = true;
        Ok(())
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next run.
    pub fn next_deadline(&self) -> Option<Millis> {
        (self.state == State::Connected && self.keep_alive_ms > 0)
            .then_some(self.last_sent + self.keep_alive_ms)
    }

    /// Time has reached `now`: a PINGREQ when nothing was sent for Keep
    /// Alive (MQTT-3.1.2-23 / MQTT-3.1.2-20); the connection is given up
    /// when a PINGREQ went unanswered for as long.
    pub fn handle_timeout(&mut self, now: Millis) {
        let Some(due) = self.next_deadline() else {
            return;
        };
        if now < due {
            return;
        }
        if self.ping_outstanding {
            self.close(CloseReason::KeepAliveTimeout);
            return;
        }
        if let Some(b) = encode(&Packet::PingReq, self.config.version) {
            self.push(b, now);
            self.ping_outstanding = true;
        }
    }

    /// Bytes arrived from the Server.
    pub fn bytes_received(&mut self, bytes: &[u8], now: Millis) {
        if matches!(self.state, State::Idle | State::Disconnected) {
            return;
        }
        self.decoder.feed(bytes);
        loop {
            let owned = match self.decoder.next_owned() {
                Ok(Some(p)) => p,
                Ok(None) | Err(DecodeError::Incomplete { .. }) => return,
                Err(DecodeError::Invalid(v)) => {
                    let reason = if v.rule.kind == ErrorKind::Malformed {
                        DisconnectReasonCode::MalformedPacket
                    } else {
                        DisconnectReasonCode::ProtocolError
                    };
                    return self.violation(reason, now);
                }
            };
            self.ping_outstanding = false;
            self.handle(owned.packet(), now);
            if matches!(self.state, State::Idle | State::Disconnected) {
                return;
            }
        }
    }

    // ---- internals --------------------------------------------------------

    fn handle(&mut self, p: Packet<'_>, now: Millis) {
        if self.state == State::Connecting {
            return match p {
                Packet::ConnAck(a) => self.on_connack(&a, now),
                Packet::Auth(a) if a.reason_code == AuthReasonCode::ContinueAuthentication => {
                    self.events.push_back(ClientEvent::AuthChallenge(
                        a.properties
                            .authentication_data
                            .unwrap_or_default()
                            .to_vec(),
                    ));
                }
                _ => self.violation(DisconnectReasonCode::ProtocolError, now),
            };
        }
        let v = self.config.version;
        match p {
            Packet::Publish(p) => self.on_publish(&p, now),
            Packet::PubAck(a) => {
                if self.complete(a.packet_id, Stage::Sent, QoS::AtLeastOnce, now) {
                    self.events.push_back(ClientEvent::Published(a.packet_id));
                }
            }
            Packet::PubRec(r) => {
                let id = r.packet_id;
                let pos = self
                    .in_flight
                    .iter()
                    .position(|(i, m, _)| *i == id && m.qos == QoS::ExactlyOnce);
                match pos {
                    Some(k) => {
                        if r.reason_code.is_error() {
                            // The exchange ends here (5.0 §4.3.3).
                            self.in_flight.remove(k);
                            self.release_held(now);
                        } else {
                            self.in_flight[k].2 = Stage::Released;
                            // MQTT-4.6.0-4: PUBREL in the order PUBRECs came.
                            if let Some(b) = encode(&Packet::PubRel(PubRel::new(id)), v) {
                                self.push(b, now);
                            }
                        }
                    }
                    None => {
                        // Not ours (any more): answer so the Server can
                        // finish (5.0: Packet Identifier not found).
                        let mut rel = PubRel::new(id);
                        if v.is_v5() {
                            rel.reason_code =
                                mqttkit_codec::PubRelReasonCode::PacketIdentifierNotFound;
                        }
                        if let Some(b) = encode(&Packet::PubRel(rel), v) {
                            self.push(b, now);
                        }
                    }
                }
            }
            Packet::PubComp(c) => {
                if self.complete(c.packet_id, Stage::Released, QoS::ExactlyOnce, now) {
                    self.events.push_back(ClientEvent::Published(c.packet_id));
                }
            }
            Packet::PubRel(r) => {
                self.incoming_qos2.remove(&r.packet_id);
                if let Some(b) = encode(&Packet::PubComp(PubComp::new(r.packet_id)), v) {
                    self.push(b, now);
                }
            }
            Packet::SubAck(a) => {
                if self.requests.remove(&a.packet_id) {
                    let codes = a.reason_codes.iter().collect();
                    self.events
                        .push_back(ClientEvent::Subscribed(a.packet_id, codes));
                }
            }
            Packet::UnsubAck(a) => {
                if self.requests.remove(&a.packet_id) {
                    self.events
                        .push_back(ClientEvent::Unsubscribed(a.packet_id));
                }
            }
            Packet::PingResp => {}
            Packet::Disconnect(_) => self.close(CloseReason::ByServer),
            Packet::Auth(a) => match a.reason_code {
                AuthReasonCode::ContinueAuthentication if self.reauthenticating => {
                    self.events.push_back(ClientEvent::AuthChallenge(
                        a.properties
                            .authentication_data
                            .unwrap_or_default()
                            .to_vec(),
                    ));
                }
                AuthReasonCode::Success if self.reauthenticating => {
                    self.reauthenticating = false;
                    self.events.push_back(ClientEvent::Reauthenticated);
                }
                _ => self.violation(DisconnectReasonCode::ProtocolError, now),
            },
            // A second CONNACK, or a packet only clients send (the decoder
            // refuses those already).
            _ => self.violation(DisconnectReasonCode::ProtocolError, now),
        }
    }

    fn on_connack(&mut self, a: &mqttkit_codec::ConnAck<'_>, now: Millis) {
        if a.reason_code.is_error() {
            self.events.push_back(ClientEvent::Refused(a.reason_code));
            return self.close(CloseReason::ByServer);
        }
        if a.session_present && !self.has_session {
            // MQTT-3.2.2-4 (5.0): a session we do not have.
            let v = self.config.version;
            if v.is_v5() {
                let d = Disconnect::new(DisconnectReasonCode::ProtocolError);
                if let Some(b) = encode(&Packet::Disconnect(d), v) {
                    self.push(b, now);
                }
            }
            return self.close(CloseReason::UnexpectedSession);
        }
        if !a.session_present && self.has_session {
            // MQTT-3.2.2-5: the Server has no session; ours goes too.
            self.forget_session();
        }
        self.state = State::Connected;
        let p = a.properties.get();
        self.server_max_qos = p.maximum_qos.unwrap_or(QoS::ExactlyOnce);
        self.server_retain = p.retain_available.unwrap_or(true);
        self.server_max_packet = p.maximum_packet_size.unwrap_or(u32::MAX);
        self.server_alias_max = p.topic_alias_maximum.unwrap_or(0);
        self.server_receive_max = p.receive_maximum.unwrap_or(u16::MAX);
        // MQTT-3.2.2-21 / MQTT-3.1.2-21: the Server's Keep Alive wins.
        let keep_alive = p.server_keep_alive.unwrap_or(self.config.keep_alive);
        self.keep_alive_ms = u64::from(keep_alive) * 1000;
        self.events.push_back(ClientEvent::Connected {
            session_present: a.session_present,
        });
        // MQTT-4.6.0-1: redeliver in the original order, PUBLISH with DUP
        // and PUBREL as they were.
        let v = self.config.version;
        let mut resend = Vec::new();
        let again: Vec<(u16, OutMessage, Stage)> = self.in_flight.iter().cloned().collect();
        for (id, m, stage) in &again {
            let bytes = match stage {
                Stage::Sent => self.publish_packet(m, Some(*id), true, false),
                Stage::Released => encode(&Packet::PubRel(PubRel::new(*id)), v),
            };
            resend.extend(bytes);
        }
        for b in resend {
            self.push(b, now);
        }
        self.release_held(now);
    }

    fn on_publish(&mut self, p: &Publish<'_>, now: Millis) {
        let v = self.config.version;
        let topic: Arc<str> = match p.properties.get().topic_alias {
            Some(a) if a == 0 || a > self.config.topic_alias_maximum => {
                // MQTT-3.3.2-10 binds us to accept 1..=our maximum; more is
                // the Server's error.
                return self.violation(DisconnectReasonCode::TopicAliasInvalid, now);
            }
            Some(a) if p.topic.is_empty() => match self.incoming_aliases.get(&a) {
                Some(t) => t.clone(),
                None => return self.violation(DisconnectReasonCode::ProtocolError, now),
            },
            Some(a) => {
                let t: Arc<str> = Arc::from(p.topic);
                self.incoming_aliases.insert(a, t.clone());
                t
            }
            None => Arc::from(p.topic),
        };
        let deliver = match (p.qos, p.packet_id) {
            (QoS::AtMostOnce, _) | (_, None) => true,
            (QoS::AtLeastOnce, Some(id)) => {
                // MQTT-4.5.0-2 / MQTT-4.6.0-2: always acknowledged, in
                // arrival order.
                if let Some(b) = encode(&Packet::PubAck(PubAck::new(id)), v) {
                    self.push(b, now);
                }
                true
            }
            (QoS::ExactlyOnce, Some(id)) => {
                // MQTT-4.6.0-3: PUBREC in arrival order; a resent PUBLISH
                // is acknowledged again but not delivered again.
                let first = self.incoming_qos2.insert(id);
                if let Some(b) = encode(&Packet::PubRec(PubRec::new(id)), v) {
                    self.push(b, now);
                }
                first
            }
        };
        if deliver {
            self.events.push_back(ClientEvent::Message {
                topic,
                payload: Bytes::copy_from_slice(p.payload),
                qos: p.qos,
                retain: p.retain,
            });
        }
    }

    /// Ends an outgoing exchange at `stage`; true when `id` was there.
    fn complete(&mut self, id: u16, stage: Stage, qos: QoS, now: Millis) -> bool {
        let pos = self
            .in_flight
            .iter()
            .position(|(i, m, s)| *i == id && *s == stage && m.qos == qos);
        match pos {
            Some(k) => {
                // MQTT-2.3.1-3: the identifier is free only now.
                self.in_flight.remove(k);
                self.release_held(now);
                true
            }
            None => false,
        }
    }

    fn release_held(&mut self, now: Millis) {
        if self.state != State::Connected {
            return;
        }
        while self.in_flight.len() < usize::from(self.server_receive_max) {
            let Some((id, m)) = self.held.pop_front() else {
                break;
            };
            self.send_new_publish(id, m, now);
        }
    }

    fn send_new_publish(&mut self, id: u16, m: OutMessage, now: Millis) {
        if let Some(b) = self.publish_packet(&m, Some(id), false, true) {
            self.push(b, now);
        }
        self.in_flight.push_back((id, m, Stage::Sent));
    }

    /// Encodes a PUBLISH of `m`. With `alias`, a 5.0 client uses Topic
    /// Aliases within the Server's maximum (MQTT-3.2.2-17, MQTT-3.2.2-18,
    /// MQTT-3.3.2-9): the first PUBLISH to a topic sets one, later ones
    /// send an empty topic.
    fn publish_packet(
        &mut self,
        m: &OutMessage,
        id: Option<u16>,
        dup: bool,
        alias: bool,
    ) -> Option<Bytes> {
        let v = self.config.version;
        let mut p = Publish::new(&m.topic, &m.payload);
        p.qos = m.qos;
        p.retain = m.retain;
        p.dup = dup;
        p.packet_id = id;
        let mut props = PublishProperties::default();
        if alias && v.is_v5() && self.server_alias_max > 0 {
            match self.outgoing_aliases.get(&m.topic) {
                Some(&a) => {
                    p.topic = "";
                    props.topic_alias = Some(a);
                }
                None => {
                    let next = self.outgoing_aliases.len() + 1;
                    if next <= usize::from(self.server_alias_max) {
                        let a = next as u16;
                        self.outgoing_aliases.insert(m.topic.clone(), a);
                        props.topic_alias = Some(a);
                    }
                }
            }
        }
        p.properties = Lazy::new(&props);
        encode(&Packet::Publish(p), v)
    }

    fn send_auth(
        &mut self,
        code: AuthReasonCode,
        data: &[u8],
        now: Millis,
    ) -> Result<(), ClientError> {
        let Some((method, _)) = &self.config.auth else {
            return Err(ClientError::NoAuthentication);
        };
        let mut a = Auth::new(code);
        a.properties.authentication_method = Some(method);
        a.properties.authentication_data = Some(data);
        let b = encode(&Packet::Auth(a), self.config.version).ok_or(ClientError::Invalid)?;
        self.checked_push(b, now)
    }

    fn ready(&self) -> Result<(), ClientError> {
        match self.state {
            State::Connected => Ok(()),
            State::Disconnected => Err(ClientError::Disconnected),
            State::Idle | State::Connecting => Err(ClientError::NotConnected),
        }
    }

    /// The next identifier not in use (MQTT-2.3.1-2 / MQTT-2.2.1-3).
    fn take_id(&mut self) -> Result<u16, ClientError> {
        for _ in 0..u16::MAX {
            self.next_id = self.next_id.checked_add(1).unwrap_or(1);
            let id = self.next_id;
            let used = self.requests.contains(&id)
                || self.in_flight.iter().any(|(i, _, _)| *i == id)
                || self.held.iter().any(|(i, _)| *i == id);
            if !used {
                return Ok(id);
            }
        }
        Err(ClientError::NoPacketIdentifier)
    }

    fn checked_push(&mut self, b: Bytes, now: Millis) -> Result<(), ClientError> {
        if b.len() > self.server_max_packet as usize {
            return Err(ClientError::PacketTooLarge);
        }
        self.push(b, now);
        Ok(())
    }

    fn push(&mut self, b: Bytes, now: Millis) {
        if self.state == State::Disconnected {
            return;
        }
        self.last_sent = now;
        self.transmit.push_back(b);
    }

    fn forget_session(&mut self) {
        self.in_flight.clear();
        self.held.clear();
        self.requests.clear();
        self.incoming_qos2.clear();
        self.has_session = false;
    }

    /// The Server broke a rule: DISCONNECT with `reason` (5.0) and close.
    fn violation(&mut self, reason: DisconnectReasonCode, now: Millis) {
        let v = self.config.version;
        if v.is_v5() && self.state == State::Connected {
            if let Some(b) = encode(&Packet::Disconnect(Disconnect::new(reason)), v) {
                self.push(b, now);
            }
        }
        self.close(CloseReason::ProtocolViolation);
    }

    fn close(&mut self, why: CloseReason) {
        self.state = State::Idle;
        self.events.push_back(ClientEvent::Close(why));
    }
}

fn encode(p: &Packet<'_>, v: ProtocolVersion) -> Option<Bytes> {
    let mut buf = BytesMut::new();
    p.encode(v, &mut buf).ok()?;
    Some(buf.freeze())
}
