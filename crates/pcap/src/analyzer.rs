//! Flows: from TCP segments to MQTT packets.

use std::net::SocketAddr;

use mqttkit_codec::{Decoder, Packet, PacketType, ProtocolVersion, Role};

use crate::capture::{CaptureError, Record, Timestamp};
use crate::conv::Conversation;
use crate::net::{tcp_segment, Segment, Skip};
use crate::tcp::{Chunk, Reassembler, TcpNote};
use crate::ws::{classify_request, Upgrade, WsNote, WsStream};
use crate::{Carrier, Config, Finding, Handler, Notice, NoticeKind, PacketEvent};

/// Bytes a direction may buffer while we decide whether a flow is MQTT.
const DETECT_LIMIT: usize = 8 * 1024;
/// Bytes scanned for a packet boundary when resynchronising.
const SYNC_LIMIT: usize = 64 * 1024;
/// Largest packet we wait for at the point where decoding resumes.
const SYNC_WAIT: usize = 1 << 20;
/// Packets that must decode cleanly in a row to call a mid-stream flow MQTT.
const DETECT_RUN: usize = 3;

/// The current record, for events.
#[derive(Debug, Clone, Copy)]
struct Here {
    frame: u64,
    ts: Timestamp,
}

/// A flow's two addresses (lower first), hashed as one or two words
/// instead of field by field (the flow table is looked up once per record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FlowKey(SocketAddr, SocketAddr);

pub(crate) fn addr_word(a: &SocketAddr) -> u64 {
    match a {
        SocketAddr::V4(v) => u64::from(v.ip().to_bits()) << 16 | u64::from(v.port()),
        SocketAddr::V6(v) => {
            let ip = v.ip().to_bits();
            (ip as u64) ^ ((ip >> 64) as u64).rotate_left(17) ^ u64::from(v.port()) << 48 ^ 1
        }
    }
}

impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(addr_word(&self.0));
        h.write_u64(addr_word(&self.1));
    }
}

/// Analysis state over a whole capture.
#[derive(Debug)]
pub struct Analyzer {
    config: Config,
    /// Flows by (client, server) address. foldhash with a per-process
    /// random seed: addresses come from the capture, so a keyed hash, but a
    /// much cheaper one than SipHash for two socket addresses.
    flows: foldhash::HashMap<FlowKey, Flow>,
    here: Here,
    flows_capped: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Still looking (by content, or waiting for the first bytes on an
    /// MQTT port to rule out a WebSocket upgrade).
    Undecided {
        port: bool,
    },
    Mqtt,
    WebSocket,
    Tls,
    Ignored,
}

#[derive(Debug)]
struct Flow {
    tcp: [Reassembler; 2],
    up: Upper,
}

/// Everything above TCP for one flow. Direction 0 is the sender of the
/// first segment seen.
#[derive(Debug)]
struct Upper {
    addrs: [SocketAddr; 2],
    kind: Kind,
    /// Index of the client's direction, when known.
    client: Option<usize>,
    undecided: [Vec<u8>; 2],
    ws: [WsStream; 2],
    ws_dead: [bool; 2],
    mqtt: [MqttDir; 2],
    version: Option<ProtocolVersion>,
    inferred: bool,
    conv: Conversation,
    ended: [bool; 2],
    max_packet: usize,
}

#[derive(Debug, Default)]
struct MqttDir {
    buf: Vec<u8>,
    synced: bool,
    skip: u64,
    /// True once a gap or a mid-stream start has made the start unknown.
    lost: bool,
    /// Sync was lost and not yet regained (for the notice).
    resyncing: bool,
    /// Decide the version now even if the packets read well under both.
    force: bool,
    /// Bytes dropped while looking for a packet boundary.
    skipped: u64,
    packets: u64,
}

impl Analyzer {
    /// A fresh analysis.
    pub fn new(config: Config) -> Self {
        Analyzer {
            config,
            flows: foldhash::HashMap::default(),
            here: Here {
                frame: 0,
                ts: Timestamp::default(),
            },
            flows_capped: false,
        }
    }

    /// Reports a problem with the capture file.
    pub fn capture_error(&mut self, e: CaptureError, h: &mut dyn Handler) {
        h.notice(&Notice {
            frame: e.record,
            kind: NoticeKind::Capture,
            flow: None,
            statement: None,
            message: format!("record {} at offset {}: {}", e.record, e.offset, e.message),
        });
    }

