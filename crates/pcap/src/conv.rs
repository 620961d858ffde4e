//! Conversation checks that are cheap to make from a capture: order of
//! CONNECT, Packet Identifier use, acknowledgements, QoS 2 completion and
//! Topic Alias ranges. Checks that need the start of a direction are
//! skipped once that direction started mid-stream or lost bytes.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use mqttkit_codec::{Packet, ProtocolVersion, Role};

use crate::Finding;

/// A multiply-rotate hasher for Packet Identifiers: the maps hold at most
/// 65,536 keys each, so a keyed hash buys nothing here.
#[derive(Debug, Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type IdMap<V> = HashMap<u16, V, BuildHasherDefault<IdHasher>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// QoS 1 PUBLISH waiting for PUBACK.
    Qos1,
    /// QoS 2 PUBLISH waiting for PUBREC.
    Qos2Published,
    /// PUBREC received, PUBREL expected from the publisher.
    Qos2Received,
    /// PUBREL sent, PUBCOMP expected.
    Qos2Released,
}

/// The state of one connection as seen so far.
#[derive(Debug)]
pub(crate) struct Conversation {
    /// Frame that opened the flow (for ordering).
    pub first_frame: u64,
    /// Per direction: the start was not seen or bytes were lost.
    pub lost: [bool; 2],
    packets: [u64; 2],
    connects: u32,
    /// PUBLISH flows started by the sender of each direction.
    inflight: [IdMap<Stage>; 2],
    /// SUBSCRIBE / UNSUBSCRIBE identifiers waiting for their ack (client).
    requests: IdMap<bool>,
    /// Topic Alias Maximum each side declared (index: direction of the
    /// packet that declared it); `None` until seen.
    alias_max: [Option<u16>; 2],
}

fn ids(v: ProtocolVersion) -> Ids {
    if v == ProtocolVersion::V5 {
        Ids {
            client_new_id: "MQTT-2.2.1-3",
            server_new_id: "MQTT-2.2.1-4",
            echo_publish: "MQTT-2.2.1-5",
            echo_subscribe: "MQTT-2.2.1-6",
        }
    } else {
        Ids {
            client_new_id: "MQTT-2.3.1-2",
            server_new_id: "MQTT-2.3.1-4",
            echo_publish: "MQTT-2.3.1-6",
            echo_subscribe: "MQTT-2.3.1-7",
        }
    }
}

struct Ids {
    client_new_id: &'static str,
    server_new_id: &'static str,
    echo_publish: &'static str,
    echo_subscribe: &'static str,
}

fn find(
    findings: &mut Vec<Finding>,
    statement: &'static str,
    message: impl Into<Cow<'static, str>>,
) {
    findings.push(Finding {
        statement,
        message: message.into(),
    });
}

/// Cap on tracked identifiers per direction (the id space is 16 bits).
const MAX_TRACKED: usize = 65_536;

impl Conversation {
    pub fn new(first_frame: u64) -> Self {
        Conversation {
            first_frame,
            lost: [false, false],
            packets: [0, 0],
            connects: 0,
            inflight: [IdMap::default(), IdMap::default()],
            requests: IdMap::default(),
            alias_max: [None, None],
        }
    }

