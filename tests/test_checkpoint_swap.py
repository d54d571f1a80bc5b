"""The save swap (issue 10 section 4): whatever instant the process dies, the newest complete
checkpoint wins and resume works. Each test stops a real process at one step of the swap
(SIGSTOP from the save's step hook), kills it with SIGKILL, and reads what is left."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from convzoo.cli import main
from convzoo.errors import ConvzooError
from convzoo.io import checkpoint as C
from convzoo.train.checkpoint import find_checkpoint

EXCHANGE_STEPS = ["weights", "state", "meta", "exchanged", "done"]
RENAME_STEPS = ["weights", "state", "meta", "moved-old", "renamed-new", "done"]
# Steps after which the new checkpoint is the one in place.
NEW_IS_IN = {"exchanged", "renamed-new", "done"}


def _tensors(epoch: int) -> dict[str, torch.Tensor]:
    # Tiny tensors: a forked child must not enter torch's thread pools (they do not survive a
    # fork), and ATen runs ops this small inline.
    return {"conv.weight": torch.full((2, 3), float(epoch)), "fc.bias": torch.arange(3.0) + epoch}


def _save(run: Path, epoch: int) -> None:
    C.save_checkpoint(
        run / "last",
        _tensors(epoch),
        {"model": {"name": "lenet5", "kwargs": {"num_classes": 10}}, "epoch": epoch},
        {"epoch": torch.tensor(epoch)},
    )


def _kill_at(step: str, run: Path, *, exchange: bool) -> None:
    """Fork a child that saves epoch 2 over epoch 1 and stops itself at ``step``; SIGKILL it."""
    pid = os.fork()
    if pid == 0:  # the child: never returns to pytest
        try:
            C.USE_EXCHANGE = exchange

            def stop(name: str, path: Path) -> None:
                if name == step and path.name == "last":
                    os.kill(os.getpid(), signal.SIGSTOP)

            C._step_hook = stop
            _save(run, 2)
        finally:
            os._exit(3)  # not stopped: the step was never reached
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WUNTRACED | os.WNOHANG)
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if not done:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail(f"the child hung before {step!r}")
    assert os.WIFSTOPPED(status), f"the child did not stop at {step!r}"
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize(
    ("exchange", "step"),
    [(True, s) for s in EXCHANGE_STEPS] + [(False, s) for s in RENAME_STEPS],
)
def test_sigkill_at_each_step_leaves_the_newest_complete_checkpoint(tmp_path, exchange, step):
    run = tmp_path / "run"
    _save(run, 1)
    # A best/ of another epoch: the finder must not take it for the last (the bug).
    C.save_checkpoint(run / "best", _tensors(0), {"model": {"name": "lenet5"}, "epoch": 0})
    _kill_at(step, run, exchange=exchange)
    want = 2 if step in NEW_IS_IN else 1
    ckpt = find_checkpoint(run, prefer="last")
    assert ckpt.meta["epoch"] == want and ckpt.family == "last"
    assert int(ckpt.load_state()["epoch"]) == want
    expected = _tensors(want)
    got = ckpt.load_weights()
    assert all(torch.equal(got[k], v) for k, v in expected.items())
    assert ckpt.run_dir == run
    # The next save cleans what the dead one left and lands the newest.
    C.USE_EXCHANGE = exchange
    try:
        _save(run, 3)
    finally:
        C.USE_EXCHANGE = True
    assert sorted(p.name for p in run.iterdir()) == ["best", "last"]
    assert find_checkpoint(run, prefer="last").meta["epoch"] == 3


def test_stale_temp_of_a_live_process_is_kept(tmp_path):
    run = tmp_path / "run"
    _save(run, 1)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        live = run / f".last.tmp-{sleeper.pid}"
        dead = run / ".last.tmp-999999999"
        live.mkdir()
        dead.mkdir()
        _save(run, 2)
        assert live.exists() and not dead.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_full_disk_leaves_the_old_checkpoint_and_no_temp(tmp_path):
    """RLIMIT_FSIZE stands in for a full disk: the write fails with EFBIG in a forked child;
    the old checkpoint is intact, no ``.last.tmp-PID`` is left."""
    run = tmp_path / "run"
    _save(run, 1)
    pid = os.fork()
    if pid == 0:
        code = 4
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
            big = {"w": torch.zeros(8192)}  # 32 KiB: over the limit, under ATen's grain
            C.save_checkpoint(run / "last", big, {"epoch": 2})
            code = 0
        except OSError:
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 1  # the save failed as a full disk makes it fail
    assert sorted(p.name for p in run.iterdir()) == ["last"]
    assert find_checkpoint(run, prefer="last").meta["epoch"] == 1


def test_last_never_falls_back_to_best(tmp_path, capsys):
    run = tmp_path / "run"
    C.save_checkpoint(run / "best", _tensors(0), {"model": {"name": "lenet5"}, "epoch": 1})
    with pytest.raises(ConvzooError, match="no last checkpoint"):
        find_checkpoint(run, prefer="last")
    assert find_checkpoint(run).family == "best"
    assert main(["evaluate", str(run), "--last"]) == 2
    assert "no last checkpoint" in capsys.readouterr().err


def test_incomplete_folder_is_not_a_checkpoint(tmp_path):
    run = tmp_path / "run"
    _save(run, 1)
    (run / "last" / "meta.json").write_text("{not json")
    with pytest.raises(ConvzooError, match="not valid JSON"):
        find_checkpoint(run, prefer="last")
    (run / "last" / "weights.safetensors").write_bytes(b"\0" * 10)
    (run / "last" / "meta.json").write_text(json.dumps({"model": {"name": "lenet5"}}))
    with pytest.raises(ConvzooError, match="truncated or damaged"):
        find_checkpoint(run, prefer="last").load_weights()


def test_files_have_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        _save(tmp_path / "run", 1)
    finally:
        os.umask(old)
    for f in (tmp_path / "run" / "last").iterdir():
        assert f.stat().st_mode & 0o777 == 0o644, f


_TRAIN_UNTIL_KILLED = """
import os, signal, sys
from convzoo.io import checkpoint as C
from convzoo.cli import main
C.USE_EXCHANGE = sys.argv[2] == "exchange"
seen = []
def stop(name, path):
    if path.name == "last" and name == sys.argv[3]:
        seen.append(name)
        if len(seen) == 1:  # epoch 2's save, the first that replaces a last/
            os.kill(os.getpid(), signal.SIGSTOP)
