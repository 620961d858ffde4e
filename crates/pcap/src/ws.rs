//! MQTT over WebSocket (RFC 6455): the HTTP upgrade, then frames whose
//! (unmasked) data payloads are concatenated into the MQTT byte stream,
//! whatever the message and fragment boundaries are.

/// Largest HTTP upgrade head we buffer.
pub const MAX_HEAD: usize = 16 * 1024;

/// What the request head says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// A WebSocket upgrade offering an MQTT subprotocol.
    Mqtt,
    /// An HTTP request that is something else.
    Other,
    /// The head is not complete yet.
    Incomplete,
}

/// Looks at the start of a client stream for an HTTP WebSocket upgrade
/// with subprotocol `mqtt` (or the 3.1 name `mqttv3.1`).
pub fn classify_request(buf: &[u8]) -> Upgrade {
    if !buf.starts_with(b"GET ") {
        return Upgrade::Other;
    }
    let Some(end) = find_head_end(buf) else {
        return if buf.len() > MAX_HEAD {
            Upgrade::Other
        } else {
            Upgrade::Incomplete
        };
    };
    let head = &buf[..end];
    let mut websocket = false;
    let mut mqtt = false;
    for line in head.split(|&b| b == b'\n') {
        let line = trim(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = trim(&line[..colon]);
        let value = trim(&line[colon + 1..]);
        if name.eq_ignore_ascii_case(b"upgrade") && value.eq_ignore_ascii_case(b"websocket") {
            websocket = true;
        }
        if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
            mqtt |= value.split(|&b| b == b',').any(|p| {
                let p = trim(p);
                p.eq_ignore_ascii_case(b"mqtt") || p.eq_ignore_ascii_case(b"mqttv3.1")
            });
        }
    }
    if websocket && mqtt {
        Upgrade::Mqtt
    } else {
        Upgrade::Other
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Offset just past the blank line ending an HTTP head.
pub fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Problems in the WebSocket layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsNote {
    /// The HTTP head was not a successful upgrade (or too long).
    HandshakeFailed(String),
    /// A frame with reserved bits or an unknown opcode.
    BadFrame(String),
    /// A Close frame.
    Closed,
}

#[derive(Debug)]
enum State {
    Head(Vec<u8>),
    Header,
    Payload {
        left: u64,
        mask: Option<[u8; 4]>,
        pos: usize,
        data: bool,
    },
    Dead,
}

/// WebSocket decoding for one direction.
#[derive(Debug)]
pub struct WsStream {
    state: State,
    hdr: [u8; 14],
    hdr_len: usize,
    scratch: Vec<u8>,
    /// Frames seen.
    pub frames: u64,
}

impl WsStream {
    /// A direction that starts with an HTTP head.
    pub fn new() -> Self {
        WsStream {
            state: State::Head(Vec::new()),
            hdr: [0; 14],
            hdr_len: 0,
            scratch: Vec::new(),
            frames: 0,
        }
    }

    /// Feeds stream bytes; the MQTT bytes inside are passed to `out`.
    pub fn feed(
        &mut self,
        mut input: &[u8],
        out: &mut dyn FnMut(&[u8]),
        notes: &mut dyn FnMut(WsNote),
    ) {
        while !input.is_empty() {
            match &mut self.state {
                State::Dead => return,
                State::Head(buf) => {
                    let before = buf.len();
                    let take = input.len().min(MAX_HEAD + 4 - before);
                    buf.extend_from_slice(&input[..take]);
                    match find_head_end(buf) {
                        Some(end) => {
                            let used = end - before;
                            let head = std::mem::take(buf);
                            input = &input[used..];
                            let ok = head.starts_with(b"GET ")
                                || head.starts_with(b"HTTP/1.1 101")
                                || head.starts_with(b"HTTP/1.0 101");
                            if ok {
                                self.state = State::Header;
                            } else {
                                let first = head
                                    .split(|&b| b == b'\r')
                                    .next()
                                    .map(|l| String::from_utf8_lossy(l).into_owned())
                                    .unwrap_or_default();
                                notes(WsNote::HandshakeFailed(first));
                                self.state = State::Dead;
                            }
                        }
                        None if buf.len() > MAX_HEAD => {
                            notes(WsNote::HandshakeFailed("HTTP head too long".into()));
                            self.state = State::Dead;
                        }
                        None => return,
                    }
                }
                State::Header => {
                    let need = self.header_len_needed();
                    if self.hdr_len < need {
                        let take = (need - self.hdr_len).min(input.len());
                        self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&input[..take]);
                        self.hdr_len += take;
                        input = &input[take..];
                        continue;
                    }
                    // The needed length may have grown once byte 1 is known.
                    if self.header_len_needed() > self.hdr_len {
                        continue;
                    }
                    self.start_frame(notes);
                }
                State::Payload {
                    left,
                    mask,
                    pos,
                    data,
                } => {
                    let take = (*left).min(input.len() as u64) as usize;
                    let (chunk, rest) = input.split_at(take);
                    input = rest;
                    *left -= take as u64;
                    if *data {
                        match mask {
                            Some(m) => {
                                self.scratch.clear();
                                self.scratch.extend(
                                    chunk.iter().enumerate().map(|(k, b)| b ^ m[(*pos + k) % 4]),
                                );
                                *pos = (*pos + take) % 4;
                                out(&self.scratch);
                            }
                            None => out(chunk),
                        }
                    }
                    if *left == 0 {
                        self.state = State::Header;
                        self.hdr_len = 0;
                    }
                }
            }
        }
        // A zero-length frame completes without input.
        if let State::Payload { left: 0, .. } = self.state {
            self.state = State::Header;
            self.hdr_len = 0;
        }
    }

    fn header_len_needed(&self) -> usize {
        if self.hdr_len < 2 {
            return 2;
        }
        let masked = self.hdr[1] & 0x80 != 0;
        let ext = match self.hdr[1] & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        2 + ext + if masked { 4 } else { 0 }
    }

    fn start_frame(&mut self, notes: &mut dyn FnMut(WsNote)) {
        let h = &self.hdr;
        self.frames += 1;
        let opcode = h[0] & 0x0F;
        if h[0] & 0x70 != 0 {
            notes(WsNote::BadFrame(format!(
                "reserved bits set in frame header byte {:#04x}",
                h[0]
            )));
        }
        let (len, mut at) = match h[1] & 0x7F {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
            127 => (
                u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
                10,
            ),
            n => (u64::from(n), 2),
        };
        let mask = if h[1] & 0x80 != 0 {
            let m = [h[at], h[at + 1], h[at + 2], h[at + 3]];
            at += 4;
            Some(m)
        } else {
            None
        };
        debug_assert_eq!(at, self.hdr_len);
        let data = match opcode {
            0..=2 => true,
            8 => {
                notes(WsNote::Closed);
                false
            }
            9 | 10 => false,
            other => {
                notes(WsNote::BadFrame(format!("unknown opcode {other}")));
                false
            }
        };
        self.hdr_len = 0;
        self.state = State::Payload {
            left: len,
            mask,
            pos: 0,
            data,
        };
        if len == 0 {
            self.state = State::Header;
        }
    }
}

impl Default for WsStream {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fin: bool, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![(fin as u8) << 7 | opcode];
        let m = if mask.is_some() { 0x80 } else { 0 };
        if payload.len() < 126 {
            f.push(m | payload.len() as u8);
        } else if payload.len() < 65536 {
            f.push(m | 126);
            f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        } else {
            f.push(m | 127);
            f.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        }
        match mask {
            Some(k) => {
                f.extend_from_slice(&k);
                f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
            }
            None => f.extend_from_slice(payload),
        }
        f
    }

    #[test]
    fn upgrade_request_with_mqtt_subprotocol() {
        let req = b"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
        assert_eq!(classify_request(req), Upgrade::Mqtt);
        assert_eq!(classify_request(&req[..30]), Upgrade::Incomplete);
        let other = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(classify_request(other), Upgrade::Other);
        assert_eq!(classify_request(b"\x10\x0c"), Upgrade::Other);
    }

    #[test]
    fn masked_fragmented_frames_byte_by_byte() {
        let mut wire = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n".to_vec();
        let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        wire.extend(frame(false, 2, Some([1, 2, 3, 4]), b"\x30\x05"));
        wire.extend(frame(true, 0, Some([9, 8, 7, 6]), b"\x00\x01ahi"));
        wire.extend(frame(true, 9, None, b"ping"));
        wire.extend(frame(true, 2, None, &[]));
        wire.extend(frame(true, 2, Some([5, 5, 5, 5]), &big));
        let mut expected = b"\x30\x05\x00\x01ahi".to_vec();
        expected.extend_from_slice(&big);
        for step in [1usize, 3, 1000, wire.len()] {
            let mut ws = WsStream::new();
            let mut got = Vec::new();
            let mut notes = Vec::new();
            for piece in wire.chunks(step) {
                ws.feed(piece, &mut |d| got.extend_from_slice(d), &mut |n| {
                    notes.push(n)
                });
            }
            assert_eq!(got, expected, "step {step}");
            assert!(notes.is_empty());
            assert_eq!(ws.frames, 5);
        }
    }

    #[test]
    fn failed_handshake_stops_the_direction() {
        let mut ws = WsStream::new();
        let mut notes = Vec::new();
        let mut got = Vec::new();
        ws.feed(
            b"HTTP/1.1 400 Bad Request\r\n\r\n\x82\x01a",
            &mut |d| got.extend_from_slice(d),
            &mut |n| notes.push(n),
        );
        assert!(got.is_empty());
        assert_eq!(
            notes,
            vec![WsNote::HandshakeFailed("HTTP/1.1 400 Bad Request".into())]
        );
    }
}