    /// Processes one capture record.
    pub fn record(&mut self, rec: &Record<'_>, h: &mut dyn Handler) {
        self.here = Here {
            frame: rec.number,
            ts: rec.ts,
        };
        h.record(rec.number, rec.data.len());
        match tcp_segment(rec.linktype, rec.data) {
            Ok(seg) => self.segment(&seg, h),
            Err(Skip::NotTcp) => {}
            Err(Skip::UnknownLinktype(l)) => h.notice(&Notice {
                frame: rec.number,
                kind: NoticeKind::Frame,
                flow: None,
                statement: None,
                message: format!("link type {l} is not supported"),
            }),
            Err(Skip::Malformed(m)) => h.notice(&Notice {
                frame: rec.number,
                kind: NoticeKind::Frame,
                flow: None,
                statement: None,
                message: format!("cannot read headers: {m}"),
            }),
        }
    }

    fn segment(&mut self, seg: &Segment<'_>, h: &mut dyn Handler) {
        let key = if seg.src <= seg.dst {
            FlowKey(seg.src, seg.dst)
        } else {
            FlowKey(seg.dst, seg.src)
        };
        let here = self.here;
        let count = self.flows.len();
        let flow = match self.flows.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                if count >= self.config.max_flows {
                    if !self.flows_capped {
                        self.flows_capped = true;
                        h.notice(&Notice {
                            frame: here.frame,
                            kind: NoticeKind::Cap,
                            flow: Some((seg.src, seg.dst)),
                            statement: None,
                            message: format!(
                                "more than {} flows at once: new flows are ignored",
                                self.config.max_flows
                            ),
                        });
                    }
                    return;
                }
                if seg.payload.is_empty() && !seg.syn {
                    // Nothing to learn from a bare ACK of an unknown flow.
                    return;
                }
                v.insert(Flow::new(seg, &self.config, here, h))
            }
        };
        let d = if flow.up.addrs[0] == seg.src { 0 } else { 1 };
        if seg.syn && !seg.ack && flow.up.client.is_none() {
            flow.up.client = Some(d);
        }
        let Flow { tcp, up } = flow;
        if !tcp[d].started() && !seg.syn && !seg.payload.is_empty() {
            // The capture starts inside this direction's stream.
            up.mqtt[d].lost = true;
            up.conv.lost[d] = true;
        }
        if !matches!(up.kind, Kind::Tls | Kind::Ignored) {
            let mut notes = Vec::new();
            tcp[d].segment(
                seg.seq,
                seg.syn,
                seg.payload,
                &mut |c| up.chunk(d, c, here, h),
                &mut |n| notes.push(n),
            );
            for n in notes {
                up.tcp_note(d, n, here, h);
            }
        }
        if seg.ack && !matches!(up.kind, Kind::Tls | Kind::Ignored) {
            let o = 1 - d;
            let mut notes = Vec::new();
            tcp[o].acknowledged(seg.ack_num, &mut |c| up.chunk(o, c, here, h), &mut |n| {
                notes.push(n)
            });
            for n in notes {
                up.tcp_note(o, n, here, h);
            }
        }
        if seg.fin || seg.rst {
            let mut notes = Vec::new();
            tcp[d].finish(&mut |c| up.chunk(d, c, here, h), &mut |n| notes.push(n));
            for n in notes {
                up.tcp_note(d, n, here, h);
            }
            up.end(d, here, h);
            if seg.rst {
                let o = 1 - d;
                tcp[o].finish(&mut |c| up.chunk(o, c, here, h), &mut |_| {});
                up.end(o, here, h);
            }
            if up.ended[0] && up.ended[1] {
                up.close(here, h);
                self.flows.remove(&key);
            }
        }
    }

    /// Ends every flow still open (end of capture).
    pub fn finish(&mut self, h: &mut dyn Handler) {
        let here = self.here;
        let mut flows: Vec<_> = self.flows.drain().collect();
        // Deterministic order: by first frame seen.
        flows.sort_by_key(|(_, f)| f.up.conv.first_frame);
        for (_, mut flow) in flows {
            let Flow { tcp, up } = &mut flow;
            for (d, t) in tcp.iter_mut().enumerate() {
                t.finish(&mut |c| up.chunk(d, c, here, h), &mut |_| {});
                up.end(d, here, h);
            }
            up.close(here, h);
        }
    }
}

