"""The default thread policy: usable cores less busy ones, explicit choices first."""

from __future__ import annotations

import ast
import multiprocessing as mp
import os
import threading
import time
from pathlib import Path

import psutil
import pytest
import torch
from PIL import Image

from convzoo import threads
from convzoo.cli import main
from convzoo.threads import ThreadsError, default_threads, explain_default_threads


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    for var in threads.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    saved = torch.get_num_threads()
    yield
    torch.set_num_threads(saved)


@pytest.mark.parametrize(
    "cores, busy, expected",
    [
        (2, 0.0, 2),  # a quiet machine: every core
        (2, 0.4, 2),
        (2, 1.2, 1),  # one core busy elsewhere: the barrier would wait for a descheduled thread
        (2, 7.5, 1),  # never below one
        (16, 3.6, 12),
        (1, 0.0, 1),
    ],
)
def test_cores_less_the_rounded_busy_cores(cores, busy, expected):
    assert default_threads(busy=busy, cores=cores) == expected
    n, why = explain_default_threads(busy=busy, cores=cores)
    assert n == expected and f"{busy:.2f} busy with other work: {expected} left" in why


def test_the_environment_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads(busy=9.0, cores=2) == 3
    monkeypatch.setenv("CONVZOO_THREADS", "1")  # convzoo's own variable first
    assert explain_default_threads(busy=0.0, cores=8) == (1, "CONVZOO_THREADS=1 in the environment")
    monkeypatch.setenv("CONVZOO_THREADS", "zero")
    with pytest.raises(ThreadsError, match="whole number"):
        default_threads()


def test_usable_cores_respects_the_affinity():
    n = threads.usable_cores()
    assert 1 <= n <= len(os.sched_getaffinity(0))


def _spin_forever() -> None:
    while True:
        pass


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_a_process_spinning_on_a_core_is_seen_as_one_busy_core():
    """A real busy process beside us, the way another job keeps a core: pinned to one of our
    CPUs, it must show as about one busy core (whatever else the machine runs adds to it)."""
    cpu = sorted(os.sched_getaffinity(0))[0]
    spinner = mp.get_context("spawn").Process(target=_spin_forever, daemon=True)
    spinner.start()
    try:
        os.sched_setaffinity(spinner.pid, {cpu})
        time.sleep(0.5)  # let it start spinning
        seen = threads.busy_cores(window_s=0.3)
    finally:
        spinner.kill()
        spinner.join()
    scale = min(1.0, psutil.cpu_count(logical=False) / psutil.cpu_count(logical=True))
    assert seen is not None and seen >= 0.7 * scale


