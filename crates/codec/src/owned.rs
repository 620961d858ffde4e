//! Packets that own their bytes.

use core::fmt;

use bytes::Bytes;

use crate::error::{DecodeError, EncodeError};
use crate::packet::Packet;
use crate::types::ProtocolVersion;
use crate::Decoder;

/// A packet that keeps its encoded bytes alive in a [`Bytes`], for when a
/// packet must outlive the buffer it came from. [`packet`](Self::packet)
/// gives the borrowed view again (decoding it, which allocates nothing).
#[derive(Clone)]
pub struct OwnedPacket {
    bytes: Bytes,
    version: ProtocolVersion,
}

impl OwnedPacket {
    /// Takes one whole encoded packet, checking that it decodes (leniently:
    /// violations are allowed, broken structure is not).
    pub fn from_bytes(bytes: Bytes, version: ProtocolVersion) -> Result<Self, DecodeError> {
        let (_, n, _) = Decoder::new(version).decode_lenient(&bytes)?;
        let bytes = bytes.slice(..n);
        Ok(OwnedPacket { bytes, version })
    }

    pub(crate) fn from_validated(bytes: Bytes, version: ProtocolVersion) -> Self {
        OwnedPacket { bytes, version }
    }

    /// The packet.
    pub fn packet(&self) -> Packet<'_> {
        match Decoder::new(self.version).decode_lenient(&self.bytes) {
            Ok((p, _, _)) => p,
            // Unreachable: the bytes decoded when this value was made and
            // decoding is deterministic. Answer with a harmless packet
            // rather than panic.
            Err(_) => Packet::PingReq,
        }
    }

    /// The encoded bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The version the packet was decoded or encoded under.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }
}

impl fmt::Debug for OwnedPacket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.packet().fmt(f)
    }
}

impl PartialEq for OwnedPacket {
    fn eq(&self, other: &Self) -> bool {
        self.packet() == other.packet()
    }
}

impl Packet<'_> {
    /// Encodes the packet into an [`OwnedPacket`] (one allocation).
    pub fn into_owned(&self, version: ProtocolVersion) -> Result<OwnedPacket, EncodeError> {
        let v = self.connect_version().unwrap_or(version);
        Ok(OwnedPacket {
            bytes: Bytes::from(self.to_vec(v)?),
            version: v,
        })
    }
}
