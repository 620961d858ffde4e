//! Running a conversation against a broker, and the probe of a
//! well-behaved client that follows every case.

use std::time::Duration;

use mqttkit_codec::{Decoder, Packet, ProtocolVersion, QoS, Role as Sender};
use mqttkit_conformance::transport::{self, Reader, Transport, Writer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{sleep, timeout_at, Instant};

use crate::gen::{self, ConnectFields, Conversation, Wait};
use crate::judge::{End, Expect, Reaction, Received};

/// Deadlines of a run.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Each wait for an answer (CONNACK, PINGRESP).
    pub step: Duration,
    /// How long a broker has to close after a bad input.
    pub close_wait: Duration,
    /// The whole probe.
    pub probe: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            step: Duration::from_secs(3),
            close_wait: Duration::from_millis(1000),
            probe: Duration::from_secs(5),
        }
    }
}

/// Largest packet accepted from the broker; a longer declared length is
/// reported as garbage instead of being buffered.
const MAX_RECEIVED: usize = 4 << 20;

/// Target bytes written per burst; bursts are 1 ms apart, which bounds a
/// flood's rate.
const BURST: usize = 4096;

enum Next {
    Packet(Vec<u8>),
    Garbage(Vec<u8>, String),
    Closed,
    Timeout,
}

/// One connection with a receive buffer.
struct Conn {
    rd: Reader,
    wr: Writer,
    buf: Vec<u8>,
    eof: bool,
}

