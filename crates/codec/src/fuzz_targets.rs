//! The bodies of the fuzz targets in `fuzz/`, as plain functions so that
//! `cargo test` replays the fuzz corpora through exactly the same checks.
//!
//! Each function panics (via `assert!`) when an invariant breaks:
//!
//! - [`decode_target`]: strict and lenient decoding agree, and a packet that
//!   decodes re-encodes to bytes that decode to the same packet;
//! - [`stream_target`]: [`StreamDecoder`] fed in arbitrary chunks gives the
//!   packets and errors [`Decoder::decode`] gives over the whole buffer;
//! - `roundtrip_target` (feature `arbitrary`): any packet the encoder
//!   accepts decodes back to itself, and a PUBLISH encodes the same through
//!   the encoder's fast path as through its general path, into every kind
//!   of buffer ([`check_publish_encode`]);
//! - `agree_target` (feature `arbitrary`): on valid input (packets the
//!   encoder wrote) strict and lenient decoding agree, in every direction
//!   ([`check_agree`]). [`check_decode`] asserts the same on arbitrary bytes
//!   (its first two invariants), but random bytes are seldom a valid
//!   packet with properties and lists; this target starts from packets
//!   that are.
//!
//! Nothing here is meant for production use.

use core::fmt::{self, Write as _};

use bytes::buf::{BufMut, UninitSlice};
use bytes::BytesMut;

use crate::error::{rules, DecodeError, EncodeError, Rule, Violation, Violations};
use crate::packet::{FixedHeader, Packet, Publish};
use crate::topic::{self, TopicCheck};
use crate::types::{PacketType, ProtocolVersion, Role};
use crate::{Decoder, StreamDecoder, MAX_PACKET_SIZE};

const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

const ROLES: [Option<Role>; 3] = [None, Some(Role::Client), Some(Role::Server)];

/// The selector byte for `version` and `from` with every other option off
/// (what `fuzz/seed.sh` puts in front of a corpus packet). Valid for both
/// [`decode_target`] and [`stream_target`].
pub fn selector(version: ProtocolVersion, from: Option<Role>) -> u8 {
    let v = VERSIONS.iter().position(|&x| x == version).unwrap_or(0);
    let f = ROLES.iter().position(|&x| x == from).unwrap_or(0);
    (v + 3 * f) as u8
}

/// What the first byte of a [`decode_target`] input selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeSelector {
    /// Version of the decoder: `byte % 3` (3.1, 3.1.1, 5.0).
    pub version: ProtocolVersion,
    /// Direction: `byte / 3 % 3` (unknown, Client, Server).
    pub from: Option<Role>,
    /// Decode packet after packet until the buffer is used up: bit 0 of
    /// `byte / 9`.
    pub all: bool,
    /// A small maximum packet size (8 to 32 bytes) for 4 of the 15 values
    /// of `byte / 18`.
    pub max_packet_size: Option<usize>,
}

impl DecodeSelector {
    /// Reads a selector byte (every value is meaningful).
    pub fn from_byte(b: u8) -> Self {
        let mode = b / 9;
        let limit = usize::from(mode >> 1);
        DecodeSelector {
            version: VERSIONS[usize::from(b % 3)],
            from: ROLES[usize::from(b / 3 % 3)],
            all: mode & 1 == 1,
            max_packet_size: (limit >= 11).then(|| (limit - 10) * 8),
        }
    }

    /// The decoder it selects.
    pub fn decoder(&self) -> Decoder {
        Decoder {
            version: self.version,
            from: self.from,
            max_packet_size: self.max_packet_size.unwrap_or(MAX_PACKET_SIZE),
        }
    }
}

/// Fuzz target `decode`. Byte 0 is a [`DecodeSelector`]; the rest is
/// decoded strictly and leniently and the two are checked against each
/// other with [`check_decode`] (once, or packet after packet).
pub fn decode_target(data: &[u8]) {
    let Some((&sel, mut buf)) = data.split_first() else {
        return;
    };
    let sel = DecodeSelector::from_byte(sel);
    let d = sel.decoder();
    while let Some(n) = check_decode(&d, buf) {
        buf = &buf[n..];
        if !sel.all || buf.is_empty() {
            break;
        }
    }
}

/// Rules that end a decode in both modes (the bytes cannot be laid out as
/// a packet). Every other rule is recorded by a lenient decode, which then
/// carries on. `UNKNOWN_PROPERTY` ends a strict decode only.
const FATAL: &[&Rule] = &[
    &rules::TRUNCATED,
    &rules::VBI_TOO_LONG,
    &rules::REMAINING_LENGTH_TOO_LONG,
    &rules::PACKET_TOO_LARGE,
    &rules::PACKET_TYPE_RESERVED,
    &rules::PROTOCOL_LEVEL,
    &rules::CLIENT_ID_MISSING,
    &rules::WILL_FIELDS_MISSING,
    &rules::USERNAME_MISSING,
    &rules::PASSWORD_MISSING,
    &rules::PROPERTY_LENGTH,
];