impl Flow {
    fn new(seg: &Segment<'_>, config: &Config, here: Here, h: &mut dyn Handler) -> Flow {
        let (sp, dp) = (seg.src.port(), seg.dst.port());
        let kind = if config.tls_ports.contains(&sp) || config.tls_ports.contains(&dp) {
            h.notice(&Notice {
                frame: here.frame,
                kind: NoticeKind::Tls,
                flow: Some((seg.src, seg.dst)),
                statement: None,
                message: "MQTT over TLS: not decoded".into(),
            });
            Kind::Tls
        } else if config.ports.contains(&sp) || config.ports.contains(&dp) {
            Kind::Undecided { port: true }
        } else if config.detect {
            Kind::Undecided { port: false }
        } else {
            Kind::Ignored
        };
        // Client: the side talking to the MQTT port.
        let client = if config.ports.contains(&dp) && !config.ports.contains(&sp) {
            Some(0)
        } else if config.ports.contains(&sp) && !config.ports.contains(&dp) {
            Some(1)
        } else {
            None
        };
        let cap = config.reorder_cap;
        Flow {
            tcp: [Reassembler::new(cap), Reassembler::new(cap)],
            up: Upper {
                addrs: [seg.src, seg.dst],
                kind,
                client,
                undecided: [Vec::new(), Vec::new()],
                ws: [WsStream::new(), WsStream::new()],
                ws_dead: [false, false],
                mqtt: [MqttDir::default(), MqttDir::default()],
                version: None,
                inferred: false,
                conv: Conversation::new(here.frame),
                ended: [false, false],
                max_packet: config.max_packet,
            },
        }
    }
}

impl Upper {
    fn flow(&self, d: usize) -> Option<(SocketAddr, SocketAddr)> {
        Some((self.addrs[d], self.addrs[1 - d]))
    }

    fn notice(&self, d: usize, kind: NoticeKind, here: Here, message: String, h: &mut dyn Handler) {
        h.notice(&Notice {
            frame: here.frame,
            kind,
            flow: self.flow(d),
            statement: None,
            message,
        });
    }

    fn tcp_note(&mut self, d: usize, n: TcpNote, here: Here, h: &mut dyn Handler) {
        if matches!(self.kind, Kind::Ignored | Kind::Tls) {
            return;
        }
        let (kind, msg) = match n {
            TcpNote::DifferingRetransmission { offset } => (
                NoticeKind::Retransmission,
                format!(
                    "retransmitted bytes differ from the first copy at stream offset {offset} (first copy kept)"
                ),
            ),
            TcpNote::CapReached { waiting } => (
                NoticeKind::Cap,
                format!("{waiting} out-of-order bytes waiting: giving up the hole before them"),
            ),
        };
        self.notice(d, kind, here, msg, h);
    }

    fn chunk(&mut self, d: usize, c: Chunk<'_>, here: Here, h: &mut dyn Handler) {
        match c {
            Chunk::Gap(n) => {
                match self.kind {
                    Kind::Undecided { .. } => self.undecided[d].clear(),
                    Kind::Mqtt | Kind::WebSocket => {
                        self.notice(
                            d,
                            NoticeKind::Gap,
                            here,
                            format!("{n} bytes never captured: resynchronising at the next packet boundary"),
                            h,
                        );
                        let m = &mut self.mqtt[d];
                        m.buf.clear();
                        m.skip = 0;
                        m.synced = false;
                        m.lost = true;
                        m.resyncing = true;
                        self.conv.lost[d] = true;
                        if self.kind == Kind::WebSocket {
                            // Frame boundaries are lost with the bytes.
                            self.notice(
                                d,
                                NoticeKind::WebSocket,
                                here,
                                "WebSocket framing lost in the gap: this direction is no longer decoded".into(),
                                h,
                            );
                            self.ws[d] = WsStream::new();
                            self.ws_dead[d] = true;
                        }
                    }
                    _ => {}
                }
            }
            Chunk::Data(bytes) => match self.kind {
                Kind::Undecided { port } => {
                    let room = DETECT_LIMIT.saturating_sub(self.undecided[d].len());
                    self.undecided[d].extend_from_slice(&bytes[..bytes.len().min(room)]);
                    self.detect(d, port, here, h);
                }
                Kind::Mqtt => self.mqtt_bytes(d, bytes, Carrier::Tcp, here, h),
                Kind::WebSocket => self.ws_bytes(d, bytes, here, h),
                Kind::Tls | Kind::Ignored => {}
            },
        }
    }

    fn ws_bytes(&mut self, d: usize, bytes: &[u8], here: Here, h: &mut dyn Handler) {
        if self.ws_dead[d] {
            return;
        }
        let mut ws = std::mem::take(&mut self.ws[d]);
        let mut notes = Vec::new();
        ws.feed(
            bytes,
            &mut |m| self.mqtt_bytes(d, m, Carrier::WebSocket, here, h),
            &mut |n| notes.push(n),
        );
        self.ws[d] = ws;
        for n in notes {
            let msg = match n {
                WsNote::HandshakeFailed(s) => format!("WebSocket upgrade failed: {s}"),
                WsNote::BadFrame(s) => format!("WebSocket frame: {s}"),
                WsNote::Closed => continue,
            };
            self.notice(d, NoticeKind::WebSocket, here, msg, h);
        }
    }