impl Conn {
    async fn open(address: &str, deadline: Instant) -> Result<Conn, String> {
        match timeout_at(deadline, transport::open(address, &Transport::Tcp)).await {
            Ok(Ok((rd, wr))) => Ok(Conn {
                rd,
                wr,
                buf: Vec::new(),
                eof: false,
            }),
            Ok(Err(e)) => Err(format!("cannot connect to {address}: {e}")),
            Err(_) => Err(format!("cannot connect to {address}: timed out")),
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        for (i, chunk) in bytes.chunks(BURST).enumerate() {
            if i > 0 {
                sleep(Duration::from_millis(1)).await;
            }
            self.wr.write_all(chunk).await?;
        }
        self.wr.flush().await
    }

    /// A whole packet at the start of the buffer, if there is one.
    fn frame(&mut self) -> Option<Next> {
        if self.buf.len() < 2 {
            return None;
        }
        let mut len = 0usize;
        let mut i = 1;
        loop {
            let b = *self.buf.get(i)?;
            len |= usize::from(b & 0x7F) << (7 * (i - 1));
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            if i == 5 {
                let g = self.buf[..5].to_vec();
                return Some(Next::Garbage(g, "Remaining Length over four bytes".into()));
            }
        }
        if len > MAX_RECEIVED {
            let g = self.buf[..i].to_vec();
            return Some(Next::Garbage(g, format!("declared length {len} too large")));
        }
        if self.buf.len() < i + len {
            return None;
        }
        Some(Next::Packet(self.buf.drain(..i + len).collect()))
    }

    async fn next(&mut self, deadline: Instant) -> Next {
        let mut tmp = [0u8; 8192];
        loop {
            if let Some(n) = self.frame() {
                return n;
            }
            if self.eof {
                return Next::Closed;
            }
            match timeout_at(deadline, self.rd.read(&mut tmp)).await {
                Ok(Ok(0)) | Ok(Err(_)) => self.eof = true,
                Ok(Ok(n)) => self.buf.extend_from_slice(&tmp[..n]),
                Err(_) => return Next::Timeout,
            }
        }
    }

    /// Reads until a packet of type `t`; other packets are dropped.
    async fn until(&mut self, t: u8, deadline: Instant) -> Result<Vec<u8>, String> {
        loop {
            match self.next(deadline).await {
                Next::Packet(p) if p[0] >> 4 == t => return Ok(p),
                Next::Packet(_) => {}
                Next::Garbage(_, e) => return Err(format!("garbage from the broker: {e}")),
                Next::Closed => return Err("connection closed".into()),
                Next::Timeout => return Err("timed out".into()),
            }
        }
    }
}

/// Runs `conv` on a fresh connection to `address` and records what the
/// broker does after the target. `Err` when the setup itself fails (the
/// broker refused the CONNECT or did not answer).
pub async fn execute(
    address: &str,
    conv: &Conversation,
    expect: &Expect,
    timing: &Timing,
) -> Result<Reaction, String> {
    let v = conv.version;
    let mut c = Conn::open(address, Instant::now() + timing.step).await?;
    let (target, setup) = conv
        .steps
        .split_last()
        .ok_or_else(|| "the conversation has no steps".to_string())?;
    for (i, step) in setup.iter().enumerate() {
        let what = format!("setup step {} ({})", i + 1, step.note);
        c.send(&step.send)
            .await
            .map_err(|e| format!("{what}: cannot send: {e}"))?;
        let deadline = Instant::now() + timing.step;
        match step.wait {
            Wait::None => {}
            Wait::Connack => {
                let p = c
                    .until(2, deadline)
                    .await
                    .map_err(|e| format!("{what}: no CONNACK: {e}"))?;
                let r = Received::new(v, p);
                if r.connack_code() != 0 {
                    return Err(format!("{what}: refused: {}", r.describe()));
                }
            }
            Wait::Ping => {
                c.send(&gen::PINGREQ)
                    .await
                    .map_err(|e| format!("{what}: cannot send: {e}"))?;
                c.until(13, deadline)
                    .await
                    .map_err(|e| format!("{what}: no PINGRESP: {e}"))?;
            }
        }
    }
    // A failed write means the broker has already closed; reading shows it.
    let _ = c.send(&target.send).await;
    let mut packets = Vec::new();
    let end = match expect {
        Expect::Open { ack_type, acks, .. } => {
            let pings = if *ack_type == 13 { acks + 1 } else { 1 };
            let _ = c.send(&gen::PINGREQ).await;
            let deadline = Instant::now() + timing.step + Duration::from_millis(20 * pings as u64);
            let mut seen = 0;
            loop {
                match c.next(deadline).await {
                    Next::Packet(p) => {
                        if p[0] >> 4 == 13 {
                            seen += 1;
                            if seen == pings {
                                break End::Open;
                            }
                        }
                        packets.push(Received::new(v, p));
                    }
                    Next::Garbage(g, e) => {
                        packets.push(Received {
                            bytes: g,
                            invalid: Some(e),
                        });
                        break End::Closed;
                    }
                    Next::Closed => break End::Closed,
                    Next::Timeout => break End::Silent,
                }
            }
        }
        Expect::Close { .. } | Expect::Any { .. } => {
            // Nothing is required after an incomplete packet: a short look.
            let wait = match expect {
                Expect::Any { .. } => timing.close_wait.min(Duration::from_millis(250)),
                _ => timing.close_wait,
            };
            let deadline = Instant::now() + wait;
            let mut end = None;
            while end.is_none() {
                match c.next(deadline).await {
                    Next::Packet(p) => packets.push(Received::new(v, p)),
                    Next::Garbage(g, e) => {
                        packets.push(Received {
                            bytes: g,
                            invalid: Some(e),
                        });
                        end = Some(End::Closed);
                    }
                    Next::Closed => end = Some(End::Closed),
                    Next::Timeout => break,
                }
            }
            match end {
                Some(e) => e,
                None if matches!(expect, Expect::Any { .. }) => End::Silent,
                None => {
                    // Still open: does it still listen?
                    let _ = c.send(&gen::PINGREQ).await;
                    let deadline = Instant::now() + timing.step;
                    loop {
                        match c.next(deadline).await {
                            Next::Packet(p) if p[0] >> 4 == 13 => break End::Open,
                            Next::Packet(p) => packets.push(Received::new(v, p)),
                            Next::Garbage(g, e) => {
                                packets.push(Received {
                                    bytes: g,
                                    invalid: Some(e),
                                });
                                break End::Closed;
                            }
                            Next::Closed => break End::Closed,
                            Next::Timeout => break End::Silent,
                        }
                    }
                }
            }
        }
    };
    Ok(Reaction { packets, end })
}

/// Checks that the broker still serves a well-behaved client: CONNECT,
/// SUBSCRIBE QoS 1 to `topic`, PUBLISH QoS 1 to it, PUBACK and the
/// message back, all within `timing.probe`.
pub async fn probe(
    address: &str,
    v: ProtocolVersion,
    client_id: &str,
    topic: &str,
    timing: &Timing,
) -> Result<(), String> {
    let deadline = Instant::now() + timing.probe;
    let mut c = Conn::open(address, deadline).await?;
    let io = |e: std::io::Error| format!("write failed: {e}");
    c.send(&ConnectFields::new(v, client_id).encode(v))
        .await
        .map_err(io)?;
    let p = c
        .until(2, deadline)
        .await
        .map_err(|e| format!("no CONNACK: {e}"))?;
    let r = Received::new(v, p);
    if r.connack_code() != 0 || r.invalid.is_some() {
        return Err(format!("CONNECT refused: {}", r.describe()));
    }
    c.send(&gen::subscribe(v, 0x82, 1, &[], &[(topic.as_bytes(), 1)]))
        .await
        .map_err(io)?;
    let p = c
        .until(9, deadline)
        .await
        .map_err(|e| format!("no SUBACK: {e}"))?;
    let granted = p.last().copied().unwrap_or(0x80);
    if granted >= 0x80 {
        return Err(format!("SUBSCRIBE refused (code {granted:#04x})"));
    }
    let payload = format!("probe {client_id} {topic}");
    c.send(&gen::publish(
        v,
        0x02,
        topic.as_bytes(),
        Some(2),
        &[],
        payload.as_bytes(),
    ))
    .await
    .map_err(io)?;
    let (mut acked, mut delivered) = (false, false);
    let decoder = Decoder::new(v).sent_by(Sender::Server);
    while !(acked && delivered) {
        let p = match c.next(deadline).await {
            Next::Packet(p) => p,
            Next::Garbage(_, e) => return Err(format!("garbage from the broker: {e}")),
            Next::Closed => return Err("connection closed before the message came back".into()),
            Next::Timeout => {
                return Err(format!(
                    "timed out (PUBACK {}, message {})",
                    if acked { "received" } else { "missing" },
                    if delivered { "received" } else { "missing" }
                ))
            }
        };
        match decoder.decode(&p) {
            Ok((Packet::PubAck(a), _)) if a.packet_id == 2 => acked = true,
            Ok((Packet::Publish(m), _)) => {
                if m.topic != topic || m.payload != payload.as_bytes() {
                    return Err(format!("unexpected message on {:?}", m.topic));
                }
                delivered = true;
                if let (QoS::AtLeastOnce, Some(id)) = (m.qos, m.packet_id) {
                    c.send(&gen::ack(0x40, id, None)).await.map_err(io)?;
                }
            }
            Ok(_) => {}
            Err(e) => return Err(format!("invalid packet from the broker: {e}")),
        }
    }
    let _ = c.send(&gen::disconnect(v, 0, &[])).await;
    Ok(())
}
