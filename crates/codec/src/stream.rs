//! Framing packets out of a byte stream.

use bytes::{Buf, BytesMut};

use crate::error::{rules, DecodeError, Violation, Violations};
use crate::owned::OwnedPacket;
use crate::packet::{FixedHeader, Packet};
use crate::types::{PacketType, ProtocolVersion, Role};
use crate::{Decoder, MAX_PACKET_SIZE};

/// Decodes packets from bytes that arrive in pieces of any size.
///
/// Feed bytes with [`feed`](Self::feed) (or read straight into
/// [`buffer_mut`](Self::buffer_mut)), then call
/// [`next_packet`](Self::next_packet) until it returns `Ok(None)`. The
/// packets are exactly those a single [`Decoder::decode`] over the whole
/// stream would give. The version is learnt from CONNECT unless given; the
/// size limit is enforced as soon as a fixed header is readable, before the
/// body is buffered. After an error the stream is not advanced: the same
/// error comes back until the caller [`discard`](Self::discard)s bytes.
#[derive(Debug)]
pub struct StreamDecoder {
    buf: BytesMut,
    version: Option<ProtocolVersion>,
    from: Option<Role>,
    max_packet_size: usize,
    consumed: usize,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamDecoder {
    /// A decoder that learns the version from the first packet (CONNECT).
    pub fn new() -> Self {
        StreamDecoder {
            buf: BytesMut::new(),
            version: None,
            from: None,
            max_packet_size: MAX_PACKET_SIZE,
            consumed: 0,
        }
    }

    /// A decoder for a stream whose version is already known (e.g. the
    /// Server-to-Client direction, which has no CONNECT).
    pub fn with_version(version: ProtocolVersion) -> Self {
        StreamDecoder {
            version: Some(version),
            ..Self::new()
        }
    }

    /// Applies direction-bound rules for packets sent by `role`.
    pub fn sent_by(mut self, role: Role) -> Self {
        self.from = Some(role);
        self
    }

    /// Refuses any packet larger than `bytes` (header included).
    pub fn max_packet_size(mut self, bytes: usize) -> Self {
        self.max_packet_size = bytes;
        self
    }

    /// The version in force, once known.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// Sets the version (e.g. once the other direction's CONNECT was seen).
    pub fn set_version(&mut self, version: ProtocolVersion) {
        self.version = Some(version);
    }

    fn settle(&mut self) {
        if self.consumed > 0 {
            self.buf.advance(self.consumed);
            self.consumed = 0;
        }
    }

    /// Appends bytes to the stream.
    pub fn feed(&mut self, data: &[u8]) {
        self.settle();
        self.buf.extend_from_slice(data);
    }

    /// The buffer, to read into directly.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        self.settle();
        &mut self.buf
    }

    /// Bytes buffered and not yet returned as packets.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.consumed
    }

    /// Drops `n` buffered bytes (to resynchronise after an error).
    pub fn discard(&mut self, n: usize) {
        self.settle();
        let n = n.min(self.buf.len());
        self.buf.advance(n);
    }

    fn decoder(&self) -> Result<Decoder, DecodeError> {
        let version = match self.version {
            Some(v) => v,
            None => {
                // Only a CONNECT can tell us the version.
                let Some(&b0) = self.buf.first() else {
                    return Err(DecodeError::Incomplete { needed: 1 });
                };
                if PacketType::from_nibble(b0 >> 4) != Some(PacketType::Connect) {
                    return Err(DecodeError::Invalid(Violation {
                        rule: &rules::FIRST_PACKET_NOT_CONNECT,
                        version: ProtocolVersion::V3_1_1,
                        offset: 0,
                    }));
                }
                ProtocolVersion::V3_1_1
            }
        };
        Ok(Decoder {
            version,
            from: self.from,
            max_packet_size: self.max_packet_size,
        })
    }

    /// The next whole packet, `Ok(None)` if more bytes are needed. The
    /// packet borrows the buffer until the next call.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, DecodeError> {
        self.settle();
        let decoder = match self.decoder() {
            Ok(d) => d,
            Err(DecodeError::Incomplete { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let StreamDecoder {
            buf,
            version,
            consumed,
            ..
        } = self;
        // The packet goes straight into the returned `Option`.
        let r = decoder.decode_as(buf, |p, n| {
            *consumed = n;
            if let Some(v) = p.connect_version() {
                *version = Some(v);
            }
            Some(p)
        });
        match r {
            Err(DecodeError::Incomplete { .. }) => Ok(None),
            r => r,
        }
    }

    /// Like [`next_packet`](Self::next_packet) but lenient: the packet
    /// comes with the violations found in it.
    pub fn next_packet_lenient(&mut self) -> Result<Option<(Packet<'_>, Violations)>, DecodeError> {
        self.settle();
        let decoder = match self.decoder() {
            Ok(d) => d,
            Err(DecodeError::Incomplete { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let StreamDecoder {
            buf,
            version,
            consumed,
            ..
        } = self;
        match decoder.decode_lenient(buf) {
            Ok((p, n, v)) => {
                *consumed = n;
                if let Some(ver) = p.connect_version() {
                    *version = Some(ver);
                }
                Ok(Some((p, v)))
            }
            Err(DecodeError::Incomplete { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The next whole packet as an [`OwnedPacket`] that shares the stream's
    /// memory (no copy).
    pub fn next_owned(&mut self) -> Result<Option<OwnedPacket>, DecodeError> {
        let n = match self.next_packet()? {
            Some(_) => self.consumed,
            None => return Ok(None),
        };
        self.consumed = 0;
        let bytes = self.buf.split_to(n).freeze();
        let version = self.version.unwrap_or(ProtocolVersion::V3_1_1);
        Ok(Some(OwnedPacket::from_validated(bytes, version)))
    }

    /// The fixed header of the next packet, if its bytes have arrived.
    pub fn peek_header(&self) -> Option<FixedHeader> {
        let v = self.version.unwrap_or(ProtocolVersion::V3_1_1);
        FixedHeader::parse(&self.buf[self.consumed..], v)
            .ok()
            .map(|(h, _)| h)
    }
}