    /// Decides what a flow carries from its first bytes.
    fn detect(&mut self, d: usize, port: bool, here: Here, h: &mut dyn Handler) {
        let buf = &self.undecided[d];
        if buf.is_empty() {
            return;
        }
        let decided = if buf.starts_with(b"GET ") {
            match classify_request(buf) {
                Upgrade::Mqtt => Some((
                    Kind::WebSocket,
                    Some(d),
                    "WebSocket upgrade with subprotocol mqtt",
                )),
                Upgrade::Other => Some((Kind::Ignored, None, "")),
                Upgrade::Incomplete => None,
            }
        } else if buf.starts_with(b"HTTP/1.") {
            // The server's answer: wait for the request.
            if buf.len() >= DETECT_LIMIT {
                Some((Kind::Ignored, None, ""))
            } else {
                None
            }
        } else if port {
            Some((Kind::Mqtt, None, "MQTT port"))
        } else {
            match looks_like_mqtt(buf) {
                Looks::Connect => Some((Kind::Mqtt, Some(d), "CONNECT at stream start")),
                Looks::Run => Some((Kind::Mqtt, None, "a run of valid MQTT packets")),
                Looks::No => Some((Kind::Ignored, None, "")),
                Looks::Maybe if buf.len() >= DETECT_LIMIT => Some((Kind::Ignored, None, "")),
                Looks::Maybe => None,
            }
        };
        let Some((kind, client, how)) = decided else {
            return;
        };
        if kind == Kind::Ignored {
            // The other direction may still show it is MQTT on an MQTT port.
            self.kind = Kind::Ignored;
            self.undecided = [Vec::new(), Vec::new()];
            return;
        }
        if client.is_some() {
            self.client = client;
        }
        self.kind = kind;
        if !port || kind == Kind::WebSocket {
            self.notice(
                d,
                NoticeKind::Detected,
                here,
                format!(
                    "{} found by content: {how}",
                    if kind == Kind::WebSocket {
                        "MQTT over WebSocket"
                    } else {
                        "MQTT"
                    }
                ),
                h,
            );
        }
        // Replay what was held back, this direction last (it triggered).
        for dir in [1 - d, d] {
            let held = std::mem::take(&mut self.undecided[dir]);
            if !held.is_empty() {
                self.chunk(dir, Chunk::Data(&held), here, h);
            }
        }
    }

    fn role(&self, d: usize) -> Option<Role> {
        self.client
            .map(|c| if c == d { Role::Client } else { Role::Server })
    }

    fn mqtt_bytes(
        &mut self,
        d: usize,
        bytes: &[u8],
        carrier: Carrier,
        here: Here,
        h: &mut dyn Handler,
    ) {
        let mut bytes = bytes;
        {
            let m = &mut self.mqtt[d];
            if m.packets == 0 && !m.lost && m.buf.is_empty() && !m.synced {
                // First bytes of this direction: in sync only when the TCP
                // stream was seen from its start.
                m.synced = true;
            }
            if m.skip > 0 {
                let n = m.skip.min(bytes.len() as u64) as usize;
                m.skip -= n as u64;
                bytes = &bytes[n..];
            }
        }
        if bytes.is_empty() {
            return;
        }
        let mut buf = std::mem::take(&mut self.mqtt[d].buf);
        if buf.is_empty() {
            let used = self.decode_run(d, bytes, carrier, here, h);
            let m = &mut self.mqtt[d];
            let rest = &bytes[used.min(bytes.len())..];
            if m.skip > 0 {
                // A packet too large to hold: skip what we have of it.
                let n = m.skip.min(rest.len() as u64) as usize;
                m.skip -= n as u64;
                buf.extend_from_slice(&rest[n..]);
            } else {
                buf.extend_from_slice(rest);
            }
        } else {
            buf.extend_from_slice(bytes);
            let used = self.decode_run(d, &buf, carrier, here, h);
            buf.drain(..used.min(buf.len()));
            let m = &mut self.mqtt[d];
            if m.skip > 0 {
                let n = m.skip.min(buf.len() as u64) as usize;
                m.skip -= n as u64;
                buf.drain(..n);
            }
        }
        self.mqtt[d].buf = buf;
    }

