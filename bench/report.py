#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Collects the "# bench {json}" lines of the bench suites' VM logs and writes, in --out:

  results.json  every sample (mode, device, test, size, metric, value, unit, round, warm-up)
  results.md    the table: medians per backend and the vhnet / vhost-net ratio
  chart.dat     icount pps medians and the ratios, for bench/chart.gp

    report.py --out DIR [--quick] [--kernel VER] MODE=LOG...

Exit status 1 if a log holds a failed test, no sample at all, or a figure that is not positive.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import sys

BACKENDS = ["vhnet", "vhost-net", "tap"]
TCP_BACKENDS = ["vhnet", "vhost-net", "vhost=off"]
TITLES = {
    "tx": "TX",
    "tx-gso": "TX GSO",
    "rx": "RX",
    "latency": "round trip",
    "tcp-to-guest": "TCP to nested guest",
    "tcp-from-guest": "TCP from nested guest",
}
ORDER = ["tx", "tx-gso", "rx", "latency", "tcp-to-guest", "tcp-from-guest"]


def parse(mode, path):
    samples, failures, lines = [], [], 0
    with open(path, errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\r\n")
            if line.startswith("# bench "):
                s = json.loads(line[len("# bench "):])
                s["mode"] = mode
                samples.append(s)
            elif line.startswith("not ok "):
                failures.append(f"{mode}: {line}")
            elif line.startswith("ok "):
                lines += 1
    if lines == 0:
        failures.append(f"{mode}: no test passed in {path}")
    return samples, failures


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "host_kernel": platform.release()}


def size_label(test, size):
    if test.startswith("tcp"):
        return f"{size >> 20} MiB"
    if size >= 65536:
        return f"{size // 1024} KiB"
    return f"{size} B"


def fmt_value(v, unit):
    if unit == "pps":
        return f"{v:,.0f}".replace(",", " ")
    if unit == "us":
        return f"{v:.1f}"
    return f"{v:.1f}"


def groups(samples, mode):
    """{(test, size, metric): {device: [values of counted samples]}} in display order."""
    out = {}
    for s in samples:
        if s["mode"] != mode or s.get("warmup"):
            continue
        key = (s["test"], s["size"], s["metric"])
        out.setdefault(key, {}).setdefault(s["device"], []).append(s["value"])
    return dict(sorted(out.items(), key=lambda kv: (ORDER.index(kv[0][0])
                                                    if kv[0][0] in ORDER else 99,
                                                    kv[0][1], kv[0][2])))


def row_title(test, size, metric, unit):
    what = TITLES.get(test, test)
    if test == "latency":
        return f"{what} {metric} (µs)", size_label(test, size)
    return f"{what} ({unit})", size_label(test, size)


def ratio(vals):
    a, b = vals.get("vhnet"), vals.get("vhost-net")
    if not a or not b or statistics.median(b) == 0:
        return None
    return statistics.median(a) / statistics.median(b)


def table(samples, mode, units, wall):
    g = groups(samples, mode)
    if not g:
        return [], {}
    tcp = any(k[0].startswith("tcp") for k in g)
    lines = []
    ratios = {}
    for part in ("device", "tcp") if tcp else ("device",):
        keys = [k for k in g if k[0].startswith("tcp") == (part == "tcp")]
        if not keys:
            continue
        devs = TCP_BACKENDS if part == "tcp" else BACKENDS
        if part == "tcp":
            lines.append("Bulk TCP between a nested QEMU guest and the VM (8 MiB per transfer):")
            lines.append("")
        head = ["test", "size"] + [("bare tap" if d == "tap" else d) for d in devs]
        head.append("vhnet / vhost-net")
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * 2 + "---:|" * (len(devs) + 1))
        for key in keys:
            test, size, metric = key
            unit = units[key]
            title, sz = row_title(test, size, metric, unit)
            cells = [title, sz]
            for d in devs:
                vals = g[key].get(d)
                if not vals:
                    cells.append("–")
                    continue
                med = fmt_value(statistics.median(vals), unit)
                if wall and len(vals) > 1:
                    cells.append(f"{med} ({fmt_value(min(vals), unit)}–"
                                 f"{fmt_value(max(vals), unit)})")
                else:
                    cells.append(med)
            r = ratio(g[key])
            ratios[key] = r
            cells.append(f"{r:.3f}" if r is not None else "–")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return lines, ratios


