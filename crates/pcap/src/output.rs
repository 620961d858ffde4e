//! Text and JSON-lines output of the analysis.

use std::io::{self, Write};

use mqttkit_codec::ProtocolVersion;

use crate::analyzer::version_name;
use crate::fields::{dissect, dissect_with, fixed_fields, FieldSink, TYPE_NAMES};
use crate::stats::Stats;
use crate::{Carrier, Handler, Notice, PacketEvent};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One line per packet.
    Text,
    /// One JSON object per line.
    Json,
}

/// How PUBLISH payloads and will messages are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// Left out.
    None,
    /// Hex bytes separated by colons (as Wireshark shows them).
    Hex,
    /// As text (invalid UTF-8 replaced).
    Utf8,
}

/// Output settings.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Text or JSON.
    pub format: Format,
    /// Payload display.
    pub payload: Payload,
    /// Only packets with findings (notices are always shown).
    pub only_violations: bool,
    /// Print packets (false with `--stats` alone).
    pub packets: bool,
    /// Print notices.
    pub notices: bool,
    /// Gather statistics.
    pub stats: bool,
}

/// A [`Handler`] that writes packets and notices, and gathers statistics.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    opts: Options,
    line: Vec<u8>,
    /// Statistics over everything seen.
    pub stats: Stats,
    /// The first write error (writing stops there).
    pub error: Option<io::Error>,
    /// Findings seen (packets and conversation notices).
    pub findings: u64,
    addrs: AddrCache,
}

impl<W: Write> Writer<W> {
    /// A writer over `out`.
    pub fn new(out: W, opts: Options) -> Self {
        Writer {
            out,
            opts,
            line: Vec::with_capacity(FLUSH_AT + 4096),
            stats: Stats::default(),
            error: None,
            findings: 0,
            addrs: AddrCache::default(),
        }
    }

    /// Flushes and returns the inner writer.
    pub fn into_inner(mut self) -> (W, Option<io::Error>) {
        self.flush_lines();
        if self.error.is_none() {
            if let Err(e) = self.out.flush() {
                self.error = Some(e);
            }
        }
        (self.out, self.error)
    }

    /// Lines collect in `line` and go out in large writes.
    fn write_line(&mut self) {
        if self.line.len() >= FLUSH_AT {
            self.flush_lines();
        }
    }

    fn flush_lines(&mut self) {
        if self.error.is_none() && !self.line.is_empty() {
            if let Err(e) = self.out.write_all(&self.line) {
                self.error = Some(e);
            }
        }
        self.line.clear();
    }
}

/// Output is written in pieces of about this size.
const FLUSH_AT: usize = 256 * 1024;

impl<W: Write> Handler for Writer<W> {
    fn packet(&mut self, p: &PacketEvent<'_>) {
        self.findings += p.findings.len() as u64;
        if self.opts.stats {
            self.stats.packet(p);
        }
        if !self.opts.packets || self.error.is_some() {
            return;
        }
        if self.opts.only_violations && p.findings.is_empty() {
            return;
        }
        format_packet(&mut self.line, p, &self.opts, &mut self.addrs);
        self.write_line();
    }

    fn notice(&mut self, n: &Notice) {
        self.findings += u64::from(n.statement.is_some());
        if self.opts.stats {
            self.stats.notice(n);
        }
        if !self.opts.notices || self.error.is_some() {
            return;
        }
        format_notice(&mut self.line, n, &self.opts);
        self.write_line();
    }
}

/// Appends one packet's line in the chosen format.
pub(crate) fn format_packet(
    out: &mut Vec<u8>,
    p: &PacketEvent<'_>,
    opts: &Options,
    addrs: &mut AddrCache,
) {
    match opts.format {
        Format::Json => json_packet_cached(out, p, opts.payload, addrs),
        Format::Text => text_packet(out, p, opts.payload),
    }
}

/// Appends one notice's line in the chosen format.
pub(crate) fn format_notice(out: &mut Vec<u8>, n: &Notice, opts: &Options) {
    match opts.format {
        Format::Json => json_notice(out, n),
        Format::Text => text_notice(out, n),
    }
}

