//! Enhanced authentication (MQTT 5.0 §4.12): the AUTH exchange, driven by
//! a pluggable [`Authenticator`].
//!
//! A 5.0 client that names an Authentication Method in CONNECT starts an
//! exchange: the broker hands the method and the CONNECT's Authentication
//! Data to the authenticator, which answers with one [`AuthStep`] at a
//! time. `Continue` sends an AUTH with reason 0x18 and waits for the
//! client's AUTH; `Success` completes the CONNECT (CONNACK carries the
//! method and any final data); `Fail` refuses it. After the CONNACK the
//! client may re-authenticate (AUTH with reason 0x19) with the same method
//! at any time; a failed re-authentication ends the connection.
//!
//! The model never reads a clock here either: an exchange that stalls
//! before CONNACK is ended by the broker's CONNECT timeout.

use std::fmt;
use std::sync::Arc;

use mqttkit_codec::{
    Auth, AuthProperties, AuthReasonCode, List, OwnedPacket, Packet, ProtocolVersion,
};

/// What the client presented when an exchange starts.
#[derive(Debug, Clone, Copy)]
pub struct AuthStart<'a> {
    /// The Authentication Method from CONNECT.
    pub method: &'a str,
    /// The Client Identifier as sent (empty when the broker will assign one).
    pub client_id: &'a str,
    /// User Name, if sent.
    pub username: Option<&'a str>,
    /// True for a re-authentication of a connected client (AUTH 0x19).
    pub reauthentication: bool,
}

/// One answer of an authenticator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Authenticated. `data` goes to the client as Authentication Data
    /// (in CONNACK, or in the AUTH 0x00 that ends a re-authentication).
    Success {
        /// Final data for the client, if the method has any.
        data: Option<Vec<u8>>,
    },
    /// More is needed: send the challenge in an AUTH 0x18 and wait for the
    /// client.
    Continue(Challenge),
    /// Refused: CONNACK 0x87 Not authorized before the connection is
    /// accepted, DISCONNECT 0x87 after (re-authentication).
    Fail,
}

/// What a `Continue` step sends to the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    /// Authentication Data.
    pub data: Vec<u8>,
    /// A Reason String for people; left out when the AUTH would then
    /// exceed the client's Maximum Packet Size (MQTT-3.15.2-2).
    pub reason: Option<String>,
    /// User Properties; left out when the AUTH would then exceed the
    /// client's Maximum Packet Size (MQTT-3.15.2-3).
    pub user_properties: Vec<(String, String)>,
}

impl Challenge {
    /// A challenge of `data` alone.
    pub fn new(data: Vec<u8>) -> Self {
        Challenge {
            data,
            ..Challenge::default()
        }
    }
}

/// One running exchange for one connection.
pub trait AuthExchange: Send + fmt::Debug {
    /// The client's Authentication Data (from CONNECT, or from its AUTH);
    /// empty when it sent none.
    fn step(&mut self, data: &[u8]) -> AuthStep;
}

/// Knows authentication methods and starts exchanges.
pub trait Authenticator: Send + fmt::Debug {
    /// Starts an exchange for `start.method`; `None` when the method is
    /// not supported (the CONNECT is refused with 0x8C Bad authentication
    /// method, MQTT-4.12.0-1).
    fn begin(&mut self, start: &AuthStart<'_>) -> Option<Box<dyn AuthExchange>>;
}

/// Per-connection state of enhanced authentication.
#[derive(Debug, Default)]
pub(crate) struct ConnAuth {
    /// The method named in CONNECT; every AUTH and the CONNACK repeat it.
    pub method: Option<Arc<str>>,
    /// The exchange in progress, if any.
    pub exchange: Option<Box<dyn AuthExchange>>,
    /// The CONNECT that waits for its exchange to succeed.
    pub pending_connect: Option<OwnedPacket>,
    /// The client's Maximum Packet Size while its CONNECT waits.
    pub pending_max_packet: u32,
}

impl ConnAuth {
    /// True while a CONNECT waits for its exchange.
    pub fn connecting(&self) -> bool {
        self.pending_connect.is_some()
    }
}

/// Builds the AUTH 0x18 of a `Continue` step for `method`, leaving out the
/// Reason String and then the User Properties when the packet would not
/// fit in `max_packet` bytes. `None` when even the bare packet does not fit
/// (the exchange cannot go on).
pub(crate) fn continue_packet(method: &str, c: &Challenge, max_packet: u32) -> Option<Vec<u8>> {
    let (data, reason, user_properties) = (&c.data[..], c.reason.as_deref(), &c.user_properties);
    let pairs: Vec<(&str, &str)> = user_properties
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // Everything; then without the Reason String; then bare.
    let no_users: &[(&str, &str)] = &[];
    for (reason, users) in [(reason, &pairs[..]), (None, &pairs[..]), (None, no_users)] {
        let a = Auth {
            reason_code: AuthReasonCode::ContinueAuthentication,
            properties: AuthProperties {
                authentication_method: Some(method),
                authentication_data: Some(data),
                reason_string: reason,
                user_properties: List::from_slice(users),
            },
        };
        let bytes = Packet::Auth(a).to_vec(ProtocolVersion::V5).ok()?;
        if bytes.len() <= max_packet as usize {
            return Some(bytes);
        }
    }
    None
}
