"""Every CPU inference path side by side, timed interleaved in one run; prints a markdown table.

    python benchmarks/inference_speed.py                      # ResNet-18, batch 16 and 1 (~5 min)
    python benchmarks/inference_speed.py --threads 2 --out docs/inference_speed.json
    python benchmarks/inference_speed.py --every-network      # + optimize vs eager vs ORT, all nets

Paths (ResNet-18 from torchvision unless marked convzoo, all fp32, random weights with
non-trivial batch-norm statistics, inputs 224x224):

- ``torchvision eager``: the reference the ratios are taken against.
- ``convzoo eager``: our network, which must match torchvision's speed.
- ``eager channels-last``: NHWC weights and input.
- ``TorchScript``: ``torch.jit.trace`` + ``torch.jit.freeze``.
- ``torch.compile``: inductor, default options.
- ``torch.compile + freezing``: inductor with ``freezing=True`` (weights constant-folded and
  pre-packed for oneDNN).
- ``convzoo.optimize``: BN folded into the convs + stem (conv1 -> ReLU -> max-pool) run two
  images at a time so its output stays in cache (batch 16) + channels-last + compile with
  freezing and the C++ wrapper.
- ``convzoo.optimize bf16`` (with ``--bf16``): the same in bfloat16, opt-in; it agrees with
  fp32 to about 1% of the largest logit, so it is reported beside, not instead of, fp32.
- ``ONNX Runtime``: the exported ONNX file, all graph optimisations, same thread count.

All paths of one batch size take turns (A B C ... A B C ...), with a 50 ms untimed pause after
each call so that ONNX Runtime's spinning worker threads do not slow the next path, and
background load hits each equally; the ratios are the numbers to read on a shared machine.
Target (issue 6): ``optimize`` at least 2.2x torchvision eager and at least ONNX Runtime at
batch 16, at least ONNX Runtime at batch 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

import convzoo
from convzoo.bench.harness import percentile, time_interleaved, torchvision_twin
from convzoo.bench.machine import machine_info
from convzoo.export import export_onnx, onnx_session, optimize


def _randomize_bn(model: torch.nn.Module) -> torch.nn.Module:
    # Fresh BN is the identity; give it statistics so that folding does real work.
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
    return model.eval()


def _no_grad(fn):
    def call():
        with torch.inference_mode():
            return fn()

    return call


def resnet18_paths(bs: int, onnx_dir: str, bf16: bool = False) -> dict[str, object]:
    """name -> zero-argument callable, for one batch size."""
    tv = _randomize_bn(torchvision_twin("resnet18"))
    cz = convzoo.create_model("resnet18").eval()
    cz.load_state_dict(tv.state_dict())  # same weights: the twins differ in code only
    x = torch.randn(bs, 3, 224, 224)
    xc = x.contiguous(memory_format=torch.channels_last)
    paths: dict[str, object] = {}
    paths["torchvision eager"] = _no_grad(lambda: tv(x))
    paths["convzoo eager"] = _no_grad(lambda: cz(x))
    tv_cl = _randomize_bn(torchvision_twin("resnet18"))
    tv_cl.load_state_dict(tv.state_dict())
    tv_cl = tv_cl.to(memory_format=torch.channels_last)
    paths["eager channels-last"] = _no_grad(lambda: tv_cl(xc))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = torch.jit.freeze(torch.jit.trace(tv, x))
    paths["TorchScript (trace+freeze)"] = _no_grad(lambda: ts(x))
    compiled = torch.compile(tv)
    paths["torch.compile"] = _no_grad(lambda: compiled(x))
    import torch._inductor.config as inductor_config

    tv_f = _randomize_bn(torchvision_twin("resnet18"))
    tv_f.load_state_dict(tv.state_dict())
    frozen = torch.compile(tv_f)

    def run_frozen():
        with inductor_config.patch(freezing=True):
            return frozen(x)

    paths["torch.compile + freezing"] = _no_grad(run_frozen)
    fast = optimize(cz, x)
    paths["convzoo.optimize"] = lambda: fast(x)
    if bf16:
        fast16 = optimize(cz, x, dtype=torch.bfloat16)
        paths["convzoo.optimize bf16 (opt-in, ≈1% of logits)"] = lambda: fast16(x)
    path = Path(onnx_dir) / "resnet18.onnx"
    if not path.exists():
        export_onnx(cz, path, x[:1])
    session = onnx_session(path, threads=torch.get_num_threads())
    feed = {"input": x.numpy()}
    paths["ONNX Runtime"] = lambda: session.run(None, feed)
    return paths


def network_paths(name: str, bs: int, onnx_dir: str) -> dict[str, object]:
    model = _randomize_bn(convzoo.create_model(name))
    c, h, w = model.card.input_size
    x = torch.randn(bs, c, h, w)
    fast = optimize(model, x)
    path = Path(onnx_dir) / f"{name}.onnx"
    if not path.exists():
        export_onnx(model, path, x[:1])
    session = onnx_session(path, threads=torch.get_num_threads())
    feed = {"input": x.numpy()}
    return {
        "convzoo eager": _no_grad(lambda: model(x)),
        "convzoo.optimize": lambda: fast(x),
        "ONNX Runtime": lambda: session.run(None, feed),
    }


def measure(paths: dict[str, object], bs: int, budget_s: float, pause_s: float) -> list[dict]:
    # Compile now (first calls), so that compilation is not in the budget.
    for fn in paths.values():
        fn()
    times = time_interleaved(
        list(paths.values()), "cpu", warmup=2, budget_s=budget_s, min_reps=5, pause_s=pause_s
    )
    rows = []
    for name, t in zip(paths, times, strict=True):
        med = statistics.median(t)
        rows.append(
            {
                "path": name,
                "batch_size": bs,
                "images_per_s": bs / med,
                "ms_median": med * 1e3,
                "ms_p10": percentile(t, 10) * 1e3,
                "ms_p90": percentile(t, 90) * 1e3,
                "reps": len(t),
            }
        )
    ref = next((r for r in rows if r["path"] in ("torchvision eager", "convzoo eager")), None)
    ort = next((r for r in rows if r["path"] == "ONNX Runtime"), None)
    for r in rows:
        r["vs_eager"] = r["images_per_s"] / ref["images_per_s"] if ref else None
        r["vs_onnxruntime"] = r["images_per_s"] / ort["images_per_s"] if ort else None
    return rows


def markdown(rows: list[dict], network_column: bool = False) -> str:
    head = ["network"] if network_column else []
    head += ["path", "batch", "img/s", "ms median", "ms p10-p90", "× eager", "× ORT"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        cells = [r["network"]] if network_column else []
        cells += [
            r["path"],
            str(r["batch_size"]),
            f"{r['images_per_s']:.1f}",
            f"{r['ms_median']:.1f}",
            f"{r['ms_p10']:.1f}-{r['ms_p90']:.1f}",
            f"{r['vs_eager']:.2f}" if r["vs_eager"] else "",
            f"{r['vs_onnxruntime']:.2f}" if r["vs_onnxruntime"] else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="intra-op threads (default 2)")
    p.add_argument("--batch-sizes", default="16,1")
    p.add_argument("--budget", type=float, default=15.0, help="seconds of timing per batch size")
    p.add_argument(
        "--pause",
        type=float,
        default=0.05,
        help="untimed seconds after each call (ORT's threads spin on; 0 to time back to back)",
    )
    p.add_argument("--every-network", action="store_true", help="also every network, batch 1")
    p.add_argument(
        "--bf16",
        action="store_true",
        help="also optimize() in bf16 (AMX where the CPU has it; not fp32-exact)",
    )
    p.add_argument("--out", default=None, help="also write the rows and machine as JSON")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore")
    started = time.time()
    info = machine_info("cpu")
    print(
        f"{info['cpu']}, {info['logical_cores']} logical cores, {args.threads} threads, "
        f"load {info['load_average_1m']:.1f}; torch {info['versions']['torch']}, "
        f"torchvision {info['versions']['torchvision']}, onnxruntime "
        f"{info['versions']['onnxruntime']}; {info['timestamp_utc']}\n",
        flush=True,
    )
    rows: list[dict] = []
    net_rows: list[dict] = []
    with tempfile.TemporaryDirectory() as onnx_dir:
        for bs in [int(b) for b in args.batch_sizes.split(",")]:
            rows += measure(resnet18_paths(bs, onnx_dir, args.bf16), bs, args.budget, args.pause)
            print(markdown([r for r in rows if r["batch_size"] == bs]) + "\n", flush=True)
        if args.every_network:
            for name in convzoo.list_models():
                got = measure(network_paths(name, 1, onnx_dir), 1, args.budget / 3, args.pause)
                net_rows += [{"network": name, **r} for r in got]
                print(markdown([{"network": name, **r} for r in got], True), flush=True)
                os.remove(Path(onnx_dir) / f"{name}.onnx")
    print(f"\nResNet-18, every path ({time.time() - started:.0f} s in all):\n")
    print(markdown(rows))
    if net_rows:
        print("\nEvery network, batch 1:\n")
        print(markdown(net_rows, True))
    if args.out:
        Path(args.out).write_text(
            json.dumps({"machine": info, "resnet18": rows, "networks": net_rows}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