    /// Decodes every whole packet at the start of `s`; returns the bytes
    /// used (packets plus bytes skipped while resynchronising).
    fn decode_run(
        &mut self,
        d: usize,
        s: &[u8],
        carrier: Carrier,
        here: Here,
        h: &mut dyn Handler,
    ) -> usize {
        let mut pos = 0usize;
        loop {
            let rest = &s[pos..];
            if rest.is_empty() {
                return pos;
            }
            if !self.mqtt[d].synced {
                match self.sync(rest) {
                    Sync::At(off) => {
                        pos += off;
                        let m = &mut self.mqtt[d];
                        m.synced = true;
                        let skipped = m.skipped + off as u64;
                        m.skipped = 0;
                        if m.resyncing || skipped > 0 {
                            m.resyncing = false;
                            self.notice(
                                d,
                                NoticeKind::Resync,
                                here,
                                format!("decoding resumes at a packet boundary after skipping {skipped} bytes"),
                                h,
                            );
                        }
                        continue;
                    }
                    Sync::NeedMore(skip) => {
                        pos += skip;
                        self.mqtt[d].skipped += skip as u64;
                        if rest.len() - skip >= SYNC_LIMIT {
                            // Stuck on something that never completes.
                            pos += 1;
                            self.mqtt[d].skipped += 1;
                            continue;
                        }
                        return pos;
                    }
                }
            }
            let total = match frame_len(rest) {
                Frame::Incomplete => return pos,
                Frame::Bad => {
                    let m = &mut self.mqtt[d];
                    m.synced = false;
                    m.resyncing = true;
                    m.lost = true;
                    self.conv.lost[d] = true;
                    self.notice(
                        d,
                        NoticeKind::Resync,
                        here,
                        "malformed Remaining Length: sync lost".into(),
                        h,
                    );
                    continue;
                }
                Frame::Len(n) => n,
            };
            if total > self.max_packet {
                self.notice(
                    d,
                    NoticeKind::Cap,
                    here,
                    format!(
                        "packet of {total} bytes exceeds the {}-byte buffer cap: skipped",
                        self.max_packet
                    ),
                    h,
                );
                let have = rest.len().min(total);
                self.mqtt[d].skip = (total - have) as u64;
                pos += have;
                continue;
            }
            if rest.len() < total {
                return pos;
            }
            if self.version.is_none()
                && PacketType::from_nibble(rest[0] >> 4) != Some(PacketType::Connect)
            {
                let force = self.mqtt[d].force || rest.len() >= SYNC_LIMIT;
                if !self.infer_version(d, rest, force, here, h) {
                    if !version_neutral(&rest[..total]) {
                        return pos;
                    }
                    // Reads the same under every version: no need to wait.
                    self.inferred = true;
                    self.emit(d, &rest[..total], carrier, here, h);
                    pos += total;
                    continue;
                }
                let before = self.version;
                self.emit(d, &rest[..total], carrier, here, h);
                pos += total;
                if before.is_some() {
                    self.kick(1 - d, here, h);
                }
                continue;
            }
            let had = self.version.is_some();
            self.emit(d, &rest[..total], carrier, here, h);
            pos += total;
            if !had && self.version.is_some() {
                self.kick(1 - d, here, h);
            }
        }
    }

    fn decoder(&self, d: usize, version: ProtocolVersion) -> Decoder {
        let dec = Decoder::new(version);
        match self.role(d) {
            Some(r) => dec.sent_by(r),
            None => dec,
        }
    }

    fn sync(&self, rest: &[u8]) -> Sync {
        // Where the data starts (after a gap, at the start of a capture) is
        // the likeliest boundary: wait there for a plausible packet.
        // Otherwise take the first offset where packets decode cleanly.
        let limit = rest.len().min(SYNC_LIMIT);
        let versions: &[ProtocolVersion] = match self.version {
            Some(v) => &[v][..],
            None => &[ProtocolVersion::V3_1_1, ProtocolVersion::V5][..],
        };
        let mut wait = None;
        for off in 0..limit {
            for &v in versions {
                match run_at(&rest[off..], Decoder::new(v)) {
                    Run::Good(_) => return Sync::At(off),
                    Run::NeedMore(total) => {
                        if off == 0 && total <= SYNC_WAIT.min(self.max_packet) {
                            return Sync::NeedMore(0);
                        }
                        wait.get_or_insert(off);
                    }
                    Run::Bad => {}
                }
            }
        }
        Sync::NeedMore(wait.unwrap_or(limit))
    }

