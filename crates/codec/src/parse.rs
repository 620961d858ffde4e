//! Parsing primitives shared by every packet: the nom error type, the
//! strict/lenient violation sink, variable byte integers, strings and topics.
//!
//! All parsers here are "complete" parsers over one packet's body: the
//! framing layer has already checked that the whole packet is in the buffer,
//! so running out of input inside a packet means a length field lied.

use nom::error::{ErrorKind as NomErrorKind, ParseError};

use crate::error::{rules, Rule, Violation, Violations};
use crate::topic::{self, TopicCheck};
use crate::types::{ProtocolVersion, Role};

/// A failed parse: where (the remaining input when it failed) and why.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fail<'a> {
    pub at: &'a [u8],
    pub rule: &'static Rule,
}

impl<'a> ParseError<&'a [u8]> for Fail<'a> {
    fn from_error_kind(input: &'a [u8], _kind: NomErrorKind) -> Self {
        Fail {
            at: input,
            rule: &rules::TRUNCATED,
        }
    }

    fn append(_input: &'a [u8], _kind: NomErrorKind, other: Self) -> Self {
        other
    }
}

pub(crate) type PResult<'a, T> = nom::IResult<&'a [u8], T, Fail<'a>>;

#[inline]
pub(crate) fn fail<'a, T>(at: &'a [u8], rule: &'static Rule) -> PResult<'a, T> {
    Err(nom::Err::Error(Fail { at, rule }))
}

/// Where violations go: strict decoding stops at the first, lenient
/// decoding records it and carries on.
pub(crate) trait Sink {
    /// True when a violation aborts the decode.
    const STRICT: bool;
    fn record(&mut self, offset: usize, rule: &'static Rule, version: ProtocolVersion);
}

/// Stops at the first violation.
pub(crate) struct Strict;

impl Sink for Strict {
    const STRICT: bool = true;
    #[inline(always)]
    fn record(&mut self, _offset: usize, _rule: &'static Rule, _version: ProtocolVersion) {}
}

/// Records every violation (up to [`Violations::CAPACITY`]).
pub(crate) struct Lenient(pub Violations);

impl Sink for Lenient {
    const STRICT: bool = false;
    fn record(&mut self, offset: usize, rule: &'static Rule, version: ProtocolVersion) {
        self.0.push(Violation {
            rule,
            version,
            offset,
        });
    }
}

/// Drops every violation: for reading again bytes that decoded before
/// (see [`crate::lazy`]), where the violations were reported then.
pub(crate) struct Ignore;

impl Sink for Ignore {
    const STRICT: bool = false;
    #[inline(always)]
    fn record(&mut self, _offset: usize, _rule: &'static Rule, _version: ProtocolVersion) {}
}

impl Cx<Ignore> {
    /// A context for reading validated bytes again.
    pub(crate) fn ignoring(version: ProtocolVersion, at: &[u8]) -> Self {
        Cx {
            version,
            from: None,
            base: at.as_ptr() as usize,
            sink: Ignore,
        }
    }
}

/// Decoding context: version, direction, the sink, and the start of the
/// packet (to turn slice positions into offsets).
pub(crate) struct Cx<S> {
    pub version: ProtocolVersion,
    pub from: Option<Role>,
    pub base: usize,
    pub sink: S,
}

impl<S: Sink> Cx<S> {
    #[inline]
    pub fn offset_of(&self, at: &[u8]) -> usize {
        (at.as_ptr() as usize).wrapping_sub(self.base)
    }

    /// Reports a broken rule at `at`. Strict: an error to propagate with `?`.
    #[inline]
    pub fn report<'a>(
        &mut self,
        at: &'a [u8],
        rule: &'static Rule,
    ) -> Result<(), nom::Err<Fail<'a>>> {
        if S::STRICT {
            Err(nom::Err::Error(Fail { at, rule }))
        } else {
            let off = self.offset_of(at);
            self.sink.record(off, rule, self.version);
            Ok(())
        }
    }

    /// `report` when `bad` holds.
    #[inline(always)]
    pub fn check<'a>(
        &mut self,
        bad: bool,
        at: &'a [u8],
        rule: &'static Rule,
    ) -> Result<(), nom::Err<Fail<'a>>> {
        if bad {
            self.report(at, rule)
        } else {
            Ok(())
        }
    }

    #[inline]
    pub fn v5(&self) -> bool {
        self.version.is_v5()
    }
}

#[inline]
pub(crate) fn u8p(input: &[u8]) -> PResult<'_, u8> {
    nom::number::complete::u8(input)
}

#[inline]
pub(crate) fn u16p(input: &[u8]) -> PResult<'_, u16> {
    nom::number::complete::be_u16(input)
}

#[inline]
pub(crate) fn u32p(input: &[u8]) -> PResult<'_, u32> {
    nom::number::complete::be_u32(input)
}

/// Outcome of reading a variable byte integer from a buffer prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vbi {
    /// value, bytes used, shortest form?
    Value(u32, usize, bool),
    /// The buffer ended inside the integer.
    Short,
    /// More than four bytes.
    TooLong,
}

/// Reads a variable byte integer (1 to 4 bytes, 7 bits each, low first).
#[inline(always)]
pub(crate) fn read_vbi(buf: &[u8]) -> Vbi {
    let mut value: u32 = 0;
    let mut i = 0;
    while i < 4 {
        let Some(&b) = buf.get(i) else {
            return Vbi::Short;
        };
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            // A last byte of 0 after at least one continuation byte means a
            // shorter encoding existed.
            let minimal = i == 0 || b != 0;
            return Vbi::Value(value, i + 1, minimal);
        }
        i += 1;
    }
    Vbi::TooLong
}