    /// Checks one packet sent in direction `d` and records its effect.
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &mut self,
        d: usize,
        role: Option<Role>,
        version: ProtocolVersion,
        lost: bool,
        raw: &[u8],
        packet: Option<&Packet<'_>>,
        _frame: u64,
        findings: &mut Vec<Finding>,
    ) {
        let first = self.packets[d] == 0;
        self.packets[d] += 1;
        let Some(p) = packet else {
            return;
        };
        let o = 1 - d;
        let other_complete = !self.lost[o];
        let ids = ids(version);
        match p {
            Packet::Connect(c) => {
                self.connects += 1;
                if self.connects > 1 {
                    find(
                        findings,
                        "MQTT-3.1.0-2",
                        "a second CONNECT on the same connection",
                    );
                }
                self.alias_max[d] = Some(c.get().properties.topic_alias_maximum.unwrap_or(0));
            }
            Packet::ConnAck(c) => {
                self.alias_max[d] = Some(c.properties.get().topic_alias_maximum.unwrap_or(0));
            }
            _ => {}
        }
        if first && role == Some(Role::Client) && !lost && !matches!(p, Packet::Connect(_)) {
            find(
                findings,
                "MQTT-3.1.0-1",
                "the Client's first packet on the connection is not CONNECT",
            );
        }
        match p {
            Packet::Publish(pb) => {
                // Raw QoS (a lenient QoS 3 reads as 2; treat it as 2).
                let qos = (raw[0] >> 1) & 3;
                if let Some(id) = pb.packet_id {
                    let map = &mut self.inflight[d];
                    let stage = if qos == 1 {
                        Stage::Qos1
                    } else {
                        Stage::Qos2Published
                    };
                    // One lookup: the earlier stage is replaced in place.
                    let full = map.len() >= MAX_TRACKED;
                    let earlier = match map.entry(id) {
                        Entry::Occupied(mut e) => Some(e.insert(stage)),
                        Entry::Vacant(e) => {
                            if !full {
                                e.insert(stage);
                            }
                            None
                        }
                    };
                    if !pb.dup && earlier.is_some_and(|s| s != Stage::Qos2Received) {
                        let st = match role {
                            Some(Role::Server) => ids.server_new_id,
                            _ => ids.client_new_id,
                        };
                        find(
                            findings,
                            st,
                            format!("Packet Identifier {id} reused while its earlier PUBLISH is unacknowledged"),
                        );
                    }
                }
                if version == ProtocolVersion::V5 {
                    if let Some(alias) = pb.properties.get().topic_alias {
                        // The receiver's declared maximum bounds the sender.
                        if let Some(max) = self.alias_max[o] {
                            if alias > max {
                                let st = match (role, max) {
                                    (Some(Role::Server), 0) => "MQTT-3.1.2-27",
                                    (Some(Role::Server), _) => "MQTT-3.1.2-26",
                                    (_, 0) => "MQTT-3.2.2-18",
                                    _ => "MQTT-3.2.2-17",
                                };
                                find(
                                    findings,
                                    st,
                                    format!("Topic Alias {alias} exceeds the receiver's Topic Alias Maximum {max}"),
                                );
                            }
                        }
                    }
                }
            }
            Packet::PubAck(a) => self.ack(
                o,
                a.packet_id,
                &[Stage::Qos1],
                None,
                other_complete,
                "PUBACK",
                ids.echo_publish,
                findings,
            ),
            Packet::PubRec(a) => self.ack(
                o,
                a.packet_id,
                &[Stage::Qos2Published, Stage::Qos2Received],
                Some(Stage::Qos2Received),
                other_complete,
                "PUBREC",
                ids.echo_publish,
                findings,
            ),
            Packet::PubRel(a) => {
                // The publisher (this direction) releases what it published.
                let id = a.packet_id;
                let known = matches!(
                    self.inflight[d].get(&id),
                    Some(Stage::Qos2Received | Stage::Qos2Released)
                );
                if known {
                    self.inflight[d].insert(id, Stage::Qos2Released);
                } else if !self.lost[d] && !self.lost[o] {
                    find(
                        findings,
                        ids.echo_publish,
                        format!("PUBREL for Packet Identifier {id}, which has no PUBREC"),
                    );
                }
            }
            Packet::PubComp(a) => self.ack(
                o,
                a.packet_id,
                &[Stage::Qos2Released],
                None,
                other_complete,
                "PUBCOMP",
                ids.echo_publish,
                findings,
            ),
            Packet::Subscribe(s) if self.requests.len() < MAX_TRACKED => {
                self.requests.insert(s.packet_id, true);
            }
            Packet::Unsubscribe(u) if self.requests.len() < MAX_TRACKED => {
                self.requests.insert(u.packet_id, false);
            }
            Packet::SubAck(a) => self.req_ack(
                a.packet_id,
                true,
                other_complete,
                "SUBACK",
                ids.echo_subscribe,
                findings,
            ),
            Packet::UnsubAck(a) => self.req_ack(
                a.packet_id,
                false,
                other_complete,
                "UNSUBACK",
                ids.echo_subscribe,
                findings,
            ),
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ack(
        &mut self,
        publisher: usize,
        id: u16,
        expect: &[Stage],
        next: Option<Stage>,
        complete: bool,
        what: &str,
        statement: &'static str,
        findings: &mut Vec<Finding>,
    ) {
        match self.inflight[publisher].entry(id) {
            Entry::Occupied(mut e) if expect.contains(e.get()) => match next {
                Some(n) => {
                    e.insert(n);
                }
                None => {
                    e.remove();
                }
            },
            _ if complete && !self.lost[1 - publisher] => find(
                findings,
                statement,
                format!("{what} for Packet Identifier {id}, which is not awaiting one"),
            ),
            _ => {}
        }
    }

    fn req_ack(
        &mut self,
        id: u16,
        subscribe: bool,
        complete: bool,
        what: &str,
        statement: &'static str,
        findings: &mut Vec<Finding>,
    ) {
        match self.requests.get(&id) {
            Some(&s) if s == subscribe => {
                self.requests.remove(&id);
            }
            _ if complete => find(
                findings,
                statement,
                format!("{what} for Packet Identifier {id}, which has no outstanding request"),
            ),
            _ => {}
        }
    }

    /// QoS 2 flows left incomplete when the connection ends: (direction of
    /// the publisher, statement, message).
    pub fn unfinished(&self, version: ProtocolVersion) -> Vec<(usize, &'static str, String)> {
        let _ = version;
        let mut out = Vec::new();
        for d in 0..2 {
            let mut open: Vec<(u16, Stage)> = self.inflight[d]
                .iter()
                .filter(|(_, s)| **s != Stage::Qos1)
                .map(|(&i, &s)| (i, s))
                .collect();
            open.sort_unstable();
            for (id, stage) in open {
                let (st, what) = match stage {
                    Stage::Qos2Published => ("MQTT-4.3.3-3", "no PUBREC"),
                    Stage::Qos2Received => ("MQTT-4.3.3-4", "PUBREC but no PUBREL"),
                    _ => ("MQTT-4.3.3-5", "PUBREL but no PUBCOMP"),
                };
                out.push((
                    d,
                    st,
                    format!("QoS 2 flow for Packet Identifier {id} never completed: {what}"),
                ));
            }
        }
        out
    }
}