/// Writes `s` as a JSON string (quotes included).
pub fn json_str(out: &mut Vec<u8>, s: &[u8]) {
    // Fast path: printable ASCII without quotes or backslashes.
    if plain(s) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
        return;
    }
    out.push(b'"');
    let text = String::from_utf8_lossy(s);
    let b = text.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1F | 0x7F => {
                out.extend_from_slice(&b[start..i]);
                let _ = write!(out, "\\u{:04x}", c);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// True when every byte of `s` is printable ASCII other than `"` and `\`
/// (nothing to escape): eight bytes at a time, the tail as the last eight
/// bytes (overlapping), a short string padded with spaces.
#[inline(always)]
fn plain(s: &[u8]) -> bool {
    if s.len() >= 16 {
        // Sixteen bytes at a time (a form the compiler turns into vector
        // compares), the tail as the last sixteen bytes (overlapping).
        let mut chunks = s.chunks_exact(16);
        if chunks.any(|c| !plain16(c)) {
            return false;
        }
        return plain16(&s[s.len() - 16..]);
    }
    if s.len() >= 8 {
        return plain8(&s[..8]) && plain8(&s[s.len() - 8..]);
    }
    // Padded with spaces (plain) to one word.
    let mut w = [b' '; 8];
    w[..s.len()].copy_from_slice(s);
    plain8(&w)
}

/// [`plain`] for exactly sixteen bytes, byte by byte without branches.
#[inline(always)]
fn plain16(c: &[u8]) -> bool {
    let mut bad = 0u8;
    for &b in &c[..16] {
        bad |=
            u8::from(b < 0x20) | u8::from(b >= 0x7F) | u8::from(b == b'"') | u8::from(b == b'\\');
    }
    bad == 0
}

/// [`plain`] for exactly eight bytes, as one word.
#[inline(always)]
fn plain8(c: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
    // A byte's high bit ends up set when it is below 0x20 (the subtraction
    // borrows), 0x7F or above (the addition carries into it, or it was
    // set), or equal to '"' or '\\' (the xor gives zero, which borrows).
    // Borrows and carries only cross into the next byte from a byte that
    // is flagged itself, so the word is flagged exactly when a byte is.
    let low = w.wrapping_sub(ONES * 0x20);
    let high = w.wrapping_add(ONES);
    let quote = (w ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES);
    let backslash = (w ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES);
    (low | high | quote | backslash | w) & HIGH == 0
}

/// Two ASCII digits for every value below 100.
const DIGITS2: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends the decimal digits of `v`.
#[inline]
pub fn push_u64(out: &mut Vec<u8>, v: u64) {
    if v < 10 {
        out.push(b'0' + v as u8);
    } else if v < 100 {
        let d = v as usize * 2;
        out.extend_from_slice(&[DIGITS2[d], DIGITS2[d + 1]]);
    } else if v < 10_000 {
        // Fixed-size copies: no length computed at run time.
        let lo = (v % 100) as usize * 2;
        let hi = (v / 100) as usize;
        if hi < 10 {
            out.extend_from_slice(&[b'0' + hi as u8, DIGITS2[lo], DIGITS2[lo + 1]]);
        } else {
            let hi = hi * 2;
            out.extend_from_slice(&[DIGITS2[hi], DIGITS2[hi + 1], DIGITS2[lo], DIGITS2[lo + 1]]);
        }
    } else {
        push_u64_long(out, v);
    }
}

/// [`push_u64`] for five digits and more: four digits per division.
#[inline(never)]
fn push_u64_long(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 10_000 {
        let r = (v % 10_000) as usize;
        v /= 10_000;
        let (hi, lo) = (r / 100 * 2, r % 100 * 2);
        buf[i - 4..i - 2].copy_from_slice(&DIGITS2[hi..hi + 2]);
        buf[i - 2..i].copy_from_slice(&DIGITS2[lo..lo + 2]);
        i -= 4;
    }
    let v = v as usize;
    if v >= 100 {
        let lo = v % 100 * 2;
        buf[i - 2..i].copy_from_slice(&DIGITS2[lo..lo + 2]);
        i -= 2;
        if v >= 1000 {
            let hi = v / 100 * 2;
            buf[i - 2..i].copy_from_slice(&DIGITS2[hi..hi + 2]);
            i -= 2;
        } else {
            i -= 1;
            buf[i] = b'0' + (v / 100) as u8;
        }
    } else if v >= 10 {
        buf[i - 2..i].copy_from_slice(&DIGITS2[v * 2..v * 2 + 2]);
        i -= 2;
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends a timestamp as seconds with nine decimals.
#[cfg(test)]
fn push_ts(out: &mut Vec<u8>, ts: crate::Timestamp) {
    push_secs(out, ts.secs);
    push_nanos(out, ts.nanos);
}

/// The seconds of a timestamp (with a sign when negative).
fn push_secs(out: &mut Vec<u8>, secs: i64) {
    if secs < 0 {
        out.push(b'-');
    }
    push_u64(out, secs.unsigned_abs());
}

/// The point and nine decimals of a timestamp.
#[cfg(test)]
fn push_nanos(out: &mut Vec<u8>, nanos: u32) {
    out.extend_from_slice(&nanos_text(nanos));
}

/// The point and nine decimals of a timestamp.
fn nanos_text(nanos: u32) -> [u8; 10] {
    let mut frac = [b'0'; 10];
    frac[0] = b'.';
    let mut n = nanos % 1_000_000_000;
    frac[9] = b'0' + (n % 10) as u8;
    n /= 10;
    for k in (0..4).rev() {
        let d = (n % 100) as usize * 2;
        n /= 100;
        frac[1 + 2 * k..3 + 2 * k].copy_from_slice(&DIGITS2[d..d + 2]);
    }
    frac
}

/// A line under construction, written through an index: the vector is
/// kept at its full length (the bytes after `pos` are scratch), so a piece
/// is appended with one bounds-checked copy instead of a capacity check and
/// a length update, and a number is stored as one 8-byte word, the index
/// then moving by its digits only (what lies beyond is overwritten next).
#[derive(Debug, Default)]
pub(crate) struct LineBuf {
    buf: Vec<u8>,
    pos: usize,
}

impl LineBuf {
    /// An empty buffer with room for `n` bytes.
    pub(crate) fn with_capacity(n: usize) -> Self {
        LineBuf {
            buf: vec![0; n],
            pos: 0,
        }
    }

    /// What was written.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf[..self.pos]
    }

    /// Forgets what was written (the buffer stays).
    pub(crate) fn clear(&mut self) {
        self.pos = 0;
    }

    /// Makes sure `n` more bytes fit.
    #[inline(always)]
    fn room(&mut self, n: usize) {
        if self.buf.len() - self.pos < n {
            self.grow(n);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        let want = (self.pos + n).max(self.buf.len() * 2).max(4096);
        self.buf.resize(want, 0);
    }

    /// Appends `s`.
    #[inline(always)]
    pub(crate) fn put(&mut self, s: &[u8]) {
        self.room(s.len());
        self.buf[self.pos..self.pos + s.len()].copy_from_slice(s);
        self.pos += s.len();
    }
}

/// A cursor over room made beforehand ([`LineBuf::cursor`]): each piece is
/// one bounds-checked copy and the index stays in a register.
struct Cursor<'b> {
    /// The room not written yet.
    rest: &'b mut [u8],
    /// Its length at the start.
    room: usize,
}

impl Cursor<'_> {
    /// Bytes written so far.
    #[inline(always)]
    fn written(&self) -> usize {
        self.room - self.rest.len()
    }

    #[inline(always)]
    fn put(&mut self, s: &[u8]) {
        let (head, tail) = std::mem::take(&mut self.rest).split_at_mut(s.len());
        head.copy_from_slice(s);
        self.rest = tail;
    }

    /// Stores `d` whole and keeps its first `n` bytes.
    #[inline(always)]
    fn put_first<const N: usize>(&mut self, d: &[u8; N], n: usize) {
        let rest = std::mem::take(&mut self.rest);
        rest[..N].copy_from_slice(d);
        self.rest = &mut rest[n..];
    }

    /// The digits of `v` (below 100,000) as one 8-byte store.
    #[inline(always)]
    fn put_num(&mut self, v: u32) {
        let (d, n) = digits5(v);
        self.put_first(&d, n);
    }

    /// The digits of any `v` as one 20-byte store.
    #[inline]
    fn put_u64(&mut self, v: u64) {
        let (d, n) = digits20(v);
        self.put_first(&d, n);
    }
}

/// The decimal digits of `v`, left-aligned in twenty bytes, and how many
/// there are.
fn digits20(mut v: u64) -> ([u8; 20], usize) {
    let mut d = [0u8; 20];
    let n = v.checked_ilog10().map_or(1, |l| l as usize + 1);
    let mut i = n;
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        d[i - 2..i].copy_from_slice(&DIGITS2[r..r + 2]);
        i -= 2;
    }
    if v >= 10 {
        let r = v as usize * 2;
        d[i - 2..i].copy_from_slice(&DIGITS2[r..r + 2]);
    } else {
        d[i - 1] = b'0' + v as u8;
    }
    (d, n)
}