C._step_hook = stop
main(["train", "lenet5", "--epochs", "3", "--out", sys.argv[1], "--quiet"])
os._exit(3)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "step", "resumed_from"), [("rename", "moved-old", 1), ("exchange", "exchanged", 2)]
)
def test_real_training_killed_mid_swap_resumes(tmp_path, capsys, mode, step, resumed_from):
    """`convzoo train` killed (SIGKILL) while it swaps in epoch 2's checkpoint: `evaluate
    --last` reads the newest complete last checkpoint (never best/), and `--resume` finishes."""
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", _TRAIN_UNTIL_KILLED, str(run), mode, step], env=env
    )
    try:
        deadline = time.monotonic() + 300
        while _state_of(child.pid) != "T":
            assert child.poll() is None, "the training ended before the chosen step"
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    ckpt = find_checkpoint(run, prefer="last")
    assert ckpt.meta["epoch"] == resumed_from
    out = tmp_path / "eval"
    assert main(["evaluate", str(run), "--last", "--out", str(out)]) == 0
    assert f"epoch {resumed_from})" in capsys.readouterr().out
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    capsys.readouterr()
    final = find_checkpoint(run, prefer="last")
    assert final.meta["epoch"] == 3 and final.path == run / "last"
    assert not any(p.name.startswith(".last.") for p in run.iterdir())
    shutil.rmtree(out)


def _state_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "?"
