//! The body of the `differential` fuzz target in `fuzz/`: one client script
//! run against the model directly (`mqttkit_model::Broker`, in memory)
//! and against the reference broker (the same model behind this crate's
//! I/O layer, over real loopback sockets); every connection must receive
//! the same packets, byte for byte, and be closed at the same point.
//! `cargo test` replays the kept corpus through [`differential_target`]
//! (tests/fuzz_corpus.rs).
//!
//! # What may differ (and how the script avoids it)
//!
//! - **Interleaving across connections.** The sockets deliver in real
//!   time; only the sequence each connection receives is compared. Every
//!   step ends with a PINGREQ from the acting client (arbitrary bytes are
//!   framed as one packet, so it is always read as a packet), and the
//!   sockets are read until each connection has received what the model
//!   sent it in that step, PINGRESP included (or up to [`STEP_TIMEOUT`]):
//!   the broker has then handled the step before the next one starts,
//!   even a QoS 0 PUBLISH that nothing answers.
//! - **The clock.** The model's clock stands still while the broker's
//!   runs. Scripts never depend on time: Keep Alive 0, Session Expiry 0 or
//!   "never", no Will Delay, no Message Expiry, and an exec lasts far less
//!   than the 10 s CONNECT timeout.
//! - **Closing.** A client never just drops its socket (the broker would
//!   learn of it at a moment the script does not control); it sends
//!   DISCONNECT or a malformed packet, so that the broker core decides the
//!   close itself, in order. The model side then reports the lost
//!   connection at once, as the I/O layer does after a close.
//! - **Chunking.** The broker's reads split the bytes anywhere; the model
//!   gets each step's bytes whole (the stream decoder is chunking
//!   independent, which the `stream` target checks).
//!
//! Nothing here is meant for production use.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use mqttkit_codec::{
    Connect, DecodeError, Decoder, Disconnect, DisconnectReasonCode, Packet, ProtocolVersion,
    PubAck, PubComp, PubRec, PubRel, Publish, QoS, Subscribe, Subscription, Unsubscribe, Will,
    WillProperties,
};
use mqttkit_model::{Broker, Config, ConnId, Output};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Builder;

/// Clients in one script at most.
pub const MAX_CLIENTS: usize = 3;
/// Steps in one script at most.
pub const MAX_STEPS: usize = 24;
/// How long one step may wait for the broker's packets.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(2);

const FILTERS: [&str; 6] = ["a", "a/b", "a/+", "#", "$share/g/a/b", "b"];
const TOPICS: [&str; 3] = ["a", "a/b", "b"];

fn qos(b: u8) -> QoS {
    match b % 3 {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// Reads choices from the fuzz input (zeros once it runs out).
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
}

/// One client as the script knows it (shared by both sides: what it
/// sends next is computed from what the model sent it).
#[derive(Debug)]
struct Client {
    version: ProtocolVersion,
    /// Connection ids while connected: (model, socket index).
    conn: Option<ConnId>,
    next_id: u16,
    /// Acknowledgements owed for packets received, in order.
    acks: Vec<Vec<u8>>,
}

/// The model side: the broker core in memory.
struct ModelSide {
    b: Broker,
    /// Bytes sent per model connection in the current step.
    got: HashMap<ConnId, Vec<u8>>,
    closed: Vec<ConnId>,
    open: Vec<ConnId>,
}

impl ModelSide {
    fn pump(&mut self) {
        loop {
            let mut closed = Vec::new();
            while let Some(o) = self.b.poll_output() {
                match o {
                    Output::Send { conn, bytes } => {
                        if self.open.contains(&conn) {
                            self.got.entry(conn).or_default().extend_from_slice(&bytes);
                        }
                    }
                    Output::Close { conn } => closed.push(conn),
                    Output::Dropped { .. } => {}
                }
            }
            if closed.is_empty() {
                return;
            }
            // As the I/O layer does: report the close to the core at once.
            for conn in closed {
                if let Some(i) = self.open.iter().position(|&c| c == conn) {
                    self.open.remove(i);
                    self.closed.push(conn);
                    self.b.connection_lost(conn, 0);
                }
            }
        }
    }
}

/// Splits `bytes` into whole packets (the broker only sends valid ones).
fn packets(bytes: &[u8], v: ProtocolVersion) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match Decoder::new(v).decode(&bytes[at..]) {
            Ok((_, n)) => {
                out.push(bytes[at..at + n].to_vec());
                at += n;
            }
            Err(e) => panic!("the model sent bytes that do not decode: {e}: {bytes:02x?}"),
        }
    }
    out
}

/// Runs one script on both sides; panics on the first difference.
pub fn differential_target(data: &[u8]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(run(data));
}

