"""The default thread count on a quiet and on a busy machine (issue 13, `convzoo.threads`).

    python benchmarks/threads_policy.py                 # quiet, then with 2 busy processes
    python benchmarks/threads_policy.py --busy 0 2 4    # the loads to measure under

For each load (``--busy N`` spins N pure-Python busy loops beside the measurement, the way other
work keeps cores busy), three workloads are timed with 1 thread, with every usable core and with
what :func:`convzoo.threads.choose_threads` picks at that moment:

- ResNet-18 inference at batch 1, 224x224 (predict, evaluate, bench);
- a LeNet-5 training step at batch 256 on 32x32 inputs (the default Fashion-MNIST run);
- a ResNet-18 training step at batch 8, 112x112 (a fine-tune).

The thread counts are interleaved call by call and the median of ``--calls`` calls is reported,
with the 90th percentile, the busy cores the policy saw and its reason. Results: JSON lines on
stdout and a markdown table with ``--markdown``; recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torchvision.models import resnet18

from convzoo.bench.machine import cpu_model
from convzoo.threads import busy_cores, choose_threads, usable_cores
from convzoo.weights import create_model


def _spin(stop: mp.synchronize.Event) -> None:
    while not stop.is_set():
        for _ in range(100_000):
            pass


def _workloads() -> dict[str, Callable[[], None]]:
    torch.manual_seed(0)
    infer_net = resnet18().eval()
    infer_x = torch.randn(1, 3, 224, 224)

    def infer() -> None:
        with torch.inference_mode():
            infer_net(infer_x)

    def trainer(net: torch.nn.Module, x: torch.Tensor, classes: int) -> Callable[[], None]:
        y = torch.randint(0, classes, (x.shape[0],))
        opt = torch.optim.SGD(net.parameters(), lr=1e-3)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            opt.step()

        return step

    lenet = create_model("lenet5", num_classes=10).train()
    small = resnet18(num_classes=10).train()
    return {
        "resnet18 inference, batch 1, 224": infer,
        "lenet5 training step, batch 256, 32": trainer(lenet, torch.randn(256, 1, 32, 32), 10),
        "resnet18 training step, batch 8, 112": trainer(small, torch.randn(8, 3, 112, 112), 10),
    }


def _measure(fn: Callable[[], None], counts: list[int], calls: int) -> dict[int, list[float]]:
    times: dict[int, list[float]] = {n: [] for n in counts}
    for n in counts:  # warm-up, each count once
        torch.set_num_threads(n)
        fn()
    for _ in range(calls):
        for n in counts:
            torch.set_num_threads(n)
            t = time.perf_counter()
            fn()
            times[n].append(time.perf_counter() - t)
    return times


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def run(busy: int, calls: int, settle_s: float) -> list[dict]:
    stop = mp.Event()
    spinners = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(busy)]
    for p in spinners:
        p.start()
    try:
        time.sleep(settle_s)  # let the busy loops start, and the previous workload's threads end
        cores = usable_cores()
        rows = []
        for name, fn in _workloads().items():
            seen = busy_cores()
            chosen, why = choose_threads(None, busy=seen)
            counts = sorted({1, cores})
            times = _measure(fn, counts, calls)
            row = {
                "workload": name,
                "busy_processes": busy,
                "busy_cores_seen": None if seen is None else round(seen, 2),
                "policy_threads": chosen,
                "policy_reason": why,
            }
            for n in counts:
                row[f"median_ms_{n}_threads"] = round(1e3 * statistics.median(times[n]), 2)
                row[f"p90_ms_{n}_threads"] = round(1e3 * _p90(times[n]), 2)
            best = min(counts, key=lambda n: statistics.median(times[n]))
            row["fastest_threads"] = best
            row["policy_ms"] = row[f"median_ms_{chosen}_threads"] if chosen in counts else None
            rows.append(row)
            print(json.dumps(row), flush=True)
        return rows
    finally:
        stop.set()
        for p in spinners:
            p.join(timeout=5)


def markdown(rows: list[dict], cores: int) -> str:
    lines = [
        "| workload | busy processes | busy cores seen | 1 thread (median, p90 ms) "
        f"| {cores} threads (median, p90 ms) | policy's choice |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        one = f"{r['median_ms_1_threads']} ({r['p90_ms_1_threads']})"
        many = f"{r[f'median_ms_{cores}_threads']} ({r[f'p90_ms_{cores}_threads']})"
        ok = "fastest" if r["policy_threads"] == r["fastest_threads"] else "not the fastest"
        lines.append(
            f"| {r['workload']} | {r['busy_processes']} | {r['busy_cores_seen']} | {one} | {many} "
            f"| {r['policy_threads']} ({ok}; {r['policy_reason']}) |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--busy", type=int, nargs="+", default=[0, 2], help="busy loops per round")
    ap.add_argument("--calls", type=int, default=15, help="timed calls per thread count")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds before measuring")
    ap.add_argument("--markdown", action="store_true", help="also print a markdown table")
    args = ap.parse_args()
    print(
        json.dumps(
            {
                "cpu": cpu_model(),
                "cores": usable_cores(),
                "torch": torch.__version__,
            }
        )
    )
    rows = [r for busy in args.busy for r in run(busy, args.calls, args.settle)]
    if args.markdown:
        print(markdown(rows, usable_cores()))


if __name__ == "__main__":
    main()
