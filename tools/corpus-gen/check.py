#!/usr/bin/env python3
"""Independent reference checker for corpus/packets (written from the MQTT
3.1.1 / 5.0 specifications, not from mqttkit's decoder). Stdlib only.
Run from the repository root: python3 tools/corpus-gen/check.py

For every case it decodes the bytes, collects EVERY rule violation it can see
(continuing past value-level violations, stopping at structural ones) and
compares with the header: `ok` needs no violation, `incomplete` needs the
input to end early, an id needs exactly that one violation.  Violations that
the brief does not assign an id to are reported as `?...` so ambiguous cases
show up.
"""
import glob
import os
import sys


class Stop(Exception):
    pass


class Incomplete(Exception):
    pass


CONNACK5 = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
            0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F}
PUBACK5 = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}
PUBREL5 = {0x00, 0x92}
SUBACK5 = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2}
UNSUBACK5 = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91}
DISC5 = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96,
         0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2}
# DISCONNECT reason codes only a Server sends (table in 3.14.2.1); 0x04 only a Client sends.
DISC5_SERVER_ONLY = {0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2}
AUTH5 = {0x00, 0x18, 0x19}

# property id -> (type, allowed contexts)
ALL = {"CONNECT", "CONNACK", "PUBLISH", "WILL", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK",
       "UNSUBSCRIBE", "UNSUBACK", "DISCONNECT", "AUTH"}
