//! Writing synthetic captures (classic pcap, Ethernet + IPv4 + TCP) for
//! tests and benchmarks. Checksums are left zero (capture tools do not
//! check them by default).

use std::io::{self, Write};
use std::net::SocketAddrV4;

/// TCP flag bits.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// A pcap writer (microsecond timestamps, link type Ethernet).
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    frame: Vec<u8>,
    /// Records written.
    pub records: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&262_144u32.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter {
            out,
            frame: Vec::with_capacity(2048),
            records: 0,
        })
    }

    /// Writes one TCP segment as a record at time `micros`.
    #[allow(clippy::too_many_arguments)]
    pub fn tcp(
        &mut self,
        micros: u64,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        seq: u32,
        ack: u32,
        tcp_flags: u8,
        payload: &[u8],
    ) -> io::Result<()> {
        let f = &mut self.frame;
        f.clear();
        // Ethernet II.
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
        // IPv4.
        let total = (20 + 20 + payload.len()).min(65535) as u16;
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&src.ip().octets());
        f.extend_from_slice(&dst.ip().octets());
        // TCP.
        f.extend_from_slice(&src.port().to_be_bytes());
        f.extend_from_slice(&dst.port().to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&ack.to_be_bytes());
        f.extend_from_slice(&[0x50, tcp_flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
        rec[4..8].copy_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        rec[8..12].copy_from_slice(&(f.len() as u32).to_le_bytes());
        rec[12..16].copy_from_slice(&(f.len() as u32).to_le_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(f)?;
        self.records += 1;
        Ok(())
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One side of a scripted TCP connection: tracks sequence numbers.
#[derive(Debug, Clone, Copy)]
pub struct Side {
    /// Address.
    pub addr: SocketAddrV4,
    /// Next sequence number to send.
    pub seq: u32,
}

/// A scripted TCP connection between a client and a server.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    /// The client.
    pub client: Side,
    /// The server.
    pub server: Side,
}

impl Conn {
    /// A connection with the given addresses and initial sequence numbers.
    pub fn new(client: SocketAddrV4, server: SocketAddrV4, isn_c: u32, isn_s: u32) -> Self {
        Conn {
            client: Side {
                addr: client,
                seq: isn_c,
            },
            server: Side {
                addr: server,
                seq: isn_s,
            },
        }
    }

    /// Writes the three-way handshake.
    pub fn handshake<W: Write>(&mut self, w: &mut PcapWriter<W>, t: u64) -> io::Result<()> {
        let (c, s) = (self.client, self.server);
        w.tcp(t, c.addr, s.addr, c.seq, 0, flags::SYN, &[])?;
        w.tcp(
            t,
            s.addr,
            c.addr,
            s.seq,
            c.seq.wrapping_add(1),
            flags::SYN | flags::ACK,
            &[],
        )?;
        self.client.seq = c.seq.wrapping_add(1);
        self.server.seq = s.seq.wrapping_add(1);
        w.tcp(
            t,
            c.addr,
            s.addr,
            self.client.seq,
            self.server.seq,
            flags::ACK,
            &[],
        )
    }

    /// Sends `data` in one segment from the client (`from_client`) or the
    /// server, advancing that side's sequence number.
    pub fn send<W: Write>(
        &mut self,
        w: &mut PcapWriter<W>,
        t: u64,
        from_client: bool,
        data: &[u8],
    ) -> io::Result<()> {
        let (from, to) = if from_client {
            (&mut self.client, self.server)
        } else {
            (&mut self.server, self.client)
        };
        w.tcp(
            t,
            from.addr,
            to.addr,
            from.seq,
            to.seq,
            flags::ACK | flags::PSH,
            data,
        )?;
        from.seq = from.seq.wrapping_add(data.len() as u32);
        Ok(())
    }
}