impl LineBuf {
    /// A cursor with room for `n` bytes after what was written; what it
    /// writes counts once [`advance`](Self::advance) is given its position.
    #[inline(always)]
    fn cursor(&mut self, n: usize) -> Cursor<'_> {
        self.room(n);
        let rest = &mut self.buf[self.pos..];
        Cursor {
            room: rest.len(),
            rest,
        }
    }

    #[inline(always)]
    fn advance(&mut self, n: usize) {
        self.pos += n;
    }
}

/// The decimal digits of `v` (below 100,000), left-aligned in eight bytes,
/// and how many there are.
#[inline(always)]
fn digits5(v: u32) -> ([u8; 8], usize) {
    debug_assert!(v < 100_000);
    let v = v as usize;
    let mut d = [0u8; 8];
    let n = if v < 10 {
        d[0] = b'0' + v as u8;
        1
    } else if v < 100 {
        d[..2].copy_from_slice(&DIGITS2[2 * v..2 * v + 2]);
        2
    } else if v < 1000 {
        let lo = 2 * (v % 100);
        d[0] = b'0' + (v / 100) as u8;
        d[1..3].copy_from_slice(&DIGITS2[lo..lo + 2]);
        3
    } else if v < 10_000 {
        let (hi, lo) = (2 * (v / 100), 2 * (v % 100));
        d[..2].copy_from_slice(&DIGITS2[hi..hi + 2]);
        d[2..4].copy_from_slice(&DIGITS2[lo..lo + 2]);
        4
    } else {
        let (mid, lo) = (2 * (v / 100 % 100), 2 * (v % 100));
        d[0] = b'0' + (v / 10_000 % 10) as u8;
        d[1..3].copy_from_slice(&DIGITS2[mid..mid + 2]);
        d[3..5].copy_from_slice(&DIGITS2[lo..lo + 2]);
        5
    };
    (d, n)
}

/// What the start of a JSON line (frame to version) depends on besides
/// the addresses: frame, protocol level, inferred, carrier.
type PrefixKey = (u64, u8, bool, Carrier);

/// Directions whose address text is kept.
const ADDR_CACHE: usize = 4096;

/// Two socket addresses hashed as two words (like the analyzer's flow key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AddrPair(std::net::SocketAddr, std::net::SocketAddr);

impl std::hash::Hash for AddrPair {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(crate::analyzer::addr_word(&self.0));
        h.write_u64(crate::analyzer::addr_word(&self.1));
    }
}

/// The start of a JSON line (`{"frame":…` to the version and the flags
/// that follow it), kept while the packets come from one record and
/// direction, and the text of the addresses per direction (a table that
/// is emptied when it holds too many).
#[derive(Debug, Default)]
struct Prefix {
    /// What `text` was made from; `None` once the addresses changed.
    key: Option<PrefixKey>,
    text: LineBuf,
    /// The seconds of the last timestamp written, and their text.
    secs: Option<i64>,
    secs_text: Vec<u8>,
    /// The addresses last set and their index in `texts`.
    last: Option<AddrPair>,
    cur: usize,
    index: foldhash::HashMap<AddrPair, usize>,
    /// `"src":"…","dst":"…"` per direction.
    texts: Vec<Vec<u8>>,
}

