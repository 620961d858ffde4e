#!/usr/bin/env python3
"""Writes corpus/packets/*.hex: one MQTT packet per file.

Run from the repository root: python3 tools/corpus-gen/gen.py
Every file starts with one comment line
    # version=V from=F expect=E : description
followed by the packet as hex. `expect` is `ok`, `incomplete`, or the
statement id the strict decoder must report. Packets are built from the
helpers below; only the deliberately broken bytes are written by hand.

`python3 tools/corpus-gen/check.py` re-decodes every case with a separate
reference checker written from the specifications and fails on any case
whose bytes break no rule, more than one rule, or a different rule.
"""
import os
import struct
import sys

OUT = os.path.join("corpus", "packets")
CASES = {}


def vbi(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def s(text):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack(">H", len(data)) + data


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


def pkt(ptype, flags, body):
    return bytes([ptype << 4 | flags]) + vbi(len(body)) + body


# ---- properties -------------------------------------------------------
def p_byte(pid, v):
    return bytes([pid, v])


def p_u16(pid, v):
    return bytes([pid]) + u16(v)


def p_u32(pid, v):
    return bytes([pid]) + u32(v)


def p_str(pid, v):
    return bytes([pid]) + s(v)


def p_vbi(pid, v):
    return bytes([pid]) + vbi(v)


def p_user(k, v):
    return bytes([0x26]) + s(k) + s(v)


def props(*items):
    body = b"".join(items)
    return vbi(len(body)) + body


NOPROPS = b"\x00"


# ---- packet builders ---------------------------------------------------
def connect(version, client_id="c1", clean=True, keep_alive=60, will=None,
            username=None, password=None, cprops=b"", flags_extra=0, name=None,
            level=None, payload_extra=b""):
    lvl = {"3.1": 3, "3.1.1": 4, "5": 5}[version]
    pname = name if name is not None else ("MQIsdp" if version == "3.1" else "MQTT")
    flags = flags_extra
    if clean:
        flags |= 0x02
    payload = s(client_id)
    if will is not None:
        wqos, wretain, wtopic, wmsg, wprops = will
        flags |= 0x04 | (wqos << 3) | (0x20 if wretain else 0)
        if version == "5":
            payload += props(*wprops) if wprops else NOPROPS
        payload += s(wtopic) + s(wmsg)
    if username is not None:
        flags |= 0x80
        payload += s(username)
    if password is not None:
        flags |= 0x40
        payload += s(password)
    body = s(pname) + bytes([level if level is not None else lvl, flags]) + u16(keep_alive)
    if version == "5":
        body += cprops if cprops else NOPROPS
    return pkt(1, 0, body + payload + payload_extra)


def publish(version, topic, payload=b"", qos=0, pid=None, dup=False, retain=False, pprops=None):
    flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = s(topic)
    if qos:
        body += u16(pid if pid is not None else 1)
    if version == "5":
        body += pprops if pprops is not None else NOPROPS
    return pkt(3, flags, body + payload)


def ack(ptype, version, pid, code=None, aprops=None):
    flags = 0x02 if ptype == 6 else 0
    body = u16(pid)
    if version == "5" and code is not None:
        body += bytes([code])
        if aprops is not None:
            body += aprops
    return pkt(ptype, flags, body)


def subscribe(version, pid, subs, sprops=None):
    body = u16(pid)
    if version == "5":
        body += sprops if sprops is not None else NOPROPS
    for f, o in subs:
        body += s(f) + bytes([o])
    return pkt(8, 2, body)


def suback(version, pid, codes, aprops=None):
    body = u16(pid)
    if version == "5":
        body += aprops if aprops is not None else NOPROPS
    return pkt(9, 0, body + bytes(codes))


def unsubscribe(version, pid, filters, uprops=None):
    body = u16(pid)
    if version == "5":
        body += uprops if uprops is not None else NOPROPS
    for f in filters:
        body += s(f)
    return pkt(10, 2, body)


def unsuback(version, pid, codes=(), aprops=None):
    body = u16(pid)
    if version == "5":
        body += (aprops if aprops is not None else NOPROPS) + bytes(codes)
    return pkt(11, 0, body)


def connack(version, sp=False, code=0, cprops=None):
    body = bytes([1 if sp else 0, code])
    if version == "5":
        body += cprops if cprops is not None else NOPROPS
    return pkt(2, 0, body)


def disconnect(version, code=None, dprops=None):
    body = b""
    if code is not None:
        body = bytes([code]) + (dprops if dprops is not None else b"")
    return pkt(14, 0, body)


def auth(code=None, aprops=None):
    body = b""
    if code is not None:
        body = bytes([code]) + (aprops if aprops is not None else NOPROPS)
    return pkt(15, 0, body)


# ---- registry ------------------------------------------------------------
VTAG = {"3.1": "31", "3.1.1": "311", "5": "5"}


def case(version, ptype, slug, data, expect="ok", frm="any", about=""):
    name = f"{VTAG[version]}-{ptype}-{slug}"
    if name in CASES:
        sys.exit(f"duplicate case {name}")
    CASES[name] = (version, frm, expect, about or slug.replace("-", " "), bytes(data))


def slugid(statement):
    return statement.lower().replace(".", "-").replace("§", "s").replace("/", "-")


def bad(version, ptype, what, data, statement, frm="any", about="", names=None):
    """An invalid packet. The slug ends with `names` (the statement the case
    exercises) when given, else with the statement the decoder reports."""
    case(version, ptype, f"{what}-{slugid(names or statement)}", data, statement, frm, about or what.replace("-", " "))


# ======================================================================
# Valid packets, every type in every version
# ======================================================================
for v in ("3.1", "3.1.1", "5"):
    case(v, "connect", "basic", connect(v), frm="client")
    case(v, "connect", "mosquitto-style", connect(v, "mosq-8Hv2Qz0A1bC3dE4f", keep_alive=60), frm="client")
    case(v, "connect", "user-pass", connect(v, username="alice", password=b"s3cret"), frm="client")
    case(v, "connect", "will-qos1-retain", connect(v, will=(1, True, "status/c1", b"offline", []), clean=False), frm="client")
    case(v, "connect", "keepalive-zero", connect(v, "k", keep_alive=0), frm="client")
    case(v, "connack", "accepted", connack(v), frm="server")
    if v != "3.1":
        case(v, "connack", "session-present", connack(v, sp=True), frm="server")
    case(v, "publish", "qos0", publish(v, "sensors/abcdef/temp1", b"21.5 degrees"), frm="client")
    case(v, "publish", "qos1", publish(v, "a/b", b"hello", qos=1, pid=10), frm="client")
    case(v, "publish", "qos2", publish(v, "a/b/c", b"exactly once", qos=2, pid=65535), frm="client")
    case(v, "publish", "retain", publish(v, "state/lamp", b"on", retain=True), frm="client")
    case(v, "publish", "dup-qos1", publish(v, "a", b"again", qos=1, pid=7, dup=True), frm="server")
    case(v, "publish", "empty-payload", publish(v, "clear/me", b"", retain=True), frm="client")
    case(v, "publish", "utf8-topic", publish(v, "temperatur/küche/℃/😀", b"x"), frm="client")
    case(v, "publish", "bom-kept-mqtt-1-5-3-3" if v != "5" else "bom-kept-mqtt-1-5-4-3",
         publish(v, "a/\ufeffb", b"p"), about="EF BB BF inside a topic is U+FEFF and is kept")
    case(v, "publish", "qos0-payload-looks-like-id",
         publish(v, "t", b"\x00\x01rest"),
         about="QoS 0 has no packet identifier: the two bytes after the topic are payload (MQTT-2.3.1-5 / MQTT-2.2.1-2)")
    case(v, "publish", "payload-200", publish(v, "big/200", bytes(range(200))), frm="client")
    case(v, "publish", "payload-20000", publish(v, "big/20000", bytes(i % 251 for i in range(20000))), frm="client")
    case(v, "publish", "dollar-topic", publish(v, "$SYS/broker/uptime", b"12 seconds"), frm="server")
    case(v, "publish", "slash-only", publish(v, "/", b"x"), frm="client")
    for ptype, name in ((4, "puback"), (5, "pubrec"), (6, "pubrel"), (7, "pubcomp")):
        case(v, name, "basic", ack(ptype, v, 10))
        case(v, name, "max-id", ack(ptype, v, 65535))
    case(v, "subscribe", "one", subscribe(v, 1, [("a/b", 0)]), frm="client")
    case(v, "subscribe", "wildcards", subscribe(v, 2, [("sport/+/player1", 1), ("sport/#", 2), ("#", 0), ("+", 1), ("+/+", 2), ("/+", 0)]), frm="client")
    case(v, "subscribe", "dollar-sys", subscribe(v, 3, [("$SYS/#", 0)]), frm="client")
    case(v, "suback", "granted", suback(v, 1, [0, 1, 2]), frm="server")
    case(v, "suback", "failure", suback(v, 2, [0x80, 1]), frm="server")
    case(v, "unsubscribe", "one", unsubscribe(v, 4, ["a/b"]), frm="client")
    case(v, "unsubscribe", "several", unsubscribe(v, 5, ["a/b", "sport/#", "+/x"]), frm="client")
    case(v, "unsuback", "basic", unsuback(v, 4, [0] if v == "5" else ()), frm="server")
    case(v, "pingreq", "basic", pkt(12, 0, b""), frm="client")
    case(v, "pingresp", "basic", pkt(13, 0, b""), frm="server")
    case(v, "disconnect", "basic", disconnect(v), frm="client")

for v in ("3.1", "3.1.1"):
    case(v, "connack", "refused-identifier", connack(v, code=2), frm="server")
    case(v, "connack", "refused-bad-credentials", connack(v, code=4), frm="server")

case("3.1.1", "connect", "empty-client-id-clean", connect("3.1.1", ""), frm="client")
case("5", "connect", "empty-client-id-persistent", connect("5", "", clean=False),
     frm="client", about="5.0 allows a zero-length ClientID with Clean Start 0 (the Server decides)")
case("5", "connect", "password-without-username", connect("5", password=b"token"), frm="client")

# ---- 5.0 variety ----------------------------------------------------------
ALL_CONNECT = props(p_u32(0x11, 3600), p_u16(0x21, 100), p_u32(0x27, 1048576), p_u16(0x22, 10),
                    p_byte(0x19, 1), p_byte(0x17, 0), p_str(0x15, "SCRAM-SHA-1"), p_str(0x16, b"\x01\x02\x03"),
                    p_user("region", "eu"), p_user("region", "us"))
ALL_WILL = [p_u32(0x18, 30), p_byte(0x01, 1), p_u32(0x02, 600), p_str(0x03, "text/plain"),
            p_str(0x08, "replies/c1"), p_str(0x09, b"\xde\xad"), p_user("k", "v")]
case("5", "connect", "every-property-and-will", connect("5", "full", cprops=ALL_CONNECT,
                                                         will=(2, False, "wills/full", b"gone", ALL_WILL),
                                                         username="u", password=b"p"), frm="client")
case("5", "connect", "session-expiry", connect("5", cprops=props(p_u32(0x11, 0xFFFFFFFF))), frm="client")
ALL_CONNACK = props(p_u32(0x11, 60), p_u16(0x21, 20), p_byte(0x24, 1), p_byte(0x25, 0), p_u32(0x27, 65536),
                    p_str(0x12, "auto-7F3A"), p_u16(0x22, 5), p_str(0x1F, "welcome"), p_byte(0x28, 1),
                    p_byte(0x29, 0), p_byte(0x2A, 1), p_u16(0x13, 30), p_str(0x1A, "resp/"),
                    p_str(0x1C, "other.example:1883"), p_str(0x15, "SCRAM-SHA-1"), p_str(0x16, b"\x09"),
                    p_user("a", "b"))
case("5", "connack", "every-property", connack("5", cprops=ALL_CONNACK), frm="server")
for code in (0x80, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x95, 0x97, 0x9C, 0x9F):
    case("5", "connack", f"refused-{code:02x}", connack("5", code=code), frm="server")
ALL_PUBLISH = props(p_byte(0x01, 1), p_u32(0x02, 120), p_u16(0x23, 3), p_str(0x08, "replies/x"),
                    p_str(0x09, b"corr-1"), p_str(0x03, "application/json"), p_user("u1", "v1"),
                    p_user("u2", "v2"), p_user("u1", "v3"), p_vbi(0x0B, 1), p_vbi(0x0B, 268435455))
case("5", "publish", "every-property", publish("5", "a/b", b'{"x":1}', qos=1, pid=3, pprops=ALL_PUBLISH), frm="server")
case("5", "publish", "alias-empty-topic", publish("5", "", b"via alias", pprops=props(p_u16(0x23, 7))), frm="client")
case("5", "publish", "alias-set", publish("5", "long/topic/name", b"x", pprops=props(p_u16(0x23, 7))), frm="client")
case("5", "publish", "request-response", publish("5", "svc/req", b"?", qos=1, pid=9,
                                                    pprops=props(p_str(0x08, "svc/resp/1"), p_str(0x09, b"\x00\x01"))), frm="client")
case("5", "publish", "message-expiry", publish("5", "t", b"x", pprops=props(p_u32(0x02, 5))), frm="client")
case("5", "publish", "sub-ids-from-server", publish("5", "t", b"x", pprops=props(p_vbi(0x0B, 5), p_vbi(0x0B, 300))), frm="server")
for ptype, name, codes in ((4, "puback", (0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99)),
                           (5, "pubrec", (0x10, 0x80, 0x87, 0x91, 0x97)),
                           (6, "pubrel", (0x92,)), (7, "pubcomp", (0x92,))):
    for c in codes:
        case("5", name, f"reason-{c:02x}", ack(ptype, "5", 5, c))
    case("5", name, "reason-string", ack(ptype, "5", 6, codes[0], props(p_str(0x1F, "why not"), p_user("k", "v"))))
    case("5", name, "success-with-props", ack(ptype, "5", 6, 0, props(p_user("trace", "1"))))
case("5", "subscribe", "all-options", subscribe("5", 7, [("a/1", 0x04 | 0x08 | 0x00 | 1), ("a/2", 0x10 | 2), ("a/3", 0x20)],
                                                sprops=props(p_vbi(0x0B, 42), p_user("k", "v"))), frm="client")
case("5", "subscribe", "shared", subscribe("5", 8, [("$share/group/a/b", 1), ("$share/g2/#", 0)]), frm="client")
case("5", "subscribe", "sub-id-max", subscribe("5", 9, [("x", 0)], sprops=props(p_vbi(0x0B, 268435455))), frm="client")
case("5", "suback", "many-codes", suback("5", 3, [0, 1, 2, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2]), frm="server")
case("5", "suback", "reason-string", suback("5", 3, [0x87], props(p_str(0x1F, "denied"))), frm="server")
case("5", "unsubscribe", "user-property", unsubscribe("5", 6, ["a", "b"], props(p_user("k", "v"))), frm="client")
case("5", "unsuback", "many-codes", unsuback("5", 6, [0, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91]), frm="server")
case("5", "disconnect", "reason-only", disconnect("5", 0x04), frm="client")
case("5", "disconnect", "server-busy", disconnect("5", 0x89), frm="server")
case("5", "disconnect", "with-properties", disconnect("5", 0x00, props(p_u32(0x11, 0), p_str(0x1F, "bye"), p_user("k", "v"))), frm="client")
case("5", "disconnect", "server-moved", disconnect("5", 0x9D, props(p_str(0x1C, "b2.example"))), frm="server")
case("5", "auth", "empty", auth(), frm="server")
case("5", "auth", "continue", auth(0x18, props(p_str(0x15, "SCRAM-SHA-1"), p_str(0x16, b"client-first"))), frm="client")
case("5", "auth", "reauthenticate", auth(0x19, props(p_str(0x15, "SCRAM-SHA-1"), p_str(0x1F, "rotate"))), frm="client")
case("5", "auth", "success-props", auth(0x00, props(p_str(0x15, "SCRAM-SHA-1"), p_str(0x16, b"server-final"))), frm="server")

# ======================================================================
# Incomplete input
# ======================================================================
full = publish("3.1.1", "a/b", b"hello")
case("3.1.1", "publish", "incomplete-first-byte-only", full[:1], "incomplete")
case("3.1.1", "publish", "incomplete-body-short-by-one", full[:-1], "incomplete")
case("3.1.1", "publish", "incomplete-header-only", full[:2], "incomplete")
case("3.1.1", "publish", "incomplete-length-continues", bytes([0x30, 0x80]), "incomplete")
case("3.1.1", "publish", "incomplete-huge-declared-length", bytes([0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01, 0x61]), "incomplete",
     about="declares 268 MB; only need-more-bytes, never an allocation")
case("3.1.1", "connect", "incomplete-half", connect("3.1.1")[:8], "incomplete")
case("5", "connect", "incomplete-half", connect("5", cprops=ALL_CONNECT)[:20], "incomplete")
case("5", "subscribe", "incomplete", subscribe("5", 7, [("a/1", 1)])[:-2], "incomplete")
case("5", "publish", "incomplete-3-byte-length", publish("5", "big", bytes(20000))[:4], "incomplete")
case("5", "pingreq", "incomplete", bytes([0xc0]), "incomplete")

# ======================================================================
# Violations, one per file
# ======================================================================
BAD_UTF8 = b"a\xff\xfeb"
SURROGATE = b"a\xed\xa0\x80"
# further ways for bytes not to be UTF-8
OVERLONG = b"a\xc0\xafb"              # '/' encoded in two bytes
OVERLONG3 = b"x\xe0\x80\xaf"          # '/' encoded in three bytes
LONE_CONT = b"\x80abc"                # continuation byte with no lead byte
CUT_SEQ = b"ab\xe2\x82"               # 3-byte sequence cut after 2 bytes
ABOVE_MAX = b"t\xf4\x90\x80\x80"      # U+110000, above U+10FFFF
LOW_SURROGATE = b"f\xed\xb0\x80"      # U+DC00
for v, inv, nul, sid in (("3.1.1", "MQTT-1.5.3-1", "MQTT-1.5.3-2", "3.1.1"), ("5", "MQTT-1.5.4-1", "MQTT-1.5.4-2", "5")):
    bad(v, "connect", "client-id-not-utf8", connect(v, BAD_UTF8), inv, "client")
    bad(v, "connect", "client-id-surrogate", connect(v, SURROGATE), inv, "client")
    bad(v, "connect", "client-id-nul", connect(v, "a\x00b"), nul, "client")
    bad(v, "connect", "username-nul", connect(v, username="a\x00"), nul, "client")
    bad(v, "publish", "topic-nul", publish(v, "a\x00b", b"x"), "MQTT-4.7.3-2")
    bad(v, "subscribe", "filter-nul", subscribe(v, 1, [("a\x00", 0)]), "MQTT-4.7.3-2")
    bad(v, "publish", "topic-wildcard-plus", publish(v, "a/+", b"x"), "MQTT-3.3.2-2")
    bad(v, "publish", "topic-wildcard-hash", publish(v, "a/#", b"x"), "MQTT-3.3.2-2")
    bad(v, "subscribe", "empty-filter", subscribe(v, 1, [("", 0)]), "MQTT-4.7.3-1")
    bad(v, "unsubscribe", "empty-filter", unsubscribe(v, 1, [""]), "MQTT-4.7.3-1")
    bad(v, "publish", "qos0-dup", publish(v, "a", b"x", dup=True), "MQTT-3.3.1-2")
    bad(v, "publish", "qos3", bytes([0x36]) + publish(v, "a", b"x", qos=1)[1:], "MQTT-3.3.1-4")
    bad(v, "connect", "reserved-flag", connect(v, flags_extra=0x01), "MQTT-3.1.2-3", "client")
    bad(v, "connect", "protocol-name", connect(v, name="MQTX"), "MQTT-3.1.2-1", "client")
    bad(v, "connect", "protocol-level", connect(v, level=6), "MQTT-3.1.2-2", "client")
    bad(v, "connect", "no-client-id", pkt(1, 0, connect(v)[2:-4]), "MQTT-3.1.3-3", "client",
        "CONNECT payload is empty: the ClientId is mandatory")
    bad(v, "pubrel", "flags", bytes([0x60]) + ack(6, v, 1)[1:], "MQTT-3.6.1-1")
    bad(v, "subscribe", "flags", bytes([0x80]) + subscribe(v, 1, [("a", 0)])[1:], "MQTT-3.8.1-1", "client")
    bad(v, "unsubscribe", "flags", bytes([0xa0]) + unsubscribe(v, 1, ["a"])[1:], "MQTT-3.10.1-1", "client")
    bad(v, "disconnect", "flags", bytes([0xe1, 0x00]), "MQTT-3.14.1-1", "client")
    bad(v, "unsubscribe", "no-filters", pkt(10, 2, u16(1) + (NOPROPS if v == "5" else b"")), "MQTT-3.10.3-2", "client")
    bad(v, "subscribe", "hash-not-last", subscribe(v, 1, [("a/#/b", 0)]), "MQTT-4.7.1-2" if v != "5" else "MQTT-4.7.1-1")
    bad(v, "subscribe", "hash-in-level", subscribe(v, 1, [("a#", 0)]), "MQTT-4.7.1-2" if v != "5" else "MQTT-4.7.1-1")
    bad(v, "subscribe", "plus-in-level", subscribe(v, 1, [("a/b+", 0)]), "MQTT-4.7.1-3" if v != "5" else "MQTT-4.7.1-2")
    bad(v, "unsubscribe", "plus-in-level", unsubscribe(v, 1, ["+a"]), "MQTT-4.7.1-3" if v != "5" else "MQTT-4.7.1-2")
    bad(v, "suback", "undefined-code", suback(v, 1, [0x03]), "MQTT-3.9.3-2", "server")
    bad(v, "connack", "session-present-on-refusal", connack(v, sp=True, code=5 if v != "5" else 0x87), "MQTT-3.2.2-4" if v != "5" else "MQTT-3.2.2-6", "server")
    bad(v, "pingreq", "flags", bytes([0xc1, 0x00]), "MQTT-2.2.2-1" if v != "5" else "MQTT-2.1.3-1", "client")
    bad(v, "puback", "flags", bytes([0x42]) + ack(4, v, 1)[1:], "MQTT-2.2.2-1" if v != "5" else "MQTT-2.1.3-1")
    bad(v, "connack", "flags", bytes([0x21]) + connack(v)[1:], "MQTT-2.2.2-1" if v != "5" else "MQTT-2.1.3-1", "server")

V3 = "3.1.1"
# 3.1.1 field-level UTF-8 statements: bad bytes in that field.
bad(V3, "connect", "client-id-utf8-field-mqtt-3-1-3-4", connect(V3, OVERLONG), "MQTT-1.5.3-1", "client", "ClientId must be UTF-8 (MQTT-3.1.3-4)")
bad(V3, "connect", "will-topic-utf8-mqtt-3-1-3-10", connect(V3, will=(0, False, BAD_UTF8, b"m", [])), "MQTT-1.5.3-1", "client", "Will Topic must be UTF-8 (MQTT-3.1.3-10)")
bad(V3, "connect", "username-utf8-mqtt-3-1-3-11", connect(V3, username=BAD_UTF8), "MQTT-1.5.3-1", "client", "User Name must be UTF-8 (MQTT-3.1.3-11)")
bad(V3, "publish", "topic-utf8-mqtt-3-3-2-1", publish(V3, BAD_UTF8, b"x"), "MQTT-1.5.3-1", about="Topic Name must be UTF-8 (MQTT-3.3.2-1)")
bad(V3, "subscribe", "filter-utf8-mqtt-3-8-3-1", subscribe(V3, 1, [(BAD_UTF8, 0)]), "MQTT-1.5.3-1", about="filters must be UTF-8 (MQTT-3.8.3-1)")
bad(V3, "unsubscribe", "filter-utf8-mqtt-3-10-3-1", unsubscribe(V3, 1, [BAD_UTF8]), "MQTT-1.5.3-1", about="filters must be UTF-8 (MQTT-3.10.3-1)")
bad(V3, "publish", "qos1-packet-id-zero", publish(V3, "a", b"x", qos=1, pid=0), "MQTT-2.3.1-1")
bad(V3, "subscribe", "packet-id-zero", subscribe(V3, 0, [("a", 0)]), "MQTT-2.3.1-1", "client")
bad(V3, "unsubscribe", "packet-id-zero", unsubscribe(V3, 0, ["a"]), "MQTT-2.3.1-1", "client")
bad(V3, "pingresp", "flags-close-mqtt-2-2-2-2", bytes([0xd8, 0x00]), "MQTT-2.2.2-1", "server", "invalid flags: receiver closes (MQTT-2.2.2-2)")
bad(V3, "connect", "will-missing", connect(V3, flags_extra=0x04), "MQTT-3.1.2-9", "client",
    "Will Flag set, payload ends after the ClientId")
bad(V3, "connect", "will-qos-without-will", connect(V3, flags_extra=0x08), "MQTT-3.1.2-13", "client")
bad(V3, "connect", "will-qos-without-will-mqtt-3-1-2-11", connect(V3, flags_extra=0x10), "MQTT-3.1.2-13", "client", "Will Flag 0 requires Will QoS 0 and Will Retain 0 (MQTT-3.1.2-11)")
bad(V3, "connect", "will-qos3", connect(V3, will=(3, False, "t", b"m", [])), "MQTT-3.1.2-14", "client")
bad(V3, "connect", "will-retain-without-will", connect(V3, flags_extra=0x20), "MQTT-3.1.2-15", "client")
bad(V3, "connect", "extra-bytes-without-username", connect(V3, payload_extra=s("u")), "MQTT-3.1.2-18", "client")
bad(V3, "connect", "username-missing", connect(V3, flags_extra=0x80), "MQTT-3.1.2-19", "client")
bad(V3, "connect", "extra-bytes-without-password", connect(V3, username="u", payload_extra=s("p")), "MQTT-3.1.2-20", "client")
bad(V3, "connect", "password-missing", connect(V3, username="u", flags_extra=0x40), "MQTT-3.1.2-21", "client")
bad(V3, "connect", "payload-order-mqtt-3-1-3-1", connect(V3, will=(1, False, "w/t", b"bye", []), username="u", flags_extra=0x40),
    "MQTT-3.1.2-21", "client",
    "fields must come in order ClientId, Will Topic, Will Message, User Name, Password (MQTT-3.1.3-1): "
    "will and user name present, password missing at the end")
bad(V3, "connect", "password-without-username", connect(V3, flags_extra=0x40, payload_extra=s("p")), "MQTT-3.1.2-22", "client")
bad(V3, "connect", "empty-client-id-persistent", connect(V3, "", clean=False), "MQTT-3.1.3-7", "client")
bad(V3, "connect", "will-topic-wildcard-mqtt-4-7-1-1", connect(V3, will=(0, False, "a/#", b"m", [])), "MQTT-4.7.1-1", "client")
bad(V3, "connack", "reserved-bits", pkt(2, 0, bytes([0x02, 0x00])), "§3.2.2.1/reserved", "server")
bad(V3, "connack", "undefined-return-code", connack(V3, code=6), "§3.2.2.3/return-code", "server")
bad(V3, "subscribe", "no-filters", pkt(8, 2, u16(1)), "MQTT-3.8.3-3", "client")
bad(V3, "subscribe", "qos3", subscribe(V3, 1, [("a", 3)]), "MQTT-3.8.3-4", "client")
bad(V3, "subscribe", "reserved-option-bits", subscribe(V3, 1, [("a", 0x04)]), "MQTT-3.8.3-4", "client")
bad(V3, "publish", "empty-topic", publish(V3, "", b"x"), "MQTT-4.7.3-1")
bad(V3, "publish", "remaining-length-5-bytes", bytes([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]), "§2.2.3/remaining-length")
bad(V3, "pingreq", "non-minimal-length", bytes([0xc0, 0x80, 0x00]), "§2.2.3/non-minimal", "client")
bad(V3, "reserved", "type-0", bytes([0x00, 0x00]), "§2.2.1/packet-type")
bad(V3, "reserved", "type-15", bytes([0xf0, 0x00]), "§2.2.1/packet-type")
bad(V3, "puback", "trailing-byte", pkt(4, 0, u16(1) + b"\x00"), "§2.2.3/trailing-bytes")
bad(V3, "pingreq", "trailing-byte", pkt(12, 0, b"\x00"), "§2.2.3/trailing-bytes", "client")
bad(V3, "unsuback", "trailing-byte", pkt(11, 0, u16(1) + b"\x00"), "§2.2.3/trailing-bytes", "server")
bad(V3, "publish", "topic-length-past-end", pkt(3, 0, u16(50) + b"ab"), "§2.2.3/truncated")
bad(V3, "connack", "from-client", connack(V3), "§2.2.1/direction", "client")
bad(V3, "subscribe", "from-server", subscribe(V3, 1, [("a", 0)]), "§2.2.1/direction", "server")
bad(V3, "disconnect", "from-server", disconnect(V3), "§2.2.1/direction", "server")
bad("3.1", "connect", "name-level-mismatch", connect("3.1", name="MQTT"), "MQTT-3.1.2-1", "client")
bad("3.1", "auth", "type-15-reserved", bytes([0xf0, 0x00]), "§2.2.1/packet-type")

V5 = "5"
bad(V5, "connect", "client-id-utf8-field-mqtt-3-1-3-4", connect(V5, OVERLONG), "MQTT-1.5.4-1", "client", "ClientID must be UTF-8 (MQTT-3.1.3-4)")
bad(V5, "connect", "will-topic-utf8-mqtt-3-1-3-11", connect(V5, will=(0, False, BAD_UTF8, b"m", [])), "MQTT-1.5.4-1", "client", "Will Topic must be UTF-8 (MQTT-3.1.3-11)")
bad(V5, "connect", "username-utf8-mqtt-3-1-3-12", connect(V5, username=BAD_UTF8), "MQTT-1.5.4-1", "client", "User Name must be UTF-8 (MQTT-3.1.3-12)")
bad(V5, "publish", "topic-utf8-mqtt-3-3-2-1", publish(V5, BAD_UTF8, b"x"), "MQTT-1.5.4-1", about="Topic Name must be UTF-8 (MQTT-3.3.2-1)")
bad(V5, "publish", "response-topic-utf8-mqtt-3-3-2-13", publish(V5, "a", b"x", pprops=props(p_str(0x08, BAD_UTF8))), "MQTT-1.5.4-1", about="Response Topic must be UTF-8 (MQTT-3.3.2-13)")
bad(V5, "publish", "content-type-utf8-mqtt-3-3-2-19", publish(V5, "a", b"x", pprops=props(p_str(0x03, BAD_UTF8))), "MQTT-1.5.4-1", about="Content Type must be UTF-8 (MQTT-3.3.2-19)")
bad(V5, "subscribe", "filter-utf8-mqtt-3-8-3-1", subscribe(V5, 1, [(BAD_UTF8, 0)]), "MQTT-1.5.4-1", about="filters must be UTF-8 (MQTT-3.8.3-1)")
bad(V5, "unsubscribe", "filter-utf8-mqtt-3-10-3-1", unsubscribe(V5, 1, [BAD_UTF8]), "MQTT-1.5.4-1", about="filters must be UTF-8 (MQTT-3.10.3-1)")
bad(V5, "publish", "user-property-utf8", publish(V5, "a", b"x", pprops=props(p_user(BAD_UTF8, "v"))), "MQTT-1.5.7-1")
bad(V5, "publish", "user-property-value-utf8", publish(V5, "a", b"x", pprops=props(p_user("k", SURROGATE))), "MQTT-1.5.7-1")
bad(V5, "puback", "reason-string-nul", ack(4, V5, 1, 0x80, props(p_str(0x1F, "a\x00"))), "MQTT-1.5.4-2")
bad(V5, "pingreq", "non-minimal-length", bytes([0xc0, 0x80, 0x00]), "MQTT-1.5.5-1", "client")
bad(V5, "publish", "non-minimal-property-length", pkt(3, 0, s("a") + b"\x80\x00" + b"x"), "MQTT-1.5.5-1")
bad(V5, "publish", "non-minimal-subscription-id", publish(V5, "a", b"x", pprops=props(b"\x0b\x81\x00")), "MQTT-1.5.5-1", "server")
bad(V5, "publish", "qos1-packet-id-zero", publish(V5, "a", b"x", qos=1, pid=0), "§2.2.1/packet-identifier-zero")
bad(V5, "subscribe", "packet-id-zero", subscribe(V5, 0, [("a", 0)]), "§2.2.1/packet-identifier-zero", "client")
bad(V5, "auth", "flags", bytes([0xf1, 0x00]), "MQTT-3.15.1-1")
bad(V5, "connect", "will-missing", connect(V5, flags_extra=0x04), "MQTT-3.1.2-9", "client",
    "Will Flag set, payload ends after the ClientID")
bad(V5, "connect", "will-qos-without-will", connect(V5, flags_extra=0x08), "MQTT-3.1.2-11", "client")
bad(V5, "connect", "will-qos3", connect(V5, will=(3, False, "t", b"m", [])), "MQTT-3.1.2-12", "client")
bad(V5, "connect", "will-retain-without-will", connect(V5, flags_extra=0x20), "MQTT-3.1.2-13", "client")
bad(V5, "connect", "extra-bytes-without-username", connect(V5, payload_extra=s("u")), "MQTT-3.1.2-16", "client")
bad(V5, "connect", "username-missing", connect(V5, flags_extra=0x80), "MQTT-3.1.2-17", "client")
bad(V5, "connect", "extra-bytes-without-password", connect(V5, username="u", payload_extra=s("p")), "MQTT-3.1.2-18", "client")
bad(V5, "connect", "password-missing", connect(V5, username="u", flags_extra=0x40), "MQTT-3.1.2-19", "client")
bad(V5, "connect", "payload-order-mqtt-3-1-3-1", connect(V5, will=(1, False, "w/t", b"bye", [p_u32(0x18, 5)]), username="u",
                                                        flags_extra=0x40), "MQTT-3.1.2-19", "client",
    "fields in order ClientID, Will Properties, Will Topic, Will Payload, User Name, Password (MQTT-3.1.3-1): "
    "will and user name present, password missing at the end")
bad(V5, "connect", "will-topic-wildcard", connect(V5, will=(0, False, "a/+", b"m", [])), "MQTT-4.7.0-1", "client")
bad(V5, "connack", "reserved-bits", pkt(2, 0, bytes([0x80, 0x00]) + NOPROPS), "MQTT-3.2.2-1", "server")
bad(V5, "connack", "undefined-reason", connack(V5, code=0x01), "MQTT-3.2.2-8", "server")
bad(V5, "publish", "topic-alias-zero", publish(V5, "a", b"x", pprops=props(p_u16(0x23, 0))), "MQTT-3.3.2-8")
bad(V5, "publish", "response-topic-wildcard", publish(V5, "a", b"x", pprops=props(p_str(0x08, "r/#"))), "MQTT-3.3.2-14")
bad(V5, "publish", "client-subscription-id", publish(V5, "a", b"x", pprops=props(p_vbi(0x0B, 1))), "MQTT-3.3.4-6", "client")
bad(V5, "publish", "empty-topic-without-alias", publish(V5, "", b"x"), "§3.3.2.3.4/empty-topic-without-alias")
bad(V5, "publish", "payload-format-2", publish(V5, "a", b"x", pprops=props(p_byte(0x01, 2))), "§3.3.2.3.2/payload-format-indicator")
bad(V5, "puback", "undefined-reason", ack(4, V5, 1, 0x01), "MQTT-3.4.2-1")
bad(V5, "pubrec", "undefined-reason", ack(5, V5, 1, 0x92), "MQTT-3.5.2-1")
bad(V5, "pubrel", "undefined-reason", ack(6, V5, 1, 0x80), "MQTT-3.6.2-1")
bad(V5, "pubcomp", "undefined-reason", ack(7, V5, 1, 0x10), "MQTT-3.7.2-1")
bad(V5, "subscribe", "no-filters", pkt(8, 2, u16(1) + NOPROPS), "MQTT-3.8.3-2", "client")
bad(V5, "subscribe", "no-local-shared", subscribe(V5, 1, [("$share/g/t", 0x04)]), "MQTT-3.8.3-4", "client")
bad(V5, "subscribe", "reserved-option-bits", subscribe(V5, 1, [("a", 0x40)]), "MQTT-3.8.3-5", "client")
bad(V5, "subscribe", "qos3", subscribe(V5, 1, [("a", 0x03)]), "§3.8.3.1/qos", "client")
bad(V5, "subscribe", "retain-handling-3", subscribe(V5, 1, [("a", 0x30)]), "§3.8.3.1/retain-handling", "client")
bad(V5, "subscribe", "share-name-empty", subscribe(V5, 1, [("$share//t", 0)]), "MQTT-4.8.2-1", "client")
bad(V5, "subscribe", "share-name-wildcard", subscribe(V5, 1, [("$share/+/t", 0)]), "MQTT-4.8.2-2", "client",
    "ShareName '+' contains a wildcard (the '+' fills its level, so MQTT-4.7.1-2 holds)")
bad(V5, "subscribe", "share-without-filter", subscribe(V5, 1, [("$share/g", 0)]), "MQTT-4.8.2-2", "client")
bad(V5, "subscribe", "subscription-id-zero", subscribe(V5, 1, [("a", 0)], props(p_vbi(0x0B, 0))), "§3.8.2.1.2/subscription-identifier-zero", "client")
bad(V5, "subscribe", "two-subscription-ids", subscribe(V5, 1, [("a", 0)], props(p_vbi(0x0B, 1), p_vbi(0x0B, 2))), "§2.2.2.2/duplicate-property", "client")
bad(V5, "unsuback", "undefined-reason", unsuback(V5, 1, [0x01]), "MQTT-3.11.3-2", "server")
bad(V5, "disconnect", "undefined-reason", disconnect(V5, 0x01), "MQTT-3.14.2-1")
bad(V5, "disconnect", "server-session-expiry", disconnect(V5, 0x00, props(p_u32(0x11, 10))), "MQTT-3.14.2-2", "server")
bad(V5, "disconnect", "will-reason-from-server", disconnect(V5, 0x04), "§3.14.2.1/reason-direction", "server")
bad(V5, "disconnect", "shutting-down-from-client", disconnect(V5, 0x8B), "§3.14.2.1/reason-direction", "client")
bad(V5, "auth", "undefined-reason", auth(0x01, props(p_str(0x15, "SCRAM-SHA-1"))), "MQTT-3.15.2-1",
    about="AUTH reason code 0x01 is not an Authenticate Reason Code")
bad(V5, "connect", "duplicate-property", connect(V5, cprops=props(p_u32(0x11, 1), p_u32(0x11, 2))), "§2.2.2.2/duplicate-property", "client")
bad(V5, "connect", "property-not-allowed", connect(V5, cprops=props(p_u16(0x23, 1))), "§2.2.2.2/property-not-allowed", "client")
bad(V5, "connect", "unknown-property", connect(V5, cprops=props(b"\x05\x00")), "§2.2.2.2/unknown-property", "client")
bad(V5, "publish", "property-length-past-end", pkt(3, 0, s("a") + b"\x09\x01"), "§2.2.2.1/property-length")
bad(V5, "connect", "receive-maximum-zero", connect(V5, cprops=props(p_u16(0x21, 0))), "§3.1.2.11.3/receive-maximum-zero", "client")
bad(V5, "connect", "maximum-packet-size-zero", connect(V5, cprops=props(p_u32(0x27, 0))), "§3.1.2.11.4/maximum-packet-size-zero", "client")
bad(V5, "connect", "request-response-information-2", connect(V5, cprops=props(p_byte(0x19, 2))), "§3.1.2.11.6/request-response-information", "client")
bad(V5, "connect", "request-problem-information-2", connect(V5, cprops=props(p_byte(0x17, 2))), "§3.1.2.11.7/request-problem-information", "client")
bad(V5, "connect", "auth-data-without-method", connect(V5, cprops=props(p_str(0x16, b"x"))), "§3.1.2.11.10/authentication-data-without-method", "client")
bad(V5, "connack", "maximum-qos-2", connack(V5, cprops=props(p_byte(0x24, 2))), "§3.2.2.3.4/maximum-qos", "server")
bad(V5, "connack", "retain-available-2", connack(V5, cprops=props(p_byte(0x25, 2))), "§3.2.2.3.5/retain-available", "server")
bad(V5, "connack", "wildcard-available-2", connack(V5, cprops=props(p_byte(0x28, 2))), "§3.2.2.3.11/wildcard-subscription-available", "server")
bad(V5, "connack", "subid-available-2", connack(V5, cprops=props(p_byte(0x29, 2))), "§3.2.2.3.12/subscription-identifiers-available", "server")
bad(V5, "connack", "shared-available-2", connack(V5, cprops=props(p_byte(0x2A, 2))), "§3.2.2.3.13/shared-subscription-available", "server")
bad(V5, "publish", "remaining-length-5-bytes", bytes([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]), "§2.1.4/remaining-length")
bad(V5, "reserved", "type-0", bytes([0x00, 0x00]), "§2.1.2/packet-type")
bad(V5, "pingresp", "trailing-byte", pkt(13, 0, b"\x00"), "§2.1.4/trailing-bytes", "server")
bad(V5, "publish", "topic-length-past-end", pkt(3, 0, u16(9) + b"ab"), "§2.1.4/truncated")
bad(V5, "connack", "from-client", connack(V5), "§2.1.2/direction", "client")
bad(V5, "suback", "from-client", suback(V5, 1, [0]), "§2.1.2/direction", "client")


# ======================================================================
# Further cases: field-level statement names, more variety
# ======================================================================
# ---- valid ---------------------------------------------------------------
case("5", "connect", "empty-client-id-clean", connect("5", ""), frm="client",
     about="zero-length ClientID with Clean Start 1: the Server assigns one")
case("5", "connack", "assigned-client-id", connack("5", cprops=props(p_str(0x12, "auto-0A1B2C"), p_u16(0x13, 120))),
     frm="server", about="answer to an empty ClientID: Assigned Client Identifier and Server Keep Alive")
case("3.1.1", "publish", "qos0-no-packet-id-mqtt-2-3-1-5", publish("3.1.1", "a/b", b"\x12\x34data"), frm="client",
     about="MQTT-2.3.1-5: a QoS 0 PUBLISH has no Packet Identifier; 12 34 are the first payload bytes")
case("5", "publish", "qos0-no-packet-id-mqtt-2-2-1-2", publish("5", "a/b", b"\x12\x34data"), frm="client",
     about="MQTT-2.2.1-2: a QoS 0 PUBLISH has no Packet Identifier; after the topic comes the Property Length, then payload 12 34 ...")
case("3.1", "connect", "will-and-credentials", connect("3.1", "sensor-17", will=(2, True, "dev/sensor-17/lwt", b"dead", []),
                                                        username="dev", password=b"pw"), frm="client")
case("3.1", "publish", "qos2-binary-payload", publish("3.1", "bin/blob", bytes(range(256)) * 2, qos=2, pid=4242), frm="server",
     about="QoS 2, 512-byte binary payload (2-byte remaining length)")
case("3.1.1", "connect", "paho-style", connect("3.1.1", "paho/34AAE54A75D839566E", keep_alive=60, username="iot",
                                                   password=b"secret"), frm="client",
     about="real-world style: Paho client id, keep alive 60, user name and password")
case("3.1.1", "subscribe", "mosquitto-sub-style", subscribe("3.1.1", 1, [("home/+/temperature", 1)]), frm="client",
     about="real-world style: mosquitto_sub -t 'home/+/temperature' -q 1")
case("3.1.1", "publish", "homeassistant-discovery", publish("3.1.1", "homeassistant/sensor/kitchen_t/config",
                                                             b'{"name":"Kitchen","state_topic":"home/kitchen/temperature","unit_of_measurement":"\xc2\xb0C"}',
                                                             retain=True), frm="client",
     about="real-world style: retained Home Assistant discovery message")
case("5", "connect", "mqttx-style", connect("5", "mqttx_3f2a9c1b", keep_alive=60, cprops=props(p_u32(0x11, 7200), p_u16(0x21, 1000),
                                                                                             p_u16(0x22, 10))), frm="client",
     about="real-world style: 5.0 client with Session Expiry, Receive Maximum and Topic Alias Maximum")
case("5", "publish", "utf8-user-properties", publish("5", "données/été", "ça marche".encode(), qos=2, pid=77,
                                                      pprops=props(p_user("clé", "valeur ✓"), p_user("emoji", "😀"),
                                                                   p_user("clé", "second"))), frm="client",
     about="multi-byte UTF-8 in the topic and user properties; a repeated user property name")
case("5", "publish", "bom-in-user-property", publish("5", "t", b"x", pprops=props(p_user("k", "\ufeffv"))), frm="client",
     about="U+FEFF (EF BB BF) at the start of a user property value is kept (MQTT-1.5.4-3)")
case("5", "subscribe", "shared-options", subscribe("5", 11, [("$share/workers/jobs/+", 0x08 | 0x20 | 2),
                                                              ("$share/w2/logs/#", 0x10 | 1)]), frm="client",
     about="shared subscriptions with Retain As Published and Retain Handling 2 / 1 (No Local off)")
case("5", "unsuback", "reason-string", unsuback("5", 12, [0x11, 0x00], props(p_str(0x1F, "no such subscription"),
                                                                           p_user("k", "v"))), frm="server")
case("5", "disconnect", "session-taken-over", disconnect("5", 0x8E, props(p_str(0x1F, "another client connected"),
                                                                          p_user("by", "10.0.0.2"))), frm="server")
case("5", "disconnect", "client-session-expiry", disconnect("5", 0x00, props(p_u32(0x11, 3600))), frm="client",
     about="a Client may change Session Expiry Interval on DISCONNECT")
case("5", "auth", "reason-string-user-property", auth(0x18, props(p_str(0x15, "SCRAM-SHA-256"), p_str(0x16, b"\x00\xff"),
                                                                   p_str(0x1F, "step 2"), p_user("k", "v"))), frm="server")
case("5", "pubrel", "success-reason-string", ack(6, "5", 13, 0x00, props(p_str(0x1F, "ok"))), frm="client",
     about="PUBREL Success carrying a Reason String")

# ---- incomplete ------------------------------------------------------------
case("3.1.1", "connack", "incomplete-one-body-byte", connack("3.1.1")[:3], "incomplete")
case("5", "disconnect", "incomplete-reason-missing", bytes([0xE0, 0x01]), "incomplete",
     about="DISCONNECT declares 1 byte (the reason code) and the input ends")
case("3.1.1", "subscribe", "incomplete-length-two-continuations", bytes([0x82, 0xFF, 0x80]), "incomplete",
     about="remaining length still continuing after two bytes")

# ---- 3.1.1: field-level UTF-8 statements, named after the field's statement -----
bad(V3, "connect", "client-id-not-utf8", connect(V3, LONE_CONT), "MQTT-1.5.3-1", "client",
    "MQTT-3.1.3-4: the ClientId is a UTF-8 string; it starts with a lone continuation byte", names="MQTT-3.1.3-4")
bad(V3, "connect", "will-topic-not-utf8", connect(V3, will=(1, False, CUT_SEQ, b"m", [])), "MQTT-1.5.3-1", "client",
    "MQTT-3.1.3-10: the Will Topic is a UTF-8 string; it ends inside a 3-byte sequence", names="MQTT-3.1.3-10")
bad(V3, "connect", "username-not-utf8", connect(V3, username=OVERLONG, password=b"p"), "MQTT-1.5.3-1", "client",
    "MQTT-3.1.3-11: the User Name is a UTF-8 string; it holds an overlong encoding", names="MQTT-3.1.3-11")
bad(V3, "publish", "topic-not-utf8", publish(V3, ABOVE_MAX, b"x", qos=1, pid=2), "MQTT-1.5.3-1", "client",
    "MQTT-3.3.2-1: the Topic Name is a UTF-8 string; it encodes U+110000", names="MQTT-3.3.2-1")
bad(V3, "subscribe", "filter-not-utf8", subscribe(V3, 3, [("ok/#", 0), (LOW_SURROGATE, 1)]), "MQTT-1.5.3-1", "client",
    "MQTT-3.8.3-1: Topic Filters are UTF-8 strings; the second one encodes surrogate U+DC00", names="MQTT-3.8.3-1")
bad(V3, "unsubscribe", "filter-not-utf8", unsubscribe(V3, 3, [OVERLONG3]), "MQTT-1.5.3-1", "client",
    "MQTT-3.10.3-1: Topic Filters are UTF-8 strings; this one has a 3-byte overlong '/'", names="MQTT-3.10.3-1")
bad(V3, "connect", "payload-order", connect(V3, "c1", username="user", flags_extra=0x40), "MQTT-3.1.2-21", "client",
    "MQTT-3.1.3-1 (payload order): User Name and Password flags set, the payload holds ClientId and User Name "
    "and ends; the decoder reports the missing Password (MQTT-3.1.2-21)", names="MQTT-3.1.3-1")
bad(V3, "connect", "will-qos-without-will", connect(V3, "q1", username="u", password=b"p", flags_extra=0x08), "MQTT-3.1.2-13",
    "client", "MQTT-3.1.2-11: Will Flag 0 means Will QoS 0; Will QoS is 1 here (reported as MQTT-3.1.2-13)",
    names="MQTT-3.1.2-11")
bad(V3, "connect", "will-topic-plus", connect(V3, will=(1, False, "a/+/c", b"m", [])), "MQTT-4.7.1-1", "client",
    "a Will Topic is a Topic Name: no '+' wildcard")
bad(V3, "pingreq", "flags-close", bytes([0xC8, 0x00]), "MQTT-2.2.2-1", "client",
    "MQTT-2.2.2-2: PINGREQ with flags 1000; invalid flags close the connection (reported as MQTT-2.2.2-1)",
    names="MQTT-2.2.2-2")
# ---- 3.1.1: more violations --------------------------------------------------
bad(V3, "connect", "will-topic-nul", connect(V3, will=(0, False, "a\x00b", b"m", [])), "MQTT-4.7.3-2", "client",
    "U+0000 in the Will Topic")
bad(V3, "unsubscribe", "filter-nul", unsubscribe(V3, 2, ["a/b", "x\x00"]), "MQTT-4.7.3-2", "client")
bad(V3, "unsubscribe", "hash-not-last", unsubscribe(V3, 2, ["#/a"]), "MQTT-4.7.1-2", "client")
bad(V3, "publish", "qos2-packet-id-zero", publish(V3, "a", b"x", qos=2, pid=0), "MQTT-2.3.1-1")
bad(V3, "subscribe", "second-filter-qos3", subscribe(V3, 9, [("a", 1), ("b", 3)]), "MQTT-3.8.3-4", "client",
    "the second filter requests QoS 3")
bad(V3, "suback", "return-code-81", suback(V3, 1, [0x00, 0x81]), "MQTT-3.9.3-2", "server",
    "0x81 is not a 3.1.1 SUBACK return code")
bad(V3, "connack", "reserved-bit-7", pkt(2, 0, bytes([0x80, 0x00])), "§3.2.2.1/reserved", "server",
    "Connect Acknowledge Flags bit 7 set")
bad(V3, "connack", "trailing-byte", pkt(2, 0, bytes([0x00, 0x00, 0x00])), "§2.2.3/trailing-bytes", "server",
    "a 3.1.1 CONNACK is exactly 2 bytes; remaining length 3")
bad(V3, "disconnect", "trailing-byte", pkt(14, 0, b"\x00"), "§2.2.3/trailing-bytes", "client",
    "a 3.1.1 DISCONNECT has no variable header; remaining length 1")
bad(V3, "publish", "non-minimal-length", bytes([0x30, 0x85, 0x00]) + publish(V3, "a", b"xy")[2:], "§2.2.3/non-minimal",
    about="remaining length 5 encoded as 85 00")
bad(V3, "pingresp", "from-client", pkt(13, 0, b""), "§2.2.1/direction", "client", "PINGRESP is sent by the Server only")
bad(V3, "connect", "client-id-length-past-end", pkt(1, 0, s("MQTT") + bytes([4, 2]) + u16(60) + u16(10) + b"abc"),
    "§2.2.3/truncated", "client", "ClientId length 10 with 3 bytes left")
bad(V3, "pubrel", "flags-0011", bytes([0x63]) + ack(6, V3, 1)[1:], "MQTT-3.6.1-1", about="PUBREL flags 0011")
bad(V3, "connect", "protocol-name-lowercase", connect(V3, name="mqtt"), "MQTT-3.1.2-1", "client",
    "protocol name 'mqtt' (lower case)")

# ---- 3.1 -------------------------------------------------------------------------
bad("3.1", "connect", "mqisdp-level-4", connect("3.1", level=4), "MQTT-3.1.2-1", "client",
    "protocol name MQIsdp with level 4: name and level do not match")
bad("3.1", "publish", "topic-wildcard", publish("3.1", "a/#", b"x"), "MQTT-3.3.2-2", "client")
bad("3.1", "publish", "qos3", bytes([0x36]) + publish("3.1", "a", b"x", qos=1)[1:], "MQTT-3.3.1-4")
bad("3.1", "subscribe", "flags", bytes([0x80]) + subscribe("3.1", 1, [("a", 0)])[1:], "MQTT-3.8.1-1", "client")
bad("3.1", "connect", "will-qos3", connect("3.1", will=(3, False, "t", b"m", [])), "MQTT-3.1.2-14", "client")
case("3.1", "pingreq", "incomplete-first-byte", bytes([0xC0]), "incomplete")

# ---- 5.0: field-level UTF-8 statements, named after the field's statement -----
bad(V5, "connect", "client-id-not-utf8", connect(V5, LONE_CONT), "MQTT-1.5.4-1", "client",
    "MQTT-3.1.3-4: the ClientID is a UTF-8 string; it starts with a lone continuation byte", names="MQTT-3.1.3-4")
bad(V5, "connect", "will-topic-not-utf8", connect(V5, will=(1, False, CUT_SEQ, b"m", [p_u32(0x18, 1)])), "MQTT-1.5.4-1", "client",
    "MQTT-3.1.3-11: the Will Topic is a UTF-8 string; it ends inside a 3-byte sequence", names="MQTT-3.1.3-11")
bad(V5, "connect", "username-not-utf8", connect(V5, username=OVERLONG, password=b"p"), "MQTT-1.5.4-1", "client",
    "MQTT-3.1.3-12: the User Name is a UTF-8 string; it holds an overlong encoding", names="MQTT-3.1.3-12")
bad(V5, "publish", "topic-not-utf8", publish(V5, ABOVE_MAX, b"x", qos=1, pid=2), "MQTT-1.5.4-1", "client",
    "MQTT-3.3.2-1: the Topic Name is a UTF-8 string; it encodes U+110000", names="MQTT-3.3.2-1")
bad(V5, "publish", "response-topic-not-utf8", publish(V5, "req", b"?", pprops=props(p_str(0x08, LOW_SURROGATE))),
    "MQTT-1.5.4-1", "client", "MQTT-3.3.2-13: the Response Topic is a UTF-8 string; it encodes surrogate U+DC00",
    names="MQTT-3.3.2-13")
bad(V5, "publish", "content-type-not-utf8", publish(V5, "a", b"x", pprops=props(p_str(0x03, CUT_SEQ))), "MQTT-1.5.4-1",
    "client", "MQTT-3.3.2-19: the Content Type is a UTF-8 string; it ends inside a 3-byte sequence", names="MQTT-3.3.2-19")
bad(V5, "subscribe", "filter-not-utf8", subscribe(V5, 3, [("ok/#", 0), (ABOVE_MAX, 1)]), "MQTT-1.5.4-1", "client",
    "MQTT-3.8.3-1: Topic Filters are UTF-8 strings; the second encodes U+110000", names="MQTT-3.8.3-1")
bad(V5, "unsubscribe", "filter-not-utf8", unsubscribe(V5, 3, [OVERLONG3]), "MQTT-1.5.4-1", "client",
    "MQTT-3.10.3-1: Topic Filters are UTF-8 strings; this one has a 3-byte overlong '/'", names="MQTT-3.10.3-1")
bad(V5, "connect", "payload-order", connect(V5, "c1", username="user", flags_extra=0x40), "MQTT-3.1.2-19", "client",
    "MQTT-3.1.3-1 (payload order): User Name and Password flags set, the payload holds ClientID and User Name "
    "and ends; the decoder reports the missing Password (MQTT-3.1.2-19)", names="MQTT-3.1.3-1")
# ---- 5.0: more UTF-8 / string cases ------------------------------------------
bad(V5, "connect", "will-content-type-not-utf8", connect(V5, will=(0, False, "w", b"m", [p_str(0x03, BAD_UTF8)])),
    "MQTT-1.5.4-1", "client", "ill-formed UTF-8 in a Will Property string")
bad(V5, "connack", "reason-string-not-utf8", connack(V5, code=0x87, cprops=props(p_str(0x1F, OVERLONG))), "MQTT-1.5.4-1",
    "server", "overlong encoding in a CONNACK Reason String")
bad(V5, "disconnect", "reason-string-nul", disconnect(V5, 0x80, props(p_str(0x1F, "bad\x00"))), "MQTT-1.5.4-2", "client",
    "U+0000 in a DISCONNECT Reason String")
bad(V5, "connack", "user-property-not-utf8", connack(V5, cprops=props(p_user("k", CUT_SEQ))), "MQTT-1.5.7-1", "server",
    "CONNACK user property value ends inside a 3-byte sequence")
bad(V5, "connect", "will-user-property-not-utf8", connect(V5, will=(0, False, "w", b"m", [p_user(LOW_SURROGATE, "v")])),
    "MQTT-1.5.7-1", "client", "Will user property name encodes a surrogate")
bad(V5, "connect", "will-topic-nul", connect(V5, will=(0, False, "a\x00", b"m", [])), "MQTT-4.7.3-2", "client",
    "U+0000 in the Will Topic")
bad(V5, "unsubscribe", "filter-nul", unsubscribe(V5, 2, ["a/b", "x\x00"]), "MQTT-4.7.3-2", "client")
bad(V5, "connect", "will-topic-hash", connect(V5, will=(1, True, "status/#", b"m", [])), "MQTT-4.7.0-1", "client",
    "Will Topic with '#'")
bad(V5, "unsubscribe", "hash-not-last", unsubscribe(V5, 2, ["#/a"]), "MQTT-4.7.1-1", "client")
bad(V5, "unsubscribe", "share-name-empty", unsubscribe(V5, 2, ["$share//t"]), "MQTT-4.8.2-1", "client",
    "empty ShareName in an UNSUBSCRIBE filter")
bad(V5, "publish", "qos2-packet-id-zero", publish(V5, "a", b"x", qos=2, pid=0), "§2.2.1/packet-identifier-zero")
bad(V5, "unsubscribe", "packet-id-zero", unsubscribe(V5, 0, ["a"]), "§2.2.1/packet-identifier-zero", "client")
# ---- 5.0: properties -------------------------------------------------------------
bad(V5, "connect", "will-payload-format-2", connect(V5, will=(0, False, "w", b"m", [p_byte(0x01, 2)])),
    "§3.3.2.3.2/payload-format-indicator", "client", "Will Property Payload Format Indicator 2")
bad(V5, "publish", "payload-format-255", publish(V5, "a", b"x", pprops=props(p_byte(0x01, 0xFF))),
    "§3.3.2.3.2/payload-format-indicator")
bad(V5, "connect", "will-topic-alias", connect(V5, will=(0, False, "w", b"m", [p_u16(0x23, 1)])), "§2.2.2.2/property-not-allowed",
    "client", "Topic Alias is not a Will Property")
bad(V5, "publish", "session-expiry", publish(V5, "a", b"x", pprops=props(p_u32(0x11, 10))), "§2.2.2.2/property-not-allowed",
    about="Session Expiry Interval in a PUBLISH")
bad(V5, "puback", "subscription-id", ack(4, V5, 1, 0x00, props(p_vbi(0x0B, 1))), "§2.2.2.2/property-not-allowed",
    about="Subscription Identifier in a PUBACK")
bad(V5, "connack", "duplicate-maximum-qos", connack(V5, cprops=props(p_byte(0x24, 0), p_byte(0x24, 1))),
    "§2.2.2.2/duplicate-property", "server")
bad(V5, "publish", "duplicate-topic-alias", publish(V5, "a", b"x", pprops=props(p_u16(0x23, 1), p_u16(0x23, 2))),
    "§2.2.2.2/duplicate-property")
bad(V5, "disconnect", "duplicate-reason-string", disconnect(V5, 0x80, props(p_str(0x1F, "a"), p_str(0x1F, "b"))),
    "§2.2.2.2/duplicate-property", "client")
bad(V5, "subscribe", "unknown-property-0", subscribe(V5, 1, [("a", 0)], props(b"\x00\x00")), "§2.2.2.2/unknown-property",
    "client", "property identifier 0x00")
bad(V5, "publish", "unknown-property-2b", publish(V5, "a", b"x", pprops=props(b"\x2b\x01")), "§2.2.2.2/unknown-property",
    about="property identifier 0x2B")
bad(V5, "connack", "property-length-past-end", pkt(2, 0, bytes([0x00, 0x00, 0x05, 0x24, 0x01])), "§2.2.2.1/property-length",
    "server", "Property Length 5 with 2 bytes left")
bad(V5, "subscribe", "property-length-past-end", pkt(8, 2, u16(1) + bytes([0x20]) + s("a") + b"\x00"),
    "§2.2.2.1/property-length", "client", "Property Length 32 with 4 bytes left")
bad(V5, "subscribe", "non-minimal-property-length", pkt(8, 2, u16(1) + b"\x80\x00" + s("a") + b"\x00"), "MQTT-1.5.5-1",
    "client", "Property Length 0 encoded as 80 00")
bad(V5, "subscribe", "non-minimal-subscription-id", subscribe(V5, 1, [("a", 0)], props(b"\x0b\x85\x80\x00")), "MQTT-1.5.5-1",
    "client", "Subscription Identifier 5 encoded in three bytes")
bad(V5, "puback", "non-minimal-length", bytes([0x40, 0x82, 0x00]) + u16(1), "MQTT-1.5.5-1",
    about="remaining length 2 encoded as 82 00")
bad(V5, "connect", "request-problem-information-255", connect(V5, cprops=props(p_byte(0x17, 0xFF))),
    "§3.1.2.11.7/request-problem-information", "client")
bad(V5, "publish", "server-topic-alias-zero", publish(V5, "a", b"x", qos=1, pid=5, pprops=props(p_u16(0x23, 0))),
    "MQTT-3.3.2-8", "server", "Topic Alias 0 from the Server")
bad(V5, "publish", "client-subscription-ids", publish(V5, "a", b"x", qos=1, pid=5, pprops=props(p_vbi(0x0B, 7), p_vbi(0x0B, 9))),
    "MQTT-3.3.4-6", "client", "a Client PUBLISH with two Subscription Identifiers")
bad(V5, "disconnect", "server-session-expiry-taken-over", disconnect(V5, 0x8E, props(p_u32(0x11, 0))), "MQTT-3.14.2-2",
    "server", "Session Expiry Interval (even 0) in a Server DISCONNECT")
# ---- 5.0: reason codes -------------------------------------------------------------
bad(V5, "connack", "undefined-reason-8d", connack(V5, code=0x8D), "MQTT-3.2.2-8", "server",
    "0x8D (Keep Alive timeout) is a DISCONNECT code, not a CONNACK code")
bad(V5, "puback", "undefined-reason-92", ack(4, V5, 1, 0x92), "MQTT-3.4.2-1", about="0x92 is a PUBREL/PUBCOMP code")
bad(V5, "pubrec", "undefined-reason-8e", ack(5, V5, 1, 0x8E, props(p_str(0x1F, "x"))), "MQTT-3.5.2-1")
bad(V5, "pubrel", "undefined-reason-10", ack(6, V5, 1, 0x10), "MQTT-3.6.2-1", about="0x10 is a PUBACK/PUBREC code")
bad(V5, "pubcomp", "undefined-reason-91", ack(7, V5, 1, 0x91), "MQTT-3.7.2-1")
bad(V5, "suback", "undefined-reason-11", suback(V5, 1, [0x00, 0x11]), "MQTT-3.9.3-2", "server",
    "0x11 is an UNSUBACK code")
bad(V5, "unsuback", "undefined-reason-02", unsuback(V5, 1, [0x00, 0x02]), "MQTT-3.11.3-2", "server",
    "0x02 is a SUBACK code")
bad(V5, "disconnect", "undefined-reason-84", disconnect(V5, 0x84), "MQTT-3.14.2-1", "client",
    "0x84 is a CONNACK code")
bad(V5, "auth", "undefined-reason-87", auth(0x87, props(p_str(0x15, "SCRAM-SHA-1"))), "MQTT-3.15.2-1",
    about="0x87 is not an Authenticate Reason Code")
bad(V5, "disconnect", "use-another-server-from-client", disconnect(V5, 0x9C), "§3.14.2.1/reason-direction", "client",
    "0x9C (Use another server) is sent by a Server only")
# ---- 5.0: fixed header, framing, direction -----------------------------------------
bad(V5, "pingresp", "flags", bytes([0xD2, 0x00]), "MQTT-2.1.3-1", "server")
bad(V5, "suback", "flags", bytes([0x92]) + suback(V5, 1, [0])[1:], "MQTT-2.1.3-1", "server", "SUBACK flags 0010")
bad(V5, "connect", "flags", bytes([0x12]) + connect(V5)[1:], "MQTT-2.1.3-1", "client", "CONNECT flags 0010")
bad(V5, "auth", "flags-0010", bytes([0xF2]) + auth(0x18, props(p_str(0x15, "SCRAM-SHA-1")))[1:], "MQTT-3.15.1-1")
bad(V5, "subscribe", "reserved-option-bit-7", subscribe(V5, 1, [("a", 0x81)]), "MQTT-3.8.3-5", "client")
bad(V5, "connect", "remaining-length-5-bytes", bytes([0x10, 0x80, 0x80, 0x80, 0x80, 0x01]), "§2.1.4/remaining-length",
    "client", "remaining length runs to a fifth byte")
bad(V5, "puback", "trailing-byte", pkt(4, 0, u16(1) + b"\x10" + NOPROPS + b"\x00"),
    "§2.1.4/trailing-bytes", about="PUBACK: reason, empty properties, then one more byte")
bad(V5, "connack", "trailing-byte", pkt(2, 0, bytes([0x00, 0x00]) + NOPROPS + b"\x00"), "§2.1.4/trailing-bytes", "server")
bad(V5, "connect", "client-id-length-past-end", pkt(1, 0, s("MQTT") + bytes([5, 2]) + u16(60) + NOPROPS + u16(10) + b"abc"),
    "§2.1.4/truncated", "client", "ClientID length 10 with 3 bytes left")
bad(V5, "subscribe", "filter-without-options", pkt(8, 2, u16(1) + NOPROPS + s("a/b")), "§2.1.4/truncated", "client",
    "the Subscription Options byte after the last filter is missing")
bad(V5, "subscribe", "from-server", subscribe(V5, 1, [("a", 0)]), "§2.1.2/direction", "server")
bad(V5, "pingreq", "from-server", pkt(12, 0, b""), "§2.1.2/direction", "server")
bad(V5, "unsuback", "from-client", unsuback(V5, 1, [0]), "§2.1.2/direction", "client")


# 3.1 has no Session Present flag; an AUTH Reason Code needs a Property Length.
bad("3.1", "connack", "session-present-bit", pkt(2, 0, bytes([0x01, 0x00])), "§3.2.2.1/reserved", "server",
    "3.1 CONNACK: the first byte is reserved, there is no Session Present")
bad("5", "auth", "reason-without-property-length", pkt(15, 0, bytes([0x18])), "§2.1.4/truncated", "client",
    "only Success without properties may leave out Reason Code and Property Length")

def main():
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.endswith(".hex"):
            os.remove(os.path.join(OUT, old))
    for name, (version, frm, expect, about, data) in sorted(CASES.items()):
        lines = [f"# version={version} from={frm} expect={expect} : {about}"]
        hexes = [f"{b:02x}" for b in data]
        for i in range(0, len(hexes), 32):
            lines.append(" ".join(hexes[i:i + 32]))
        with open(os.path.join(OUT, name + ".hex"), "w") as f:
            f.write("\n".join(lines) + "\n")
    print(f"wrote {len(CASES)} cases to {OUT}")


if __name__ == "__main__":
    main()
