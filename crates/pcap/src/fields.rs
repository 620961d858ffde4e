//! The fields of one MQTT packet under Wireshark's `mqtt.*` names (without
//! the prefix), read from the packet's wire bytes so that the values are the
//! ones on the wire (3.x return codes, QoS 3, reserved flags...) rather than
//! the codec's normalised view.

use mqttkit_codec::properties::{info, DataType};
use mqttkit_codec::ProtocolVersion;

/// Receives fields in wire order. Groups (`properties`, `will_properties`,
/// `topics`) contain items, each item a run of fields.
pub trait FieldSink {
    /// An unsigned integer.
    fn uint(&mut self, name: &'static str, v: u64);
    /// A flag.
    fn boolean(&mut self, name: &'static str, v: bool);
    /// A UTF-8 string field (shown lossily when invalid).
    fn string(&mut self, name: &'static str, v: &[u8]);
    /// Binary data (payloads, passwords, correlation data).
    fn bytes(&mut self, name: &'static str, v: &[u8]);
    /// Starts a group of items.
    fn begin_group(&mut self, name: &'static str);
    /// Starts one item of the current group.
    fn begin_item(&mut self);
    /// Ends the current item.
    fn end_item(&mut self);
    /// Ends the current group.
    fn end_group(&mut self);
}

/// Wireshark's names for the message types.
pub const TYPE_NAMES: [&str; 16] = [
    "Reserved",
    "CONNECT",
    "CONNACK",
    "PUBLISH",
    "PUBACK",
    "PUBREC",
    "PUBREL",
    "PUBCOMP",
    "SUBSCRIBE",
    "SUBACK",
    "UNSUBSCRIBE",
    "UNSUBACK",
    "PINGREQ",
    "PINGRESP",
    "DISCONNECT",
    "AUTH",
];

struct R<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> R<'a> {
    fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.at)?;
        self.at += 1;
        Some(v)
    }
    fn u16(&mut self) -> Option<u16> {
        let s = self.b.get(self.at..self.at + 2)?;
        self.at += 2;
        Some(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        let s = self.b.get(self.at..self.at + 4)?;
        self.at += 4;
        Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn vbi(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for k in 0..4 {
            let b = self.u8()?;
            v |= u32::from(b & 0x7F) << (7 * k);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    fn rest(&self) -> &'a [u8] {
        self.b.get(self.at..).unwrap_or(&[])
    }
    fn done(&self) -> bool {
        self.at >= self.b.len()
    }
}

/// Emits the fields of the packet in `raw` (one whole packet, fixed header
/// included) decoded under `version`. `payload` says whether the PUBLISH
/// payload and will message are emitted. Truncated fields are left out.
pub fn dissect<S: FieldSink + ?Sized>(
    raw: &[u8],
    version: ProtocolVersion,
    payload: bool,
    sink: &mut S,
) {
    let _ = dissect_inner(raw, version, payload, sink, |s, b0, len| {
        fixed_fields(b0, version, s);
        s.uint("len", u64::from(len));
    });
}

/// As [`dissect`], but the fixed header's fields (`msgtype` to `len`: the
/// ones [`fixed_fields`] writes, then `len`, given the first byte and the
/// Remaining Length) are written by `fixed`, so that a caller can reuse
/// text it formatted before. `fixed` is not called for a packet whose
/// Remaining Length is truncated (no field is written then).
pub(crate) fn dissect_with<S: FieldSink + ?Sized>(
    raw: &[u8],
    version: ProtocolVersion,
    payload: bool,
    sink: &mut S,
    fixed: impl FnOnce(&mut S, u8, u32),
) {
    let _ = dissect_inner(raw, version, payload, sink, fixed);
}

/// The fields given by the first byte alone (under `version`), in wire
/// order: `msgtype`, `hdrflags` and the flags of the types that have them.
pub(crate) fn fixed_fields<S: FieldSink + ?Sized>(b0: u8, version: ProtocolVersion, s: &mut S) {
    let ty = b0 >> 4;
    s.uint("msgtype", u64::from(ty));
    s.uint("hdrflags", u64::from(b0));
    if ty == 3 {
        s.boolean("dupflag", b0 & 0x08 != 0);
        s.uint("qos", u64::from((b0 >> 1) & 3));
        s.boolean("retain", b0 & 1 != 0);
    } else if version == ProtocolVersion::V3_1 && matches!(ty, 6 | 8 | 10) {
        // 3.1 gives PUBREL, SUBSCRIBE and UNSUBSCRIBE a DUP flag and QoS.
        s.boolean("dupflag", b0 & 0x08 != 0);
        s.uint("qos", u64::from((b0 >> 1) & 3));
    }
}

#[inline]
fn dissect_inner<S: FieldSink + ?Sized>(
    raw: &[u8],
    version: ProtocolVersion,
    payload: bool,
    s: &mut S,
    fixed: impl FnOnce(&mut S, u8, u32),
) -> Option<()> {
    let mut h = R { b: raw, at: 0 };
    let b0 = h.u8()?;
    let len = h.vbi()?;
    let body = raw.get(h.at..)?;
    let body = body.get(..(len as usize).min(body.len()))?;
    let ty = b0 >> 4;
    fixed(s, b0, len);
    let v5 = version == ProtocolVersion::V5;
    let mut r = R { b: body, at: 0 };
    match ty {
        1 => connect(&mut r, payload, s)?,
        2 => {
            let flags = r.u8()?;
            if version != ProtocolVersion::V3_1 {
                // 3.1 has no acknowledge flags: the byte is reserved.
                s.uint("conack.flags", u64::from(flags));
                s.boolean("conack.flags.sp", flags & 1 != 0);
            }
            let code = r.u8()?;
            if v5 {
                s.uint("connack.reason_code", u64::from(code));
                properties(&mut r, "properties", s)?;
            } else {
                s.uint("conack.val", u64::from(code));
            }
        }
        3 => {
            let tl = r.u16()?;
            s.uint("topic_len", u64::from(tl));
            s.string("topic", r.take(tl as usize)?);
            if (b0 >> 1) & 3 != 0 {
                s.uint("msgid", u64::from(r.u16()?));
            }
            if v5 {
                properties(&mut r, "properties", s)?;
            }
            if payload {
                s.bytes("msg", r.rest());
            }
        }
        4..=7 => {
            s.uint("msgid", u64::from(r.u16()?));
            if v5 && !r.done() {
                let name = match ty {
                    4 => "puback.reason_code",
                    5 => "pubrec.reason_code",
                    6 => "pubrel.reason_code",
                    _ => "pubcomp.reason_code",
                };
                s.uint(name, u64::from(r.u8()?));
                if !r.done() {
                    properties(&mut r, "properties", s)?;
                }
            }
        }
        8 | 10 => {
            s.uint("msgid", u64::from(r.u16()?));
            if v5 {
                properties(&mut r, "properties", s)?;
            }
            s.begin_group("topics");
            while !r.done() {
                s.begin_item();
                let tl = r.u16();
                let t = tl.and_then(|tl| r.take(tl as usize));
                if let (Some(tl), Some(t)) = (tl, t) {
                    s.uint("topic_len", u64::from(tl));
                    s.string("topic", t);
                    if ty == 8 {
                        if let Some(o) = r.u8() {
                            if v5 {
                                s.uint("subscription_options", u64::from(o));
                            } else {
                                s.uint("sub.qos", u64::from(o & 3));
                            }
                        }
                    }
                } else {
                    r.at = body.len();
                }
                s.end_item();
            }
            s.end_group();
        }
        9 | 11 => {
            s.uint("msgid", u64::from(r.u16()?));
            if v5 {
                properties(&mut r, "properties", s)?;
            }
            let name = match (ty, v5) {
                (9, false) => "suback.qos",
                (9, true) => "suback.reason_code",
                (_, true) => "unsuback.reason_code",
                (_, false) => return Some(()),
            };
            for &c in r.rest() {
                s.uint(name, u64::from(c));
            }
        }
        14 | 15 if v5 && !r.done() => {
            let name = if ty == 14 {
                "disconnect.reason_code"
            } else {
                "auth.reason_code"
            };
            s.uint(name, u64::from(r.u8()?));
            if !r.done() {
                properties(&mut r, "properties", s)?;
            }
        }
        _ => {}
    }
    Some(())
}

fn connect<S: FieldSink + ?Sized>(r: &mut R<'_>, payload: bool, s: &mut S) -> Option<()> {
    let pl = r.u16()?;
    s.uint("proto_len", u64::from(pl));
    s.string("protoname", r.take(pl as usize)?);
    let level = r.u8()?;
    s.uint("ver", u64::from(level));
    let flags = r.u8()?;
    s.uint("conflags", u64::from(flags));
    s.boolean("conflag.uname", flags & 0x80 != 0);
    s.boolean("conflag.passwd", flags & 0x40 != 0);
    s.boolean("conflag.retain", flags & 0x20 != 0);
    s.uint("conflag.qos", u64::from((flags >> 3) & 3));
    s.boolean("conflag.willflag", flags & 0x04 != 0);
    s.boolean("conflag.cleansess", flags & 0x02 != 0);
    s.boolean("conflag.reserved", flags & 0x01 != 0);
    s.uint("kalive", u64::from(r.u16()?));
    let v5 = level == 5;
    if v5 {
        properties(r, "properties", s)?;
    }
    let cl = r.u16()?;
    s.uint("clientid_len", u64::from(cl));
    s.string("clientid", r.take(cl as usize)?);
    if flags & 0x04 != 0 {
        if v5 {
            properties(r, "will_properties", s)?;
        }
        let tl = r.u16()?;
        s.uint("willtopic_len", u64::from(tl));
        s.string("willtopic", r.take(tl as usize)?);
        let ml = r.u16()?;
        s.uint("willmsg_len", u64::from(ml));
        let m = r.take(ml as usize)?;
        if payload {
            s.bytes("willmsg", m);
        }
    }
    if flags & 0x80 != 0 {
        let l = r.u16()?;
        s.uint("username_len", u64::from(l));
        s.string("username", r.take(l as usize)?);
    }
    if flags & 0x40 != 0 {
        let l = r.u16()?;
        s.uint("passwd_len", u64::from(l));
        s.string("passwd", r.take(l as usize)?);
    }
    Some(())
}

fn properties<S: FieldSink + ?Sized>(r: &mut R<'_>, group: &'static str, s: &mut S) -> Option<()> {
    let total = r.vbi()?;
    s.uint("property_len", u64::from(total));
    let block = r.take(total as usize)?;
    let mut p = R { b: block, at: 0 };
    s.begin_group(group);
    while !p.done() {
        let Some(id) = p.u8() else { break };
        s.begin_item();
        s.uint("property_id", u64::from(id));
        let ok = property_value(&mut p, id, s).is_some();
        s.end_item();
        if !ok {
            break;
        }
    }
    s.end_group();
    Some(())
}

fn property_value<S: FieldSink + ?Sized>(p: &mut R<'_>, id: u8, s: &mut S) -> Option<()> {
    let Some(i) = info(u32::from(id)) else {
        s.bytes("prop_unknown", p.rest());
        p.at = p.b.len();
        return None;
    };
    match (id, i.data_type) {
        (0x03, _) => {
            let l = p.u16()?;
            s.string("property.content_type", p.take(l as usize)?);
        }
        (0x24, _) => s.uint("property.max_qos", u64::from(p.u8()?)),
        (0x23, _) => s.uint("property.topic_alias", u64::from(p.u16()?)),
        (_, DataType::Byte) => s.uint("prop_number", u64::from(p.u8()?)),
        (_, DataType::TwoByteInteger) => s.uint("prop_number", u64::from(p.u16()?)),
        (_, DataType::FourByteInteger) => s.uint("prop_number", u64::from(p.u32()?)),
        (_, DataType::VariableByteInteger) => s.uint("prop_number", u64::from(p.vbi()?)),
        (_, DataType::Utf8String) => {
            let l = p.u16()?;
            s.uint("prop_string_len", u64::from(l));
            s.string("prop_string", p.take(l as usize)?);
        }
        (_, DataType::BinaryData) => {
            // Wireshark shows binary properties as strings too.
            let l = p.u16()?;
            s.uint("prop_string_len", u64::from(l));
            s.string("prop_string", p.take(l as usize)?);
        }
        (_, DataType::Utf8StringPair) => {
            let l = p.u16()?;
            s.uint("prop_key_len", u64::from(l));
            s.string("prop_key", p.take(l as usize)?);
            let l = p.u16()?;
            s.uint("prop_value_len", u64::from(l));
            s.string("prop_value", p.take(l as usize)?);
        }
    }
    Some(())
}

/// A sink that flattens the fields to `(name, value)` text pairs, values
/// formatted the way `tshark -T fields` prints them.
#[derive(Debug, Default)]
pub struct Flat(pub Vec<(&'static str, String)>);

impl FieldSink for Flat {
    fn uint(&mut self, name: &'static str, v: u64) {
        self.0.push((name, v.to_string()));
    }
    fn boolean(&mut self, name: &'static str, v: bool) {
        self.0.push((name, if v { "1" } else { "0" }.into()));
    }
    fn string(&mut self, name: &'static str, v: &[u8]) {
        self.0.push((name, String::from_utf8_lossy(v).into_owned()));
    }
    fn bytes(&mut self, name: &'static str, v: &[u8]) {
        let hex: Vec<String> = v.iter().map(|b| format!("{b:02x}")).collect();
        self.0.push((name, hex.join(":")));
    }
    fn begin_group(&mut self, _: &'static str) {}
    fn begin_item(&mut self) {}
    fn end_item(&mut self) {}
    fn end_group(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(raw: &[u8], v: ProtocolVersion) -> Vec<(&'static str, String)> {
        let mut f = Flat::default();
        dissect(raw, v, true, &mut f);
        f.0
    }

    fn get<'a>(f: &'a [(&'static str, String)], name: &str) -> Vec<&'a str> {
        f.iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn publish_qos3_keeps_the_wire_value() {
        let f = flat(
            &[0x36, 0x07, 0x00, 0x01, b't', 0x00, 0x05, b'h', b'i'],
            ProtocolVersion::V3_1_1,
        );
        assert_eq!(get(&f, "qos"), ["3"]);
        assert_eq!(get(&f, "msgid"), ["5"]);
        assert_eq!(get(&f, "topic"), ["t"]);
        assert_eq!(get(&f, "msg"), ["68:69"]);
    }

    #[test]
    fn v5_properties_by_wireshark_name() {
        // PUBLISH QoS 0, topic "t", properties: topic alias 2, user property a=b.
        let raw = [
            0x30, 0x10, 0x00, 0x01, b't', 0x0A, 0x23, 0x00, 0x02, 0x26, 0x00, 0x01, b'a', 0x00,
            0x01, b'b', b'x', b'y',
        ];
        let f = flat(&raw, ProtocolVersion::V5);
        assert_eq!(get(&f, "property_len"), ["10"]);
        assert_eq!(get(&f, "property_id"), ["35", "38"]);
        assert_eq!(get(&f, "property.topic_alias"), ["2"]);
        assert_eq!(get(&f, "prop_key"), ["a"]);
        assert_eq!(get(&f, "prop_value"), ["b"]);
        assert_eq!(get(&f, "msg"), ["78:79"]);
    }

    #[test]
    fn v311_connack_and_suback_codes() {
        let f = flat(&[0x20, 0x02, 0x01, 0x05], ProtocolVersion::V3_1_1);
        assert_eq!(get(&f, "conack.val"), ["5"]);
        assert_eq!(get(&f, "conack.flags.sp"), ["1"]);
        let f = flat(
            &[0x90, 0x04, 0x00, 0x07, 0x01, 0x80],
            ProtocolVersion::V3_1_1,
        );
        assert_eq!(get(&f, "suback.qos"), ["1", "128"]);
    }

    #[test]
    fn truncated_input_stops_quietly() {
        for raw in [
            &[0x30u8][..],
            &[0x30, 0x05, 0x00],
            &[0x10, 0x7F, 0x00, 0x04],
        ] {
            let f = flat(raw, ProtocolVersion::V5);
            assert!(f.len() <= 6);
        }
    }
}