impl Prefix {
    /// Makes `(src, dst)` the addresses of the next lines.
    #[inline]
    fn set_addrs(&mut self, src: std::net::SocketAddr, dst: std::net::SocketAddr) {
        let key = AddrPair(src, dst);
        if self.last != Some(key) {
            self.switch(key);
        }
    }

    #[inline(never)]
    fn switch(&mut self, key: AddrPair) {
        if self.index.len() >= ADDR_CACHE {
            self.index.clear();
            self.texts.clear();
        }
        let texts = &mut self.texts;
        self.cur = *self.index.entry(key).or_insert_with(|| {
            let mut t = Vec::with_capacity(64);
            let _ = write!(t, "\"src\":\"{}\",\"dst\":\"{}\"", key.0, key.1);
            texts.push(t);
            texts.len() - 1
        });
        self.last = Some(key);
        self.key = None;
    }

    /// The line start for the addresses last set.
    #[inline(always)]
    fn get(&mut self, p: &JsonPacket<'_>) -> &[u8] {
        let key = (p.frame, version_level(p.version), p.inferred, p.carrier);
        if self.key != Some(key) {
            self.make(key, p.ts);
        }
        self.text.as_slice()
    }

    #[cold]
    #[inline(never)]
    fn make(&mut self, key: PrefixKey, ts: crate::Timestamp) {
        let (frame, level, inferred, carrier) = key;
        if self.secs != Some(ts.secs) {
            self.secs_text.clear();
            push_secs(&mut self.secs_text, ts.secs);
            self.secs = Some(ts.secs);
        }
        let addrs = self.texts.get(self.cur).map_or(&[][..], |t| &t[..]);
        self.text.clear();
        let mut c = self.text.cursor(self.secs_text.len() + addrs.len() + 160);
        c.put(b"{\"frame\":");
        c.put_u64(frame);
        c.put(b",\"ts\":");
        c.put(&self.secs_text);
        c.put(&nanos_text(ts.nanos));
        c.put(b",");
        c.put(addrs);
        c.put(b",\"version\":");
        c.put(&[b'0' + level]);
        if inferred {
            c.put(b",\"version_inferred\":true");
        }
        if carrier == Carrier::WebSocket {
            c.put(b",\"carrier\":\"websocket\"");
        }
        let n = c.written();
        self.text.advance(n);
        self.key = Some(key);
    }
}

/// Text reused from one JSON line to the next: the line start and the
/// fixed header's fields per version and first byte.
#[derive(Debug, Default)]
pub(crate) struct AddrCache {
    pre: Prefix,
    fixed: FixedTable,
    /// Lines written by the general (vector) writers, then copied.
    pub(crate) scratch: Vec<u8>,
    /// A line for [`format_packet`]'s callers, which write to a vector.
    line: LineBuf,
}

impl AddrCache {
    /// Makes `(src, dst)` the addresses of the next lines.
    #[inline]
    pub(crate) fn set_addrs(&mut self, src: std::net::SocketAddr, dst: std::net::SocketAddr) {
        self.pre.set_addrs(src, dst);
    }
}

/// The JSON from the `type` key to the `len` key (with it), by version
/// (3.1, 3.1.1, 5.0) and first byte; empty until used.
#[derive(Debug, Default)]
struct FixedTable(Vec<Vec<u8>>);

impl FixedTable {
    /// `,"type":…,"mqtt":{` and the fixed header's fields up to `"len":`,
    /// formatted once per version and first byte.
    #[inline(always)]
    fn get(&mut self, b0: u8, version: ProtocolVersion) -> &[u8] {
        let i = (usize::from(version_level(version)) - 3) * 256 + usize::from(b0);
        if self.0.get(i).is_none_or(|t| t.is_empty()) {
            self.make(i, b0, version);
        }
        &self.0[i]
    }

    #[cold]
    #[inline(never)]
    fn make(&mut self, i: usize, b0: u8, version: ProtocolVersion) {
        if self.0.is_empty() {
            self.0 = vec![Vec::new(); 3 * 256];
        }
        let text = &mut self.0[i];
        text.extend_from_slice(TYPE_PIECES[usize::from(b0 >> 4)].as_bytes());
        let mut g = JsonFields::new(text, Payload::None);
        fixed_fields(b0, version, &mut g);
        g.key("len");
    }
}

fn hex_colon(out: &mut Vec<u8>, v: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in v.iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
}

/// Nesting depth of the JSON written for one packet (object, group, item).
const DEPTH: usize = 4;

struct JsonFields<'o> {
    out: &'o mut Vec<u8>,
    /// One entry per open object/array: true while nothing was written in it.
    first: [bool; DEPTH],
    depth: usize,
    payload: Payload,
}