fn is_fatal(rule: &Rule) -> bool {
    FATAL.iter().any(|r| core::ptr::eq(*r, rule))
}

/// Checks one decode of `buf` under `d`; returns the bytes the packet took
/// (strict or, failing that, lenient), or `None` when neither decoded.
///
/// Invariants:
/// - strict `Ok` ⇒ lenient `Ok` with the same packet, the same length and
///   no violation;
/// - lenient `Ok` without violation ⇒ strict `Ok` (the first rule above);
/// - strict `Err(Invalid(e))` ⇒ lenient `Ok` whose first violation is `e`,
///   or lenient `Err(e)`, or (when `e` is a rule lenient decoding records)
///   lenient `Err` with a fatal rule found after it;
/// - `Incomplete` in one mode ⇒ the same `Incomplete` in the other, with
///   the exact count once the fixed header is readable;
/// - every violation lies inside the packet, the packet's type is the one
///   in its first byte, and walking its lists does not panic;
/// - strict `Ok` ⇒ the packet encodes under the same version, in
///   `encoded_len()` bytes, and those bytes decode (same version and
///   direction) to an equal packet and re-encode identically;
/// - lenient `Ok` with violations and the encoder accepting the packet ⇒
///   the encoding decodes strictly to an equal packet (the encoder never
///   writes what the decoder refuses).
pub fn check_decode(d: &Decoder, buf: &[u8]) -> Option<usize> {
    let strict = d.decode(buf);
    let lenient = d.decode_lenient(buf);
    match (&strict, &lenient) {
        (Ok((p, n)), Ok((lp, ln, v))) => {
            assert!(v.is_empty(), "strict Ok but lenient found {v:?}");
            assert_eq!(n, ln, "strict and lenient lengths differ");
            assert_eq!(p, lp, "strict and lenient packets differ");
            check_packet(p, *n, buf);
            check_topics(p, d.version);
            check_reencode_strict(d, p);
            Some(*n)
        }
        (Ok((p, _)), Err(e)) => panic!("strict gave {p:?}, lenient failed: {e:?}"),
        (Err(e), Ok((lp, ln, v))) => {
            let e = match e {
                DecodeError::Incomplete { .. } => panic!("strict Incomplete, lenient Ok: {lp:?}"),
                DecodeError::Invalid(e) => e,
            };
            assert_eq!(
                v.first(),
                Some(e),
                "strict failed with {e:?}; lenient's violations: {v:?}"
            );
            check_violations(v, *ln);
            check_packet(lp, *ln, buf);
            check_reencode_lenient(d.version, lp);
            Some(*ln)
        }
        (Err(e), Err(le)) => {
            check_error(e, buf);
            if e != le {
                match (e, le) {
                    (DecodeError::Invalid(e), DecodeError::Invalid(le)) if !is_fatal(e.rule) => {
                        // Lenient decoding recorded `e`, went on, and hit a
                        // fatal rule (its violations are then dropped). The
                        // fatal rule may sit at an earlier offset: a reserved
                        // packet type (offset 0) is checked after a
                        // non-minimal Remaining Length (offset 1).
                        assert!(
                            is_fatal(le.rule),
                            "strict failed with {e:?}, lenient with {le:?}"
                        );
                    }
                    _ => panic!("strict failed with {e:?}, lenient with {le:?}"),
                }
            }
            None
        }
    }
}

/// A `fmt::Write` that throws the text away (formatting walks every list).
struct Discard;

impl fmt::Write for Discard {
    fn write_str(&mut self, _: &str) -> fmt::Result {
        Ok(())
    }
}

fn walk(p: &Packet<'_>) {
    let _ = write!(Discard, "{p:?}");
}

fn check_packet(p: &Packet<'_>, n: usize, buf: &[u8]) {
    assert!(
        n >= 2 && n <= buf.len(),
        "packet length {n} of {}",
        buf.len()
    );
    assert_eq!(
        Some(p.packet_type()),
        PacketType::from_nibble(buf[0] >> 4),
        "packet type differs from the fixed header's"
    );
    let (h, _) = FixedHeader::parse(buf, ProtocolVersion::V5).expect("fixed header");
    assert_eq!(h.packet_len(), n, "packet length differs from the header's");
    if n <= 1 << 16 {
        walk(p);
    }
}

