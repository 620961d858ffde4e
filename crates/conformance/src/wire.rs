//! From case data to bytes (through the codec's encoder) and from received
//! packets to the JSON form that patterns are matched against.

use mqttkit_codec::{
    AckProperties, Auth, AuthProperties, AuthReasonCode, ConnAck, Connect, ConnectProperties,
    Disconnect, DisconnectProperties, DisconnectReasonCode, List, Packet, ProtocolVersion, PubAck,
    PubAckReasonCode, PubRel, PubRelReasonCode, Publish, PublishProperties, QoS, RetainHandling,
    Subscribe, SubscribeProperties, Subscription, SubscriptionOptions, Unsubscribe,
    UnsubscribeProperties, Will, WillProperties,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::case::{ConnectSpec, Frame};

/// Properties given by their snake_case names (the codec's field names).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropSpec {
    payload_format_indicator: Option<u8>,
    message_expiry_interval: Option<u32>,
    content_type: Option<String>,
    response_topic: Option<String>,
    /// As text.
    correlation_data: Option<String>,
    subscription_identifier: Option<u32>,
    session_expiry_interval: Option<u32>,
    receive_maximum: Option<u16>,
    maximum_packet_size: Option<u32>,
    topic_alias_maximum: Option<u16>,
    topic_alias: Option<u16>,
    request_response_information: Option<bool>,
    request_problem_information: Option<bool>,
    authentication_method: Option<String>,
    /// As text.
    authentication_data: Option<String>,
    will_delay_interval: Option<u32>,
    reason_string: Option<String>,
    server_reference: Option<String>,
    #[serde(default)]
    user_properties: Vec<(String, String)>,
}

impl PropSpec {
    fn from_value(v: Option<&Value>) -> Result<PropSpec, String> {
        match v {
            None => Ok(PropSpec::default()),
            Some(v) => PropSpec::deserialize(v).map_err(|e| format!("properties: {e}")),
        }
    }

