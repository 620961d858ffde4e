//! What survives a connection: subscriptions, messages in flight towards
//! the client, messages waiting for it, and QoS 2 ids received from it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use mqttkit_codec::{ProtocolVersion, SubscriptionOptions};

use crate::message::Delivery;
use crate::{ConnId, Millis};

/// A subscription as the session holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribed {
    /// Options as granted (QoS lowered to what the broker allows).
    pub options: SubscriptionOptions,
    /// Subscription Identifier (5.0).
    pub id: Option<u32>,
}

/// Where a message sent to the client stands (MQTT 4.3.2 and 4.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutState {
    /// QoS 1 PUBLISH sent, PUBACK awaited.
    AwaitPubAck,
    /// QoS 2 PUBLISH sent, PUBREC awaited.
    AwaitPubRec,
    /// PUBREL sent, PUBCOMP awaited.
    AwaitPubComp,
}

/// A message in flight towards the client.
#[derive(Debug, Clone)]
pub struct InFlight {
    /// What was sent.
    pub delivery: Delivery,
    /// Where the exchange stands.
    pub state: OutState,
}

/// One client's session.
#[derive(Debug)]
pub struct Session {
    /// Client Identifier.
    pub client_id: Arc<str>,
    /// The connection it is attached to, if any.
    pub conn: Option<ConnId>,
    /// Protocol version of the last connection.
    pub version: ProtocolVersion,
    /// Session Expiry Interval in seconds (`u32::MAX`: never; 0: ends with
    /// the connection). 3.x: 0 for a clean session, never otherwise.
    pub expiry: u32,
    /// When a detached session ends.
    pub expires_at: Option<Millis>,
    /// Subscriptions by filter as the client wrote it.
    pub subscriptions: BTreeMap<Arc<str>, Subscribed>,
    /// Messages sent and not yet fully acknowledged, by packet id.
    pub in_flight: BTreeMap<u16, InFlight>,
    /// Messages waiting for the client (offline, or window full), in order.
    pub queue: VecDeque<Delivery>,
    /// QoS 2 packet ids received and not yet released (PUBREL).
    pub incoming_qos2: BTreeSet<u16>,
    pub(crate) next_id: u16,
}

impl Session {
    pub(crate) fn new(client_id: Arc<str>, version: ProtocolVersion) -> Self {
        Session {
            client_id,
            conn: None,
            version,
            expiry: 0,
            expires_at: None,
            subscriptions: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            queue: VecDeque::new(),
            incoming_qos2: BTreeSet::new(),
            next_id: 0,
        }
    }

    /// A packet id not in flight (MQTT-2.3.1-2: unused until its exchange
    /// completes). `None` when all 65,535 are in use.
    pub(crate) fn allocate_id(&mut self) -> Option<u16> {
        for _ in 0..u16::MAX {
            self.next_id = if self.next_id == u16::MAX {
                1
            } else {
                self.next_id + 1
            };
            if !self.in_flight.contains_key(&self.next_id) {
                return Some(self.next_id);
            }
        }
        None
    }
}
