"""The default thread policy: cores less the load, explicit choices first, bad counts refused."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from convzoo import threads
from convzoo.cli import main
from convzoo.threads import ThreadsError, apply_threads, default_threads, explain_default_threads


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    for var in threads.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    saved = torch.get_num_threads()
    yield
    torch.set_num_threads(saved)


@pytest.mark.parametrize(
    "cores, load, expected",
    [
        (2, 0.0, 2),  # a quiet machine: every core
        (2, 0.4, 2),
        (2, 1.2, 1),  # one core busy elsewhere: the barrier would wait for a descheduled thread
        (2, 7.5, 1),  # never below one
        (16, 3.6, 12),
        (1, 0.0, 1),
    ],
)
def test_cores_less_the_rounded_load(cores, load, expected):
    assert default_threads(load=load, cores=cores) == expected
    n, why = explain_default_threads(load=load, cores=cores)
    assert n == expected and f"{load:.2f}" in why


def test_the_environment_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads(load=9.0, cores=2) == 3
    monkeypatch.setenv("CONVZOO_THREADS", "1")  # convzoo's own variable first
    assert explain_default_threads(load=0.0, cores=8) == (1, "CONVZOO_THREADS=1 in the environment")
    monkeypatch.setenv("CONVZOO_THREADS", "zero")
    with pytest.raises(ThreadsError, match="whole number"):
        default_threads()


def test_usable_cores_respects_the_affinity():
    n = threads.usable_cores()
    assert 1 <= n <= len(os.sched_getaffinity(0))


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_apply_refuses_bad_counts(bad):
    with pytest.raises(ThreadsError, match="at least 1"):
        apply_threads(bad)


def test_apply_sets_torch_and_returns_the_count(monkeypatch):
    assert apply_threads(1) == 1 and torch.get_num_threads() == 1
    monkeypatch.setattr(threads, "load_average", lambda: 0.0)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    assert apply_threads(None) == 2 and torch.get_num_threads() == 2


def test_ground_floor_imports_only_os_torch_psutil():
    tree = ast.parse(Path(threads.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "os", "torch", "psutil"}


def test_choose_threads_order_of_precedence(monkeypatch):
    # --threads, then the environment, then the small-network rule, then the load policy.
    assert threads.choose_threads(2, params=10, load=9.0, cores=2) == (2, "--threads 2")
    monkeypatch.setenv("CONVZOO_THREADS", "3")
    assert threads.choose_threads(None, params=10)[0] == 3
    monkeypatch.delenv("CONVZOO_THREADS")
    n, why = threads.choose_threads(None, params=61_706, load=0.0, cores=2)
    assert n == 1 and "61,706 parameters" in why
    n, why = threads.choose_threads(None, params=11_689_512, load=1.3, cores=2)
    assert n == 1 and "load average 1.30" in why
    assert threads.choose_threads(None, params=11_689_512, load=0.0, cores=2)[0] == 2
    with pytest.raises(ThreadsError, match="at least 1"):
        threads.choose_threads(0)


def test_set_threads_for_touches_only_cpu_runs():
    torch.set_num_threads(2)
    assert threads.set_threads_for(None, params=1000, device="cuda") == ""
    assert torch.get_num_threads() == 2
    note = threads.set_threads_for(None, params=1000, device="cpu")
    assert torch.get_num_threads() == 1 and note.startswith("1 CPU thread(s): 1,000 parameters")


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
