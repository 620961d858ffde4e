//! # mqttkit-codec
//!
//! A zero-copy decoder and encoder for every MQTT control packet of MQTT
//! 3.1, 3.1.1 and 5.0, with validation that names the normative statement
//! each bad packet breaks.
//!
//! ```
//! use mqttkit_codec::{Decoder, Packet, ProtocolVersion, Role};
//!
//! // PUBLISH QoS 0, topic "a/b", payload "hi"
//! let bytes = [0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'];
//! let decoder = Decoder::new(ProtocolVersion::V3_1_1).sent_by(Role::Client);
//! let (packet, used) = decoder.decode(&bytes).unwrap();
//! assert_eq!(used, bytes.len());
//! let Packet::Publish(p) = packet else { panic!() };
//! assert_eq!((p.topic, p.payload), ("a/b", &b"hi"[..]));
//!
//! // A wildcard in a PUBLISH topic breaks MQTT-3.3.2-2.
//! let bad = [0x30, 0x05, 0x00, 0x03, b'a', b'/', b'#'];
//! let err = decoder.decode(&bad).unwrap_err();
//! assert_eq!(err.statement(), Some("MQTT-3.3.2-2"));
//! assert_eq!(err.offset(), Some(6));
//! ```
//!
//! Decoding allocates nothing: strings and payloads are slices of the
//! input and repeated fields ([`List`]) are read lazily from it.
//! CONNECT and the property sets of PUBLISH and CONNACK are [`Lazy`]: kept
//! as their validated bytes and read on demand with [`Lazy::get`], which
//! keeps [`Packet`] at 80 bytes; a packet built for encoding holds a
//! reference to the value instead (`Lazy::new(&value)` or
//! `(&value).into()`).
//! [`Decoder::decode_lenient`] keeps going past violations and returns them
//! all with the packet, for analysing captured traffic. [`StreamDecoder`]
//! frames packets out of a byte stream. [`Packet::encode`] writes any packet
//! into a [`bytes::BufMut`] after the same checks.

#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "arbitrary")]
pub mod arbitrary_packet;
pub mod error;
pub mod fuzz_targets;
pub mod lazy;
pub mod list;
mod owned;
mod packet;
mod parse;
pub mod properties;
pub mod reason;
#[cfg(feature = "serde")]
mod serde_bytes;
mod stream;
pub mod topic;
mod types;
pub mod varint;

pub use error::{rules, DecodeError, EncodeError, ErrorKind, Rule, Violation, Violations};
pub use lazy::{FromWire, Lazy};
pub use list::List;
pub use owned::OwnedPacket;
pub use packet::{
    Auth, ConnAck, Connect, Disconnect, FixedHeader, Packet, PubAck, PubComp, PubRec, PubRel,
    PubResponse, Publish, RetainHandling, SubAck, Subscribe, Subscription, SubscriptionOptions,
    UnsubAck, Unsubscribe, Will,
};
pub use properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    Property, PublishProperties, SubscribeProperties, UnsubscribeProperties, UserProperties,
    WillProperties,
};
pub use reason::{
    AuthReasonCode, ConnectReasonCode, DisconnectReasonCode, PubAckReasonCode, PubRelReasonCode,
    SubscribeReasonCode, UnsubscribeReasonCode,
};
pub use stream::StreamDecoder;
pub use types::{PacketType, ProtocolVersion, QoS, Role};

use parse::{Cx, Lenient, Strict};

/// The README's Rust example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The largest packet the protocol can express: a 5-byte fixed header
/// (1 type byte + 4 length bytes) and a 268,435,455-byte body.
pub const MAX_PACKET_SIZE: usize = 1 + 4 + varint::MAX as usize;

/// Decoding settings: the protocol version in force, optionally which side
/// sent the packets, and a size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    /// Version for every packet but CONNECT (which announces its own).
    pub version: ProtocolVersion,
    /// The sender, for rules bound to a direction; `None` skips them.
    pub from: Option<Role>,
    /// Packets larger than this (header included) are refused before
    /// their body is looked at.
    pub max_packet_size: usize,
}

impl Decoder {
    /// A decoder for `version`, direction unknown, no size limit beyond the
    /// protocol's own.
    pub const fn new(version: ProtocolVersion) -> Self {
        Decoder {
            version,
            from: None,
            max_packet_size: MAX_PACKET_SIZE,
        }
    }

    /// Applies the rules that depend on which side sent the packet.
    pub const fn sent_by(mut self, role: Role) -> Self {
        self.from = Some(role);
        self
    }

    /// Refuses packets larger than `bytes`.
    pub const fn max_packet_size(mut self, bytes: usize) -> Self {
        self.max_packet_size = bytes;
        self
    }

    /// Decodes the packet at the start of `buf`, stopping at the first
    /// violation. Returns the packet and the number of bytes it took.
    #[inline]
    pub fn decode<'a>(&self, buf: &'a [u8]) -> Result<(Packet<'a>, usize), DecodeError> {
        self.decode_as(buf, |p, n| (p, n))
    }

    /// [`decode`](Self::decode), the packet and its length handed to
    /// `wrap` (see `packet::decode_packet_as`).
    #[inline(always)]
    pub(crate) fn decode_as<'a, R>(
        &self,
        buf: &'a [u8],
        wrap: impl FnOnce(Packet<'a>, usize) -> R,
    ) -> Result<R, DecodeError> {
        let mut cx = Cx {
            version: self.version,
            from: self.from,
            base: 0,
            sink: Strict,
        };
        packet::decode_packet_as(buf, &mut cx, self.max_packet_size, wrap)
    }

    /// Decodes the packet at the start of `buf`, recording violations
    /// instead of stopping at them. Fails only where the bytes cannot be
    /// laid out as a packet at all (truncated fields, unknown packet type
    /// or protocol level, a length running past the end).
    pub fn decode_lenient<'a>(
        &self,
        buf: &'a [u8],
    ) -> Result<(Packet<'a>, usize, Violations), DecodeError> {
        let mut cx = Cx {
            version: self.version,
            from: self.from,
            base: 0,
            sink: Lenient(Violations::new()),
        };
        let (p, n) = packet::decode_packet(buf, &mut cx, self.max_packet_size)?;
        Ok((p, n, cx.sink.0))
    }
}

/// Decodes one packet strictly under `version` (direction unknown).
#[inline]
pub fn decode(buf: &[u8], version: ProtocolVersion) -> Result<(Packet<'_>, usize), DecodeError> {
    Decoder::new(version).decode(buf)
}
