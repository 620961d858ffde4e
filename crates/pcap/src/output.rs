//! Text and JSON-lines output of the analysis.

use std::io::{self, Write};

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
fn plain(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte of `x` is zero exactly where the high bit of the result is set
    // (classic "has zero byte"; may flag a 0x01 byte after a zero byte,
    // which only matters when some byte is already flagged).
    #[inline(always)]
    fn zero(x: u64) -> u64 {
        x.wrapping_sub(ONES) & !x & HIGH
    }
    let bad = |c: &[u8]| {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        // Bytes >= 0x80, or < 0x20 (control), or 0x7F, '"' or '\\'.
        let ctrl = w.wrapping_sub(ONES * 0x20) & !w;
        (w | ctrl) & HIGH
            | zero(w ^ (ONES * 0x7F))
            | zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            != 0
    };
    if s.len() < 8 {
        // Padded with spaces (plain) to one word.
        let mut w = [b' '; 8];
        w[..s.len()].copy_from_slice(s);
        return !bad(&w);
    }
    let mut chunks = s.chunks_exact(8);
    if chunks.any(bad) {
        return false;
    }
    // The last eight bytes (overlapping the words already checked) cover
    // the rest.
    !bad(&s[s.len() - 8..])
}

/// Two ASCII digits for every value below 100.
const DIGITS2: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends the decimal digits of `v`.
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    if v < 10 {
        out.push(b'0' + v as u8);
        return;
    }
    if v < 100 {
        let d = v as usize * 2;
        out.extend_from_slice(&[DIGITS2[d], DIGITS2[d + 1]]);
        return;
    }
    if v < 10_000 {
        // Fixed-size copies: no length computed at run time.
        let lo = (v % 100) as usize * 2;
        let hi = (v / 100) as usize;
        if hi < 10 {
            out.extend_from_slice(&[b'0' + hi as u8, DIGITS2[lo], DIGITS2[lo + 1]]);
        } else {
            let hi = hi * 2;
            out.extend_from_slice(&[DIGITS2[hi], DIGITS2[hi + 1], DIGITS2[lo], DIGITS2[lo + 1]]);
        }
        return;
    }
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGITS2[d..d + 2]);
    }
    if v >= 10 {
        let d = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGITS2[d..d + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends a timestamp as seconds with nine decimals.
fn push_ts(out: &mut Vec<u8>, ts: crate::Timestamp) {
    if ts.secs < 0 {
        out.push(b'-');
    }
    push_u64(out, ts.secs.unsigned_abs());
    out.push(b'.');
    let mut frac = [b'0'; 9];
    let mut n = ts.nanos % 1_000_000_000;
    frac[8] = b'0' + (n % 10) as u8;
    n /= 10;
    for k in (0..4).rev() {
        let d = (n % 100) as usize * 2;
        n /= 100;
        frac[2 * k..2 * k + 2].copy_from_slice(&DIGITS2[d..d + 2]);
    }
    out.extend_from_slice(&frac);
}

type AddrPair = (std::net::SocketAddr, std::net::SocketAddr);
type PrefixKey = (
    u64,
    std::net::SocketAddr,
    std::net::SocketAddr,
    u8,
    bool,
    Carrier,
);

/// Formatted `"src":…,"dst":…` text per flow direction: the last one used
/// is checked first, then a table (cleared when it holds too many).
#[derive(Debug, Default)]
pub(crate) struct AddrCache {
    /// The start of the last JSON line (frame to version) and what it
    /// was made from.
    prefix_key: Option<PrefixKey>,
    prefix: Vec<u8>,
    last: Option<AddrPair>,
    last_text: Vec<u8>,
    table: foldhash::HashMap<AddrPair, Vec<u8>>,
    /// The JSON from the `type` key to the `len` key (with it), by version
    /// (3.1, 3.1.1, 5.0) and first byte; empty until used.
    fixed: Vec<Vec<u8>>,
}

/// Directions whose text is kept.
const ADDR_CACHE: usize = 4096;

impl AddrCache {
    /// Appends `"src":"…","dst":"…"` (without the leading comma).
    fn push(&mut self, out: &mut Vec<u8>, src: std::net::SocketAddr, dst: std::net::SocketAddr) {
        let key = (src, dst);
        if self.last == Some(key) {
            out.extend_from_slice(&self.last_text);
            return;
        }
        if self.table.len() >= ADDR_CACHE {
            self.table.clear();
        }
        let text = self.table.entry(key).or_insert_with(|| {
            let mut t = Vec::with_capacity(64);
            let _ = write!(t, "\"src\":\"{src}\",\"dst\":\"{dst}\"");
            t
        });
        out.extend_from_slice(text);
        self.last = Some(key);
        self.last_text.clear();
        self.last_text.extend_from_slice(text);
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

fn level(p: &PacketEvent<'_>) -> u8 {
    match p.version {
        mqttkit_codec::ProtocolVersion::V3_1 => 3,
        mqttkit_codec::ProtocolVersion::V3_1_1 => 4,
        mqttkit_codec::ProtocolVersion::V5 => 5,
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
    addrs: &mut AddrCache,
) {
    // Packets of one segment share everything up to the type.
    let key = (
        p.frame,
        p.src,
        p.dst,
        level(p),
        p.version_inferred,
        p.carrier,
    );
    if addrs.prefix_key != Some(key) {
        let mut pre = std::mem::take(&mut addrs.prefix);
        pre.clear();
        pre.extend_from_slice(b"{\"frame\":");
        push_u64(&mut pre, p.frame);
        pre.extend_from_slice(b",\"ts\":");
        push_ts(&mut pre, p.ts);
        pre.push(b',');
        addrs.push(&mut pre, p.src, p.dst);
        pre.extend_from_slice(b",\"version\":");
        push_u64(&mut pre, u64::from(level(p)));
        if p.version_inferred {
            pre.extend_from_slice(b",\"version_inferred\":true");
        }
        if p.carrier == Carrier::WebSocket {
            pre.extend_from_slice(b",\"carrier\":\"websocket\"");
        }
        addrs.prefix = pre;
        addrs.prefix_key = Some(key);
    }
    out.extend_from_slice(&addrs.prefix);
    if addrs.fixed.is_empty() {
        addrs.fixed = vec![Vec::new(); 3 * 256];
    }
    let table = &mut addrs.fixed[(usize::from(level(p)) - 3) * 256..][..256];
    let mut header = false;
    {
        let mut f = JsonFields::new(out, payload);
        dissect_with(
            p.raw,
            p.version,
            payload != Payload::None,
            &mut f,
            |f, b0, len| {
                // `,"type":…,"mqtt":{` and the fixed header's fields up to
                // `"len":`, formatted once per version and first byte.
                let text = &mut table[usize::from(b0)];
                if text.is_empty() {
                    text.extend_from_slice(TYPE_PIECES[usize::from(b0 >> 4)].as_bytes());
                    let mut g = JsonFields::new(text, payload);
                    fixed_fields(b0, p.version, &mut g);
                    g.key("len");
                }
                f.out.extend_from_slice(text);
                // `msgtype` was written: what follows needs a comma.
                f.first[0] = false;
                push_u64(f.out, u64::from(len));
                header = true;
            },
        );
    }
    if !header {
        // A truncated fixed header: no field was written.
        out.extend_from_slice(TYPE_PIECES[(p.raw[0] >> 4) as usize].as_bytes());
    }
    out.extend_from_slice(b"},\"violations\":[");
    for (i, f) in p.findings.iter().enumerate() {
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
        for n in 0..=25 {
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
}