impl JsonFields<'_> {
    fn new(out: &mut Vec<u8>, payload: Payload) -> JsonFields<'_> {
        JsonFields {
            out,
            first: [true; DEPTH],
            depth: 0,
            payload,
        }
    }
    fn sep(&mut self) {
        let f = &mut self.first[self.depth.min(DEPTH - 1)];
        if !*f {
            self.out.push(b',');
        }
        *f = false;
    }
    fn open(&mut self) {
        self.depth += 1;
        self.first[self.depth.min(DEPTH - 1)] = true;
    }
    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
    fn key(&mut self, name: &str) {
        // `,"name":` put together on the stack and written at once: one
        // copy instead of a capacity check per byte.
        let f = &mut self.first[self.depth.min(DEPTH - 1)];
        let comma = usize::from(!*f);
        *f = false;
        let n = name.len();
        let mut buf = [0u8; 40];
        if n + 4 > buf.len() {
            self.out.extend_from_slice(&b",\""[1 - comma..]);
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(b"\":");
            return;
        }
        buf[0] = b',';
        buf[1] = b'"';
        buf[2..2 + n].copy_from_slice(name.as_bytes());
        buf[2 + n] = b'"';
        buf[3 + n] = b':';
        self.out.extend_from_slice(&buf[1 - comma..4 + n]);
    }
}

impl FieldSink for JsonFields<'_> {
    fn uint(&mut self, name: &'static str, v: u64) {
        self.key(name);
        push_u64(self.out, v);
    }
    fn boolean(&mut self, name: &'static str, v: bool) {
        self.key(name);
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
    }
    fn string(&mut self, name: &'static str, v: &[u8]) {
        self.key(name);
        json_str(self.out, v);
    }
    fn bytes(&mut self, name: &'static str, v: &[u8]) {
        match self.payload {
            Payload::None if name == "msg" || name == "willmsg" => {}
            Payload::Utf8 if name == "msg" || name == "willmsg" => {
                self.key(if name == "msg" {
                    "msg_text"
                } else {
                    "willmsg_text"
                });
                json_str(self.out, v);
            }
            _ => {
                self.key(name);
                self.out.push(b'"');
                hex_colon(self.out, v);
                self.out.push(b'"');
            }
        }
    }
    fn begin_group(&mut self, name: &'static str) {
        self.key(name);
        self.out.push(b'[');
        self.open();
    }
    fn begin_item(&mut self) {
        self.sep();
        self.out.push(b'{');
        self.open();
    }
    fn end_item(&mut self) {
        self.out.push(b'}');
        self.close();
    }
    fn end_group(&mut self) {
        self.out.push(b']');
        self.close();
    }
}

/// `,"type":"NAME","mqtt":{` for each packet type.
const TYPE_PIECES: [&str; 16] = [
    ",\"type\":\"Reserved\",\"mqtt\":{",
    ",\"type\":\"CONNECT\",\"mqtt\":{",
    ",\"type\":\"CONNACK\",\"mqtt\":{",
    ",\"type\":\"PUBLISH\",\"mqtt\":{",
    ",\"type\":\"PUBACK\",\"mqtt\":{",
    ",\"type\":\"PUBREC\",\"mqtt\":{",
    ",\"type\":\"PUBREL\",\"mqtt\":{",
    ",\"type\":\"PUBCOMP\",\"mqtt\":{",
    ",\"type\":\"SUBSCRIBE\",\"mqtt\":{",
    ",\"type\":\"SUBACK\",\"mqtt\":{",
    ",\"type\":\"UNSUBSCRIBE\",\"mqtt\":{",
    ",\"type\":\"UNSUBACK\",\"mqtt\":{",
    ",\"type\":\"PINGREQ\",\"mqtt\":{",
    ",\"type\":\"PINGRESP\",\"mqtt\":{",
    ",\"type\":\"DISCONNECT\",\"mqtt\":{",
    ",\"type\":\"AUTH\",\"mqtt\":{",
];

fn type_name(p: &PacketEvent<'_>) -> &'static str {
    TYPE_NAMES[(p.raw[0] >> 4) as usize]
}

/// The protocol level byte of a version.
fn version_level(v: ProtocolVersion) -> u8 {
    match v {
        ProtocolVersion::V3_1 => 3,
        ProtocolVersion::V3_1_1 => 4,
        ProtocolVersion::V5 => 5,
    }
}

/// One packet as a JSON line.
pub fn json_packet(out: &mut Vec<u8>, p: &PacketEvent<'_>, payload: Payload) {
    json_packet_cached(out, p, payload, &mut AddrCache::default());
}

fn json_packet_cached(
    out: &mut Vec<u8>,
    p: &PacketEvent<'_>,
    payload: Payload,
    cache: &mut AddrCache,
) {
    cache.set_addrs(p.src, p.dst);
    let mut line = std::mem::take(&mut cache.line);
    line.clear();
    json_line(
        &mut line,
        cache,
        &JsonPacket {
            frame: p.frame,
            ts: p.ts,
            version: p.version,
            inferred: p.version_inferred,
            carrier: p.carrier,
            raw: p.raw,
            findings: p.findings,
        },
        payload,
    );
    out.extend_from_slice(line.as_slice());
    cache.line = line;
}

/// What a JSON line is made of besides the addresses (set on the cache).
pub(crate) struct JsonPacket<'a> {
    pub frame: u64,
    pub ts: crate::Timestamp,
    pub version: ProtocolVersion,
    pub inferred: bool,
    pub carrier: Carrier,
    pub raw: &'a [u8],
    pub findings: &'a [crate::Finding],
}

