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

/// Extracts the TCP segment from a frame of the given link type.
pub fn tcp_segment(linktype: i32, data: &[u8]) -> Result<Segment<'_>, Skip> {
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
