"""Markdown tables of a ``benchmarks/gpu_sweep.py`` folder, as docs/benchmarks-gpu.md shows them.

python benchmarks/gpu_report.py SWEEP_DIR > tables.md
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from convzoo.bench.charts import cnn_benchmarks_reference


def rows_of(folder: Path) -> list[dict]:
    path = folder / "results.json"
    if not path.is_file():
        return []
    return [r for r in json.loads(path.read_text())["results"] if r["status"] == "ok"]


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 10 ** (digits - 1) else f"{value:.{digits}g}"


def inference_table(root: Path, batches: tuple[int, ...] = (1, 16, 256)) -> str:
    data = {p: rows_of(root / p) for p in ("fp32", "bf16")}
    names = list(dict.fromkeys(r["network"] for r in data["fp32"] + data["bf16"]))
    head = ["network", "GMACs"]
    for p in data:
        head += [f"{p} bs {b}" for b in batches] + [f"{p} best"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names:
        cells = [name]
        gmacs = next((r["gmacs_per_image"] for r in data["fp32"] if r["network"] == name), None)
        cells.append(fmt(gmacs))
        for rows in data.values():
            mine = {r["batch_size"]: r for r in rows if r["network"] == name}
            cells += [fmt(mine[b]["images_per_s"]) if b in mine else "–" for b in batches]
            best = max(mine.values(), key=lambda r: r["images_per_s"], default=None)
            cells.append(f"{fmt(best['images_per_s'])} (bs {best['batch_size']})" if best else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cnn_benchmarks_table(root: Path) -> str:
    ours = {r["network"]: r for r in rows_of(root / "cnnbench") if r["batch_size"] == 16}
    titan, ti = cnn_benchmarks_reference("Pascal Titan X"), cnn_benchmarks_reference("GTX 1080 Ti")
    head = [
        "cnn-benchmarks network",
        "convzoo",
        "H200 fwd ms",
        "H200 bwd ms",
        "H200 total ms",
        "Pascal Titan X total ms",
        "GTX 1080 Ti total ms",
        "H200 speed-up vs Titan X",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, ref in titan.items():
        r = ours.get(name)
        if r is None:
            continue
        total = r["forward_ms"] + r["backward_ms"]
        lines.append(
            f"| {ref['network']} | {name} | {fmt(r['forward_ms'])} | {fmt(r['backward_ms'])} "
            f"| {fmt(total)} | {ref['total_ms']:.2f} | {ti[name]['total_ms']:.2f} "
            f"| {ref['total_ms'] / total:.1f}x |"
        )
    return "\n".join(lines)


def twins_table(root: Path) -> str:
    rows = [r for r in rows_of(root / "cnnbench") if r.get("speed_vs_torchvision")]
    lines = [
        "| network | convzoo ms | torchvision ms | torchvision / convzoo | reps |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['network']} | {fmt(r['latency_ms_median'])} "
            f"| {fmt(r['torchvision_latency_ms_median'])} | {r['speed_vs_torchvision']:.3f} "
            f"| {r['reps']} |"
        )
    ratios = [r["speed_vs_torchvision"] for r in rows]
    if ratios:
        lines.append(
            f"\nmedian {statistics.median(ratios):.3f}, range {min(ratios):.3f}-{max(ratios):.3f}"
        )
    return "\n".join(lines)


def main() -> int:
    root = Path(sys.argv[1])
    print("## Inference, images/s\n")
    print(inference_table(root))
    print("\n## Training step at batch 16 beside cnn-benchmarks\n")
    print(cnn_benchmarks_table(root))
    print("\n## Twins, training step at batch 16\n")
    print(twins_table(root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