/// Appends one packet's JSON line; the addresses are the ones last given
/// to [`AddrCache::set_addrs`].
#[inline(always)]
pub(crate) fn json_line(
    out: &mut LineBuf,
    cache: &mut AddrCache,
    p: &JsonPacket<'_>,
    payload: Payload,
) {
    let pre = cache.pre.get(p);
    if payload == Payload::None && p.findings.is_empty() {
        if let Some(common) = Common::read(p.raw, p.version) {
            let fixed = cache.fixed.get(p.raw[0], p.version);
            let mut c = out.cursor(pre.len() + fixed.len() + common.room());
            c.put(pre);
            c.put(fixed);
            common.write(&mut c);
            c.put(b"},\"violations\":[]}\n");
            let n = c.written();
            out.advance(n);
            return;
        }
    }
    out.put(pre);
    cache.scratch.clear();
    json_fields(
        &mut cache.scratch,
        &mut cache.fixed,
        p.raw,
        p.version,
        payload,
    );
    if p.findings.is_empty() {
        cache.scratch.extend_from_slice(b"},\"violations\":[]}\n");
    } else {
        json_findings(&mut cache.scratch, p.findings);
    }
    out.put(&cache.scratch);
}

/// The commonest packets, whose `mqtt` fields are written directly: a
/// PUBLISH whose topic needs no escaping (and, under 5.0, with an empty
/// property block) and an acknowledgement holding only a Packet
/// Identifier, both with a Remaining Length of at most two bytes that
/// matches the bytes present. Everything else goes through
/// [`json_fields`]; the two agree byte for byte (tested).
enum Common<'a> {
    Publish {
        len: u32,
        topic: &'a [u8],
        id: Option<u16>,
        v5: bool,
    },
    Ack {
        id: u16,
    },
}

impl<'a> Common<'a> {
    #[inline(always)]
    fn read(raw: &'a [u8], version: ProtocolVersion) -> Option<Self> {
        let (len, body) = match *raw {
            [_, l, ref body @ ..] if l < 0x80 => (usize::from(l), body),
            [_, l1, l2, ref body @ ..] if l1 >= 0x80 && l2 < 0x80 => {
                (usize::from(l1 & 0x7F) | usize::from(l2) << 7, body)
            }
            _ => return None,
        };
        if body.len() != len {
            return None;
        }
        let b0 = raw[0];
        match b0 >> 4 {
            3 => {
                let [t0, t1, ref rest @ ..] = *body else {
                    return None;
                };
                let tl = usize::from(u16::from_be_bytes([t0, t1]));
                let qos = (b0 >> 1) & 3 != 0;
                let v5 = version == ProtocolVersion::V5;
                let after = tl + if qos { 2 } else { 0 };
                if rest.len() < after + usize::from(v5) {
                    return None;
                }
                let (topic, rest) = rest.split_at(tl);
                if (v5 && rest[after - tl] != 0) || !plain(topic) {
                    return None;
                }
                Some(Common::Publish {
                    len: len as u32,
                    topic,
                    id: qos.then(|| u16::from_be_bytes([rest[0], rest[1]])),
                    v5,
                })
            }
            4..=7 if len == 2 => Some(Common::Ack {
                id: u16::from_be_bytes([body[0], body[1]]),
            }),
            _ => None,
        }
    }

    /// Room [`write`](Self::write) and the line's end need at most.
    #[inline(always)]
    fn room(&self) -> usize {
        match self {
            Common::Publish { topic, .. } => topic.len() + 128,
            Common::Ack { .. } => 64,
        }
    }

    #[inline(always)]
    fn write(&self, c: &mut Cursor<'_>) {
        match *self {
            Common::Publish { len, topic, id, v5 } => {
                c.put_num(len);
                c.put(b",\"topic_len\":");
                c.put_num(topic.len() as u32);
                c.put(b",\"topic\":\"");
                c.put(topic);
                // The closing quote goes with what follows.
                if let Some(id) = id {
                    c.put(b"\",\"msgid\":");
                    c.put_num(u32::from(id));
                    if v5 {
                        c.put(b",\"property_len\":0,\"properties\":[]");
                    }
                } else if v5 {
                    c.put(b"\",\"property_len\":0,\"properties\":[]");
                } else {
                    c.put(b"\"");
                }
            }
            Common::Ack { id } => {
                c.put(b"2,\"msgid\":");
                c.put_num(u32::from(id));
            }
        }
    }
}

/// The `mqtt` object's fields of any packet, through [`dissect_with`].
#[inline(never)]
fn json_fields(
    out: &mut Vec<u8>,
    fixed: &mut FixedTable,
    raw: &[u8],
    version: ProtocolVersion,
    payload: Payload,
) {
    let mut header = false;
    {
        let mut f = JsonFields::new(out, payload);
        dissect_with(
            raw,
            version,
            payload != Payload::None,
            &mut f,
            |f, b0, len| {
                f.out.extend_from_slice(fixed.get(b0, version));
                // `msgtype` was written: what follows needs a comma.
                f.first[0] = false;
                push_u64(f.out, u64::from(len));
                header = true;
            },
        );
    }
    if !header {
        // A truncated fixed header: no field was written.
        out.extend_from_slice(TYPE_PIECES[(raw[0] >> 4) as usize].as_bytes());
    }
}

#[inline(never)]
fn json_findings(out: &mut Vec<u8>, findings: &[crate::Finding]) {
    out.extend_from_slice(b"},\"violations\":[");
    for (i, f) in findings.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"id\":");
        json_str(out, f.statement.as_bytes());
        out.extend_from_slice(b",\"message\":");
        json_str(out, f.message.as_bytes());
        out.push(b'}');
    }
    out.extend_from_slice(b"]}\n");
}