    fn users(&self) -> Vec<(&str, &str)> {
        self.user_properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubSpec {
    filter: String,
    #[serde(default)]
    qos: u8,
    #[serde(default)]
    no_local: bool,
    #[serde(default)]
    retain_as_published: bool,
    #[serde(default)]
    retain_handling: u8,
}

fn default_pid() -> u16 {
    1
}

/// A packet to send, described by its fields.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum PacketSpec {
    #[serde(rename = "CONNECT")]
    Connect(ConnectSpec),
    #[serde(rename = "PUBLISH")]
    Publish {
        topic: String,
        #[serde(default)]
        payload: String,
        #[serde(default)]
        payload_hex: Option<String>,
        #[serde(default)]
        payload_size: Option<usize>,
        #[serde(default)]
        qos: u8,
        #[serde(default)]
        retain: bool,
        #[serde(default)]
        dup: bool,
        #[serde(default)]
        packet_id: Option<u16>,
        #[serde(default)]
        properties: Option<Value>,
    },
    #[serde(rename = "PUBACK")]
    PubAck(AckSpec),
    #[serde(rename = "PUBREC")]
    PubRec(AckSpec),
    #[serde(rename = "PUBREL")]
    PubRel(AckSpec),
    #[serde(rename = "PUBCOMP")]
    PubComp(AckSpec),
    #[serde(rename = "SUBSCRIBE")]
    Subscribe {
        #[serde(default = "default_pid")]
        packet_id: u16,
        subscriptions: Vec<SubSpec>,
        #[serde(default)]
        properties: Option<Value>,
    },
    #[serde(rename = "UNSUBSCRIBE")]
    Unsubscribe {
        #[serde(default = "default_pid")]
        packet_id: u16,
        filters: Vec<String>,
        #[serde(default)]
        properties: Option<Value>,
    },
    #[serde(rename = "PINGREQ")]
    PingReq,
    #[serde(rename = "DISCONNECT")]
    Disconnect {
        #[serde(default)]
        reason_code: u8,
        #[serde(default)]
        properties: Option<Value>,
    },
    #[serde(rename = "AUTH")]
    Auth {
        #[serde(default)]
        reason_code: u8,
        #[serde(default)]
        properties: Option<Value>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckSpec {
    packet_id: u16,
    #[serde(default)]
    reason_code: u8,
    #[serde(default)]
    properties: Option<Value>,
}

fn qos(q: u8) -> Result<QoS, String> {
    QoS::from_bits(q).ok_or_else(|| format!("QoS {q} cannot be encoded; use raw bytes"))
}

/// Credentials applied to every CONNECT that does not name its own.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// User Name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
}

/// Encodes a CONNECT.
pub fn encode_connect(
    spec: &ConnectSpec,
    client_id: &str,
    version: ProtocolVersion,
    creds: &Credentials,
) -> Result<Vec<u8>, String> {
    // Properties exist only in 5.0: a case written for both versions
    // gives them, and they are left out under 3.x.
    let v5 = version.is_v5();
    let props = PropSpec::from_value(spec.properties.as_ref().filter(|_| v5))?;
    let users = props.users();
    let mut c = Connect::new(version, client_id);
    c.clean_start = spec.clean.unwrap_or(true);
    c.keep_alive = spec.keep_alive.unwrap_or(60);
    c.properties = ConnectProperties {
        session_expiry_interval: props.session_expiry_interval,
        receive_maximum: props.receive_maximum,
        maximum_packet_size: props.maximum_packet_size,
        topic_alias_maximum: props.topic_alias_maximum,
        request_response_information: props.request_response_information,
        request_problem_information: props.request_problem_information,
        authentication_method: props.authentication_method.as_deref(),
        authentication_data: props.authentication_data.as_deref().map(str::as_bytes),
        user_properties: List::from_slice(&users),
    };
    let username = spec.username.as_ref().or(creds.username.as_ref());
    let password = spec.password.as_ref().or(creds.password.as_ref());
    c.username = username.map(String::as_str);
    c.password = password.map(|p| p.as_bytes());
    let will_props;
    let will_users;
    if let Some(w) = &spec.will {
        will_props = PropSpec::from_value(w.properties.as_ref().filter(|_| v5))?;
        will_users = will_props.users();
        c.will = Some(Will {
            qos: qos(w.qos)?,
            retain: w.retain,
            properties: WillProperties {
                will_delay_interval: will_props.will_delay_interval,
                payload_format_indicator: will_props.payload_format_indicator,
                message_expiry_interval: will_props.message_expiry_interval,
                content_type: will_props.content_type.as_deref(),
                response_topic: will_props.response_topic.as_deref(),
                correlation_data: will_props.correlation_data.as_deref().map(str::as_bytes),
                user_properties: List::from_slice(&will_users),
            },
            topic: &w.topic,
            payload: w.payload.as_bytes(),
        });
    }
    Packet::Connect((&c).into())
        .to_vec(version)
        .map_err(|e| format!("cannot encode CONNECT: {e}"))
}

fn ack_props<'a>(p: &'a PropSpec, users: &'a [(&'a str, &'a str)]) -> AckProperties<'a> {
    AckProperties {
        reason_string: p.reason_string.as_deref(),
        user_properties: List::from_slice(users),
    }
}

/// Encodes a packet given as fields. CONNECT uses `client_id` when the
/// spec names none.
pub fn encode_packet(
    value: &Value,
    version: ProtocolVersion,
    client_id: &str,
    creds: &Credentials,
) -> Result<Vec<u8>, String> {
    let spec = PacketSpec::deserialize(value).map_err(|e| format!("packet {value}: {e}"))?;
    let encode = |p: Packet<'_>| {
        p.to_vec(version)
            .map_err(|e| format!("cannot encode {}: {e}", p.packet_type()))
    };
    match &spec {
        PacketSpec::Connect(c) => {
            let id = c.client_id.as_deref().unwrap_or(client_id);
            encode_connect(c, id, version, creds)
        }
        PacketSpec::Publish {
            topic,
            payload,
            payload_hex,
            payload_size,
            qos: q,
            retain,
            dup,
            packet_id,
            properties,
        } => {
            let props = PropSpec::from_value(properties.as_ref())?;
            let users = props.users();
            let body: Vec<u8> = match (payload_hex, payload_size) {
                (Some(h), _) => parse_hex(h)?,
                (None, Some(n)) => vec![b'x'; *n],
                (None, None) => payload.as_bytes().to_vec(),
            };
            let mut p = Publish::new(topic, &body);
            p.qos = qos(*q)?;
            p.retain = *retain;
            p.dup = *dup;
            p.packet_id = match (packet_id, p.qos) {
                (Some(id), _) => Some(*id),
                (None, QoS::AtMostOnce) => None,
                (None, _) => Some(1),
            };
            let built = PublishProperties {
                payload_format_indicator: props.payload_format_indicator,
                message_expiry_interval: props.message_expiry_interval,
                topic_alias: props.topic_alias,
                response_topic: props.response_topic.as_deref(),
                correlation_data: props.correlation_data.as_deref().map(str::as_bytes),
                content_type: props.content_type.as_deref(),
                user_properties: List::from_slice(&users),
                subscription_identifiers: List::new(),
            };
            p.properties = (&built).into();
            encode(Packet::Publish(p))
        }
        PacketSpec::PubAck(a) | PacketSpec::PubRec(a) => {
            let props = PropSpec::from_value(a.properties.as_ref())?;
            let users = props.users();
            let mut p = PubAck::new(a.packet_id);
            p.reason_code = PubAckReasonCode::from_u8(a.reason_code)
                .ok_or_else(|| format!("reason code {:#x} undefined", a.reason_code))?;
            p.properties = ack_props(&props, &users);
            if matches!(spec, PacketSpec::PubAck(_)) {
                encode(Packet::PubAck(p))
            } else {
                encode(Packet::PubRec(p))
            }
        }
        PacketSpec::PubRel(a) | PacketSpec::PubComp(a) => {
            let props = PropSpec::from_value(a.properties.as_ref())?;
            let users = props.users();
            let mut p = PubRel::new(a.packet_id);
            p.reason_code = PubRelReasonCode::from_u8(a.reason_code)
                .ok_or_else(|| format!("reason code {:#x} undefined", a.reason_code))?;
            p.properties = ack_props(&props, &users);
            if matches!(spec, PacketSpec::PubRel(_)) {
                encode(Packet::PubRel(p))
            } else {
                encode(Packet::PubComp(p))
            }
        }
        PacketSpec::Subscribe {
            packet_id,
            subscriptions,
            properties,
        } => {
            let props = PropSpec::from_value(properties.as_ref())?;
            let users = props.users();
            let mut subs = Vec::with_capacity(subscriptions.len());
            for s in subscriptions {
                subs.push(Subscription {
                    filter: &s.filter,
                    options: SubscriptionOptions {
                        qos: qos(s.qos)?,
                        no_local: s.no_local,
                        retain_as_published: s.retain_as_published,
                        retain_handling: match s.retain_handling {
                            0 => RetainHandling::SendOnSubscribe,
                            1 => RetainHandling::SendIfNew,
                            2 => RetainHandling::DoNotSend,
                            n => return Err(format!("retain handling {n} cannot be encoded")),
                        },
                    },
                });
            }
            let mut p = Subscribe::new(*packet_id, &subs);
            p.properties = SubscribeProperties {
                subscription_identifier: props.subscription_identifier,
                user_properties: List::from_slice(&users),
            };
            encode(Packet::Subscribe(p))
        }
        PacketSpec::Unsubscribe {
            packet_id,
            filters,
            properties,
        } => {
            let props = PropSpec::from_value(properties.as_ref())?;
            let users = props.users();
            let fs: Vec<&str> = filters.iter().map(String::as_str).collect();
            let mut p = Unsubscribe::new(*packet_id, &fs);
            p.properties = UnsubscribeProperties {
                user_properties: List::from_slice(&users),
            };
            encode(Packet::Unsubscribe(p))
        }
        PacketSpec::PingReq => encode(Packet::PingReq),
        PacketSpec::Disconnect {
            reason_code,
            properties,
        } => {
            let props = PropSpec::from_value(properties.as_ref())?;
            let users = props.users();
            let mut p = Disconnect::new(
                DisconnectReasonCode::from_u8(*reason_code)
                    .ok_or_else(|| format!("reason code {reason_code:#x} undefined"))?,
            );
            p.properties = DisconnectProperties {
                session_expiry_interval: props.session_expiry_interval,
                reason_string: props.reason_string.as_deref(),
                server_reference: props.server_reference.as_deref(),
                user_properties: List::from_slice(&users),
            };
            encode(Packet::Disconnect(p))
        }
        PacketSpec::Auth {
            reason_code,
            properties,
        } => {
            let props = PropSpec::from_value(properties.as_ref())?;
            let users = props.users();
            let mut p = Auth::new(
                AuthReasonCode::from_u8(*reason_code)
                    .ok_or_else(|| format!("reason code {reason_code:#x} undefined"))?,
            );
            p.properties = AuthProperties {
                authentication_method: props.authentication_method.as_deref(),
                authentication_data: props.authentication_data.as_deref().map(str::as_bytes),
                reason_string: props.reason_string.as_deref(),
                user_properties: List::from_slice(&users),
            };
            encode(Packet::Auth(p))
        }
    }
}

/// Bytes from hex; spaces, colons and a `0x` prefix are ignored.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b':' && *b != b'_')
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits in {s:?}"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16);
            let lo = (pair[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
                _ => Err(format!("bad hex digit in {s:?}")),
            }
        })
        .collect()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Builds a [`Frame`]: first byte, Remaining Length, body pieces.
