"""Benchmarks of the zoo on the user's hardware: the timing harness, machine info, the charts."""

from convzoo.bench.charts import plot_results  # matplotlib itself loads only when a chart is drawn
from convzoo.bench.harness import (
    BenchmarkRunner,
    BenchSettings,
    InferenceBenchmarkRunner,
    TrainBenchmarkRunner,
    Variant,
    network_macs,
    new_results_dir,
    parse_batch_sizes,
    run_benchmark,
    summarize_times,
    time_interleaved,
)
from convzoo.bench.machine import machine_info, matmul_peak_gflops

__all__ = [
    "BenchSettings",
    "BenchmarkRunner",
    "InferenceBenchmarkRunner",
    "TrainBenchmarkRunner",
    "Variant",
    "new_results_dir",
    "machine_info",
    "matmul_peak_gflops",
    "network_macs",
    "parse_batch_sizes",
    "plot_results",
    "run_benchmark",
    "summarize_times",
    "time_interleaved",
]