/// A variable byte integer inside a packet body.
#[inline]
pub(crate) fn vbi<'a, S: Sink>(input: &'a [u8], cx: &mut Cx<S>) -> PResult<'a, u32> {
    match read_vbi(input) {
        Vbi::Value(v, n, minimal) => {
            cx.check(!minimal, input, &rules::NON_MINIMAL_VBI)?;
            Ok((&input[n..], v))
        }
        Vbi::Short => fail(input, &rules::TRUNCATED),
        Vbi::TooLong => fail(input, &rules::VBI_TOO_LONG),
    }
}

/// Two-byte length then that many bytes (Binary Data).
#[inline(always)]
pub(crate) fn binary(input: &[u8]) -> PResult<'_, &[u8]> {
    let (rest, len) = u16p(input)?;
    match rest.get(..len as usize) {
        Some(data) => Ok((&rest[len as usize..], data)),
        None => fail(input, &rules::TRUNCATED),
    }
}

/// Validates UTF-8 under the MQTT rules. Returns the string, or (strict)
/// an error at the offending byte; lenient mode reports and keeps the
/// longest valid prefix.
#[inline]
pub(crate) fn utf8<'a, S: Sink>(
    data: &'a [u8],
    cx: &mut Cx<S>,
    invalid: &'static Rule,
) -> Result<&'a str, nom::Err<Fail<'a>>> {
    match core::str::from_utf8(data) {
        Ok(s) => Ok(s),
        Err(e) => {
            let good = e.valid_up_to();
            cx.report(&data[good..], invalid)?;
            // The prefix up to `valid_up_to` is valid UTF-8 by definition.
            Ok(core::str::from_utf8(&data[..good]).unwrap_or_default())
        }
    }
}

/// A UTF-8 Encoded String (not a topic): well-formed, no U+0000.
#[inline]
pub(crate) fn string<'a, S: Sink>(input: &'a [u8], cx: &mut Cx<S>) -> PResult<'a, &'a str> {
    string_with(input, cx, &rules::UTF8_INVALID)
}

#[inline]
pub(crate) fn string_with<'a, S: Sink>(
    input: &'a [u8],
    cx: &mut Cx<S>,
    invalid: &'static Rule,
) -> PResult<'a, &'a str> {
    let (rest, data) = binary(input)?;
    if let Some((s, _)) = topic::ascii_nonul_str(data) {
        return Ok((rest, s));
    }
    let s = utf8(data, cx, invalid)?;
    if let Some(pos) = memchr0(s.as_bytes()) {
        cx.report(&data[pos..], &rules::UTF8_NUL)?;
    }
    Ok((rest, s))
}

#[inline]
fn memchr0(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == 0)
}

/// Reports a topic check failure at the right byte.
#[inline]
fn report_topic<'a, S: Sink>(
    data: &'a [u8],
    cx: &mut Cx<S>,
    check: TopicCheck,
) -> Result<(), nom::Err<Fail<'a>>> {
    match check {
        TopicCheck::Ok => Ok(()),
        TopicCheck::Bad(pos, rule) => {
            let at = data.get(pos..).unwrap_or(&data[data.len()..]);
            cx.report(at, rule)
        }
    }
}

/// A Topic Name: a UTF-8 string without wildcards. Empty names are
/// reported unless `allow_empty` (5.0 PUBLISH with a Topic Alias, checked
/// by the caller). `wildcard` names the rule for a wildcard character.
#[inline(always)]
pub(crate) fn topic_name<'a, S: Sink>(
    input: &'a [u8],
    cx: &mut Cx<S>,
    allow_empty: bool,
    wildcard: &'static Rule,
) -> PResult<'a, &'a str> {
    let (rest, data) = binary(input)?;
    let s = match topic::scan_ascii_name(data) {
        // Fast path: pure ASCII, no NUL, no wildcard.
        Some(s) => s,
        None => {
            let s = utf8(data, cx, &rules::UTF8_INVALID)?;
            report_topic(data, cx, topic::check_name(s, wildcard))?;
            s
        }
    };
    // Judge emptiness on the bytes: a lenient decode of invalid UTF-8 keeps
    // a shorter (possibly empty) valid prefix, which is not an empty topic.
    if data.is_empty() && !allow_empty {
        cx.report(input, &rules::TOPIC_EMPTY)?;
    }
    Ok((rest, s))
}

/// A Topic Filter: UTF-8, non-empty, wildcards in their places, and (5.0)
/// shared-subscription syntax.
#[inline]
pub(crate) fn topic_filter<'a, S: Sink>(input: &'a [u8], cx: &mut Cx<S>) -> PResult<'a, &'a str> {
    let (rest, data) = binary(input)?;
    if let Some((s, wild)) = topic::ascii_nonul_str(data) {
        // Plain ASCII needs the full check only when it is empty, may be a
        // shared subscription, or has a wildcard out of place (then the full
        // check finds the exact rule and byte).
        let needs_walk = s.is_empty()
            || (cx.v5() && s.starts_with("$share"))
            || (wild && !topic::levels_ok(data));
        if needs_walk {
            report_topic(data, cx, topic::check_filter_inner(s, cx.version, true))?;
        }
        return Ok((rest, s));
    }
    let s = utf8(data, cx, &rules::UTF8_INVALID)?;
    report_topic(data, cx, topic::check_filter(s, cx.version))?;
    Ok((rest, s))
}
