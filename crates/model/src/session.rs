//! What survives a connection: subscriptions, messages in flight towards
//! the client, messages waiting for it, and QoS 2 ids received from it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use mqttkit_codec::{ProtocolVersion, SubscriptionOptions};

use crate::message::Delivery;
use crate::{ConnId, Millis};

/// A collection that costs one pointer while it is empty: most sessions
/// of a broker are idle, with nothing in flight, queued or half-received.
/// Reading an empty one touches no memory of its own ([`Deref`] gives a
/// shared empty value); the first mutable use ([`DerefMut`]) allocates
/// it, and [`Lazy::tidy`] gives the memory back once it is empty again.
pub struct Lazy<T>(Option<Box<T>>);

/// Collections [`Lazy`] can hold: they have a shared empty value.
pub trait Collection: Default + 'static {
    /// The empty value that reads of an unallocated [`Lazy`] see.
    const EMPTY: &'static Self;
    /// Whether there is nothing in it.
    fn is_empty_collection(&self) -> bool;
}

impl<K: 'static, V: 'static> Collection for BTreeMap<K, V> {
    const EMPTY: &'static Self = &BTreeMap::new();
    fn is_empty_collection(&self) -> bool {
        self.is_empty()
    }
}

impl<T: 'static> Collection for BTreeSet<T> {
    const EMPTY: &'static Self = &BTreeSet::new();
    fn is_empty_collection(&self) -> bool {
        self.is_empty()
    }
}

impl<T: 'static> Collection for VecDeque<T> {
    const EMPTY: &'static Self = &VecDeque::new();
    fn is_empty_collection(&self) -> bool {
        self.is_empty()
    }
}

impl<T> Lazy<T> {
    /// An empty collection, not allocated.
    pub const fn new() -> Self {
        Lazy(None)
    }
}

impl<T: Collection> Lazy<T> {
    /// Drops the allocation when the collection is empty.
    pub fn tidy(&mut self) {
        if self.0.as_deref().is_some_and(T::is_empty_collection) {
            self.0 = None;
        }
    }

    /// Whether memory is held (tests and statistics).
    pub fn is_allocated(&self) -> bool {
        self.0.is_some()
    }
}

impl<T> Default for Lazy<T> {
    fn default() -> Self {
        Lazy(None)
    }
}

impl<T: Collection> From<T> for Lazy<T> {
    fn from(v: T) -> Self {
        let mut l = Lazy(Some(Box::new(v)));
        l.tidy();
        l
    }
}

impl<T: Collection> Deref for Lazy<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_deref().unwrap_or(T::EMPTY)
    }
}

impl<T: Collection> DerefMut for Lazy<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(Box::default)
    }
}

impl<T: Collection + Clone> Clone for Lazy<T> {
    fn clone(&self) -> Self {
        Lazy(self.0.clone())
    }
}

impl<T: Collection + fmt::Debug> fmt::Debug for Lazy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<'a, T: Collection> IntoIterator for &'a Lazy<T>
where
    &'a T: IntoIterator,
{
    type Item = <&'a T as IntoIterator>::Item;
    type IntoIter = <&'a T as IntoIterator>::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        (**self).into_iter()
    }
}

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
    pub in_flight: Lazy<BTreeMap<u16, InFlight>>,
    /// Messages waiting for the client (offline, or window full), in order.
    pub queue: Lazy<VecDeque<Delivery>>,
    /// QoS 2 packet ids received and not yet released (PUBREL).
    pub incoming_qos2: Lazy<BTreeSet<u16>>,
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
            in_flight: Lazy::new(),
            queue: Lazy::new(),
            incoming_qos2: Lazy::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_session_is_small() {
        // Sessions are boxed; the three collections that are empty for an
        // idle session cost a pointer each (the inline collections made
        // it 160 bytes).
        let n = std::mem::size_of::<Session>();
        assert!(n <= 104, "Session is {n} bytes");
    }

    #[test]
    fn lazy_allocates_on_first_write_and_tidies_when_empty() {
        let mut q: Lazy<VecDeque<u8>> = Lazy::new();
        assert!(q.is_empty() && !q.is_allocated());
        assert_eq!(q.iter().count(), 0);
        q.push_back(1);
        assert!(q.is_allocated());
        q.tidy();
        assert!(q.is_allocated(), "not empty: kept");
        assert_eq!(q.pop_front(), Some(1));
        q.tidy();
        assert!(!q.is_allocated());
        let m: Lazy<BTreeMap<u16, u8>> = BTreeMap::from([(1, 2)]).into();
        assert_eq!((&m).into_iter().count(), 1);
        let e: Lazy<BTreeSet<u16>> = BTreeSet::new().into();
        assert!(!e.is_allocated());
    }
}