LEGEND = """\
How to read it:
- **icount**: one vCPU, `-icount shift=0,sleep=off`: the guest clock advances 1 ns per emulated
  instruction, so packets per guest-second measure instructions per packet (CPU cost), and
  repeat exactly from boot to boot. The headline.
- **wall-clock**: `-smp 2`, real time under TCG: median (min–max) of the counted rounds; rounds
  ran interleaved vhnet, vhost-net, bare tap, vhnet, ... after a warm-up round. Noisy (30–70%
  swings under emulation); only for effects that need parallelism.
- **vhnet / vhost-net**: ratio of the medians. For pps and Mbit/s above 1 means vhnet is faster;
  for latency above 1 means vhnet is slower.
- **vhnet, vhost-net**: libvhnet's userspace virtio-net `Driver` (1024-entry rings, TX posted in
  batches with one kick, interrupts suppressed while busy) on a tap. It copies every frame into
  and out of its buffers: that cost is in every figure of both devices alike.
- **bare tap**: no virtio: `write()` of a virtio-net header and the frame to the tap's file (TX),
  `read()` from it (RX): one system call per packet. A reference point, not a strict upper
  bound (vhost-net hands the tap batches, which `write()` cannot).
- **RX**: a packet source process transmits on the tap with an AF_PACKET socket (qdisc
  bypassed) as fast as it can; frames the tap cannot queue are dropped. The source runs on the
  same CPUs, so its own cost is part of every RX figure, for all three backends alike.
- **TX GSO**: 64 KiB Ethernet/IPv4/TCP frames with a virtio-net header asking for TSO
  (gso_size 1448); the tap takes them whole (nothing segments them on the way to the drop).
- **round trip**: a 64-byte frame out through the backend; a reflector process with an
  AF_PACKET socket on the tap sends every frame it sees back on the tap; the frame comes back
  in through the backend. The Driver sleeps on the call eventfd both ways (interrupts on), as a
  guest waiting for a reply would. p50 and p99 over the round trips of a sample (warm-up trips
  excluded); in the wall-clock table the median (min–max) of those per round.
- **TCP to/from nested guest**: a real QEMU (`-accel kvm` on the VM's emulated SVM) with its own
  virtio-net driver, `vhnet-xfer` over TCP, one guest per backend (not interleaved: each boots
  in ~25 s). Under emulation vhost=on is no faster than vhost=off: a functional figure, not
  representative of real hardware. Wall-clock only: nested KVM is not expected to work under
  `-icount`, so it is skipped there.
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--kernel", default="unknown")
    ap.add_argument("logs", nargs="+", help="MODE=PATH")
    a = ap.parse_args()

    samples, failures = [], []
    for arg in a.logs:
        mode, path = arg.split("=", 1)
        if not os.path.exists(path):
            failures.append(f"{mode}: no log {path}")
            continue
        s, f = parse(mode, path)
        samples += s
        failures += f
    if not samples:
        failures.append("no bench sample in any log")
    for s in samples:
        if not s["value"] > 0:
            failures.append(f"{s['mode']}: {s['test']} {s['size']} {s['device']} "
                            f"{s['metric']} round {s['round']}: {s['value']}")

    units = {(s["test"], s["size"], s["metric"]): s["unit"] for s in samples}
    modes = [m.split("=", 1)[0] for m in a.logs]
    info = {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": a.quick,
        "vm_kernel": a.kernel,
        "machine": machine(),
        "modes": modes,
        "failures": failures,
        "samples": samples,
    }
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")

    md = ["# vhnet benchmark" + (" (quick)" if a.quick else ""), ""]
    m = info["machine"]
    md.append(f"Host: {m['cpu']}, {m['cpus']} CPUs, kernel {m['host_kernel']}; the test VM "
              f"(QEMU TCG) runs Debian's {a.kernel}. {info['generated']}.")
    md.append("")
    all_ratios = {}
    titles = {"icount": "Instruction-counted (headline): packets per guest-second",
              "wall": "Wall-clock, -smp 2: median (min–max)"}
    for mode in modes:
        lines, ratios = table(samples, mode, units, wall=(mode == "wall"))
        md.append(f"## {titles.get(mode, mode)}")
        md.append("")
        md += lines if lines else ["(no samples)", ""]
        all_ratios[mode] = ratios
    if "wall" not in modes:
        md.append("Wall-clock mode and the nested-guest TCP rows: not run"
                  + (" (quick run)." if a.quick else "."))
        md.append("")
    md.append(LEGEND)
    if failures:
        md.append("**Failures:**")
        md += [f"- {x}" for x in failures]
        md.append("")
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("\n".join(md))

    # chart.dat: one row per icount pps figure: label, three medians, two ratios.
    g = groups(samples, "icount")
    with open(os.path.join(a.out, "chart.dat"), "w") as f:
        f.write("# label vhnet vhost-net tap ratio-icount ratio-wall\n")
        for key, vals in g.items():
            test, size, metric = key
            if metric != "pps":
                continue
            label = f"{TITLES.get(test, test)} {size_label(test, size)}"
            meds = [statistics.median(vals[d]) if vals.get(d) else 0 for d in BACKENDS]
            ri = all_ratios.get("icount", {}).get(key)
            rw = all_ratios.get("wall", {}).get(key)
            f.write(f"\"{label}\" " + " ".join(f"{v:.1f}" for v in meds)
                    + f" {ri if ri else 0:.4f} {rw if rw else 0:.4f}\n")

    for x in failures:
        print(f"report: {x}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
