//! Link, network and transport layers: from a captured frame to a TCP
//! segment (etherparse does the header work).

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};

/// Link-layer types understood (pcap LINKTYPE_* values).
pub mod linktype {
    /// BSD loopback: a 4-byte address family in host order.
    pub const NULL: i32 = 0;
    /// Ethernet II (with 802.1Q / QinQ tags).
    pub const ETHERNET: i32 = 1;
    /// Raw IP (the value some systems use).
    pub const RAW_OLD: i32 = 12;
    /// Raw IP.
    pub const RAW: i32 = 101;
    /// OpenBSD loopback: a 4-byte address family in network order.
    pub const LOOP: i32 = 108;
    /// Linux cooked capture.
    pub const LINUX_SLL: i32 = 113;
    /// Raw IPv4.
    pub const IPV4: i32 = 228;
    /// Raw IPv6.
    pub const IPV6: i32 = 229;
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: i32 = 276;
}

/// The TCP part of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// SYN flag.
    pub syn: bool,
    /// ACK flag.
    pub ack: bool,
    /// Acknowledgment number (meaningful with ACK).
    pub ack_num: u32,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// Payload.
    pub payload: &'a [u8],
}

/// Why a frame carries no TCP segment we can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Not TCP (or not IP): silently ignored.
    NotTcp,
    /// A link type this reader does not know.
    UnknownLinktype(i32),
    /// Headers that cannot be parsed (truncated or corrupt).
    Malformed(String),
}

/// The common case read directly: Ethernet II (no VLAN tag), IPv4 without
/// options and not fragmented, TCP. `None` for anything else (etherparse
/// then reads the frame), including every frame it would refuse; a test
/// compares the two over mutated frames.
#[inline]
fn ethernet_ipv4_tcp(data: &[u8]) -> Option<Segment<'_>> {
    let ip = data.get(14..)?;
    if data[12..14] != [0x08, 0x00] || ip.len() < 20 || ip[0] != 0x45 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    // More Fragments, or a fragment offset: etherparse leaves those alone.
    let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3FFF != 0;
    if total < 20 || total > ip.len() || fragment || ip[9] != 6 {
        return None;
    }
    let tcp = &ip[20..total];
    if tcp.len() < 20 {
        return None;
    }
    let header = usize::from(tcp[12] >> 4) * 4;
    if header < 20 || header > tcp.len() {
        return None;
    }
    let addr = |at: usize, port: usize| {
        SocketAddr::from((
            [ip[at], ip[at + 1], ip[at + 2], ip[at + 3]],
            u16::from_be_bytes([tcp[port], tcp[port + 1]]),
        ))
    };
    let flags = tcp[13];
    Some(Segment {
        src: addr(12, 0),
        dst: addr(16, 2),
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        syn: flags & 0x02 != 0,
        ack: flags & 0x10 != 0,
        ack_num: u32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]),
        fin: flags & 0x01 != 0,
        rst: flags & 0x04 != 0,
        payload: &tcp[header..],
    })
}

/// Extracts the TCP segment from a frame of the given link type.
pub fn tcp_segment(linktype: i32, data: &[u8]) -> Result<Segment<'_>, Skip> {
    if linktype == linktype::ETHERNET {
        if let Some(seg) = ethernet_ipv4_tcp(data) {
            return Ok(seg);
        }
    }
    tcp_segment_general(linktype, data)
}