/// An oracle independent of the decoder's fast paths: every topic in a
/// strictly decoded packet passes the plain (byte by byte) topic checks.
fn check_topics(p: &Packet<'_>, version: ProtocolVersion) {
    let name_ok = |t: &str| {
        assert_eq!(
            topic::check_name(t, &rules::TOPIC_NAME_WILDCARD),
            TopicCheck::Ok,
            "strictly decoded topic name {t:?}"
        );
    };
    match p {
        Packet::Publish(x) => {
            name_ok(x.topic);
            let v5 = p.connect_version().unwrap_or(version).is_v5();
            let props = x.properties.get();
            assert!(
                !x.topic.is_empty() || (v5 && props.topic_alias.is_some()),
                "empty topic name"
            );
            if let Some(t) = props.response_topic {
                name_ok(t);
            }
        }
        Packet::Connect(c) => {
            if let Some(w) = &c.get().will {
                name_ok(w.topic);
                assert!(!w.topic.is_empty(), "empty will topic");
                if let Some(t) = w.properties.response_topic {
                    name_ok(t);
                }
            }
        }
        Packet::Subscribe(x) => {
            for s in x.subscriptions.iter() {
                assert_eq!(topic::check_filter(s.filter, version), TopicCheck::Ok);
            }
        }
        Packet::Unsubscribe(x) => {
            for f in x.filters.iter() {
                assert_eq!(topic::check_filter(f, version), TopicCheck::Ok);
            }
        }
        _ => {}
    }
}

fn check_violations(v: &Violations, n: usize) {
    assert!(v.len() <= Violations::CAPACITY && v.len() <= v.total());
    assert_eq!(v.iter().count(), v.len());
    for x in v.iter() {
        assert!(
            x.offset <= n,
            "violation past the packet ({n} bytes): {x:?}"
        );
        let _ = write!(Discard, "{x}");
    }
}

fn check_error(e: &DecodeError, buf: &[u8]) {
    let _ = write!(Discard, "{e}");
    match e {
        DecodeError::Incomplete { needed } => {
            assert!(*needed >= 1, "Incomplete needing nothing");
            if let Ok((h, _)) = FixedHeader::parse(buf, ProtocolVersion::V5) {
                assert!(h.packet_len() > buf.len(), "Incomplete but whole: {h:?}");
                assert_eq!(*needed, h.packet_len() - buf.len(), "Incomplete count");
            }
        }
        DecodeError::Invalid(v) => {
            let end = match FixedHeader::parse(buf, v.version) {
                Ok((h, _)) => h.packet_len().min(buf.len()),
                Err(_) => buf.len(),
            };
            assert!(
                v.offset <= end,
                "error past the packet ({end} bytes): {v:?}"
            );
        }
    }
}

fn check_reencode_strict(d: &Decoder, p: &Packet<'_>) {
    let len = p
        .encoded_len(d.version)
        .unwrap_or_else(|e| panic!("strictly decoded packet refused by the encoder: {e}\n{p:?}"));
    let out = p
        .to_vec(d.version)
        .unwrap_or_else(|e| panic!("strictly decoded packet refused by the encoder: {e}\n{p:?}"));
    assert_eq!(out.len(), len, "encoded_len differs from the bytes written");
    // Usually no longer than the input, but the encoder always writes the
    // Property Length that a 5.0 AUTH may leave out after a reason code.
    let d = Decoder {
        max_packet_size: MAX_PACKET_SIZE,
        ..*d
    };
    let (q, m) = d
        .decode(&out)
        .unwrap_or_else(|e| panic!("re-encoded packet does not decode: {e}\n{p:?}\n{out:02x?}"));
    assert_eq!(m, out.len(), "re-encoded packet decodes to fewer bytes");
    assert_eq!(&q, p, "decode(encode(p)) != p");
    let again = q
        .to_vec(d.version)
        .expect("re-encoding a re-decoded packet");
    assert_eq!(again, out, "encoding is not stable");
}

fn check_reencode_lenient(version: ProtocolVersion, p: &Packet<'_>) {
    let len = p.encoded_len(version);
    let mut out = Vec::new();
    let res = p.encode(version, &mut out);
    match (len, res) {
        (Ok(len), Ok(w)) => {
            assert_eq!((len, w), (out.len(), out.len()), "encoded length");
            let (q, m) = Decoder::new(version).decode(&out).unwrap_or_else(|e| {
                panic!("encoder accepted what the decoder refuses: {e}\n{p:?}\n{out:02x?}")
            });
            assert_eq!(m, out.len());
            assert_eq!(
                &q, p,
                "decode(encode(p)) != p for a leniently decoded packet"
            );
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "encoded_len and encode refuse differently");
            assert!(out.is_empty(), "a refused packet wrote bytes");
        }
        (a, b) => panic!("encoded_len gave {a:?}, encode {b:?}"),
    }
}