    fn emit(&mut self, d: usize, raw: &[u8], carrier: Carrier, here: Here, h: &mut dyn Handler) {
        let nibble = raw[0] >> 4;
        let ptype = PacketType::from_nibble(nibble);
        let version = self.version.unwrap_or(ProtocolVersion::V3_1_1);
        let mut findings = Vec::new();
        let dec = self.decoder(d, version);
        // The strict and lenient decoders are one parser: a packet the strict
        // one accepts has no violations, and the strict path is much cheaper.
        let strict = dec.decode(raw);
        // Borrowed where it lies: moving the (large) packet out of the
        // result is a copy per packet.
        let lenient;
        let packet = match &strict {
            Ok((p, _)) => Some(p),
            Err(_) => {
                lenient = self.decode_violations(dec, raw, &mut findings);
                lenient.as_ref()
            }
        };
        if let Some(Packet::Connect(c)) = packet {
            if self.role(d) != Some(Role::Server) {
                self.version = Some(c.get().protocol);
                self.inferred = false;
                if self.client.is_none() {
                    self.client = Some(d);
                }
            }
        }
        if packet.is_none()
            && ptype == Some(PacketType::Connect)
            && self.role(d) != Some(Role::Server)
        {
            if let Some(v) = connect_level(raw) {
                self.version = Some(v);
                self.inferred = false;
            }
        }
        let role = self.role(d);
        let version = match (packet, ptype) {
            (Some(p), _) => p.connect_version().unwrap_or(version),
            (None, Some(PacketType::Connect)) => connect_level(raw).unwrap_or(version),
            _ => version,
        };
        self.conv.check(
            d,
            role,
            version,
            self.mqtt[d].lost,
            raw,
            packet,
            here.frame,
            &mut findings,
        );
        self.mqtt[d].packets += 1;
        h.packet(&PacketEvent {
            frame: here.frame,
            ts: here.ts,
            src: self.addrs[d],
            dst: self.addrs[1 - d],
            version,
            version_inferred: self.inferred,
            from: role,
            carrier,
            raw,
            packet_type: ptype,
            packet,
            findings: &findings,
        });
    }

    /// The lenient decode of a packet the strict decoder refused: the packet
    /// (when it can be laid out at all) and every violation.
    fn decode_violations<'p>(
        &self,
        dec: Decoder,
        raw: &'p [u8],
        findings: &mut Vec<Finding>,
    ) -> Option<Packet<'p>> {
        match dec.decode_lenient(raw) {
            Ok((p, _, violations)) => {
                for v in violations.iter() {
                    findings.push(Finding {
                        statement: v.statement(),
                        message: v.message().into(),
                    });
                }
                if violations.total() > violations.len() {
                    findings.push(Finding {
                        statement: "",
                        message: format!(
                            "{} more violations not listed",
                            violations.total() - violations.len()
                        )
                        .into(),
                    });
                }
                Some(p)
            }
            Err(e) => {
                findings.push(Finding {
                    statement: e.statement().unwrap_or(""),
                    message: e.to_string().into(),
                });
                None
            }
        }
    }

    /// No CONNECT seen: pick the version under which the buffered packets
    /// of both directions decode with fewer problems. While both read
    /// equally well (a 5.0 PUBLISH with no properties is also a valid 3.1.1
    /// PUBLISH) the decision waits, unless `force`d (then 3.1.1).
    fn infer_version(
        &mut self,
        d: usize,
        rest: &[u8],
        force: bool,
        here: Here,
        h: &mut dyn Handler,
    ) -> bool {
        let mut scores = [0usize; 2];
        for (k, v) in [ProtocolVersion::V3_1_1, ProtocolVersion::V5]
            .into_iter()
            .enumerate()
        {
            scores[k] = score_packets(rest, self.decoder(d, v))
                + score_packets(&self.mqtt[1 - d].buf, self.decoder(1 - d, v));
        }
        let v = match scores[0].cmp(&scores[1]) {
            std::cmp::Ordering::Less => ProtocolVersion::V3_1_1,
            std::cmp::Ordering::Greater => ProtocolVersion::V5,
            std::cmp::Ordering::Equal if force => ProtocolVersion::V3_1_1,
            std::cmp::Ordering::Equal => return false,
        };
        self.version = Some(v);
        self.inferred = true;
        self.notice(
            d,
            NoticeKind::VersionInferred,
            here,
            format!(
                "no CONNECT seen: version {} inferred from the packets",
                version_name(v)
            ),
            h,
        );
        true
    }

    /// Decodes what a direction holds (after the version became known).
    fn kick(&mut self, d: usize, here: Here, h: &mut dyn Handler) {
        if self.mqtt[d].buf.is_empty() {
            return;
        }
        let carrier = if self.kind == Kind::WebSocket {
            Carrier::WebSocket
        } else {
            Carrier::Tcp
        };
        let mut buf = std::mem::take(&mut self.mqtt[d].buf);
        let used = self.decode_run(d, &buf, carrier, here, h);
        buf.drain(..used.min(buf.len()));
        // Anything that arrived for this direction meanwhile goes after.
        let newer = std::mem::take(&mut self.mqtt[d].buf);
        buf.extend_from_slice(&newer);
        self.mqtt[d].buf = buf;
    }

    fn end(&mut self, d: usize, here: Here, h: &mut dyn Handler) {
        if self.ended[d] {
            return;
        }
        self.ended[d] = true;
        if let Kind::Undecided { port } = self.kind {
            // Decide with what we have.
            if port && !self.undecided[d].is_empty() && !self.undecided[d].starts_with(b"GET ") {
                self.kind = Kind::Mqtt;
                for dir in [1 - d, d] {
                    let held = std::mem::take(&mut self.undecided[dir]);
                    if !held.is_empty() {
                        self.chunk(dir, Chunk::Data(&held), here, h);
                    }
                }
            }
        }
        if self.version.is_none() && matches!(self.kind, Kind::Mqtt | Kind::WebSocket) {
            // The stream ends: packets held back while the version was
            // open are decoded now.
            self.mqtt[d].force = true;
            self.kick(d, here, h);
            self.kick(1 - d, here, h);
        }
        let left = self.mqtt[d].buf.len();
        if left > 0 && matches!(self.kind, Kind::Mqtt | Kind::WebSocket) {
            self.notice(
                d,
                NoticeKind::Truncated,
                here,
                format!("stream ended inside a packet: {left} bytes left undecoded"),
                h,
            );
            self.mqtt[d].buf.clear();
        }
    }

    fn close(&mut self, here: Here, h: &mut dyn Handler) {
        if !matches!(self.kind, Kind::Mqtt | Kind::WebSocket) {
            return;
        }
        let version = self.version.unwrap_or(ProtocolVersion::V3_1_1);
        for (d, statement, message) in self.conv.unfinished(version) {
            h.notice(&Notice {
                frame: here.frame,
                kind: NoticeKind::Conversation,
                flow: self.flow(d),
                statement: Some(statement),
                message,
            });
        }
    }
}

