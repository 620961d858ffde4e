//! Counts over a capture: packet types, versions, QoS, clients, topics,
//! bytes and violations.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;

use mqttkit_codec::Packet;

use crate::analyzer::version_name;
use crate::fields::TYPE_NAMES;
use crate::output::json_str;
use crate::{Notice, PacketEvent};

/// How many topics `--stats` lists.
pub const TOP_TOPICS: usize = 10;
/// Distinct topics counted before further new topics are lumped together
/// (keeps memory bounded on hostile captures).
pub const MAX_TOPICS: usize = 100_000;

/// Statistics gathered from events.
#[derive(Debug, Default)]
pub struct Stats {
    /// Packets.
    pub packets: u64,
    /// MQTT bytes (whole packets).
    pub bytes: u64,
    /// PUBLISH payload bytes.
    pub payload_bytes: u64,
    /// By type name.
    pub by_type: BTreeMap<&'static str, u64>,
    /// By version name.
    pub by_version: BTreeMap<&'static str, u64>,
    /// PUBLISH by QoS (wire value 0..3).
    pub by_qos: [u64; 4],
    /// Packets by client (Client Identifier from CONNECT, else the client's
    /// address).
    pub by_client: BTreeMap<String, u64>,
    /// PUBLISH by topic.
    pub topics: HashMap<String, u64>,
    /// PUBLISH whose topic was not counted (topic table full).
    pub topics_other: u64,
    /// Findings by statement.
    pub violations: BTreeMap<&'static str, u64>,
    /// Packets with at least one finding.
    pub packets_with_violations: u64,
    /// Notices by kind.
    pub notices: BTreeMap<&'static str, u64>,
    client_ids: HashMap<(SocketAddr, SocketAddr), String>,
}

fn flow_key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl Stats {
    /// Counts one packet.
    pub fn packet(&mut self, p: &PacketEvent<'_>) {
        self.packets += 1;
        self.bytes += p.raw.len() as u64;
        *self
            .by_type
            .entry(TYPE_NAMES[(p.raw[0] >> 4) as usize])
            .or_default() += 1;
        *self.by_version.entry(version_name(p.version)).or_default() += 1;
        let key = flow_key(p.src, p.dst);
        if let Some(Packet::Connect(c)) = p.packet {
            if self.client_ids.len() < MAX_TOPICS {
                self.client_ids.insert(key, c.get().client_id.to_string());
            }
        }
        let counted = match self.client_ids.get(&key) {
            Some(id) => match self.by_client.get_mut(id) {
                Some(n) => {
                    *n += 1;
                    true
                }
                None => false,
            },
            None => false,
        };
        if !counted {
            let client = match self.client_ids.get(&key) {
                Some(id) => id.clone(),
                None => match p.from {
                    Some(mqttkit_codec::Role::Server) => p.dst.to_string(),
                    _ => p.src.to_string(),
                },
            };
            if self.by_client.len() < MAX_TOPICS || self.by_client.contains_key(&client) {
                *self.by_client.entry(client).or_default() += 1;
            }
        }
        if let Some(Packet::Publish(pb)) = p.packet {
            self.by_qos[((p.raw[0] >> 1) & 3) as usize] += 1;
            self.payload_bytes += pb.payload.len() as u64;
            if let Some(n) = self.topics.get_mut(pb.topic) {
                *n += 1;
            } else if self.topics.len() < MAX_TOPICS {
                self.topics.insert(pb.topic.to_string(), 1);
            } else {
                self.topics_other += 1;
            }
        }
        if !p.findings.is_empty() {
            self.packets_with_violations += 1;
        }
        for f in p.findings {
            *self.violations.entry(f.statement).or_default() += 1;
        }
    }

    /// Counts one notice.
    pub fn notice(&mut self, n: &Notice) {
        *self.notices.entry(n.kind.as_str()).or_default() += 1;
        if let Some(st) = n.statement {
            *self.violations.entry(st).or_default() += 1;
        }
    }

    /// The most frequent topics, most frequent first (ties by name).
    pub fn top_topics(&self) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self.topics.iter().map(|(t, &n)| (t.as_str(), n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(TOP_TOPICS);
        v
    }

    /// A human-readable summary.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "packets: {}  bytes: {}  payload bytes: {}  with violations: {}",
            self.packets, self.bytes, self.payload_bytes, self.packets_with_violations
        );
        let list = |m: &BTreeMap<&str, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let _ = writeln!(s, "by type: {}", list(&self.by_type));
        let _ = writeln!(s, "by version: {}", list(&self.by_version));
        let _ = writeln!(
            s,
            "PUBLISH by QoS: 0={} 1={} 2={} 3={}",
            self.by_qos[0], self.by_qos[1], self.by_qos[2], self.by_qos[3]
        );
        let _ = writeln!(s, "clients: {}", self.by_client.len());
        for (c, n) in &self.by_client {
            let _ = writeln!(s, "  {c:?}: {n}");
        }
        let _ = writeln!(s, "top topics:");
        for (t, n) in self.top_topics() {
            let _ = writeln!(s, "  {t:?}: {n}");
        }
        let _ = writeln!(s, "violations: {}", list(&self.violations));
        let _ = writeln!(s, "notices: {}", list(&self.notices));
        s
    }

    /// The summary as one JSON object (one line).
    pub fn to_json(&self) -> String {
        let mut o = Vec::new();
        let map = |o: &mut Vec<u8>, m: &BTreeMap<&str, u64>| {
            o.push(b'{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    o.push(b',');
                }
                json_str(o, k.as_bytes());
                o.extend_from_slice(format!(":{v}").as_bytes());
            }
            o.push(b'}');
        };
        o.extend_from_slice(
            format!(
                "{{\"stats\":{{\"packets\":{},\"bytes\":{},\"payload_bytes\":{},\"packets_with_violations\":{},\"by_type\":",
                self.packets, self.bytes, self.payload_bytes, self.packets_with_violations
            )
            .as_bytes(),
        );
        map(&mut o, &self.by_type);
        o.extend_from_slice(b",\"by_version\":");
        map(&mut o, &self.by_version);
        o.extend_from_slice(
            format!(
                ",\"by_qos\":[{},{},{},{}],\"by_client\":{{",
                self.by_qos[0], self.by_qos[1], self.by_qos[2], self.by_qos[3]
            )
            .as_bytes(),
        );
        for (i, (c, n)) in self.by_client.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            json_str(&mut o, c.as_bytes());
            o.extend_from_slice(format!(":{n}").as_bytes());
        }
        o.extend_from_slice(b"},\"top_topics\":[");
        for (i, (t, n)) in self.top_topics().into_iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            o.extend_from_slice(b"{\"topic\":");
            json_str(&mut o, t.as_bytes());
            o.extend_from_slice(format!(",\"count\":{n}}}").as_bytes());
        }
        o.extend_from_slice(b"],\"violations\":");
        map(&mut o, &self.violations);
        o.extend_from_slice(b",\"notices\":");
        map(&mut o, &self.notices);
        o.extend_from_slice(b"}}");
        String::from_utf8_lossy(&o).into_owned()
    }
}
