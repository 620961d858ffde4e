//! Second opinion: suricata-verify's expected outputs
//! (corpus/captures/suricata-verify/expected/*.test.yaml). Every filter on
//! `event_type: mqtt` whose keys all map onto fields we decode is checked:
//! the number of our packets matching every key must equal the filter's
//! count. Filters on alerts, flows or fields with no counterpart are left
//! out (and counted, so the test cannot pass by comparing nothing).

mod common;

use std::collections::BTreeMap;

use common::{captures, captures_dir, config_for};
use mqttkit_pcap::fields::{dissect, FieldSink};
use mqttkit_pcap::{analyze, Handler, Notice, PacketEvent};

const TYPES: [&str; 16] = [
    "reserved",
    "connect",
    "connack",
    "publish",
    "puback",
    "pubrec",
    "pubrel",
    "pubcomp",
    "subscribe",
    "suback",
    "unsubscribe",
    "unsuback",
    "pingreq",
    "pingresp",
    "disconnect",
    "auth",
];

fn prop_name(id: u64) -> Option<&'static str> {
    Some(match id {
        0x01 => "payload_format_indicator",
        0x02 => "message_expiry_interval",
        0x03 => "content_type",
        0x08 => "response_topic",
        0x09 => "correlation_data",
        0x0B => "subscription_identifier",
        0x11 => "session_expiry_interval",
        0x12 => "assigned_client_identifier",
        0x13 => "server_keep_alive",
        0x15 => "authentication_method",
        0x16 => "authentication_data",
        0x17 => "request_problem_information",
        0x18 => "will_delay_interval",
        0x19 => "request_response_information",
        0x1A => "response_information",
        0x1C => "server_reference",
        0x1F => "reason_string",
        0x21 => "receive_maximum",
        0x22 => "topic_alias_maximum",
        0x23 => "topic_alias",
        0x24 => "maximum_qos",
        0x25 => "retain_available",
        0x27 => "maximum_packet_size",
        0x28 => "wildcard_subscription_available",
        0x29 => "subscription_identifier_available",
        0x2A => "shared_subscription_available",
        _ => return None,
    })
}

/// Builds suricata-style keys (`mqtt.<type>.<field>`) from our fields.
#[derive(Default)]
struct SuriSink {
    ty: &'static str,
    map: BTreeMap<String, String>,
    group: &'static str,
    prop_id: u64,
    key: String,
    items: Vec<String>,
    item: Vec<(String, String)>,
    lists: BTreeMap<&'static str, Vec<String>>,
}

impl SuriSink {
    fn put(&mut self, k: &str, v: String) {
        self.map.insert(format!("mqtt.{}.{k}", self.ty), v);
    }
    fn prop(&mut self, v: String) {
        let prefix = if self.group == "will_properties" {
            "will.properties."
        } else {
            "properties."
        };
        if self.prop_id == 0x26 {
            return;
        }
        if let Some(n) = prop_name(self.prop_id) {
            self.put(&format!("{prefix}{n}"), v);
        }
    }
    fn value(&mut self, name: &'static str, v: String) {
        if self.group == "topics" {
            match name {
                "topic" => self.item.push(("topic".into(), v)),
                "sub.qos" => self.item.push(("qos".into(), v)),
                "subscription_options" => {
                    let q = v.parse::<u64>().unwrap_or(0) & 3;
                    self.item.push(("qos".into(), q.to_string()))
                }
                _ => {}
            }
            return;
        }
        if self.group == "properties" || self.group == "will_properties" {
            match name {
                "property_id" => self.prop_id = v.parse().unwrap_or(0),
                "prop_key" => self.key = v,
                "prop_value" => {
                    let prefix = if self.group == "will_properties" {
                        "will.properties."
                    } else {
                        "properties."
                    };
                    let k = format!("{prefix}{}", self.key);
                    self.put(&k, v);
                }
                "prop_number"
                | "prop_string"
                | "property.content_type"
                | "property.topic_alias"
                | "property.max_qos" => self.prop(v),
                _ => {}
            }
            return;
        }
        let key = match name {
            "protoname" => "protocol_string",
            "ver" => "protocol_version",
            "conflag.uname" => "flags.username",
            "conflag.passwd" => "flags.password",
            "conflag.willflag" => "flags.will",
            "conflag.retain" => "flags.will_retain",
            "conflag.cleansess" => "flags.clean_session",
            "clientid" => "client_id",
            "username" => "username",
            "passwd" => "password",
            "willtopic" => "will.topic",
            "willmsg" => "will.message",
            "conack.flags.sp" => "session_present",
            "conack.val" | "connack.reason_code" => "return_code",
            "topic" => "topic",
            "msg" => "message",
            "msgid" => "message_id",
            "suback.qos" | "suback.reason_code" => {
                self.lists.entry("qos_granted").or_default().push(v);
                return;
            }
            "unsuback.reason_code" => {
                self.lists.entry("reason_codes").or_default().push(v);
                return;
            }
            n if n.ends_with(".reason_code") => "reason_code",
            _ => return,
        };
        self.put(key, v);
    }
}