fn json_notice(out: &mut Vec<u8>, n: &Notice) {
    let _ = write!(
        out,
        "{{\"frame\":{},\"notice\":\"{}\"",
        n.frame,
        n.kind.as_str()
    );
    if let Some((s, d)) = n.flow {
        let _ = write!(out, ",\"src\":\"{s}\",\"dst\":\"{d}\"");
    }
    if let Some(st) = n.statement {
        out.extend_from_slice(b",\"id\":");
        json_str(out, st.as_bytes());
    }
    out.extend_from_slice(b",\"message\":");
    json_str(out, n.message.as_bytes());
    out.extend_from_slice(b"}\n");
}

struct TextFields<'o> {
    out: &'o mut Vec<u8>,
    payload: Payload,
}

impl TextFields<'_> {
    fn skip(name: &str) -> bool {
        matches!(
            name,
            "msgtype" | "hdrflags" | "len" | "proto_len" | "property_len" | "conflags"
        ) || name.ends_with("_len")
            || name.starts_with("conflag.")
    }
}

impl FieldSink for TextFields<'_> {
    fn uint(&mut self, name: &'static str, v: u64) {
        if !Self::skip(name) {
            let _ = write!(self.out, " {name}={v}");
        }
    }
    fn boolean(&mut self, name: &'static str, v: bool) {
        if !Self::skip(name) {
            let _ = write!(self.out, " {name}={}", v as u8);
        }
    }
    fn string(&mut self, name: &'static str, v: &[u8]) {
        let _ = write!(self.out, " {name}=");
        json_str(self.out, v);
    }
    fn bytes(&mut self, name: &'static str, v: &[u8]) {
        match self.payload {
            Payload::None if name == "msg" || name == "willmsg" => {}
            Payload::Utf8 if name == "msg" || name == "willmsg" => {
                let _ = write!(self.out, " {name}=");
                json_str(self.out, v);
            }
            _ => {
                let _ = write!(self.out, " {name}=");
                hex_colon(self.out, v);
            }
        }
    }
    fn begin_group(&mut self, _: &'static str) {}
    fn begin_item(&mut self) {}
    fn end_item(&mut self) {}
    fn end_group(&mut self) {}
}

/// One packet as a text line.
pub fn text_packet(out: &mut Vec<u8>, p: &PacketEvent<'_>, payload: Payload) {
    let _ = write!(
        out,
        "{} {} {} -> {} MQTT {}{}{} {} len={}",
        p.frame,
        p.ts,
        p.src,
        p.dst,
        version_name(p.version),
        if p.version_inferred { "?" } else { "" },
        if p.carrier == Carrier::WebSocket {
            " ws"
        } else {
            ""
        },
        type_name(p),
        p.raw.len()
    );
    {
        let mut f = TextFields { out, payload };
        dissect(p.raw, p.version, payload != Payload::None, &mut f);
    }
    for f in p.findings {
        let _ = write!(out, " !{}: {}", f.statement, f.message);
        let _ = f;
    }
    out.push(b'\n');
}