def test_this_process_own_threads_are_not_counted_as_busy():
    """The old rule's fault: the load average counted our own threads. Spin a thread here and
    compare with the kernel's own count of busy CPU time over the same window."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    worker = threading.Thread(target=spin, daemon=True)
    cpus = sorted(os.sched_getaffinity(0))
    before = [psutil.cpu_times(percpu=True)[i] for i in cpus]
    worker.start()
    try:
        seen = threads.busy_cores(window_s=0.3)
    finally:
        stop.set()
        worker.join()
    after = [psutil.cpu_times(percpu=True)[i] for i in cpus]
    idle = sum(a.idle + a.iowait - b.idle - b.iowait for a, b in zip(after, before, strict=True))
    # The kernel's busy logical CPUs over the window include our spinning thread (about one).
    elapsed = sum(
        sum(a) - sum(b) - (a.guest - b.guest) - (a.guest_nice - b.guest_nice)
        for a, b in zip(after, before, strict=True)
    ) / len(cpus)
    kernel_busy = len(cpus) - idle / elapsed
    scale = min(1.0, psutil.cpu_count(logical=False) / psutil.cpu_count(logical=True))
    assert seen is not None
    assert seen <= (kernel_busy - 0.5) * scale + 0.1, (seen, kernel_busy)


def test_busy_cores_is_measured_when_not_given(monkeypatch):
    monkeypatch.setattr(threads, "busy_cores", lambda: 1.1)
    assert threads.explain_default_threads(cores=2) == (
        1,
        "2 usable cores, 1.10 busy with other work: 1 left to it",
    )
    monkeypatch.setattr(threads, "busy_cores", lambda: None)
    assert threads.choose_threads(None, cores=2)[0] == 2


def test_ground_floor_imports_only_the_standard_library_torch_psutil():
    tree = ast.parse(Path(threads.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "os", "time", "torch", "psutil"}


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_bad_counts_are_refused(bad):
    with pytest.raises(ThreadsError, match="at least 1"):
        threads.choose_threads(bad)


def test_choose_threads_order_of_precedence(monkeypatch):
    # --threads, then the environment, then the busy-cores policy.
    assert threads.choose_threads(2, busy=9.0, cores=2) == (2, "--threads 2")
    monkeypatch.setenv("CONVZOO_THREADS", "3")
    assert threads.choose_threads(None)[0] == 3
    monkeypatch.delenv("CONVZOO_THREADS")
    n, why = threads.choose_threads(None, busy=1.3, cores=2)
    assert n == 1 and "1.30 busy" in why
    # A small network on a quiet machine gets every core (the old 1-thread rule cost 1.64x).
    assert threads.choose_threads(None, busy=0.0, cores=2)[0] == 2


def test_a_deterministic_run_keeps_every_core_whatever_the_load(monkeypatch):
    from convzoo.train import TrainConfig
    from convzoo.train.device import run_device

    monkeypatch.setattr(threads, "busy_cores", lambda window_s=0.15: 1.6)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    assert run_device(TrainConfig(device="cpu")).flags.threads == 1  # the load's rule
    steady = run_device(TrainConfig(device="cpu", deterministic=True)).flags
    assert steady.threads == 2 and "whatever the load" in steady.threads_why
    assert run_device(TrainConfig(device="cpu", deterministic=True, threads=1)).flags.threads == 1
    monkeypatch.setenv("CONVZOO_THREADS", "1")
    assert threads.choose_threads(None, steady=True) == (1, "CONVZOO_THREADS=1 in the environment")


@pytest.mark.slow
def test_the_thread_count_changes_the_trained_weights(tmp_path):
    """Why a deterministic run keeps one count: the same seeded run on 1 and on 2 threads ends
    with different weights (the CPU kernels split their sums by thread)."""
    from convzoo.io.checkpoint import find_checkpoint
    from convzoo.train import TrainConfig, fit
    from test_train import digits_lenet

    weights = []
    for n in (1, 2):
        cfg = TrainConfig(epochs=1, batch_size=32, seed=0, deterministic=True, threads=n)
        model, data = digits_lenet()
        fit(model, data, None, cfg, tmp_path / str(n), quiet=True)
        weights.append(find_checkpoint(tmp_path / str(n), prefer="last").load_weights())
    assert any(not torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_set_threads_for_touches_only_cpu_runs(monkeypatch):
    torch.set_num_threads(2)
    assert threads.set_threads_for(None, device="cuda") == ""
    assert torch.get_num_threads() == 2
    monkeypatch.setattr(threads, "busy_cores", lambda: 1.0)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    note = threads.set_threads_for(None, device="cpu")
    assert torch.get_num_threads() == 1
    assert note == "1 CPU thread(s): 2 usable cores, 1.00 busy with other work: 1 left to it"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_predict_and_evaluate_say_how_many_threads(tmp_path, capsys, command):
    run = tmp_path / "run"
    assert main(["train", "lenet5", "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()
    image = tmp_path / "digit.png"
    Image.new("L", (8, 8)).save(image)
    argv = {
        "predict": ["predict", str(run), str(image), "--threads", "1"],
        "evaluate": ["evaluate", str(run), "--threads", "1", "--out", str(tmp_path / "eval")],
    }[command]
    assert main(argv) == 0
    assert "note: 1 CPU thread(s): --threads 1" in capsys.readouterr().err
    assert torch.get_num_threads() == 1