// ---------------------------------------------------------------------------
// Stream
// ---------------------------------------------------------------------------

/// What the first byte of a [`stream_target`] input selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSelector {
    /// Version given to the stream: `byte % 3`.
    pub version: ProtocolVersion,
    /// Direction: `byte / 3 % 3`.
    pub from: Option<Role>,
    /// Which call reads packets, `byte / 9 % 3`: 0 `next_packet`, 1
    /// `next_packet_lenient`, 2 `next_owned`.
    pub api: u8,
    /// Start without a version and learn it from CONNECT (`byte / 27`, bit 0).
    pub learn: bool,
    /// Append through `buffer_mut` rather than `feed` (`byte / 27`, bit 1).
    pub via_buffer: bool,
    /// A maximum packet size of 64 bytes (`byte / 27 >= 4`: bytes 108 and
    /// up).
    pub max_packet_size: Option<usize>,
}

impl StreamSelector {
    /// Reads a selector byte.
    pub fn from_byte(b: u8) -> Self {
        let rest = b / 27;
        StreamSelector {
            version: VERSIONS[usize::from(b % 3)],
            from: ROLES[usize::from(b / 3 % 3)],
            api: b / 9 % 3,
            learn: rest & 1 == 1,
            via_buffer: rest & 2 == 2,
            max_packet_size: (rest >= 4).then_some(64),
        }
    }

    fn decoder(&self, version: ProtocolVersion) -> Decoder {
        Decoder {
            version,
            from: self.from,
            max_packet_size: self.max_packet_size.unwrap_or(MAX_PACKET_SIZE),
        }
    }

    fn stream(&self) -> StreamDecoder {
        let mut s = if self.learn {
            StreamDecoder::new()
        } else {
            StreamDecoder::with_version(self.version)
        };
        if let Some(r) = self.from {
            s = s.sent_by(r);
        }
        if let Some(m) = self.max_packet_size {
            s = s.max_packet_size(m);
        }
        s
    }
}

/// One packet as the whole-buffer reference decode sees it.
struct Expected<'a> {
    packet: Packet<'a>,
    bytes: &'a [u8],
    violations: Option<Violations>,
    version_after: Option<ProtocolVersion>,
}

/// How the reference decode of the rest of the buffer ended.
#[derive(Debug, PartialEq)]
enum End {
    /// Bytes left over, waiting for more.
    NeedMore,
    /// An error at this position.
    Error(DecodeError, usize),
}

/// Decodes `bytes[at..]` packet after packet the way the stream promises
/// to: under `version`, learning it from CONNECT, refusing a first packet
/// that is not CONNECT when no version is known.
fn reference<'a>(
    sel: &StreamSelector,
    bytes: &'a [u8],
    mut at: usize,
    mut version: Option<ProtocolVersion>,
    lenient: bool,
) -> (Vec<Expected<'a>>, End) {
    let mut out = Vec::new();
    loop {
        let rest = &bytes[at..];
        if rest.is_empty() {
            return (out, End::NeedMore);
        }
        let v = match version {
            Some(v) => v,
            None => {
                if PacketType::from_nibble(rest[0] >> 4) != Some(PacketType::Connect) {
                    let e = DecodeError::Invalid(Violation {
                        rule: &rules::FIRST_PACKET_NOT_CONNECT,
                        version: ProtocolVersion::V3_1_1,
                        offset: 0,
                    });
                    return (out, End::Error(e, at));
                }
                ProtocolVersion::V3_1_1
            }
        };
        let d = sel.decoder(v);
        let r = if lenient {
            d.decode_lenient(rest).map(|(p, n, v)| (p, n, Some(v)))
        } else {
            d.decode(rest).map(|(p, n)| (p, n, None))
        };
        match r {
            Ok((packet, n, violations)) => {
                if let Some(cv) = packet.connect_version() {
                    version = Some(cv);
                }
                out.push(Expected {
                    packet,
                    bytes: &rest[..n],
                    violations,
                    version_after: version,
                });
                at += n;
            }
            Err(DecodeError::Incomplete { .. }) => return (out, End::NeedMore),
            Err(e) => return (out, End::Error(e, at)),
        }
    }
}

