"""Every inference runtime x precision side by side, timed interleaved in one run (issue 13).

    python benchmarks/inference_speed.py                   # the real run: ~45-60 min, 2 threads
    python benchmarks/inference_speed.py --smoke           # seconds: LeNet-5, tiny budget

For ResNet-18, GoogLeNet (``googlenet_tv``) and VGG-16 at batch 1 and 16, with 2 threads, the
variants ``eager``, ``optimize`` (``convzoo.optimize(runtime="auto")``: the fastest it measured of
inductor, ONNX Runtime and OpenVINO), ``onnxruntime`` and ``openvino`` in ``fp32``, ``bf16`` and
``int8`` (where the runtime has it) take turns (one call each a round, in an order that changes
from round to round so that each variant follows each other equally often) after an untimed 50 ms
pause each, through ``convzoo bench``'s own harness (:func:`convzoo.bench.harness.run_benchmark`),
so the product is what is measured. OpenVINO is timed twice, built separately (``--control``): an
A/A control whose ratio shows how far apart two instances of one runtime land in this run. Random
weights with non-trivial batch-norm statistics; int8 is calibrated on random inputs (throughput
only: its agreement on real data is tested on the digits LeNet-5 in the suite).

Writes the results folder (``results.json``/``.csv`` with the machine, the CPU features and
versions, and the stability verdict), prints a markdown table with the ratios that issue 13
asks for (optimize against the faster peer, per precision, paired round by round with a
confidence interval, :func:`convzoo.bench.harness.paired_speedup`) and the A/A control's, and
with ``--docs`` puts that table into
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

from convzoo.bench.harness import (
    PAIRED_CONFIDENCE,
    BenchSettings,
    new_results_dir,
    paired_comparisons,
    run_benchmark,
    variant_label,
)
from convzoo.io import write_text

NETWORKS = ["resnet18", "googlenet_tv", "vgg16"]
RUNTIMES = ["eager", "optimize", "onnxruntime", "openvino"]
PRECISIONS = ["fp32", "bf16", "int8"]
START, END = "<!-- inference-speed:start -->", "<!-- inference-speed:end -->"


def _key(r: dict) -> tuple[str, int]:
    return r["network"], r["batch_size"]


def _ratio(c: dict | None) -> str:
    return f"{c['ratio']:.2f} ({c['low']:.2f}-{c['high']:.2f})" if c else "–"


def markdown(rows: list[dict], machine: dict, stability: dict) -> str:
    """One line per network and batch: images/s of every variant, then the goal ratios
    (optimize against the faster peer, paired round by round) and the A/A control's."""
    ok = [r for r in rows if r.get("status") == "ok"]
    order = [f"{rt} {p}" for rt in RUNTIMES for p in PRECISIONS]
    order += [f"{v} #2" for v in order]
    variants = [v for v in order if any(variant_label(r) == v for r in ok)]
    table: dict[tuple[str, int], dict[str, dict]] = {}
    for r in ok:
        table.setdefault(_key(r), {})[variant_label(r)] = r
    pairs: dict[tuple[str, int], dict[tuple[str, str], dict]] = {}
    for c in paired_comparisons(rows):
        pairs.setdefault((c["network"], c["batch_size"]), {})[c["ours"], c["theirs"]] = c
    controls = sorted({v.rsplit(" ", 2)[0] for v in variants if v.endswith("#2")})
    head = ["network", "batch", *variants, "optimize / faster peer: fp32, bf16, int8"]
    head += [f"A/A {c} #2 / {c}" for c in controls]
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
        paired = pairs.get((net, bs), {})
        ratios = []
        for p in PRECISIONS:
            peers = [by[f"{rt} {p}"] for rt in ("onnxruntime", "openvino") if f"{rt} {p}" in by]
            best = max(peers, key=lambda x: x["images_per_s"]) if peers else None
            ratios.append(_ratio(best and paired.get((f"optimize {p}", variant_label(best)))))
        cells.append("; ".join(ratios))
        for control in controls:
            cells.append(
                "; ".join(
                    _ratio(paired.get((f"{control} {p} #2", f"{control} {p}"))) for p in PRECISIONS
                )
            )
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "`*`: p90 above 1.5× the median (unstable point). Ratios: the median of the per-round "
        f"speed ratios and its {PAIRED_CONFIDENCE:.0%} confidence interval (> 1: optimize, or "
        "the second instance, is faster). The A/A control is a second, separately built "
        "instance of the same variant: its ratio is a tie as this run measures one."
    )
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
    p.add_argument(
        "--control",
        default="openvino",
        help="the runtime timed twice as an A/A control (default openvino; 'none' for none)",
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
        control=None if args.control == "none" else args.control,
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