pub fn encode_frame(f: &Frame) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    for piece in &f.body {
        let (kind, arg) = piece.split_once(':').ok_or_else(|| {
            format!("frame piece {piece:?} needs a kind: hex, str, raw, u16, vbi")
        })?;
        match kind {
            "hex" => body.extend(parse_hex(arg)?),
            "str" => {
                let n = u16::try_from(arg.len()).map_err(|_| "string too long".to_string())?;
                body.extend(n.to_be_bytes());
                body.extend(arg.as_bytes());
            }
            "raw" => body.extend(arg.as_bytes()),
            "u16" => {
                let n: u16 = arg.parse().map_err(|e| format!("u16 {arg:?}: {e}"))?;
                body.extend(n.to_be_bytes());
            }
            "vbi" => {
                let n: u32 = arg.parse().map_err(|e| format!("vbi {arg:?}: {e}"))?;
                mqttkit_codec::varint::write(&mut body, n);
            }
            _ => return Err(format!("unknown frame piece kind {kind:?}")),
        }
    }
    let len = match f.remaining_length {
        Some(n) => n,
        None => u32::try_from(body.len()).map_err(|_| "frame too long".to_string())?,
    };
    let mut out = vec![f.byte0];
    mqttkit_codec::varint::write(&mut out, len);
    out.extend(body);
    Ok(out)
}