/// Reads every packet the stream has ready, checking each against
/// `expected[*got]`; returns the error that stopped it, if any.
fn drain(
    s: &mut StreamDecoder,
    sel: &StreamSelector,
    expected: &[Expected<'_>],
    got: &mut usize,
) -> Option<DecodeError> {
    loop {
        let e = expected.get(*got);
        match sel.api {
            0 => match s.next_packet() {
                Ok(Some(p)) => {
                    let e = e.unwrap_or_else(|| panic!("stream gave an extra packet {p:?}"));
                    assert_eq!(p, e.packet, "stream packet #{got} differs");
                }
                Ok(None) => return None,
                Err(err) => return Some(err),
            },
            1 => match s.next_packet_lenient() {
                Ok(Some((p, v))) => {
                    let e = e.unwrap_or_else(|| panic!("stream gave an extra packet {p:?}"));
                    assert_eq!(p, e.packet, "stream packet #{got} differs");
                    assert_eq!(Some(v), e.violations, "stream violations #{got} differ");
                }
                Ok(None) => return None,
                Err(err) => return Some(err),
            },
            _ => match s.next_owned() {
                Ok(Some(o)) => {
                    let e = e.unwrap_or_else(|| panic!("stream gave an extra packet {o:?}"));
                    assert_eq!(o.packet(), e.packet, "owned packet #{got} differs");
                    assert_eq!(&o.bytes()[..], e.bytes, "owned bytes #{got} differ");
                    assert_eq!(Some(o.version()), e.version_after, "owned version");
                }
                Ok(None) => return None,
                Err(err) => return Some(err),
            },
        }
        if let Some(e) = e {
            assert_eq!(s.version(), e.version_after, "stream version after #{got}");
        }
        *got += 1;
    }
}

/// Fuzz target `stream`. Byte 0 is a [`StreamSelector`]; the low three
/// bits of byte 1 give `k - 1`, the next `k` bytes are chunk sizes (used in
/// turn; 0 feeds an empty chunk), and the rest is the stream. The packets
/// and the error the stream gives must be those a whole-buffer decode
/// gives; after an error, discarding one byte resynchronises on the same
/// terms (up to 16 times).
pub fn stream_target(data: &[u8]) {
    let [sel, k, rest @ ..] = data else {
        return;
    };
    let sel = StreamSelector::from_byte(*sel);
    let k = usize::from(k & 7) + 1;
    let (sizes, bytes) = rest.split_at(k.min(rest.len()));
    let mut sizes: Vec<usize> = sizes.iter().map(|&b| usize::from(b)).collect();
    if sizes.iter().all(|&n| n == 0) {
        sizes = vec![1];
    }
    let lenient = sel.api == 1;
    let mut s = sel.stream();
    let (expected, mut end) = reference(&sel, bytes, 0, s.version(), lenient);
    let mut got = 0;
    let mut fed = 0;
    let mut err = None;
    let mut turn = 0;
    while fed < bytes.len() {
        let n = sizes[turn % sizes.len()].min(bytes.len() - fed);
        turn += 1;
        let chunk = &bytes[fed..fed + n];
        if sel.via_buffer {
            s.buffer_mut().extend_from_slice(chunk);
        } else {
            s.feed(chunk);
        }
        fed += n;
        if let Some(e) = drain(&mut s, &sel, &expected, &mut got) {
            err = Some(e);
            break;
        }
    }
    assert_eq!(got, expected.len(), "stream gave too few packets");
    let mut consumed: usize = expected.iter().map(|e| e.bytes.len()).sum();
    let mut resyncs = 0;
    loop {
        match end {
            End::NeedMore => {
                assert_eq!(err, None, "stream failed where the whole buffer did not");
                assert_eq!(s.buffered(), bytes.len() - consumed, "bytes left buffered");
                return;
            }
            End::Error(e, at) => {
                assert_eq!(at, consumed);
                // The error may come before every byte was fed; feed the
                // rest: the error must stay until bytes are discarded.
                if err.is_some() && fed < bytes.len() {
                    s.feed(&bytes[fed..]);
                    fed = bytes.len();
                }
                assert_eq!(err, Some(e), "stream error differs from the whole buffer's");
                assert_eq!(
                    drain(&mut s, &sel, &[], &mut 0),
                    Some(e),
                    "stream error does not persist"
                );
                assert_eq!(
                    s.buffered(),
                    bytes.len() - at,
                    "bytes buffered at the error"
                );
                resyncs += 1;
                if resyncs > 16 {
                    return;
                }
                s.discard(1);
                consumed = at + 1;
                let (exp, e2) = reference(&sel, bytes, consumed, s.version(), lenient);
                let mut got = 0;
                err = drain(&mut s, &sel, &exp, &mut got);
                assert_eq!(
                    got,
                    exp.len(),
                    "stream gave too few packets after a discard"
                );
                consumed += exp.iter().map(|e| e.bytes.len()).sum::<usize>();
                end = e2;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Round trip
// ---------------------------------------------------------------------------

/// Fuzz target `roundtrip`: the input drives
/// [`ArbitraryPacket`](crate::arbitrary_packet::ArbitraryPacket)
/// generation, then [`check_roundtrip`].
#[cfg(feature = "arbitrary")]
pub fn roundtrip_target(data: &[u8]) {
    use arbitrary::{Arbitrary, Unstructured};

    use crate::arbitrary_packet::ArbitraryPacket;

    let u = Unstructured::new(data);
    let Ok(ap) = ArbitraryPacket::arbitrary_take_rest(u) else {
        return;
    };
    ap.with_packet(|p| {
        check_roundtrip(p, ap.version());
    });
}

/// Encodes `p` under `version`. When the encoder refuses, checks only that
/// `encoded_len` and `encode` refuse alike and nothing was written, and
/// returns `None`. Otherwise checks and returns the bytes:
/// - `encoded_len()` is their length, and a buffer one byte short is
///   refused without a write;
/// - strict decoding under `version` takes all of them and gives `p`, and
///   lenient decoding agrees with no violation;
/// - `into_owned()` holds the same bytes and its `.packet()` equals `p`;
/// - a [`StreamDecoder`] fed the bytes in two pieces gives `p`;
/// - every proper prefix is `Incomplete` (packets up to 4 KiB);
/// - [`check_decode`] holds for the bytes in every direction.
pub fn check_roundtrip(p: &Packet<'_>, version: ProtocolVersion) -> Option<Vec<u8>> {
    if let Packet::Publish(publish) = p {
        check_publish_encode(publish, version);
    }
    let len = p.encoded_len(version);
    let mut out = Vec::new();
    let res = p.encode(version, &mut out);
    let len = match (len, res) {
        (Ok(len), Ok(w)) => {
            assert_eq!(w, len, "encode's count differs from encoded_len");
            len
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "encoded_len and encode refuse differently");
            assert!(out.is_empty(), "a refused packet wrote bytes");
            return None;
        }
        (a, b) => panic!("encoded_len gave {a:?}, encode {b:?} for {p:?}"),
    };
    assert_eq!(out.len(), len, "encoded_len differs from the bytes written");
    let v = p.connect_version().unwrap_or(version);

    let mut short = vec![0u8; len - 1];
    let mut slot = &mut short[..];
    let r = p.encode(version, &mut slot);
    assert_eq!(
        r.map_err(|e| e.rule),
        Err(&rules::OUTPUT_TOO_SMALL),
        "encode into a buffer one byte short"
    );
    assert!(
        short.iter().all(|&b| b == 0),
        "a refused encode wrote bytes"
    );

    let d = Decoder::new(version);
    let (q, n) = d
        .decode(&out)
        .unwrap_or_else(|e| panic!("encoder accepted what the decoder refuses: {e}\n{p:?}"));
    assert_eq!(n, len, "decoding took {n} of {len} bytes");
    assert_eq!(&q, p, "decode(encode(p)) != p");
    let (lq, ln, lv) = d
        .decode_lenient(&out)
        .expect("lenient decode of a valid packet");
    assert!(lv.is_empty(), "lenient found {lv:?} in an encoded packet");
    assert_eq!((&lq, ln), (p, len));

    let owned = p
        .into_owned(version)
        .expect("into_owned of an encodable packet");
    assert_eq!(&owned.bytes()[..], &out[..], "into_owned bytes");
    assert_eq!(owned.version(), v);
    assert_eq!(&owned.packet(), p, "into_owned().packet() != p");

    let mut s = StreamDecoder::with_version(version);
    let cut = len / 2;
    s.feed(&out[..cut]);
    assert!(
        matches!(s.next_packet(), Ok(None)),
        "stream with half a packet"
    );
    s.feed(&out[cut..]);
    let sp = s
        .next_packet()
        .expect("stream decode")
        .expect("stream packet");
    assert_eq!(&sp, p, "stream packet != p");
    assert!(matches!(s.next_packet(), Ok(None)));
    assert_eq!(s.buffered(), 0);

    if len <= 4096 {
        for cut in 0..len {
            match d.decode(&out[..cut]) {
                Err(DecodeError::Incomplete { needed }) => assert!(needed >= 1),
                other => panic!("prefix of {cut} bytes gave {other:?}"),
            }
        }
        for from in ROLES {
            check_decode(&Decoder { from, ..d }, &out);
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Strict and lenient agree on valid input
// ---------------------------------------------------------------------------

/// Strict and lenient decoding of `buf` under `d` agree about validity:
/// strict `Ok` ⇔ lenient `Ok` without violation, and then the packets and
/// lengths are equal; a strict `Incomplete` is a lenient `Incomplete`.
/// Returns whether the packet is valid (strict `Ok`).
pub fn check_agree(d: &Decoder, buf: &[u8]) -> bool {
    let strict = d.decode(buf);
    let lenient = d.decode_lenient(buf);
    match (&strict, &lenient) {
        (Ok((p, n)), Ok((lp, ln, v))) => {
            assert!(v.is_empty(), "strict Ok, lenient found {v:?}\n{p:?}");
            assert_eq!((p, n), (lp, ln), "strict and lenient decode differ");
            true
        }
        (Ok((p, _)), Err(e)) => panic!("strict Ok ({p:?}), lenient failed: {e}"),
        (Err(e), Ok((lp, _, v))) => {
            assert!(
                !v.is_empty(),
                "lenient Ok without violation, strict failed: {e}\n{lp:?}"
            );
            false
        }
        (Err(DecodeError::Incomplete { needed }), Err(le)) => {
            assert_eq!(
                le,
                &DecodeError::Incomplete { needed: *needed },
                "Incomplete in strict mode only"
            );
            false
        }
        (Err(_), Err(_)) => false,
    }
}

/// Most packets one [`agree_target`] input builds.
pub const AGREE_MAX_PACKETS: usize = 4;

/// Fuzz target `agree`: the input drives up to [`AGREE_MAX_PACKETS`]
/// arbitrary packets; each one the encoder accepts is decoded under its
/// version in every direction with [`check_agree`], and must be valid at
/// least when the direction is unknown (the encoder never writes what the
/// decoder refuses). Then the packets back to back are decoded one after
/// the other in both modes with the same check.
#[cfg(feature = "arbitrary")]
pub fn agree_target(data: &[u8]) {
    use arbitrary::{Arbitrary, Unstructured};

    use crate::arbitrary_packet::ArbitraryPacket;

    let mut u = Unstructured::new(data);
    let Ok(count) = u.int_in_range(1..=AGREE_MAX_PACKETS) else {
        return;
    };
    let mut version = None;
    let mut stream = Vec::new();
    for _ in 0..count {
        let Ok(ap) = ArbitraryPacket::arbitrary(&mut u) else {
            break;
        };
        let v = *version.get_or_insert(ap.version());
        if ap.version() != v {
            continue;
        }
        let Some(bytes) = ap.with_packet(|p| p.to_vec(v).ok()) else {
            continue;
        };
        for from in ROLES {
            let d = Decoder {
                from,
                ..Decoder::new(v)
            };
            let valid = check_agree(&d, &bytes);
            assert!(
                valid || from.is_some(),
                "encoded packet is not valid: {bytes:02x?}"
            );
        }
        stream.extend_from_slice(&bytes);
    }
    let Some(v) = version else { return };
    let d = Decoder::new(v);
    let mut at = 0;
    while at < stream.len() {
        assert!(
            check_agree(&d, &stream[at..]),
            "packet at {at} of the stream"
        );
        let (_, n) = d.decode(&stream[at..]).expect("checked valid");
        at += n;
    }
}

// ---------------------------------------------------------------------------
// PUBLISH: encoder fast path against the general path
// ---------------------------------------------------------------------------

/// Encodes `p` through the general PUBLISH encoder only: the path every
/// PUBLISH takes that the fast path of [`Packet::encode`] passes over.
pub fn encode_publish_general<B: BufMut>(
    p: &Publish<'_>,
    version: ProtocolVersion,
    buf: &mut B,
) -> Result<usize, EncodeError> {
    p.encode_general(version, buf)
}

/// A [`BufMut`] over a vector that counts `advance_mut` calls and implements
/// nothing else (every `put_*` goes through `chunk_mut` and `advance_mut`).
/// The fast path advances once; the general path writes the fixed header
/// and the topic apart, so it advances at least twice.
#[derive(Debug, Default)]
pub struct CountingBuf {
    /// The bytes written.
    pub bytes: Vec<u8>,
    /// `advance_mut` calls so far.
    pub advances: usize,
}

// SAFETY: every method forwards to `Vec<u8>`'s implementation, which is
// sound; counting changes nothing about which bytes are initialized.
#[allow(unsafe_code)]
unsafe impl BufMut for CountingBuf {
    fn remaining_mut(&self) -> usize {
        self.bytes.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        self.advances += 1;
        // SAFETY: the caller's guarantee, passed on unchanged.
        unsafe { self.bytes.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.bytes.chunk_mut()
    }
}

/// `Packet::Publish(p).encode` (fast path included) against
/// [`encode_publish_general`], into every kind of buffer the fast path
/// treats differently: a `Vec` (empty, full, with room to spare, already
/// holding bytes), a `BytesMut`, a `&mut [u8]` one byte too short, exactly
/// long enough and longer, a `Limit` just short and just long enough, a
/// `Chain` whose first part is too short for the whole packet. Asserts for
/// each the same result (length or error) and the same bytes, and that a
/// refused encode changed nothing. Returns whether the packet took the fast
/// path when given plenty of room (`None` when it is refused).
pub fn check_publish_encode(p: &Publish<'_>, version: ProtocolVersion) -> Option<bool> {
    let packet = Packet::Publish(*p);
    // Encodes into two fresh buffers, through the fast path and through
    // the general one, and compares results and contents.
    macro_rules! same {
        ($what:expr, $make:expr, |$t:ident| $buf:expr, |$u:ident| $view:expr) => {{
            let mut fast = $make;
            let mut general = $make;
            let before = {
                let $u = &fast;
                $view
            };
            let rf = {
                let $t = &mut fast;
                packet.encode(version, &mut $buf)
            };
            let rg = {
                let $t = &mut general;
                encode_publish_general(p, version, &mut $buf)
            };
            let (vf, vg) = {
                let $u = &fast;
                let vf = $view;
                let $u = &general;
                (vf, $view)
            };
            let what = $what;
            assert_eq!(
                rf, rg,
                "{what}: fast and general results differ: {p:?} under {version}"
            );
            assert_eq!(
                vf, vg,
                "{what}: fast and general bytes differ: {p:?} under {version}"
            );
            if rf.is_err() {
                assert_eq!(vf, before, "{what}: a refused encode wrote bytes");
            }
            rf
        }};
    }

    let res = same!("Vec::new", Vec::<u8>::new(), |t| *t, |u| u.clone());
    let len = res.unwrap_or(0);
    // What a buffer with room for `room` bytes must give.
    let expect = |room: usize| match res {
        Ok(n) if room < n => Err(EncodeError::new(&rules::OUTPUT_TOO_SMALL, version)),
        r => r,
    };
    let r = same!(
        "full Vec",
        {
            let mut b = Vec::with_capacity(3);
            b.extend_from_slice(&[1, 2, 3]);
            b
        },
        |t| *t,
        |u| u.clone()
    );
    assert_eq!(r, res);
    for cap in [len, len + 9, 256] {
        let r = same!(
            format!("Vec with room for {cap}"),
            {
                let mut b = Vec::with_capacity(5 + cap);
                b.extend_from_slice(&[9; 5]);
                b
            },
            |t| *t,
            |u| u.clone()
        );
        assert_eq!(r, res);
    }
    let r = same!("BytesMut::new", BytesMut::new(), |t| *t, |u| u.to_vec());
    assert_eq!(r, res);
    let r = same!(
        "BytesMut with room",
        {
            let mut b = BytesMut::with_capacity(300);
            b.extend_from_slice(b"xy");
            b
        },
        |t| *t,
        |u| u.to_vec()
    );
    assert_eq!(r, res);
    for size in [0, len.saturating_sub(1), len, len + 7, 300] {
        let r = same!(
            format!("&mut [u8; {size}]"),
            vec![0xA5u8; size],
            |t| &mut t[..],
            |u| u.clone()
        );
        assert_eq!(r, expect(size), "&mut [u8; {size}]");
    }
    for limit in [len.saturating_sub(1), len, 300] {
        let r = same!(
            format!("Vec limited to {limit}"),
            Vec::<u8>::with_capacity(512),
            |t| BufMut::limit(&mut *t, limit),
            |u| u.clone()
        );
        assert_eq!(r, expect(limit), "Vec limited to {limit}");
    }
    for first in [0, 1, len / 2, len.saturating_sub(1)] {
        let r = same!(
            format!("chain of {first} and more bytes"),
            (vec![0x5Au8; first], vec![0x5Au8; len + 3]),
            |t| BufMut::chain_mut(&mut t.0[..], &mut t.1[..]),
            |u| [&u.0[..], &u.1[..]].concat()
        );
        assert_eq!(r, res, "chain of {first} and more bytes");
    }
    // Plenty of room: the fast path advances once, the general path more.
    let mut counting = CountingBuf {
        bytes: Vec::with_capacity(512),
        advances: 0,
    };
    let r = packet.encode(version, &mut counting);
    assert_eq!(r, res, "counting buffer: {p:?} under {version}");
    match r {
        Ok(n) => {
            assert_eq!(counting.bytes, encode_general_vec(p, version));
            assert_eq!(counting.bytes.len(), n);
            Some(counting.advances == 1)
        }
        Err(_) => {
            assert!(counting.bytes.is_empty(), "a refused encode wrote bytes");
            None
        }
    }
}

fn encode_general_vec(p: &Publish<'_>, version: ProtocolVersion) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = encode_publish_general(p, version, &mut out);
    out
}

/// `count` inputs of `len` bytes each from a fixed xorshift64* sequence
/// started at `seed` (not zero): what the corpus-replay tests feed a target
/// beside its corpus, the same on every run and every machine.
pub fn pseudo_random_inputs(seed: u64, count: usize, len: usize) -> impl Iterator<Item = Vec<u8>> {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u8
    };
    (0..count).map(move |_| (0..len).map(|_| next()).collect())
}