impl FieldSink for SuriSink {
    fn uint(&mut self, name: &'static str, v: u64) {
        self.value(name, v.to_string());
    }
    fn boolean(&mut self, name: &'static str, v: bool) {
        self.value(name, v.to_string());
    }
    fn string(&mut self, name: &'static str, v: &[u8]) {
        self.value(name, String::from_utf8_lossy(v).into_owned());
    }
    fn bytes(&mut self, name: &'static str, v: &[u8]) {
        self.value(name, String::from_utf8_lossy(v).into_owned());
    }
    fn begin_group(&mut self, name: &'static str) {
        self.group = name;
    }
    fn begin_item(&mut self) {
        self.item.clear();
    }
    fn end_item(&mut self) {
        if self.group == "topics" {
            let item = std::mem::take(&mut self.item);
            if self.ty == "subscribe" {
                let fields: Vec<String> = item.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                self.items.push(format!("{{{}}}", fields.join(",")));
            } else if let Some((_, t)) = item.first() {
                self.items.push(t.clone());
            }
        }
    }
    fn end_group(&mut self) {
        self.group = "";
    }
}

#[derive(Default)]
struct Events(Vec<BTreeMap<String, String>>);

impl Handler for Events {
    fn packet(&mut self, p: &PacketEvent<'_>) {
        let b0 = p.raw[0];
        let mut s = SuriSink {
            ty: TYPES[(b0 >> 4) as usize],
            ..SuriSink::default()
        };
        s.put("qos", ((b0 >> 1) & 3).to_string());
        s.put("retain", (b0 & 1 != 0).to_string());
        s.put("dup", (b0 & 8 != 0).to_string());
        dissect(p.raw, p.version, true, &mut s);
        // A 5.0 DISCONNECT without a Reason Code means 0 (Normal).
        if s.ty == "disconnect" && p.version == mqttkit_codec::ProtocolVersion::V5 {
            let k = "mqtt.disconnect.reason_code".to_string();
            s.map.entry(k).or_insert_with(|| "0".into());
        }
        if !s.items.is_empty() {
            let items = std::mem::take(&mut s.items);
            s.put("topics", format!("[{}]", items.join(",")));
        }
        for (k, v) in std::mem::take(&mut s.lists) {
            s.put(k, format!("[{}]", v.join(",")));
        }
        self.0.push(s.map);
    }
    fn notice(&mut self, _: &Notice) {}
}

struct Filter {
    count: usize,
    matches: Vec<(String, String)>,
}

/// Reads the `checks:` filters of a suricata-verify test file (the small
/// YAML subset those files use).
fn filters(yaml: &str) -> Vec<Filter> {
    let mut out: Vec<Filter> = Vec::new();
    let mut in_match = false;
    for line in yaml.lines() {
        let t = line.trim();
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        if t == "- filter:" {
            out.push(Filter {
                count: 0,
                matches: Vec::new(),
            });
            in_match = false;
            continue;
        }
        let Some(f) = out.last_mut() else {
            continue;
        };
        if let Some(c) = t.strip_prefix("count:") {
            f.count = c.trim().parse().unwrap_or(usize::MAX);
            in_match = false;
        } else if t == "match:" {
            in_match = true;
        } else if in_match {
            if let Some((k, v)) = t.split_once(": ") {
                f.matches.push((k.trim().to_string(), canon(v)));
            }
        }
    }
    out
}

/// A YAML scalar or flow sequence in the form our keys use.
fn canon(v: &str) -> String {
    let v = v.trim();
    let v = v
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(v);
    if v.starts_with('[') {
        v.chars().filter(|c| !c.is_whitespace()).collect()
    } else {
        v.to_string()
    }
}

