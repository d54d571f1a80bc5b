"""Every inference runtime x precision side by side, timed interleaved in one run (issue 13).

    python benchmarks/inference_speed.py                   # the real run: ~45-60 min, 2 threads
    python benchmarks/inference_speed.py --smoke           # seconds: LeNet-5, tiny budget

For ResNet-18, GoogLeNet (``googlenet_tv``) and VGG-16 at batch 1 and 16, with 2 threads, the
variants ``eager``, ``optimize`` (convzoo.optimize: BN folded, channels-last, inductor),
``onnxruntime`` and ``openvino`` in ``fp32``, ``bf16`` and ``int8`` (where the runtime has it)
take turns (A B C ... A B C ...) after an untimed 50 ms pause each, through ``convzoo bench``'s
own harness (:func:`convzoo.bench.harness.run_benchmark`), so the product is what is measured.
Random weights with non-trivial batch-norm statistics; int8 is calibrated on random inputs
(throughput only: its agreement on real data is tested on the digits LeNet-5 in the suite).

Writes the results folder (``results.json``/``.csv`` with the machine, the CPU features and
versions, and the stability verdict), prints a markdown table with the ratios that issue 13
asks for (optimize / the faster peer, per precision), and with ``--docs`` puts that table into
``docs/benchmarks.md`` between its ``inference-speed`` markers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import torch

from convzoo.bench.harness import BenchSettings, new_results_dir, run_benchmark
from convzoo.io import write_text

NETWORKS = ["resnet18", "googlenet_tv", "vgg16"]
RUNTIMES = ["eager", "optimize", "onnxruntime", "openvino"]
PRECISIONS = ["fp32", "bf16", "int8"]
START, END = "<!-- inference-speed:start -->", "<!-- inference-speed:end -->"


def _key(r: dict) -> tuple[str, int]:
    return r["network"], r["batch_size"]


def markdown(rows: list[dict], machine: dict, stability: dict) -> str:
    """One line per network and batch: images/s of every variant, then the goal ratios."""
    ok = [r for r in rows if r.get("status") == "ok"]
    variants = [f"{rt} {p}" for rt in RUNTIMES for p in PRECISIONS]
    variants = [v for v in variants if any(f"{r['runtime']} {r['precision']}" == v for r in ok)]
    table: dict[tuple[str, int], dict[str, dict]] = {}
    for r in ok:
        table.setdefault(_key(r), {})[f"{r['runtime']} {r['precision']}"] = r
    head = ["network", "batch", *variants, "optimize / best peer (fp32, bf16, int8)"]
    lines = [
        f"{machine.get('cpu')} ({', '.join(machine.get('cpu_features') or []) or 'no flags'}), "
        f"{machine.get('torch_threads')} threads, "
        f"load {round(machine.get('load_average_1m') or 0, 2)}; "
        + ", ".join(f"{k} {v}" for k, v in machine.get("versions", {}).items() if v)
        + f"; {machine.get('timestamp_utc')}. Images/s, medians of interleaved runs.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    for (net, bs), by in table.items():
        cells = [net, str(bs)]
        for v in variants:
            r = by.get(v)
            mark = "*" if r and r.get("unstable") else ""
            cells.append(f"{r['images_per_s']:.1f}{mark}" if r else "–")
        ratios = []
        for p in PRECISIONS:
            ours = by.get(f"optimize {p}")
            peers = [by[f"{rt} {p}"] for rt in ("onnxruntime", "openvino") if f"{rt} {p}" in by]
            if ours and peers:
                best = max(x["images_per_s"] for x in peers)
                ratios.append(f"{ours['images_per_s'] / best:.2f}")
            else:
                ratios.append("–")
        cells.append(" / ".join(ratios))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("`*`: p90 above 1.5× the median (unstable point).")
    chosen = [
        f"{r['network']} batch {r['batch_size']} {r['precision']}: "
        + str(r["chosen"]).split(";")[0]
        for r in ok
        if r["runtime"] == "optimize" and r.get("chosen")
    ]
    if chosen:
        lines.append("")
        lines.append("What `optimize` ran (its runtime and precision): " + "; ".join(chosen) + ".")
    for advice in stability.get("advice", []):
        lines.append(f"Warning: {advice}.")
    return "\n".join(lines)


def update_docs(doc: Path, text: str) -> None:
    body = doc.read_text()
    if START not in body or END not in body:
        raise SystemExit(f"{doc} has no {START} ... {END} section to fill")
    before, rest = body.split(START, 1)
    _, after = rest.split(END, 1)
    write_text(doc, f"{before}{START}\n{text}\n{END}{after}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--networks", default=",".join(NETWORKS))
    p.add_argument("--batch-sizes", default="1,16")
    p.add_argument("--runtimes", default=",".join(RUNTIMES))
    p.add_argument("--precisions", default=",".join(PRECISIONS))
    p.add_argument("--threads", type=int, default=2, help="intra-op threads (default 2)")
    p.add_argument("--budget", type=float, default=30.0, help="seconds of timing per point")
    p.add_argument("--pause", type=float, default=0.05, help="untimed seconds after each call")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--out", default=None, help="results folder (default: a new bench-results/)")
    p.add_argument(
        "--optimize-runtime",
        default="auto",
        help="what the optimize variant asks optimize() for (default auto: the fastest measured)",
    )
    p.add_argument("--docs", action="store_true", help="fill docs/benchmarks.md's table")
    p.add_argument("--smoke", action="store_true", help="LeNet-5, batch 2, tiny budget")
    args = p.parse_args(argv)
    if args.smoke:
        args.networks, args.batch_sizes, args.budget = "lenet5", "2", 0.05
    warnings.filterwarnings("ignore")
    settings = BenchSettings(
        names=args.networks.split(","),
        batch_sizes=[int(b) for b in args.batch_sizes.split(",")],
        device="cpu",
        runtimes=args.runtimes.split(","),
        precisions=args.precisions.split(","),
        threads=args.threads,
        budget_s=args.budget,
        min_reps=5,
        warmup=2,
        pause_s=args.pause,
        image_size=args.image_size,
        calibration_batches=2 if args.smoke else 8,
        optimize_runtime=args.optimize_runtime,
    )
    out = Path(args.out) if args.out else new_results_dir()
    started = time.time()
    torch.manual_seed(0)
    rows = run_benchmark(settings, out, progress=True)
    data = json.loads((out / "results.json").read_text())
    text = markdown(rows, data["machine"], data.get("stability", {}))
    print(text)
    print(f"\n{time.time() - started:.0f} s in all; results in {out}")
    if args.docs:
        update_docs(Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