/// [`tcp_segment`] through etherparse, for every link type and header.
fn tcp_segment_general(linktype: i32, data: &[u8]) -> Result<Segment<'_>, Skip> {
    let sliced = match linktype {
        linktype::ETHERNET => SlicedPacket::from_ethernet(data),
        linktype::RAW | linktype::RAW_OLD | linktype::IPV4 | linktype::IPV6 => {
            SlicedPacket::from_ip(data)
        }
        linktype::LINUX_SLL => SlicedPacket::from_linux_sll(data),
        linktype::LINUX_SLL2 => {
            // 20-byte header; the protocol type comes first.
            if data.len() < 20 {
                return Err(Skip::Malformed("truncated SLL2 header".into()));
            }
            let proto = u16::from_be_bytes([data[0], data[1]]);
            SlicedPacket::from_ether_type(EtherType(proto), &data[20..])
        }
        linktype::NULL | linktype::LOOP => {
            if data.len() < 4 {
                return Err(Skip::Malformed("truncated loopback header".into()));
            }
            // The family is in the writer's byte order (NULL) or network
            // order (LOOP); IP's version nibble tells us which it is anyway.
            SlicedPacket::from_ip(&data[4..])
        }
        other => return Err(Skip::UnknownLinktype(other)),
    };
    let sliced = sliced.map_err(|e| Skip::Malformed(e.to_string()))?;
    let (src_ip, dst_ip): (IpAddr, IpAddr) = match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => (
            v4.header().source_addr().into(),
            v4.header().destination_addr().into(),
        ),
        Some(NetSlice::Ipv6(v6)) => (
            v6.header().source_addr().into(),
            v6.header().destination_addr().into(),
        ),
        None => return Err(Skip::NotTcp),
    };
    match sliced.transport {
        Some(TransportSlice::Tcp(tcp)) => Ok(Segment {
            src: SocketAddr::new(src_ip, tcp.source_port()),
            dst: SocketAddr::new(dst_ip, tcp.destination_port()),
            seq: tcp.sequence_number(),
            syn: tcp.syn(),
            ack: tcp.ack(),
            ack_num: tcp.acknowledgment_number(),
            fin: tcp.fin(),
            rst: tcp.rst(),
            payload: tcp.payload(),
        }),
        _ => Err(Skip::NotTcp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn v4_frame(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 1883, 1000, 512)
            .psh();
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn raw_ipv4_loopback_and_sll2_give_the_same_segment() {
        let ip = v4_frame(b"\xc0\x00");
        let raw = tcp_segment(linktype::RAW, &ip).unwrap();
        assert_eq!(raw.payload, b"\xc0\x00");
        assert_eq!(raw.dst.port(), 1883);
        assert_eq!(raw.seq, 1000);

        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&ip);
        assert_eq!(tcp_segment(linktype::NULL, &null).unwrap(), raw);

        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0; 18]);
        sll2.extend_from_slice(&ip);
        assert_eq!(tcp_segment(linktype::LINUX_SLL2, &sll2).unwrap(), raw);
    }

    #[test]
    fn ethernet_with_vlan_tag() {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .single_vlan(etherparse::VlanId::try_new(7).unwrap())
            .ipv6([1; 16], [2; 16], 64)
            .tcp(1883, 50000, 7, 512);
        let mut out = Vec::new();
        b.write(&mut out, b"\xd0\x00").unwrap();
        let s = tcp_segment(linktype::ETHERNET, &out).unwrap();
        assert_eq!(s.payload, b"\xd0\x00");
        assert_eq!(s.src.port(), 1883);
        assert!(s.src.is_ipv6());
    }

    #[test]
    fn ethernet_fast_path_agrees_with_etherparse() {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 1883, 0xDEAD_BEEF, 512)
            .ack(77)
            .psh();
        let mut frame = Vec::new();
        b.write(&mut frame, b"\x30\x05\x00\x01tabc").unwrap();
        assert!(ethernet_ipv4_tcp(&frame).is_some());
        // Every header byte (Ethernet, IPv4, TCP) set to values around the
        // interesting ones, every cut, and padding after the IP packet:
        // whenever the fast path accepts, etherparse gives the same segment.
        let mut accepted = 0;
        let mut check = |f: &[u8]| {
            if let Some(fast) = ethernet_ipv4_tcp(f) {
                accepted += 1;
                assert_eq!(
                    Ok(fast),
                    tcp_segment_general(linktype::ETHERNET, f),
                    "{f:02x?}"
                );
            }
        };
        for cut in 0..=frame.len() {
            check(&frame[..cut]);
        }
        let mut padded = frame.clone();
        padded.extend_from_slice(&[0; 6]);
        check(&padded);
        let values = [
            0x00, 0x01, 0x02, 0x06, 0x08, 0x10, 0x14, 0x20, 0x3F, 0x40, 0x45, 0x46, 0x50, 0x60,
            0x80, 0xF0, 0xFF,
        ];
        for at in 0..54 {
            for &v in &values {
                let mut f = frame.clone();
                f[at] = v;
                check(&f);
                f.extend_from_slice(&[0xAA; 8]);
                check(&f);
            }
        }
        assert!(accepted > 500, "{accepted}");
    }

    #[test]
    fn truncated_headers_are_reported() {
        let ip = v4_frame(b"hello");
        assert!(matches!(
            tcp_segment(linktype::RAW, &ip[..30]),
            Err(Skip::Malformed(_))
        ));
        assert!(matches!(
            tcp_segment(linktype::LINUX_SLL2, &[0; 5]),
            Err(Skip::Malformed(_))
        ));
        assert_eq!(tcp_segment(999, &ip), Err(Skip::UnknownLinktype(999)));
    }
}
