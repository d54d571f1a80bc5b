"""End-to-end time of ``convzoo report NAME -o FILE.html``, beside ``import torch`` (issue 12).

    python benchmarks/report_speed.py                           # ResNet-152, GoogLeNet, VGG-16
    python benchmarks/report_speed.py --networks resnet152 --calls 7 --markdown

Each call is a fresh process, as a user runs it: the command's own imports, the trace on the
meta device, the diagram, the tables and charts, and the HTML written. ``import torch`` alone
(``python -c "import torch"``) is timed in turns with it, so that a busy machine slows both alike
and the ratio says how much the report adds to the torch start-up every command pays. A third
command, ``import torch`` ending with ``os._exit`` (no interpreter teardown, as the console
script ends), is the floor of any command that needs torch. Medians of ``--calls`` calls; the
CPU and versions are printed with the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from convzoo.bench.machine import cpu_model
from convzoo.version import __version__


def _seconds(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def measure(networks: list[str], calls: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in networks:
            out = Path(tmp) / f"{name}.html"
            report = [sys.executable, "-m", "convzoo", "report", name, "-o", str(out)]
            torch_only = [sys.executable, "-c", "import torch"]
            torch_floor = [sys.executable, "-c", "import os, torch; os._exit(0)"]
            _seconds(report)  # first call: Python's bytecode caches and the disk cache warm
            times: dict[str, list[float]] = {"report": [], "import torch": [], "floor": []}
            for _ in range(calls):
                times["report"].append(_seconds(report))
                times["import torch"].append(_seconds(torch_only))
                times["floor"].append(_seconds(torch_floor))
            row = {
                "network": name,
                "report_s": round(statistics.median(times["report"]), 3),
                "report_max_s": round(max(times["report"]), 3),
                "import_torch_s": round(statistics.median(times["import torch"]), 3),
                "torch_floor_s": round(statistics.median(times["floor"]), 3),
                "html_kib": round(out.stat().st_size / 1024, 1),
            }
            row["ratio"] = round(row["report_s"] / row["import_torch_s"], 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def markdown(rows: list[dict], calls: int) -> str:
    lines = [
        f"{cpu_model()}, Python {platform.python_version()}, torch {torch.__version__}, "
        f"convzoo {__version__}; medians of {calls} fresh processes each, interleaved.",
        "",
        "| network | `convzoo report` (median, slowest s) | `import torch` (s) | ratio "
        "| `import torch` + `os._exit` (s) | HTML |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['network']} | {r['report_s']} ({r['report_max_s']}) | {r['import_torch_s']} "
            f"| {r['ratio']}x | {r['torch_floor_s']} | {r['html_kib']} KiB |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", default="resnet152,googlenet,vgg16")
    ap.add_argument("--calls", type=int, default=5, help="timed calls of each command")
    ap.add_argument("--markdown", action="store_true", help="also print a markdown table")
    args = ap.parse_args()
    rows = measure([n for n in args.networks.split(",") if n], args.calls)
    if args.markdown:
        print(markdown(rows, args.calls))


if __name__ == "__main__":
    main()