/// Filters where suricata-verify's file disagrees with the bytes of the
/// capture (tshark reads them as mqttkit does): (test, first key, value,
/// why).
const SURICATA_DIFFERS: &[(&str, &str, &str, &str)] = &[
    (
        "mqtt5-sub-userpass",
        "mqtt.disconnect.reason_code",
        "0",
        "the DISCONNECT carries Reason Code 4 (0x04 on the wire, tshark agrees)",
    ),
    (
        "mqtt5-unsub-qos1",
        "mqtt.disconnect.reason_code",
        "0",
        "the DISCONNECT carries Reason Code 4 (0x04 on the wire, tshark agrees)",
    ),
    (
        "mqtt5-unsub-qos2",
        "mqtt.disconnect.reason_code",
        "0",
        "the DISCONNECT carries Reason Code 4 (0x04 on the wire, tshark agrees)",
    ),
    (
        "mqtt5-unsub-userpass",
        "mqtt.disconnect.reason_code",
        "0",
        "the DISCONNECT carries Reason Code 4 (0x04 on the wire, tshark agrees)",
    ),
];

#[test]
fn agrees_with_suricata_verify_expected_mqtt_events() {
    let dir = captures_dir().join("suricata-verify/expected");
    let list = captures();
    let mut compared = 0;
    let mut skipped = 0;
    let mut problems = Vec::new();
    let mut known_seen = 0;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("expected/")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files {
        let test = path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".test.yaml")
            .to_string();
        let prefix = format!("suricata-verify/{test}__");
        let Some(capture) = list.iter().find(|c| c.starts_with(&prefix)) else {
            continue;
        };
        let yaml = std::fs::read_to_string(&path).unwrap();
        let mut events = Events::default();
        let file = std::fs::File::open(captures_dir().join(capture)).unwrap();
        analyze(file, &config_for(capture), &mut events);
        for f in filters(&yaml) {
            let is_mqtt = f
                .matches
                .iter()
                .any(|(k, v)| k == "event_type" && v == "mqtt");
            let keys: Vec<&(String, String)> = f
                .matches
                .iter()
                .filter(|(k, _)| k != "event_type")
                .collect();
            // Every key must be one we produce for at least one packet of its type.
            let mappable = is_mqtt
                && !keys.is_empty()
                && keys.iter().all(|(k, _)| {
                    k.starts_with("mqtt.") && events.0.iter().any(|e| e.contains_key(k))
                });
            if !mappable {
                skipped += 1;
                continue;
            }
            compared += 1;
            // Suricata logs a request and its response as one event: a
            // filter may name fields of two packet types. Count the packets
            // of the first type that match, when the other types' keys are
            // matched by some packet too.
            let ty = |k: &str| k.split('.').nth(1).unwrap_or("").to_string();
            let first = ty(&keys[0].0);
            let matches = |e: &BTreeMap<String, String>, t: &str| {
                keys.iter()
                    .filter(|(k, _)| ty(k) == t)
                    .all(|(k, v)| e.get(k) == Some(v))
            };
            let mut others: Vec<String> = keys.iter().map(|(k, _)| ty(k)).collect();
            others.sort();
            others.dedup();
            others.retain(|t| *t != first);
            let others_ok = others
                .iter()
                .all(|t| events.0.iter().any(|e| matches(e, t)));
            let n = if others_ok {
                events.0.iter().filter(|e| matches(e, &first)).count()
            } else {
                0
            };
            let listed = SURICATA_DIFFERS
                .iter()
                .any(|(t, k, v, _)| *t == test && keys.iter().any(|(kk, vv)| kk == k && vv == v));
            if listed {
                known_seen += 1;
                if n == f.count {
                    problems.push(format!(
                        "{test}: listed as differing from suricata but agrees"
                    ));
                }
                continue;
            }
            if n != f.count {
                problems.push(format!(
                    "{test}: expected {} event(s) matching {:?}, mqttkit has {n}",
                    f.count, keys
                ));
            }
        }
    }
    eprintln!("suricata-verify filters compared: {compared}, left out: {skipped}");
    assert!(compared >= 150, "only {compared} filters compared");
    assert_eq!(known_seen, SURICATA_DIFFERS.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
