"""Time and peak memory of `convzoo.summarize` vs torchinfo's `summary`, every registered network.

Each measurement runs in a fresh Python process: a first call (which pays one-time imports),
then the median of ``--repeats`` runs. Memory: ``first MiB`` is the process's peak resident set
size over the first call minus its size after the imports (for ``convzoo``, most of it is torch
importing ``torch._dynamo`` once, for the Python meta kernels of some operators such as tanh);
``MiB`` is the peak resident set size sampled every 0.5 ms during the repeated runs minus the
size before them (the build of the network excluded). Columns:

- ``convzoo (name)``: ``summarize(name)``, the network built on the meta device inside;
- ``convzoo (model)``: ``summarize(model)`` of a network already built with real weights (CPU);
- ``torchinfo``: ``torchinfo.summary(model, input_size)`` of the same built network, which runs
  a real forward pass on the CPU;
- ``build``: building the network with real weights (what torchinfo needs first).

Usage: ``python benchmarks/summary_speed.py [--repeats 3] [--models vgg16,resnet50] [--json F]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

WORKER = r"""
import json, os, resource, statistics, sys, threading, time
import psutil, torch
torch.set_num_threads(int(os.environ.get("THREADS", "2")))
import convzoo, torchinfo
from convzoo.inspect import summarize
name, tool, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
card = convzoo.model_card(name)
size = card.input_size
proc = psutil.Process()
base = proc.memory_info().rss
model = None
t0 = time.perf_counter()
if tool != "convzoo_name":
    model = convzoo.create_model(name, num_classes=card.num_classes).eval()
build = time.perf_counter() - t0
def job():
    if tool == "convzoo_name":
        return summarize(name)
    if tool == "convzoo_model":
        return summarize(model, input_size=size)
    return torchinfo.summary(model, input_size=(1, *size), verbose=0, device="cpu")
t0 = time.perf_counter()
job()  # the first call: one-time imports included
first_s = time.perf_counter() - t0
first_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
before = proc.memory_info().rss
peak = [before]
running = [True]
def sample():
    while running[0]:
        peak[0] = max(peak[0], proc.memory_info().rss)
        time.sleep(0.0005)
th = threading.Thread(target=sample)
th.start()
times = []
for _ in range(repeats):
    t = time.perf_counter(); job(); times.append(time.perf_counter() - t)
running[0] = False
th.join()
print(json.dumps({"median_s": statistics.median(times), "first_s": first_s, "build_s": build,
                  "first_peak_mib": first_peak / 2**20,
                  "peak_mib": (peak[0] - before) / 2**20}))
"""

TOOLS = ("convzoo_name", "convzoo_model", "torchinfo")


def measure(name: str, tool: str, repeats: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", WORKER, name, tool, str(repeats)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", help="comma-separated names (default: every registered one)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    import torch
    import torchinfo

    import convzoo

    names = args.models.split(",") if args.models else convzoo.list_models()
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, torchinfo "
        f"{torchinfo.__version__ if hasattr(torchinfo, '__version__') else '?'}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    )
    print()
    print(
        "| network | input | convzoo (name) s | MiB | first s | first MiB | "
        "convzoo (model) s | MiB | torchinfo s | MiB | first MiB | build s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    results = {}
    for name in names:
        r = {tool: measure(name, tool, args.repeats) for tool in TOOLS}
        results[name] = r
        size = "x".join(map(str, convzoo.model_card(name).input_size))
        a, b, c = r["convzoo_name"], r["convzoo_model"], r["torchinfo"]
        cells = [
            f"{a['median_s']:.3f}",
            f"{a['peak_mib']:.1f}",
            f"{a['first_s']:.2f}",
            f"{a['first_peak_mib']:.0f}",
            f"{b['median_s']:.3f}",
            f"{b['peak_mib']:.1f}",
            f"{c['median_s']:.3f}",
            f"{c['peak_mib']:.1f}",
            f"{c['first_peak_mib']:.0f}",
            f"{c['build_s']:.2f}",
        ]
        print(f"| {name} | {size} | " + " | ".join(cells) + " |", flush=True)
    ratio = statistics.median(
        results[n]["torchinfo"]["median_s"] / results[n]["convzoo_name"]["median_s"] for n in names
    )
    print(f"\nmedian speed-up of convzoo (name) over torchinfo: {ratio:.1f}x")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=2)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