fn text_notice(out: &mut Vec<u8>, n: &Notice) {
    let _ = write!(out, "# {} {}", n.frame, n.kind.as_str());
    if let Some((s, d)) = n.flow {
        let _ = write!(out, " {s} -> {d}");
    }
    if let Some(st) = n.statement {
        let _ = write!(out, " {st}");
    }
    let _ = writeln!(out, ": {}", n.message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_matches_a_byte_by_byte_check() {
        let reference = |s: &[u8]| {
            s.iter()
                .all(|&c| (0x20..0x7F).contains(&c) && c != b'"' && c != b'\\')
        };
        let odd = [
            0x00, 0x01, 0x1F, 0x20, 0x21, b'"', b'\\', 0x7E, 0x7F, 0x80, 0xA2, 0xFF,
        ];
        // Every short string over those bytes.
        for n in 0..=3u32 {
            for k in 0..odd.len().pow(n) {
                let mut k = k;
                let s: Vec<u8> = (0..n)
                    .map(|_| {
                        let c = odd[k % odd.len()];
                        k /= odd.len();
                        c
                    })
                    .collect();
                assert_eq!(plain(&s), reference(&s), "{s:02x?}");
            }
        }
        // One or two odd bytes anywhere in longer plain strings.
        for n in 0..=40 {
            let base = vec![b'a'; n];
            assert!(plain(&base));
            for at in 0..n {
                for &c in &odd {
                    let mut s = base.clone();
                    s[at] = c;
                    assert_eq!(plain(&s), reference(&s), "{s:02x?}");
                    s[n - 1 - at / 2] = 0x01;
                    assert_eq!(plain(&s), reference(&s), "{s:02x?}");
                }
            }
        }
    }

    #[test]
    fn integers_and_timestamps_format_like_display() {
        for v in [
            0u64,
            7,
            9,
            10,
            99,
            100,
            101,
            999,
            1000,
            1009,
            4321,
            9999,
            10_000,
            65535,
            1_000_000,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            push_u64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
        for (secs, nanos) in [(0, 0), (1_700_000_000, 5), (12, 999_999_999), (-3, 120)] {
            let ts = crate::Timestamp { secs, nanos };
            let mut out = Vec::new();
            push_ts(&mut out, ts);
            assert_eq!(String::from_utf8(out).unwrap(), ts.to_string());
        }
    }

    #[test]
    fn json_keys_short_and_long() {
        let mut out = Vec::new();
        let mut f = JsonFields::new(&mut out, Payload::None);
        f.uint("a", 1);
        f.uint("b", 22);
        let long = "k".repeat(50);
        let long: &'static str = Box::leak(long.into_boxed_str());
        f.uint(long, 3);
        f.uint("c", 4);
        let want = format!("\"a\":1,\"b\":22,\"{}\":3,\"c\":4", "k".repeat(50));
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = Vec::new();
        json_str(&mut out, b"a\"b\\c\n\x01\xff");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\n\\u0001\u{fffd}\""
        );
    }

    /// The `mqtt` part written by the direct writer, when it takes the
    /// packet, and by the general one.
    fn common_and_general(raw: &[u8], v: ProtocolVersion) -> (Option<Vec<u8>>, Vec<u8>) {
        let mut fixed = FixedTable::default();
        let fast = Common::read(raw, v).map(|c| {
            let f = fixed.get(raw[0], v).to_vec();
            let mut line = LineBuf::default();
            let mut cur = line.cursor(f.len() + c.room());
            cur.put(&f);
            c.write(&mut cur);
            let n = cur.written();
            line.advance(n);
            line.as_slice().to_vec()
        });
        let mut general = Vec::new();
        json_fields(&mut general, &mut fixed, raw, v, Payload::None);
        (fast, general)
    }

    fn publish(
        b0: u8,
        topic: &[u8],
        id: Option<u16>,
        props: Option<&[u8]>,
        payload: usize,
    ) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        body.extend_from_slice(topic);
        if let Some(id) = id {
            body.extend_from_slice(&id.to_be_bytes());
        }
        if let Some(p) = props {
            body.extend_from_slice(p);
        }
        body.extend(std::iter::repeat_n(b'x', payload));
        let mut raw = vec![b0];
        let mut n = body.len();
        loop {
            let byte = (n & 0x7F) as u8;
            n >>= 7;
            if n == 0 {
                raw.push(byte);
                break;
            }
            raw.push(byte | 0x80);
        }
        raw.extend_from_slice(&body);
        raw
    }

    #[test]
    fn common_packets_written_directly_match_the_general_writer() {
        let versions = [
            ProtocolVersion::V3_1,
            ProtocolVersion::V3_1_1,
            ProtocolVersion::V5,
        ];
        let long = [b'a'; 40];
        let topics: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"sensors/building-1/temp",
            b"1234567",
            b"12345678",
            b"123456789",
            b"123456789012345",
            b"1234567890123456",
            b"12345678901234567",
            &long,
            b"with \"quote\"",
            b"back\\slash",
            b"ctl\x01",
            b"del\x7f",
            "caf\u{e9}".as_bytes(),
            b"\xff\xfe",
            b"tab\there",
        ];
        let props: [Option<&[u8]>; 3] = [None, Some(&[0]), Some(&[3, 0x23, 0, 7])];
        let mut taken = 0;
        let mut total = 0;
        for &v in &versions {
            for b0 in 0x30..=0x3Fu8 {
                for topic in &topics {
                    for id in [None, Some(0), Some(9), Some(10_000), Some(65_535)] {
                        for p in props {
                            for payload in [0, 3, 130, 16_400] {
                                let raw = publish(b0, topic, id, p, payload);
                                // Whole, cut short, with a byte more.
                                let mut longer = raw.clone();
                                longer.push(0);
                                for r in [&raw[..], &raw[..raw.len() - 1], &longer[..], &raw[..2]] {
                                    let (fast, general) = common_and_general(r, v);
                                    total += 1;
                                    if let Some(fast) = fast {
                                        taken += 1;
                                        assert_eq!(
                                            String::from_utf8_lossy(&fast),
                                            String::from_utf8_lossy(&general),
                                            "{v:?} {r:02x?}"
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for b0 in 0x40..=0x7Fu8 {
                for body in [
                    &[][..],
                    &[0],
                    &[0, 0],
                    &[0x12, 0x34],
                    &[0xFF, 0xFF, 0],
                    &[0, 1, 0, 0],
                ] {
                    let mut raw = vec![b0, body.len() as u8];
                    raw.extend_from_slice(body);
                    let (fast, general) = common_and_general(&raw, v);
                    total += 1;
                    if let Some(fast) = fast {
                        taken += 1;
                        assert_eq!(fast, general, "{v:?} {raw:02x?}");
                    }
                }
            }
        }
        assert!(taken > 15_000, "{taken} of {total}");
        // Random bytes with a PUBLISH or acknowledgement first byte.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1 + (x % 24) as usize;
            let mut raw: Vec<u8> = (0..len)
                .map(|k| (x >> (k % 8 * 8)) as u8 ^ k as u8)
                .collect();
            if let Some(b) = raw.first_mut() {
                *b = 0x30 + (*b % 0x50);
            }
            if raw.len() > 1 && x & 1 == 0 {
                raw[1] = (raw.len() - 2) as u8;
            }
            if raw.len() > 3 && x & 2 == 0 {
                raw[2] = 0;
                raw[3] = (x >> 40) as u8 % 8;
            }
            let v = versions[(x >> 60) as usize % 3];
            let (fast, general) = common_and_general(&raw, v);
            if let Some(fast) = fast {
                assert_eq!(fast, general, "{v:?} {raw:02x?}");
            }
        }
    }
}