/// A received packet as the JSON object patterns are matched against: the
/// codec's serialized form, with a PUBLISH payload as text when it is
/// UTF-8 (else `hex:` and the bytes), `payload_len`, and under 3.x a
/// CONNACK's wire `return_code` (the codec keeps 5.0 reason codes).
pub fn packet_json(p: &Packet<'_>, version: ProtocolVersion) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
    match p {
        Packet::Publish(pb) => {
            v["payload"] = match std::str::from_utf8(pb.payload) {
                Ok(s) => json!(s),
                Err(_) => json!(format!("hex:{}", hex(pb.payload))),
            };
            v["payload_len"] = json!(pb.payload.len());
        }
        Packet::ConnAck(ConnAck { reason_code, .. }) if !version.is_v5() => {
            if let Some(rc) = reason_code.to_v3() {
                v["return_code"] = json!(rc);
            }
        }
        _ => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqttkit_codec::Decoder;

    #[test]
    fn hex_parsing() {
        assert_eq!(parse_hex("0x30 0a:ff").unwrap(), vec![0x30, 0x0a, 0xff]);
        assert!(parse_hex("abc").unwrap_err().contains("odd"));
        assert!(parse_hex("zz").unwrap_err().contains("bad hex"));
        assert_eq!(hex(&[0, 0xab]), "00ab");
    }

    #[test]
    fn frames_get_their_remaining_length() {
        let f = Frame {
            byte0: 0x30,
            body: vec!["str:a/b".into(), "raw:hi".into()],
            remaining_length: None,
        };
        assert_eq!(
            encode_frame(&f).unwrap(),
            vec![0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i']
        );
        let f = Frame {
            byte0: 0x82,
            body: vec!["u16:258".into(), "vbi:200".into(), "hex:ff".into()],
            remaining_length: Some(9),
        };
        assert_eq!(
            encode_frame(&f).unwrap(),
            vec![0x82, 9, 1, 2, 0xC8, 0x01, 0xff]
        );
        let bad = Frame {
            byte0: 0,
            body: vec!["nope".into()],
            remaining_length: None,
        };
        assert!(encode_frame(&bad).is_err());
    }

    #[test]
    fn packets_from_fields_decode_back() {
        let creds = Credentials::default();
        let v = serde_json::json!({
            "type": "PUBLISH", "topic": "t/1", "payload": "p", "qos": 1,
            "properties": { "user_properties": [["k", "v"]], "content_type": "c" }
        });
        let bytes = encode_packet(&v, ProtocolVersion::V5, "id", &creds).unwrap();
        let (p, _) = Decoder::new(ProtocolVersion::V5).decode(&bytes).unwrap();
        let j = packet_json(&p, ProtocolVersion::V5);
        assert_eq!(j["packet_id"], 1, "QoS 1 without an id gets 1");
        assert_eq!(j["payload"], "p");
        assert_eq!(j["properties"]["content_type"], "c");
        let bad = serde_json::json!({"type": "PUBLISH", "topic": "t", "qos": 3});
        assert!(encode_packet(&bad, ProtocolVersion::V5, "id", &creds).is_err());
        let unknown = serde_json::json!({"type": "PUBLISH", "topic": "t", "colour": 1});
        assert!(encode_packet(&unknown, ProtocolVersion::V5, "id", &creds).is_err());
    }

    #[test]
    fn connect_properties_are_dropped_under_3x() {
        let spec = ConnectSpec {
            properties: Some(serde_json::json!({"session_expiry_interval": 30})),
            ..ConnectSpec::default()
        };
        let creds = Credentials {
            username: Some("u".into()),
            password: Some("p".into()),
        };
        let b311 = encode_connect(&spec, "c", ProtocolVersion::V3_1_1, &creds).unwrap();
        let b5 = encode_connect(&spec, "c", ProtocolVersion::V5, &creds).unwrap();
        let (p, _) = Decoder::new(ProtocolVersion::V3_1_1).decode(&b311).unwrap();
        let j = packet_json(&p, ProtocolVersion::V3_1_1);
        assert_eq!(j["username"], "u");
        assert!(j.get("properties").is_none());
        let (p, _) = Decoder::new(ProtocolVersion::V5).decode(&b5).unwrap();
        assert_eq!(
            packet_json(&p, ProtocolVersion::V5)["properties"]["session_expiry_interval"],
            30
        );
    }

    #[test]
    fn v3_connack_gets_its_wire_return_code() {
        let bytes = [0x20, 0x02, 0x00, 0x02];
        let (p, _) = Decoder::new(ProtocolVersion::V3_1_1)
            .decode(&bytes)
            .unwrap();
        let j = packet_json(&p, ProtocolVersion::V3_1_1);
        assert_eq!(j["return_code"], 2);
        assert_eq!(j["reason_code"], 0x85);
    }

    #[test]
    fn binary_payloads_show_as_hex() {
        let bytes = [0x30, 0x05, 0x00, 0x01, b't', 0xff, 0x00];
        let (p, _) = Decoder::new(ProtocolVersion::V3_1_1)
            .decode(&bytes)
            .unwrap();
        let j = packet_json(&p, ProtocolVersion::V3_1_1);
        assert_eq!(j["payload"], "hex:ff00");
        assert_eq!(j["payload_len"], 2);
    }
}
