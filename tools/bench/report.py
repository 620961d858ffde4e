#!/usr/bin/env python3
"""Prints the criterion results of `cargo bench --bench codecs` as a table:
ns per packet for each codec and each peer's time as a multiple of mqttkit's.
Run from tools/bench after the benchmark."""
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "target", "criterion")
GROUPS = [
    "small_publish_v311", "small_publish_v5", "publish_qos1_1k_v311", "publish_qos1_1k_v5",
    "mixed_v311", "mixed_v5", "encode_small_publish_v311", "encode_small_publish_v5",
]
PEERS = ["mqttrs", "mqttbytes", "rumqttc"]
ELEMENTS = {"publish_qos1_1k_v311": 10_000, "publish_qos1_1k_v5": 10_000}


def per_packet(group, codec):
    path = os.path.join(ROOT, group, codec, "new", "estimates.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        est = json.load(f)
    ns = est["median"]["point_estimate"]
    n = 1 if group.startswith("encode") else ELEMENTS.get(group, 100_000)
    return ns / n


def main():
    head = "| stream | mqttkit ns/pkt | mqttkit lenient | " + " | ".join(f"{p} ns/pkt (×)" for p in PEERS) + " |"
    print(head)
    print("|" + "---|" * (3 + len(PEERS)))
    for g in GROUPS:
        base = per_packet(g, "mqttkit")
        if base is None:
            continue
        len_ = per_packet(g, "mqttkit_lenient")
        cells = [g, f"{base:.1f}", f"{len_:.1f}" if len_ else "–"]
        for p in PEERS:
            t = per_packet(g, p)
            cells.append(f"{t:.1f} ({t / base:.2f}×)" if t else "–")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