PROPS = {
    0x01: ("byte", {"PUBLISH", "WILL"}),
    0x02: ("u32", {"PUBLISH", "WILL"}),
    0x03: ("str", {"PUBLISH", "WILL"}),
    0x08: ("str", {"PUBLISH", "WILL"}),
    0x09: ("bin", {"PUBLISH", "WILL"}),
    0x0B: ("vbi", {"PUBLISH", "SUBSCRIBE"}),
    0x11: ("u32", {"CONNECT", "CONNACK", "DISCONNECT"}),
    0x12: ("str", {"CONNACK"}),
    0x13: ("u16", {"CONNACK"}),
    0x15: ("str", {"CONNECT", "CONNACK", "AUTH"}),
    0x16: ("bin", {"CONNECT", "CONNACK", "AUTH"}),
    0x17: ("byte", {"CONNECT"}),
    0x18: ("u32", {"WILL"}),
    0x19: ("byte", {"CONNECT"}),
    0x1A: ("str", {"CONNACK"}),
    0x1C: ("str", {"CONNACK", "DISCONNECT"}),
    0x1F: ("str", {"CONNACK", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBACK", "UNSUBACK", "DISCONNECT", "AUTH"}),
    0x21: ("u16", {"CONNECT", "CONNACK"}),
    0x22: ("u16", {"CONNECT", "CONNACK"}),
    0x23: ("u16", {"PUBLISH"}),
    0x24: ("byte", {"CONNACK"}),
    0x25: ("byte", {"CONNACK"}),
    0x26: ("pair", ALL),
    0x27: ("u32", {"CONNECT", "CONNACK"}),
    0x28: ("byte", {"CONNACK"}),
    0x29: ("byte", {"CONNACK"}),
    0x2A: ("byte", {"CONNACK"}),
}
NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL", 7: "PUBCOMP",
         8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
         14: "DISCONNECT", 15: "AUTH"}


class R:
    def __init__(self, data, trunc):
        self.d, self.p, self.trunc = data, 0, trunc

    def left(self):
        return len(self.d) - self.p

    def take(self, n):
        if self.p + n > len(self.d):
            raise Stop(self.trunc)
        out = self.d[self.p:self.p + n]
        self.p += n
        return out

    def byte(self):
        return self.take(1)[0]

    def u16(self):
        return int.from_bytes(self.take(2), "big")

    def u32(self):
        return int.from_bytes(self.take(4), "big")

    def vbi(self):
        val, mult = 0, 1
        for i in range(4):
            b = self.byte()
            val += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                return val, (i == 0 or b != 0)
        raise Stop("?vbi-5-bytes")


def check(buf, ver, frm):
    v5 = ver == "5"
    V = []
    ID = {
        "inv": "MQTT-1.5.4-1" if v5 else "MQTT-1.5.3-1",
        "nul": "MQTT-1.5.4-2" if v5 else "MQTT-1.5.3-2",
        "rl": "§2.1.4/remaining-length" if v5 else "§2.2.3/remaining-length",
        "nonmin": "MQTT-1.5.5-1" if v5 else "§2.2.3/non-minimal",
        "ptype": "§2.1.2/packet-type" if v5 else "§2.2.1/packet-type",
        "trail": "§2.1.4/trailing-bytes" if v5 else "§2.2.3/trailing-bytes",
        "trunc": "§2.1.4/truncated" if v5 else "§2.2.3/truncated",
        "dir": "§2.1.2/direction" if v5 else "§2.2.1/direction",
        "flags": "MQTT-2.1.3-1" if v5 else "MQTT-2.2.2-1",
        "pid0": "§2.2.1/packet-identifier-zero" if v5 else "MQTT-2.3.1-1",
        "hash": "MQTT-4.7.1-1" if v5 else "MQTT-4.7.1-2",
        "plus": "MQTT-4.7.1-2" if v5 else "MQTT-4.7.1-3",
        "willwild": "MQTT-4.7.0-1" if v5 else "MQTT-4.7.1-1",
    }
    if not buf:
        return "incomplete", V
    t, fl = buf[0] >> 4, buf[0] & 15
    # remaining length
    i, rl, mult = 1, 0, 1
    while True:
        if i >= len(buf):
            return "incomplete", V
        b = buf[i]
        i += 1
        rl += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
        if i == 5:
            return "error", [ID["rl"]]
    if i > 2 and buf[i - 1] == 0:
        V.append(ID["nonmin"])
    if t == 0 or (t == 15 and not v5):
        return "error", V + [ID["ptype"]]
    if len(buf) < i + rl:
        return "incomplete", V
    if len(buf) > i + rl:
        return "EXTRA-BYTES-AFTER-PACKET", V
    r = R(buf[i:], ID["trunc"])
    name = NAMES[t]
    # fixed header flags
    if t == 3:
        qos = (fl >> 1) & 3
        if qos == 3:
            V.append("MQTT-3.3.1-4")
        if qos == 0 and fl & 8:
            V.append("MQTT-3.3.1-2")
    elif t in (6, 8, 10):
        if fl != 2:
            V.append({6: "MQTT-3.6.1-1", 8: "MQTT-3.8.1-1", 10: "MQTT-3.10.1-1"}[t])
    elif fl != 0:
        V.append({14: "MQTT-3.14.1-1", 15: "MQTT-3.15.1-1"}.get(t, ID["flags"]))
    # direction
    client_only = {1, 8, 10, 12} | (set() if v5 else {14})
    server_only = {2, 9, 11, 13}
    if (frm == "server" and t in client_only) or (frm == "client" and t in server_only):
        V.append(ID["dir"])

    def string(kind="str"):
        data = r.take(r.u16())
        try:
            s = data.decode("utf-8")
        except UnicodeDecodeError:
            V.append("MQTT-1.5.7-1" if kind == "pair" else ID["inv"])
            return None
        if "\x00" in s:
            V.append("MQTT-4.7.3-2" if kind in ("topic", "filter") else ("?nul-in-pair" if kind == "pair" else ID["nul"]))
        return s

    def topic_name(s, wild_id, empty_ok=False):
        if s is None:
            return
        if s == "" and not empty_ok:
            V.append("MQTT-4.7.3-1")
        if "+" in s or "#" in s:
            V.append(wild_id)

    def topic_filter(s):
        """returns True when it is a shared subscription (5.0)"""
        if s is None:
            return False
        if s == "":
            V.append("MQTT-4.7.3-1")
            return False
        levels = s.split("/")
        for n, lv in enumerate(levels):
            if "#" in lv and (lv != "#" or n != len(levels) - 1):
                V.append(ID["hash"])
            if "+" in lv and lv != "+":
                V.append(ID["plus"])
        if v5 and s.startswith("$share/"):
            share, sep, rest = s[7:].partition("/")
            if share == "":
                V.append("MQTT-4.8.2-1")
            elif "+" in share or "#" in share:
                V.append("MQTT-4.8.2-2")
            if not sep:
                V.append("MQTT-4.8.2-2")
            elif rest == "":
                V.append("?share-empty-filter")
            return True
        return False

    def props(ctx):
        plen, minimal = r.vbi()
        if not minimal:
            V.append("MQTT-1.5.5-1")
        if plen > r.left():
            raise Stop("§2.2.2.1/property-length")
        end = r.p + plen
        got = {}
        while r.p < end:
            pid = r.byte()
            if pid not in PROPS:
                raise Stop("§2.2.2.2/unknown-property")
            typ, allowed = PROPS[pid]
            if ctx not in allowed:
                V.append("§2.2.2.2/property-not-allowed")
            if typ == "byte":
                val = r.byte()
            elif typ == "u16":
                val = r.u16()
            elif typ == "u32":
                val = r.u32()
            elif typ == "vbi":
                val, minimal = r.vbi()
                if not minimal:
                    V.append("MQTT-1.5.5-1")
            elif typ == "str":
                val = string()
            elif typ == "bin":
                val = r.take(r.u16())
            else:
                val = (string("pair"), string("pair"))
            if r.p > end:
                raise Stop("?property-runs-past-property-length")
            if pid in got and pid != 0x26 and not (pid == 0x0B and ctx == "PUBLISH"):
                V.append("§2.2.2.2/duplicate-property")
            got.setdefault(pid, []).append(val)
            # value rules
            if pid == 0x01 and val not in (0, 1):
                V.append("§3.3.2.3.2/payload-format-indicator")
            if pid == 0x17 and val not in (0, 1):
                V.append("§3.1.2.11.7/request-problem-information")
            if pid == 0x19 and val not in (0, 1):
                V.append("§3.1.2.11.6/request-response-information")
            if pid == 0x21 and val == 0:
                V.append("§3.1.2.11.3/receive-maximum-zero" if ctx == "CONNECT" else "?receive-maximum-zero")
            if pid == 0x27 and val == 0:
                V.append("§3.1.2.11.4/maximum-packet-size-zero" if ctx == "CONNECT" else "?maximum-packet-size-zero")
            if pid == 0x24 and val not in (0, 1):
                V.append("§3.2.2.3.4/maximum-qos")
            if pid == 0x25 and val not in (0, 1):
                V.append("§3.2.2.3.5/retain-available")
            if pid == 0x28 and val not in (0, 1):
                V.append("§3.2.2.3.11/wildcard-subscription-available")
            if pid == 0x29 and val not in (0, 1):
                V.append("§3.2.2.3.12/subscription-identifiers-available")
            if pid == 0x2A and val not in (0, 1):
                V.append("§3.2.2.3.13/shared-subscription-available")
            if pid == 0x23 and val == 0:
                V.append("MQTT-3.3.2-8")
            if pid == 0x0B and val == 0:
                V.append("§3.8.2.1.2/subscription-identifier-zero" if ctx == "SUBSCRIBE" else "?subscription-identifier-zero-in-publish")
            if pid == 0x08 and val is not None:
                topic_name(val, "MQTT-3.3.2-14")
        if 0x16 in got and 0x15 not in got:
            V.append("§3.1.2.11.10/authentication-data-without-method" if ctx == "CONNECT" else "?auth-data-without-method")
        return got

    try:
        if t == 1:
            pname = string()
            level = r.byte()
            exp = {"3.1": ("MQIsdp", 3), "3.1.1": ("MQTT", 4), "5": ("MQTT", 5)}[ver]
            if (pname, level) != exp:
                if pname not in ("MQTT", "MQIsdp"):
                    V.append("MQTT-3.1.2-1")
                elif pname == "MQTT" and level in (4, 5):
                    V.append("?connect-for-other-version")
                elif pname == "MQTT" and level != 3:
                    V.append("MQTT-3.1.2-2")
                elif pname == "MQIsdp" and level == 3:
                    V.append("?connect-for-other-version")
                elif pname == "MQIsdp" and level > 5:
                    V.append("MQTT-3.1.2-2")
                else:
                    V.append("MQTT-3.1.2-1")
            f = r.byte()
            will, wqos, wret, pw, un, clean = f & 4, (f >> 3) & 3, f & 0x20, f & 0x40, f & 0x80, f & 2
            if f & 1:
                V.append("MQTT-3.1.2-3")
            if not will:
                if wqos:
                    V.append("MQTT-3.1.2-11" if v5 else "MQTT-3.1.2-13")
                if wret:
                    V.append("MQTT-3.1.2-13" if v5 else "MQTT-3.1.2-15")
            elif wqos == 3:
                V.append("MQTT-3.1.2-12" if v5 else "MQTT-3.1.2-14")
            if not v5 and pw and not un:
                V.append("MQTT-3.1.2-22")
            r.u16()
            if v5:
                props("CONNECT")
            if r.left() == 0:
                raise Stop("MQTT-3.1.3-3")
            cid = string()
            if cid == "":
                if ver == "3.1":
                    V.append("?3.1-empty-client-id")
                elif not v5 and not clean:
                    V.append("MQTT-3.1.3-7")
            if ver == "3.1" and cid is not None and len(cid) > 23:
                V.append("?3.1-client-id-over-23")
            if will:
                if r.left() == 0:
                    raise Stop("MQTT-3.1.2-9")
                if v5:
                    props("WILL")
                    if r.left() == 0:
                        raise Stop("MQTT-3.1.2-9")
                wt = string("topic")
                topic_name(wt, ID["willwild"])
                if r.left() == 0:
                    raise Stop("MQTT-3.1.2-9")
                r.take(r.u16())
            if un:
                if r.left() == 0:
                    raise Stop("MQTT-3.1.2-17" if v5 else "MQTT-3.1.2-19")
                string()
            if pw:
                if r.left() == 0:
                    raise Stop("MQTT-3.1.2-19" if v5 else "MQTT-3.1.2-21")
                r.take(r.u16())
            if r.left():
                if not un:
                    V.append("MQTT-3.1.2-16" if v5 else "MQTT-3.1.2-18")
                elif not pw:
                    V.append("MQTT-3.1.2-18" if v5 else "MQTT-3.1.2-20")
                else:
                    V.append(ID["trail"])
        elif t == 2:
            sp = r.byte()
            code = r.byte()
            # 3.1 has no Session Present flag: the whole byte is reserved.
            if sp & (0xFF if ver == "3.1" else 0xFE):
                V.append("MQTT-3.2.2-1" if v5 else "§3.2.2.1/reserved")
            if ver == "3.1":
                sp = 0
            if v5:
                if code not in CONNACK5:
                    V.append("MQTT-3.2.2-8")
                if sp & 1 and code:
                    V.append("MQTT-3.2.2-6")
                props("CONNACK")
            else:
                if code > 5:
                    V.append("§3.2.2.3/return-code")
                if sp & 1 and code:
                    V.append("MQTT-3.2.2-4")
            if r.left():
                V.append(ID["trail"])
        elif t == 3:
            qos = (fl >> 1) & 3
            topic = string("topic")
            if qos:
                if r.u16() == 0:
                    V.append(ID["pid0"])
            got = props("PUBLISH") if v5 else {}
            payload = r.take(r.left())
            if topic is not None:
                topic_name(topic, "MQTT-3.3.2-2", empty_ok=v5)
                if v5 and topic == "" and 0x23 not in got:
                    V.append("§3.3.2.3.4/empty-topic-without-alias")
            if v5 and frm == "client" and 0x0B in got:
                V.append("MQTT-3.3.4-6")
            if v5 and got.get(0x01) == [1]:
                try:
                    payload.decode("utf-8")
                except UnicodeDecodeError:
                    V.append("?payload-not-utf8-with-pfi-1")
        elif t in (4, 5, 6, 7):
            if r.u16() == 0:
                V.append("?ack-packet-id-zero")
            if v5 and r.left():
                code = r.byte()
                ok = {4: PUBACK5, 5: PUBACK5, 6: PUBREL5, 7: PUBREL5}[t]
                if code not in ok:
                    V.append({4: "MQTT-3.4.2-1", 5: "MQTT-3.5.2-1", 6: "MQTT-3.6.2-1", 7: "MQTT-3.7.2-1"}[t])
                if r.left():
                    props(name)
            if r.left():
                V.append(ID["trail"])
        elif t == 8:
            if r.u16() == 0:
                V.append(ID["pid0"])
            if v5:
                props("SUBSCRIBE")
            if r.left() == 0:
                V.append("MQTT-3.8.3-2" if v5 else "MQTT-3.8.3-3")
            while r.left():
                flt = string("filter")
                opt = r.byte()
                shared = topic_filter(flt)
                if v5:
                    if opt & 0xC0:
                        V.append("MQTT-3.8.3-5")
                    if opt & 3 == 3:
                        V.append("§3.8.3.1/qos")
                    if (opt >> 4) & 3 == 3:
                        V.append("§3.8.3.1/retain-handling")
                    if shared and opt & 4:
                        V.append("MQTT-3.8.3-4")
                elif opt & 0xFC or opt & 3 == 3:
                    V.append("MQTT-3.8.3-4")
        elif t == 9:
            if r.u16() == 0:
                V.append("?suback-packet-id-zero")
            if v5:
                props("SUBACK")
            codes = r.take(r.left())
            if not codes:
                V.append("?suback-without-codes")
            for c in codes:
                if c not in (SUBACK5 if v5 else {0, 1, 2, 0x80}):
                    V.append("MQTT-3.9.3-2")
        elif t == 10:
            if r.u16() == 0:
                V.append(ID["pid0"])
            if v5:
                props("UNSUBSCRIBE")
            if r.left() == 0:
                V.append("MQTT-3.10.3-2")
            while r.left():
                topic_filter(string("filter"))
        elif t == 11:
            if r.u16() == 0:
                V.append("?unsuback-packet-id-zero")
            if v5:
                props("UNSUBACK")
                codes = r.take(r.left())
                if not codes:
                    V.append("?unsuback-without-codes")
                for c in codes:
                    if c not in UNSUBACK5:
                        V.append("MQTT-3.11.3-2")
            if r.left():
                V.append(ID["trail"])
        elif t in (12, 13) or (t == 14 and not v5):
            if r.left():
                V.append(ID["trail"])
        elif t == 14:
            if r.left():
                code = r.byte()
                if code not in DISC5:
                    V.append("MQTT-3.14.2-1")
                if (code == 0x04 and frm == "server") or (code in DISC5_SERVER_ONLY and frm == "client"):
                    V.append("§3.14.2.1/reason-direction")
                if r.left():
                    got = props("DISCONNECT")
                    if frm == "server" and 0x11 in got:
                        V.append("MQTT-3.14.2-2")
            if r.left():
                V.append(ID["trail"])
        elif t == 15:
            if r.left():
                code = r.byte()
                if code not in AUTH5:
                    V.append("MQTT-3.15.2-1")
                if r.left() == 0:
                    # A Reason Code is always followed by a Property Length.
                    raise Stop(ID["trunc"])
                else:
                    got = props("AUTH")
                    if 0x15 not in got:
                        V.append("?auth-without-method")
            if r.left():
                V.append(ID["trail"])
    except Stop as e:
        return "error", V + [e.args[0]]
    return ("ok" if not V else "error"), V


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "corpus/packets"
    problems = 0
    n = 0
    for p in sorted(glob.glob(os.path.join(d, "*.hex"))):
        n += 1
        name = os.path.basename(p)[:-4]
        lines = open(p, encoding="utf-8").read().split("\n")
        hdr = lines[0]
        assert hdr.startswith("# ") and " : " in hdr, name
        f = dict(kv.split("=") for kv in hdr[2:].split(" : ")[0].split())
        body = [l for l in lines[1:] if l]
        assert all(len(l.split()) <= 32 for l in body), name
        assert all(all(len(x) == 2 and x == x.lower() for x in l.split()) for l in body), name
        assert lines[-1] == "", name
        buf = bytes.fromhex(" ".join(body))
        res, vs = check(buf, f["version"], f["from"])
        exp = f["expect"]
        if exp == "ok":
            good = res == "ok"
        elif exp == "incomplete":
            good = res == "incomplete" and not vs
        else:
            good = res == "error" and vs == [exp]
        if not good:
            problems += 1
            print(f"{name}: expect={exp} got={res} {vs}")
    print(f"{n} cases, {problems} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
