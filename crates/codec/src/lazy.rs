//! [`Lazy`]: a large, rarely read part of a packet, kept as the validated
//! bytes it was decoded from and read again on demand.
//!
//! Why: a [`Packet`](crate::Packet) is as large as its largest variant, and
//! every decode writes (and every caller moves) that many bytes. A CONNECT
//! with its will and two property sets, or a full set of PUBLISH or
//! CONNACK properties, is 100 to 280 bytes; the PUBLISH that makes up most
//! traffic needs 60. Holding those parts as a slice of the packet (16 bytes
//! and a version) keeps `Packet` at 80 bytes, which makes the decode of a
//! small PUBLISH about a third faster. The price is that reading such a
//! part parses its bytes again: cheap (they are short and known to be
//! well-formed) and allocation-free, but not free, so read it once
//! ([`get`](Lazy::get)) and keep the value.
//!
//! A packet built for encoding holds a reference to a value instead
//! ([`Lazy::new`], or `(&value).into()`).

use core::fmt;

use crate::properties::PropertyBlock;
use crate::types::ProtocolVersion;

/// A value read lazily from validated wire bytes, or borrowed from a value
/// built by the caller. Compares, prints and serialises as the value.
pub struct Lazy<'a, T> {
    repr: Repr<'a, T>,
}

enum Repr<'a, T> {
    /// Bytes that decoded into a `T` under this version (leniently, at
    /// least), so reading them again gives the same `T`.
    Wire(&'a [u8], ProtocolVersion),
    Built(&'a T),
}

/// A part of a packet that can be read back from bytes that decoded before.
pub trait FromWire<'a>: Copy + 'a {
    /// Reads the value from `bytes`, which decoded into a value of this
    /// type under `version` before. Decoding is deterministic, so this
    /// cannot fail; were it to, the implementation returns a harmless
    /// value rather than panic.
    fn from_wire(bytes: &'a [u8], version: ProtocolVersion) -> Self;
}

impl<'a, T> Clone for Lazy<'a, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<'a, T> Copy for Lazy<'a, T> {}

impl<'a, T> Clone for Repr<'a, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<'a, T> Copy for Repr<'a, T> {}

impl<'a, T: FromWire<'a>> Lazy<'a, T> {
    /// A lazy value that is `value`.
    #[inline]
    pub const fn new(value: &'a T) -> Self {
        Lazy {
            repr: Repr::Built(value),
        }
    }

    /// Bytes that decoded into a `T` under `version`.
    #[inline(always)]
    pub(crate) const fn wire(bytes: &'a [u8], version: ProtocolVersion) -> Self {
        Lazy {
            repr: Repr::Wire(bytes, version),
        }
    }

    /// The value (parsed again from the packet's bytes for a decoded one).
    #[inline]
    pub fn get(&self) -> T {
        match self.repr {
            Repr::Wire(b, v) => T::from_wire(b, v),
            Repr::Built(t) => *t,
        }
    }

    /// The wire bytes, for a decoded value.
    #[inline(always)]
    pub(crate) fn wire_bytes(&self) -> Option<&'a [u8]> {
        match self.repr {
            Repr::Wire(b, _) => Some(b),
            Repr::Built(_) => None,
        }
    }
}

impl<'a, P: PropertyBlock<'a>> Lazy<'a, P> {
    /// No property at all.
    #[inline(always)]
    pub const fn none() -> Self {
        // An empty property block is the empty set.
        Lazy::wire(&[], ProtocolVersion::V5)
    }

    /// True when no property is set. A decoded block is not parsed for
    /// this: a valid block that is not empty holds at least one property.
    #[inline]
    pub fn is_empty(&self) -> bool {
        match self.repr {
            Repr::Wire(b, _) => b.is_empty(),
            Repr::Built(t) => t.is_empty(),
        }
    }
}

impl<'a, P: PropertyBlock<'a>> Default for Lazy<'a, P> {
    #[inline(always)]
    fn default() -> Self {
        Self::none()
    }
}

impl<'a, T: FromWire<'a>> From<&'a T> for Lazy<'a, T> {
    fn from(value: &'a T) -> Self {
        Lazy::new(value)
    }
}

impl<'a, T: FromWire<'a> + PartialEq> PartialEq for Lazy<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl<'a, T: FromWire<'a> + fmt::Debug> fmt::Debug for Lazy<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

#[cfg(feature = "serde")]
impl<'a, T: FromWire<'a> + serde::Serialize> serde::Serialize for Lazy<'a, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(s)
    }
}