/// Short version name.
pub fn version_name(v: ProtocolVersion) -> &'static str {
    match v {
        ProtocolVersion::V3_1 => "3.1",
        ProtocolVersion::V3_1_1 => "3.1.1",
        ProtocolVersion::V5 => "5.0",
    }
}

enum Sync {
    At(usize),
    /// No packet boundary found yet; the first `.0` bytes cannot start one.
    NeedMore(usize),
}

enum Frame {
    Incomplete,
    Bad,
    Len(usize),
}

/// Total length of the packet at the start of `b` from its fixed header.
fn frame_len(b: &[u8]) -> Frame {
    let mut len = 0usize;
    for k in 0..4 {
        let Some(&byte) = b.get(1 + k) else {
            return Frame::Incomplete;
        };
        len |= usize::from(byte & 0x7F) << (7 * k);
        if byte & 0x80 == 0 {
            return Frame::Len(1 + k + 1 + len);
        }
    }
    Frame::Bad
}

enum Run {
    /// `DETECT_RUN` packets decoded cleanly, or at least one and the data
    /// ended exactly after the last.
    Good(usize),
    /// The packets so far are clean but the data ends inside one; `.0` is
    /// the total length the first packet declares.
    NeedMore(usize),
    Bad,
}

/// Whether the fixed header at the start of `b` (at least one byte) is
/// possible: a defined type with the flags that type requires.
fn header_ok(b0: u8) -> bool {
    match PacketType::from_nibble(b0 >> 4) {
        None => false,
        Some(PacketType::Publish) => (b0 >> 1) & 3 != 3,
        Some(t) => b0 & 0x0F == t.required_flags(),
    }
}

/// Decodes packets from the start of `b` until the end, a failure or
/// `DETECT_RUN` packets.
fn run_at(b: &[u8], dec: Decoder) -> Run {
    let mut pos = 0;
    let mut n = 0;
    let mut first_len = 0;
    while n < DETECT_RUN && pos < b.len() {
        let rest = &b[pos..];
        if !header_ok(rest[0]) {
            return Run::Bad;
        }
        match frame_len(rest) {
            Frame::Bad => return Run::Bad,
            Frame::Incomplete => return Run::NeedMore(if n == 0 { usize::MAX } else { first_len }),
            Frame::Len(t) if t > rest.len() => {
                return Run::NeedMore(if n == 0 { t } else { first_len });
            }
            Frame::Len(t) => {
                if n == 0 {
                    first_len = t;
                }
            }
        }
        match dec.decode_lenient(rest) {
            Ok((_, used, v)) if v.is_empty() => {
                pos += used;
                n += 1;
            }
            _ => return Run::Bad,
        }
    }
    Run::Good(n)
}

enum Looks {
    Connect,
    Run,
    Maybe,
    No,
}

