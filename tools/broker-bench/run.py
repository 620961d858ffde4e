#!/usr/bin/env python3
"""Broker benchmark: mqttkit's reference broker against mosquitto and rumqttd.

Builds `mqttkit` in release mode, then for each round starts every broker in
turn (A B C A B C ...: alternating, so a slow phase of a shared machine hits
every broker alike), each on a free loopback port and as a fresh process
per scenario, and runs the same `mqttkit bench` scenarios against it:

  qos0     1 publisher -> 1 subscriber, QoS 0
  qos1     1 publisher -> 1 subscriber, QoS 1
  fanout   1 publisher -> 10 subscribers, QoS 0
  idle     1000 idle connections: the broker's resident memory per connection,
           after 50 warm-up connections opened before the first reading and
           not counted (`mqttkit bench --warmup`, the same for every broker:
           it keeps one-time costs such as code pages and allocator arenas
           out of the per-connection figure)

It prints a Markdown table (median over rounds) with delivered msgs/s, p99
latency, KiB per idle connection and the ratio of each to mqttkit's.

mosquitto comes from the Debian package (installed with apt-get when missing
and running as root). rumqttd is looked up in $RUMQTTD, then
<repo>/.tools/bin (where `cargo install --root .tools rumqttd` puts it),
then $PATH; when it is not there the table says so.

Usage: tools/broker-bench/run.py [--rounds N] [--seconds S] [--connections C]
                                 [--brokers mqttkit,mosquitto,rumqttd]
                                 [--json FILE] [--no-build]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MQTTKIT = os.path.join(ROOT, "target", "release", "mqttkit")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def find_mosquitto():
    for p in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if p and os.access(p, os.X_OK):
            return p
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("mosquitto missing: installing the Debian package", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "mosquitto"],
            check=False,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
        )
        if os.access("/usr/sbin/mosquitto", os.X_OK):
            return "/usr/sbin/mosquitto"
    return None


def find_rumqttd():
    candidates = [
        os.environ.get("RUMQTTD"),
        os.path.join(ROOT, ".tools", "bin", "rumqttd"),
        shutil.which("rumqttd"),
    ]
    for p in candidates:
        if p and os.access(p, os.X_OK):
            return p
    return None


class Broker:
    """How to start one broker on a given port, in a scratch directory."""

    def __init__(self, name, binary, note=None):
        self.name = name
        self.binary = binary
        self.note = note

    def command(self, port, scratch):
        if self.name.startswith("mqttkit"):
            return [self.binary, "broker", "--listen", f"127.0.0.1:{port}",
                    "--max-connections", "20000"]
        if self.name == "mosquitto":
            conf = os.path.join(scratch, "mosquitto.conf")
            with open(conf, "w") as f:
                f.write(
                    f"listener {port} 127.0.0.1\n"
                    "allow_anonymous true\n"
                    "persistence false\n"
                    "log_dest stderr\n"
                    "log_type error\n"
                    "set_tcp_nodelay true\n"
                    # Room for the load: a publisher 1000 messages ahead,
                    # 64 QoS 1 messages in flight.
                    "max_queued_messages 100000\n"
                    "max_inflight_messages 0\n"
                    "max_connections -1\n"
                )
            return [self.binary, "-c", conf]
        if self.name == "rumqttd":
            with open(os.path.join(HERE, "rumqttd.toml")) as f:
                text = f.read().replace("@PORT@", str(port))
            conf = os.path.join(scratch, "rumqttd.toml")
            with open(conf, "w") as f:
                f.write(text)
            return [self.binary, "-q", "-c", conf]
        raise ValueError(self.name)


def start(broker, scratch):
    port = free_port()
    env = dict(os.environ, RUST_LOG="warn")
    log = open(os.path.join(scratch, f"{broker.name}.log"), "ab")
    proc = subprocess.Popen(
        broker.command(port, scratch), stdout=log, stderr=log, env=env,
        cwd=scratch, start_new_session=True,
    )
    if not wait_listening(port, proc):
        stop(proc)
        raise RuntimeError(f"{broker.name} did not start (see {scratch}/{broker.name}.log)")
    return proc, port


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def scenarios(seconds, connections):
    s = str(seconds)
    return [
        ("qos0", ["--scenario", "qos0", "--messages", "50000000", "--duration", s]),
        ("qos1", ["--scenario", "qos1", "--messages", "50000000", "--duration", s]),
        ("fanout", ["--scenario", "fanout", "--messages", "20000000", "--duration", s]),
        ("idle", ["--scenario", "idle", "--connections", str(connections), "--warmup", "50",
                  "--duration", str(max(1, seconds // 2))]),
    ]


def bench(port, pid, args, limit):
    cmd = [MQTTKIT, "bench", f"mqtt://127.0.0.1:{port}", "--format", "json"] + args
    if args[1] == "idle":
        cmd += ["--pid", str(pid)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {limit} s"}
    if not r.stdout.strip():
        return {"error": (r.stderr.strip().splitlines() or ["no output"])[-1]}
    try:
        out = json.loads(r.stdout)
    except json.JSONDecodeError as e:
        return {"error": f"bad JSON: {e}"}
    if r.returncode != 0:
        out["exit"] = r.returncode
    return out


def metrics(result):
    """(msgs/s, p99 us, KiB per idle connection, remark) of one run."""
    if "error" in result:
        return None, None, None, result["error"]
    remark = []
    t = result.get("traffic")
    if t:
        if t["lost"]:
            remark.append(f"{t['lost']} lost")
        if t["duplicates"]:
            remark.append(f"{t['duplicates']} dup")
        if t["stalled"]:
            remark.append("stalled")
        return t["delivered_per_s"], t["latency_us"]["p99"], None, ", ".join(remark)
    i = result.get("idle")
    if i:
        if i["failed"]:
            remark.append(f"{i['failed']} of {i['requested']} failed")
        return None, None, i["kib_per_connection"], ", ".join(remark)
    return None, None, None, "empty report"


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_rate(x):
    return "-" if x is None else f"{x:,.0f}"


def fmt_ratio(x, ref, higher_better=True):
    if x is None or not ref:
        return ""
    return f" ({x / ref:.2f}x)"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=4, help="publishing time per scenario")
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--brokers", default="mqttkit,mosquitto,rumqttd")
    ap.add_argument("--json", help="write every run's raw report to this file")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--baseline", metavar="PATH",
                    help="another mqttkit binary whose broker is measured too (before/after)")
    a = ap.parse_args()
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "mqttkit"], cwd=ROOT, check=True)
    if not os.access(MQTTKIT, os.X_OK):
        sys.exit(f"{MQTTKIT} is missing; build it (cargo build --release -p mqttkit)")

    brokers = []
    for name in a.brokers.split(","):
        if name == "mqttkit":
            brokers.append(Broker("mqttkit", MQTTKIT))
        elif name == "mosquitto":
            p = find_mosquitto()
            brokers.append(Broker("mosquitto", p, None if p else "not installed (apt-get install mosquitto)"))
        elif name == "rumqttd":
            p = find_rumqttd()
            brokers.append(Broker("rumqttd", p, None if p else
                                  "not installed (cargo install --root .tools rumqttd did not run or failed)"))
        else:
            sys.exit(f"unknown broker {name}")
    if a.baseline:
        brokers.insert(1, Broker("mqttkit-baseline", os.path.abspath(a.baseline)))

    versions = {}
    for b in brokers:
        if b.binary and b.name == "mosquitto":
            r = subprocess.run([b.binary, "-h"], capture_output=True, text=True)
            versions[b.name] = (r.stdout.splitlines() or [""])[0].replace("mosquitto version ", "")
        elif b.binary and b.name == "rumqttd":
            r = subprocess.run([b.binary, "-V"], capture_output=True, text=True)
            versions[b.name] = r.stdout.strip().replace("rumqttd ", "")
        elif b.binary and b.name == "mqttkit":
            r = subprocess.run([b.binary, "--version"], capture_output=True, text=True)
            versions[b.name] = r.stdout.strip().replace("mqttkit ", "")

    plan = scenarios(a.seconds, a.connections)
    limit = a.seconds + 60
    runs = {b.name: {s: [] for s, _ in plan} for b in brokers}
    raw = []
    with tempfile.TemporaryDirectory(prefix="broker-bench-") as scratch:
        for rnd in range(1, a.rounds + 1):
            for b in brokers:
                if not b.binary:
                    continue
                for sname, sargs in plan:
                    try:
                        proc, port = start(b, scratch)
                    except RuntimeError as e:
                        res = {"error": str(e)}
                    else:
                        try:
                            res = bench(port, proc.pid, sargs, limit)
                        finally:
                            stop(proc)
                    m = metrics(res)
                    runs[b.name][sname].append(m)
                    raw.append({"round": rnd, "broker": b.name, "scenario": sname, "report": res})
                    shown = m[2] if sname == "idle" else m[0]
                    print(f"round {rnd} {b.name:9} {sname:6} "
                          f"{'-' if shown is None else round(shown, 2)} {m[3]}",
                          file=sys.stderr)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(raw, f, indent=1)

    # Medians per broker and scenario.
    med = {}
    for b in brokers:
        med[b.name] = {}
        for sname, _ in plan:
            ms = runs[b.name][sname]
            med[b.name][sname] = (
                median([m[0] for m in ms]),
                median([m[1] for m in ms]),
                median([m[2] for m in ms]),
                "; ".join(sorted({m[3] for m in ms if m[3]})),
            )
    ref = med.get("mqttkit", {})

    print(f"| Broker | qos0 1→1 msgs/s | qos0 p99 | qos1 1→1 msgs/s | qos1 p99 | "
          f"fanout 1→10 msgs/s | fanout p99 | KiB per idle conn ({a.connections}) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for b in brokers:
        label = f"{b.name} {versions.get(b.name, '')}".strip()
        if not b.binary:
            print(f"| {b.name} | {b.note} | | | | | | |")
            continue
        cells = []
        for sname in ("qos0", "qos1", "fanout"):
            rate, p99, _, remark = med[b.name][sname]
            rref = ref.get(sname, (None,))[0]
            pref = ref.get(sname, (None, None))[1]
            c = fmt_rate(rate) + fmt_ratio(rate, rref)
            if remark:
                c += f" ({remark})"
            cells.append(c)
            cells.append("-" if p99 is None else f"{p99 / 1000:.1f} ms" + fmt_ratio(p99, pref))
        kib, remark = med[b.name]["idle"][2], med[b.name]["idle"][3]
        kref = ref.get("idle", (None, None, None))[2]
        c = "-" if kib is None else f"{kib:.2f}" + fmt_ratio(kib, kref)
        if remark:
            c += f" ({remark})"
        cells.append(c)
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    print(f"Median of {a.rounds} rounds, brokers alternating; {a.seconds} s of publishing per "
          f"scenario; msgs/s counted at the subscribers; ratios against mqttkit "
          f"(throughput: higher is better; p99 and KiB: lower is better).")


if __name__ == "__main__":
    main()