/// A socket-side connection: the stream and bytes read but not yet
/// matched.
struct Sock {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

async fn run(data: &[u8]) {
    let mut input = Input(data);
    let head = input.byte();
    let n = 1 + usize::from(head % MAX_CLIENTS as u8);
    let mut clients: Vec<Client> = (0..n)
        .map(|i| Client {
            version: if head >> (2 + i) & 1 == 1 {
                ProtocolVersion::V5
            } else {
                ProtocolVersion::V3_1_1
            },
            conn: None,
            next_id: 0,
            acks: Vec::new(),
        })
        .collect();

    let broker = Builder::default()
        .listen_tcp(SocketAddr::from(([127, 0, 0, 1], 0)))
        .start(Broker::new(Config::default()))
        .await
        .expect("start the reference broker on loopback");
    let addr = broker.tcp_addr();
    let mut model = ModelSide {
        b: Broker::new(Config::default()),
        got: HashMap::new(),
        closed: Vec::new(),
        open: Vec::new(),
    };
    let mut socks: HashMap<ConnId, Sock> = HashMap::new();
    let mut next_conn: ConnId = 0;
    let mut trace: Vec<String> = Vec::new();

    let mut step = 0;
    while step < MAX_STEPS {
        let last = input.0.is_empty();
        let op = if last { 0xff } else { input.byte() };
        step += 1;
        // The last step pings every connected client (extra packets the
        // broker sent late would show up before the PINGRESP).
        let (c, kind) = if last {
            (usize::MAX, 0xff)
        } else {
            (usize::from(op >> 4) % n, op & 15)
        };
        let mut sends: Vec<(usize, Vec<u8>)> = Vec::new();
        if c == usize::MAX {
            for (i, cl) in clients.iter().enumerate() {
                if cl.conn.is_some() {
                    sends.push((i, vec![0xc0, 0]));
                }
            }
        } else {
            let cl = &mut clients[c];
            let v = cl.version;
            let mut buf = BytesMut::new();
            let mut enc = |p: Packet<'_>| {
                p.encode(v, &mut buf).expect("script packets encode");
            };
            match kind {
                0 | 1 => {
                    let opts = input.byte();
                    let id = format!("d{c}");
                    let mut p = Connect::new(v, &id);
                    p.clean_start = opts & 1 == 1;
                    p.keep_alive = 0;
                    if v.is_v5() && opts & 2 == 2 {
                        p.properties.session_expiry_interval = Some(u32::MAX);
                    }
                    if opts & 4 == 4 {
                        p.will = Some(Will {
                            qos: qos(opts >> 5),
                            retain: false,
                            properties: WillProperties::default(),
                            topic: TOPICS[usize::from(opts >> 3) % 3],
                            payload: b"will",
                        });
                    }
                    enc(Packet::Connect((&p).into()));
                    if cl.conn.is_none() {
                        next_conn += 1;
                        cl.conn = Some(next_conn);
                        cl.acks.clear();
                        model.open.push(next_conn);
                        model.b.connection_opened(next_conn, 0);
                        let stream = TcpStream::connect(addr).await.expect("connect to loopback");
                        socks.insert(
                            next_conn,
                            Sock {
                                stream,
                                buf: Vec::new(),
                                eof: false,
                            },
                        );
                    }
                }
                2 | 3 => {
                    let o = input.byte();
                    cl.next_id = cl.next_id % 60_000 + 1;
                    let subs = [Subscription::new(
                        FILTERS[usize::from(o) % FILTERS.len()],
                        qos(o >> 3),
                    )];
                    enc(Packet::Subscribe(Subscribe::new(cl.next_id, &subs)));
                }
                4 => {
                    let o = input.byte();
                    cl.next_id = cl.next_id % 60_000 + 1;
                    let f = [FILTERS[usize::from(o) % FILTERS.len()]];
                    enc(Packet::Unsubscribe(Unsubscribe::new(cl.next_id, &f)));
                }
                5..=7 | 14 | 15 => {
                    let o = input.byte();
                    let payload = [b'p', input.byte()];
                    let mut p = Publish::new(TOPICS[usize::from(o) % 3], &payload);
                    p.qos = qos(o >> 2);
                    p.retain = o & 0x80 != 0;
                    if p.qos != QoS::AtMostOnce {
                        cl.next_id = cl.next_id % 60_000 + 1;
                        p.packet_id = Some(cl.next_id);
                    }
                    enc(Packet::Publish(p));
                }
                8 | 9 => {
                    for a in cl.acks.drain(..) {
                        buf.extend_from_slice(&a);
                    }
                }
                10 => enc(Packet::PingReq),
                11 => {
                    let code = if v.is_v5() && input.byte() & 1 == 1 {
                        DisconnectReasonCode::DisconnectWithWillMessage
                    } else {
                        DisconnectReasonCode::NormalDisconnection
                    };
                    enc(Packet::Disconnect(Disconnect::new(code)));
                }
                12 => buf.extend_from_slice(&[0x00, 0x00]),
                _ => {
                    // Arbitrary bytes framed as one packet (any first byte,
                    // a one-byte Remaining Length), so the stream stays at
                    // a packet boundary and the PINGREQ below is read as
                    // a packet.
                    let first = input.byte();
                    let len = input.byte() % 7;
                    buf.extend_from_slice(&[first, len]);
                    for _ in 0..len {
                        buf.extend_from_slice(&[input.byte()]);
                    }
                }
            }
            if clients[c].conn.is_some() && !buf.is_empty() {
                // The barrier: a step ends with PINGREQ, so waiting for
                // its PINGRESP (or the close) means the broker has handled
                // the step, even when nothing else answers it (QoS 0).
                buf.extend_from_slice(&[0xc0, 0x00]);
                sends.push((c, buf.to_vec()));
            }
        }
        if sends.is_empty() {
            if last {
                break;
            }
            continue;
        }

        // Model side.
        model.got.clear();
        model.closed.clear();
        for (i, bytes) in &sends {
            let conn = clients[*i].conn.expect("connected");
            model.b.bytes_received(conn, bytes, 0);
            model.pump();
        }
        trace.push(format!("step {step}: {sends:02x?}"));

        // Socket side: the same bytes, then read what the model predicts.
        for (i, bytes) in &sends {
            let conn = clients[*i].conn.expect("connected");
            let s = socks.get_mut(&conn).expect("socket");
            // A write may fail once the broker closed; the reads below
            // then say whether that was expected.
            let _ = s.stream.write_all(bytes).await;
        }
        let mut conns: Vec<ConnId> = socks.keys().copied().collect();
        conns.sort();
        for conn in conns {
            let i = clients
                .iter()
                .position(|cl| cl.conn == Some(conn))
                .expect("a socket belongs to a client");
            let v = clients[i].version;
            let want = packets(model.got.get(&conn).map_or(&[][..], |b| &b[..]), v);
            let closes = model.closed.contains(&conn);
            let s = socks.get_mut(&conn).expect("socket");
            let got = read_packets(s, v, want.len(), closes).await;
            if got != want || (closes && !s.eof) {
                panic!(
                    "client {i} ({v}) differs at step {step}:\n  model:  {want:02x?}{}\n  broker: {got:02x?}{}\nscript:\n{}",
                    if closes { " then close" } else { "" },
                    if s.eof { " then close" } else { "" },
                    trace.join("\n")
                );
            }
            // Acknowledge what arrived, later, when the script says so.
            for p in &want {
                let ack = match Decoder::new(v).decode(p) {
                    Ok((Packet::Publish(x), _)) => match (x.qos, x.packet_id) {
                        (QoS::AtLeastOnce, Some(id)) => Some(Packet::PubAck(PubAck::new(id))),
                        (QoS::ExactlyOnce, Some(id)) => Some(Packet::PubRec(PubRec::new(id))),
                        _ => None,
                    },
                    Ok((Packet::PubRel(r), _)) => Some(Packet::PubComp(PubComp::new(r.packet_id))),
                    Ok((Packet::PubRec(r), _)) => Some(Packet::PubRel(PubRel::new(r.packet_id))),
                    _ => None,
                };
                if let Some(a) = ack {
                    clients[i].acks.push(a.to_vec(v).expect("acks encode"));
                }
            }
            if closes {
                socks.remove(&conn);
                clients[i].conn = None;
                clients[i].acks.clear();
            }
        }
        if last {
            break;
        }
    }
    drop(socks);
    broker.shutdown().await;
}

/// Reads `count` whole packets from `s` (within [`STEP_TIMEOUT`]); when
/// `until_eof`, then reads on until the broker closes. Returns the packets
/// read (fewer on timeout or close, more when more had arrived).
async fn read_packets(
    s: &mut Sock,
    v: ProtocolVersion,
    count: usize,
    until_eof: bool,
) -> Vec<Vec<u8>> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    let mut out = Vec::new();
    loop {
        // Take whole packets from the buffer.
        while !s.buf.is_empty() {
            match Decoder::new(v).decode(&s.buf) {
                Ok((_, n)) => {
                    out.push(s.buf.drain(..n).collect());
                }
                Err(DecodeError::Incomplete { .. }) => break,
                Err(_) => {
                    // Not a packet: report the bytes as they are.
                    out.push(std::mem::take(&mut s.buf));
                }
            }
        }
        if s.eof || (out.len() >= count && !until_eof) {
            return out;
        }
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(deadline, s.stream.read(&mut chunk)).await {
            Err(_) => return out,
            Ok(Ok(0)) | Ok(Err(_)) => s.eof = true,
            Ok(Ok(k)) => s.buf.extend_from_slice(&chunk[..k]),
        }
    }
}