fn looks_like_mqtt(b: &[u8]) -> Looks {
    if b[0] == 0x10 {
        // CONNECT: protocol name after the fixed header.
        if let Frame::Len(total) = frame_len(b) {
            let hdr = total - remaining(b);
            let name = b.get(hdr + 2..);
            if let Some(name) = name {
                let ok = name.starts_with(b"MQTT") || name.starts_with(b"MQIsdp");
                let could = b"MQTT".starts_with(&name[..name.len().min(4)])
                    || b"MQIsdp".starts_with(&name[..name.len().min(6)]);
                if ok {
                    return if b.len() >= total {
                        match Decoder::new(ProtocolVersion::V3_1_1).decode_lenient(b) {
                            Ok(_) => Looks::Connect,
                            Err(_) => Looks::No,
                        }
                    } else if total <= DETECT_LIMIT {
                        Looks::Maybe
                    } else {
                        Looks::Connect
                    };
                }
                if !could {
                    return Looks::No;
                }
            }
            return Looks::Maybe;
        }
    }
    for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        match run_at(b, Decoder::new(v)) {
            Run::Good(n) if n >= DETECT_RUN => return Looks::Run,
            Run::Good(_) | Run::NeedMore(_) => return Looks::Maybe,
            Run::Bad => {}
        }
    }
    Looks::No
}

/// The version a CONNECT announces by its protocol level byte, read from
/// the raw bytes (for a CONNECT the codec could not decode).
fn connect_level(raw: &[u8]) -> Option<ProtocolVersion> {
    let Frame::Len(total) = frame_len(raw) else {
        return None;
    };
    let hdr = total - remaining(raw);
    let name_len = usize::from(u16::from_be_bytes([*raw.get(hdr)?, *raw.get(hdr + 1)?]));
    match raw.get(hdr + 2 + name_len)? {
        3 => Some(ProtocolVersion::V3_1),
        4 => Some(ProtocolVersion::V3_1_1),
        5 => Some(ProtocolVersion::V5),
        _ => None,
    }
}

/// Packets whose bytes mean the same under 3.1.1 and 5.0: PINGREQ,
/// PINGRESP, an empty DISCONNECT, and acknowledgements with only a Packet
/// Identifier.
fn version_neutral(raw: &[u8]) -> bool {
    matches!((raw[0] >> 4, raw.len()), (12..=14, 2) | (4..=7, 4))
}

/// Remaining Length value of a packet whose header is complete.
fn remaining(b: &[u8]) -> usize {
    let mut len = 0usize;
    for k in 0..4 {
        let byte = b.get(1 + k).copied().unwrap_or(0);
        len |= usize::from(byte & 0x7F) << (7 * k);
        if byte & 0x80 == 0 {
            break;
        }
    }
    len
}

/// Problems in the whole packets of `b` (at most 16) under `dec`.
fn score_packets(b: &[u8], dec: Decoder) -> usize {
    let mut pos = 0;
    let mut score = 0;
    for _ in 0..16 {
        let rest = &b[pos.min(b.len())..];
        let Frame::Len(t) = frame_len(rest) else {
            break;
        };
        if t > rest.len() {
            break;
        }
        match dec.decode_lenient(&rest[..t]) {
            Ok((_, _, v)) => score += v.total(),
            Err(_) => score += 10,
        }
        pos += t;
    }
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_len_reads_split_and_bad_lengths() {
        assert!(matches!(frame_len(&[0x30]), Frame::Incomplete));
        assert!(matches!(frame_len(&[0x30, 0x80]), Frame::Incomplete));
        assert!(matches!(frame_len(&[0x30, 0x80, 0x01]), Frame::Len(131)));
        assert!(matches!(
            frame_len(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF]),
            Frame::Bad
        ));
    }

    #[test]
    fn content_detection() {
        let connect = [
            0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01,
            b'c',
        ];
        assert!(matches!(looks_like_mqtt(&connect), Looks::Connect));
        assert!(matches!(looks_like_mqtt(&connect[..6]), Looks::Maybe));
        let pings = [0xc0, 0x00, 0xc0, 0x00, 0xc0, 0x00];
        assert!(matches!(looks_like_mqtt(&pings), Looks::Run));
        // Type 0 is reserved: not MQTT.
        assert!(matches!(looks_like_mqtt(b"\x00\x01SSH"), Looks::No));
        // 'S' reads as PUBREC with flags 3: not MQTT.
        assert!(matches!(looks_like_mqtt(b"SSH-2.0-OpenSSH"), Looks::No));
        // A PUBREC header announcing more bytes than there are: undecided.
        assert!(matches!(looks_like_mqtt(b"\x50\x53"), Looks::Maybe));
    }
}
