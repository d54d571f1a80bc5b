"""Run folders and the CLI around the loop: the lock held by a real second process, the data
fingerprint a resume checks, bad devices, generated flags, the closing line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from convzoo.cli import build_parser, main
from convzoo.cli.cmd_train import config_from_args
from convzoo.train import TrainConfig
from convzoo.train.config import OPTIMIZERS, SCHEDULES

SRC = str(Path(__file__).resolve().parents[1] / "src")


def image_folder(root: Path, classes=("ants", "bees"), n: int = 6, size: int = 20) -> Path:
    g = torch.Generator().manual_seed(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            arr = (torch.rand(size, size, 3, generator=g) * 255).to(torch.uint8).numpy()
            Image.fromarray(arr).save(root / c / f"{i}.png")
    return root


def hold_flock(path: Path) -> subprocess.Popen:
    """Another process that takes the OS lock on ``path`` (plain fcntl, not our code) and
    keeps it until killed."""
    code = (
        "import fcntl, sys, time\n"
        "f = open(sys.argv[1], 'a+')\n"
        "fcntl.flock(f, fcntl.LOCK_EX)\n"
        "f.write('pid holder'); f.flush()\n"
        "print('locked', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"locked"
    return proc


# ------------------------------------------------------------------------ one run, one folder


@pytest.mark.slow
def test_a_folder_locked_by_another_process_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    holder = hold_flock(out / ".lock")
    try:
        args = ["train", "lenet5", "--epochs", "1", "--val-fraction", "0.5", "--out", str(out)]
        assert main([*args, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "in use by a run still in progress" in err and err.count("\n") == 1
        assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing written
    finally:
        holder.kill()
        holder.wait()
    # The kernel drops the lock with the process: the same command now runs.
    assert main([*args, "--quiet"]) == 0
    assert (out / "last" / "meta.json").is_file()


@pytest.mark.slow
def test_two_real_train_commands_on_one_folder(tmp_path):
    """A second `convzoo train --out X` (and `--resume X`) while the first runs is refused; the
    first is then killed (SIGKILL) and its run resumes."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": SRC}
    cmd = [sys.executable, "-m", "convzoo.cli", "train", "lenet5", "--out", str(out)]
    first = subprocess.Popen([*cmd, "--epochs", "200", "--quiet"], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while not (out / "last" / "meta.json").is_file():
            assert first.poll() is None and time.time() < deadline
            time.sleep(0.2)
        for extra in ([], ["--resume", str(out)]):
            argv = [sys.executable, "-m", "convzoo.cli", "train", *extra]
            argv += [] if extra else ["lenet5", "--out", str(out)]
            second = subprocess.run(
                [*argv, "--epochs", "1", "--quiet"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert second.returncode == 2, second.stderr
            assert "in use by a run still in progress" in second.stderr
            assert second.stderr.count("\n") == 1
        assert first.poll() is None  # the first run was not disturbed
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    done = json.loads((out / "last" / "meta.json").read_text())["epoch"]
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "convzoo.cli",
            "train",
            "--resume",
            str(out),
            "--epochs",
            str(done + 1),
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr


# ------------------------------------------------------------------------ resume checks the data


@pytest.mark.slow
def test_resume_refuses_data_that_changed_and_says_what(tmp_path, capsys):
    data = image_folder(tmp_path / "imgs")
    out = tmp_path / "run"
    base = ["train", "lenet5", "--data", str(data), "--batch-size", "4", "--out", str(out)]
    assert main([*base, "--epochs", "1", "--quiet"]) == 0
    fp = json.loads((out / "last" / "meta.json").read_text())["data"]["fingerprint"]
    assert fp["classes"] == ["ants", "bees"]
    image_folder(tmp_path / "imgs", n=9)  # three more images a class
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert main(["train", "--resume", str(out), "--epochs", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trained on other data" in err
    assert "then" in err and "now" in err and "--allow-data-change" in err  # counts, in words
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    # A file of the same name that changed size changes the fingerprint too.
    image_folder(tmp_path / "imgs2")
    out2 = tmp_path / "run2"
    base2 = ["train", "lenet5", "--data", str(tmp_path / "imgs2"), "--out", str(out2)]
    assert main([*base2, "--epochs", "1", "--batch-size", "4", "--quiet"]) == 0
    Image.new("RGB", (33, 33)).save(tmp_path / "imgs2" / "bees" / "0.png")
    assert main(["train", "--resume", str(out2), "--epochs", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "trained on other data" in err and "files" in err  # same counts, other files
    # The flag goes on anyway.
    assert (
        main(["train", "--resume", str(out), "--epochs", "2", "--allow-data-change", "--quiet"])
        == 0
    )
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2


# ------------------------------------------------------------------------ devices, start-up


@pytest.mark.parametrize("device", ["bogus", "cuda:x", "tpu"])
def test_bad_device_is_one_line_and_leaves_no_folder(tmp_path, capsys, device):
    out = tmp_path / "o"
    with pytest.raises(SystemExit) as stop:  # argparse refuses it, before anything runs
        main(["train", "lenet5", "--device", device, "--out", str(out)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--device" in err and "cpu" in err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_leaves_no_empty_run_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    finetune = ["finetune", "lenet5", "--data", "digits", "--weights", "none"]
    for cmd in (["train", "lenet5"], finetune):
        with pytest.raises(SystemExit) as stop:  # argparse refuses it, before anything runs
            main([*cmd, "--device", "cuda"])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and "no CUDA device" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_closing_line_after_an_early_ctrl_c_has_no_negative_accuracy(capsys):
    from convzoo.cli.cmd_train import report
    from convzoo.train.loop import FitResult

    report(FitResult("interrupted", None, [], None, 0, 0, 1.0), 30, Path("runs/x"))
    line = capsys.readouterr().out
    assert "no epoch finished" in line and "-100" not in line


# ------------------------------------------------------------------------ flags from TrainConfig


def test_training_flags_come_from_the_config_fields(capsys):
    import dataclasses

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for f in dataclasses.fields(TrainConfig):
        if f.metadata.get("cli"):
            flag = "--" + f.name.replace("_", "-")
            assert flag in text or f"--no-{f.name.replace('_', '-')}" in text, flag
            assert f.metadata["example"].split()[0] in text
    assert "{" + ",".join(SCHEDULES) + "}" in text and "{" + ",".join(OPTIMIZERS) + "}" in text
    assert "(default: 0.05" in text and "e.g. --lr 0.1" in text
    with pytest.raises(SystemExit):
        main(["finetune", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 0.001" in text  # finetune's own defaults shown


def test_fashion_mnist_recipe_is_applied_unless_overridden():
    from convzoo.train.config import RECIPES

    cfg = TrainConfig.for_data("fashion-mnist")
    assert all(getattr(cfg, k) == v for k, v in RECIPES["fashion-mnist"].items())
    assert TrainConfig.for_data("fashion-mnist", epochs=3).epochs == 3
    assert TrainConfig.for_data("digits") == TrainConfig()


def test_a_switch_a_recipe_turns_off_can_be_turned_back_on():
    parser = build_parser("train")
    base = TrainConfig.for_data("fashion-mnist")
    assert base.augment is False  # the recipe's choice
    on = parser.parse_args(["train", "lenet5", "--data", "fashion-mnist", "--augment"])
    assert config_from_args(on, base).augment is True
    off = parser.parse_args(["train", "lenet5", "--no-augment"])
    assert config_from_args(off, TrainConfig()).augment is False
    unsaid = parser.parse_args(["train", "lenet5", "--data", "fashion-mnist"])
    assert config_from_args(unsaid, base).augment is False


def test_a_run_that_fails_in_its_first_epoch_leaves_no_folder(tmp_path, capsys, monkeypatch):
    """A crash before the first checkpoint (here a file that cannot be read, raised as the
    OSError PIL gives) leaves nothing that blocks the same --out."""
    from convzoo.train import loop

    data = image_folder(tmp_path / "imgs")
    out = tmp_path / "run"
    real = loop.Trainer._train_epoch

    def broken(self, epoch):
        raise OSError("image file is truncated")

    monkeypatch.setattr(loop.Trainer, "_train_epoch", broken)
    args = ["train", "lenet5", "--data", str(data), "--epochs", "1", "--batch-size", "4"]
    try:  # the CLI's error boundary may print it as one line (exit 2) or let it through
        code = main([*args, "--out", str(out), "--quiet"])
    except OSError:
        code = None
    assert code != 0
    assert not out.exists()
    monkeypatch.setattr(loop.Trainer, "_train_epoch", real)
    assert main([*args, "--out", str(out), "--quiet"]) == 0
