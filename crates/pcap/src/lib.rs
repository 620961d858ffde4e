//! # mqttkit-pcap
//!
//! Decodes MQTT exactly from pcap and pcapng captures: link layers, TCP
//! reassembly per flow and direction (out-of-order, retransmissions,
//! overlaps, gaps, captures that start mid-stream), MQTT over WebSocket,
//! MQTT found by port or by content, every packet decoded leniently with
//! each violated statement listed, and cheap conversation checks.
//!
//! ```
//! use mqttkit_pcap::{analyze, Config, Handler, Notice, PacketEvent};
//!
//! struct Count(usize);
//! impl Handler for Count {
//!     fn packet(&mut self, _: &PacketEvent<'_>) { self.0 += 1 }
//!     fn notice(&mut self, _: &Notice) {}
//! }
//! let mut count = Count(0);
//! // Not a capture: reported as a notice, nothing panics.
//! analyze(&b"junk"[..], &Config::default(), &mut count);
//! assert_eq!(count.0, 0);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod analyzer;
pub mod capture;
mod conv;
pub mod fields;
pub mod fuzz_targets;
pub mod net;
pub mod output;
pub mod pipe;
pub mod stats;
pub mod synth;
pub mod tcp;
pub mod ws;

use std::borrow::Cow;
use std::net::SocketAddr;

pub use analyzer::Analyzer;
pub use capture::{CaptureError, Record, Timestamp};
use mqttkit_codec::{Packet, PacketType, ProtocolVersion, Role};

/// What to look at and how much to buffer.
#[derive(Debug, Clone)]
pub struct Config {
    /// TCP ports whose traffic is MQTT (besides content detection).
    pub ports: Vec<u16>,
    /// TCP ports whose traffic is MQTT over TLS (reported, not decoded).
    pub tls_ports: Vec<u16>,
    /// Look for MQTT on any port by content.
    pub detect: bool,
    /// Out-of-order bytes one direction may hold before a hole is given up.
    pub reorder_cap: usize,
    /// Largest MQTT packet buffered; larger ones are reported and skipped.
    pub max_packet: usize,
    /// Most flows tracked at once; traffic of further flows is ignored
    /// (and reported once).
    pub max_flows: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ports: vec![1883],
            tls_ports: vec![8883],
            detect: true,
            reorder_cap: 4 << 20,
            max_packet: 64 << 20,
            max_flows: 100_000,
        }
    }
}

/// How the MQTT bytes were carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// Directly in TCP.
    Tcp,
    /// In WebSocket frames.
    WebSocket,
}

/// A violated statement (or protocol problem) found in a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Statement id (`MQTT-x.y.z-n`, or the codec's section slug).
    pub statement: &'static str,
    /// What is wrong.
    pub message: Cow<'static, str>,
}

/// One MQTT packet found in the capture.
#[derive(Debug)]
pub struct PacketEvent<'a> {
    /// Number of the capture record that completed the packet (1-based).
    pub frame: u64,
    /// That record's time.
    pub ts: Timestamp,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Version the packet was decoded under.
    pub version: ProtocolVersion,
    /// True when the version was inferred from packets (no CONNECT seen).
    pub version_inferred: bool,
    /// The sender's role, when known.
    pub from: Option<Role>,
    /// TCP or WebSocket.
    pub carrier: Carrier,
    /// The packet's bytes, fixed header included.
    pub raw: &'a [u8],
    /// The type from the first byte (`None` for the reserved value 0).
    pub packet_type: Option<PacketType>,
    /// The decoded packet, unless its bytes cannot be laid out as one.
    pub packet: Option<&'a Packet<'a>>,
    /// Every problem found, in order.
    pub findings: &'a [Finding],
}

/// What kind of notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// The capture file is corrupt or truncated.
    Capture,
    /// A frame's headers could not be read.
    Frame,
    /// Bytes missing in a TCP stream.
    Gap,
    /// Decoding resumed at a packet boundary after lost sync.
    Resync,
    /// A retransmission carried different bytes.
    Retransmission,
    /// A buffering cap was reached.
    Cap,
    /// The flow is MQTT over TLS (not decoded).
    Tls,
    /// The flow was recognised as MQTT (how).
    Detected,
    /// The version was inferred without a CONNECT.
    VersionInferred,
    /// A WebSocket problem.
    WebSocket,
    /// A conversation-level finding not tied to one packet.
    Conversation,
    /// A stream ended inside a packet.
    Truncated,
}

impl NoticeKind {
    /// Short lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Capture => "capture",
            NoticeKind::Frame => "frame",
            NoticeKind::Gap => "gap",
            NoticeKind::Resync => "resync",
            NoticeKind::Retransmission => "retransmission",
            NoticeKind::Cap => "cap",
            NoticeKind::Tls => "tls",
            NoticeKind::Detected => "detected",
            NoticeKind::VersionInferred => "version-inferred",
            NoticeKind::WebSocket => "websocket",
            NoticeKind::Conversation => "conversation",
            NoticeKind::Truncated => "truncated",
        }
    }
}

/// Something about the capture or a flow that is not one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The record being processed.
    pub frame: u64,
    /// Kind.
    pub kind: NoticeKind,
    /// Sender and receiver of the direction concerned, when there is one.
    pub flow: Option<(SocketAddr, SocketAddr)>,
    /// Statement id for conversation findings.
    pub statement: Option<&'static str>,
    /// Details.
    pub message: String,
}

/// Receives the analysis results in capture order.
pub trait Handler {
    /// One MQTT packet.
    fn packet(&mut self, p: &PacketEvent<'_>);
    /// One notice.
    fn notice(&mut self, n: &Notice);
    /// Called once per capture record (for progress display).
    fn record(&mut self, _number: u64, _bytes: usize) {}
}

/// Analyses a whole capture.
pub fn analyze<R: std::io::Read + Send>(input: R, config: &Config, handler: &mut dyn Handler) {
    let mut a = Analyzer::new(config.clone());
    capture::read_records(input, &mut |item| match item {
        Ok(rec) => a.record(rec, handler),
        Err(e) => a.capture_error(e, handler),
    });
    a.finish(handler);
}
