"""The training loop: main job, exact resume, Ctrl-C, NaN, schedules, frozen layers, outputs."""

from __future__ import annotations

import csv
import json
import math
import os
import signal

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Subset, TensorDataset

import convzoo
from convzoo.cli import main
from convzoo.data import build_datasets
from convzoo.train import (
    Callback,
    TrainConfig,
    TrainingDiverged,
    classification_loss,
    find_checkpoint,
    fit,
    save_checkpoint,
)
from convzoo.train.loop import build_optimizer, build_scheduler


def digits_lenet(seed: int = 0, n_train: int | None = 256, augment: bool = True):
    torch.manual_seed(seed)
    model = convzoo.create_model("lenet5", num_classes=10)
    data = build_datasets("digits", model.card, augment=augment, seed=0)
    if n_train is not None:
        data.train = Subset(data.train, range(n_train))
        data.val = Subset(data.val, range(64))
    return model, data


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------------------ the main job


@pytest.mark.slow
def test_main_job_lenet5_on_digits_reaches_98_percent(tmp_path, capsys):
    """`convzoo train lenet5` as the README gives it (only --out added to keep tmp clean)."""
    out = tmp_path / "run"
    assert main(["train", "lenet5", "--out", str(out), "--quiet"]) == 0
    rows = list(csv.DictReader((out / "metrics.csv").read_text().splitlines()))
    assert len(rows) == 30
    best = max(float(r["val_acc"]) for r in rows)
    # The bar of the issue; the real run with seed 0 reached 99.44% (docs/training.md).
    assert best >= 0.98
    meta = json.loads((out / "best" / "meta.json").read_text())
    assert meta["best"]["val_acc"] == pytest.approx(best, abs=1e-6)
    assert meta["model"] == {"name": "lenet5", "kwargs": {"num_classes": 10, "in_chans": 1}}
    assert meta["transforms"]["input_size"] == [1, 32, 32]
    assert meta["classes"] == [str(i) for i in range(10)]
    assert meta["seed"] == 0 and "torch" in meta["versions"]
    # The best checkpoint evaluated afresh gives the accuracy the run logged.
    assert main(["evaluate", str(out)]) == 0
    report = json.loads((out / "eval-digits.json").read_text())
    assert report["top1"] == pytest.approx(best, abs=1e-6)
    assert (out / "eval-digits-confusion.png").stat().st_size > 1000
    assert (out / "learning_curves.png").stat().st_size > 1000


@pytest.mark.slow
def test_default_output_folder_increments(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["train", "lenet5", "--epochs", "1", "--quiet", "--val-fraction", "0.5"]
    assert main(args) == 0
    assert main(args) == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "lenet5-digits-1",
        "lenet5-digits-2",
    ]


@pytest.mark.slow
def test_out_folder_of_a_different_run_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "lenet5", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    code = main(["train", "lenet5_1998", "--epochs", "1", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "already holds a run of lenet5 on digits" in err and "different run" in err
    assert "--resume" in err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before  # nothing touched


def test_bad_cli_inputs_give_one_line(tmp_path, capsys):
    assert (
        main(["train", "lenet5", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing written for a failed start
    assert main(["train", "lenet5", "--input-size", "8", "--out", str(tmp_path / "o")]) == 2
    assert "at least 16x16" in capsys.readouterr().err
    assert main(["train", "lenet55"]) == 2
    assert "lenet5" in capsys.readouterr().err


# ------------------------------------------------------------------------------ exact resume


class SendCtrlC(Callback):
    """Deliver a real SIGINT at a given (epoch, step) or at an epoch's end."""

    def __init__(self, epoch: int, step: int | None):
        self.epoch, self.step = epoch, step

    def on_step_end(self, trainer, epoch, step, loss):
        if (epoch, step) == (self.epoch, self.step):
            os.kill(os.getpid(), signal.SIGINT)

    def on_epoch_end(self, trainer, epoch, metrics):
        if self.step is None and epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize(
    "where, workers",
    [
        pytest.param((1, 3), 0, id="mid-epoch", marks=pytest.mark.slow),
        pytest.param((0, None), 0, id="epoch-end"),
        pytest.param((1, None), 2, id="epoch-end-2-workers", marks=pytest.mark.slow),
    ],
)
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, capsys, where, workers):
    # One thread, named: the two runs must share a thread count (a deterministic run's default,
    # every core, would also do, at the cost of oversubscribing the other test worker's core).
    cfg = TrainConfig(
        epochs=3,
        batch_size=32,
        seed=0,
        deterministic=True,
        warmup_epochs=0.5,
        workers=workers,
        threads=1,
    )
    model, data = digits_lenet()
    ref = fit(model, data, None, cfg, tmp_path / "a", quiet=True)
    assert ref.status == "finished"

    model, data = digits_lenet()
    res = fit(model, data, None, cfg, tmp_path / "b", callbacks=[SendCtrlC(*where)], quiet=True)
    assert res.status == "interrupted"
    assert "Resume with: convzoo train --resume" in capsys.readouterr().err
    meta = json.loads((tmp_path / "b" / "last" / "meta.json").read_text())
    assert meta["status"] == "interrupted"

    model, data = digits_lenet(seed=123)  # other init and RNG: the checkpoint must restore all
    res = fit(model, data, None, cfg, tmp_path / "b", resume=tmp_path / "b", quiet=True)
    assert res.status == "finished" and res.epochs_done == 3
    a = find_checkpoint(tmp_path / "a", prefer="last").load_weights()
    b = find_checkpoint(tmp_path / "b", prefer="last").load_weights()
    for k in a:
        assert torch.equal(a[k], b[k]), k  # bit-exact
    rows_a = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    rows_b = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()

    def strip(r: str) -> dict:
        return {k: v for k, v in json.loads(r).items() if k not in ("seconds", "images_per_s")}

    assert [strip(r) for r in rows_a] == [strip(r) for r in rows_b]


@pytest.mark.slow
def test_resume_cli_refuses_config_changes(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "lenet5", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    assert main(["train", "--resume", str(out), "--lr", "0.5"]) == 2
    assert "keeps its configuration" in capsys.readouterr().err
    # More epochs is allowed: the run continues from epoch 1.
    assert main(["train", "--resume", str(out), "--epochs", "2", "--quiet"]) == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    # Evaluating on data with other classes is refused, and says why.
    from test_data import make_folder

    folder = make_folder(tmp_path / "pets")
    assert main(["evaluate", str(out), "--data", str(folder)]) == 2
    assert "same classes" in capsys.readouterr().err


# ------------------------------------------------------------------------------ NaN


class PoisonWeights(Callback):
    def on_step_end(self, trainer, epoch, step, loss):
        if (epoch, step) == (1, 2):
            with torch.no_grad():
                trainer.model.get_classifier().weight.fill_(float("nan"))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    model, data = digits_lenet(n_train=128)
    cfg = TrainConfig(epochs=3, batch_size=32)
    with pytest.raises(TrainingDiverged) as err:
        fit(model, data, None, cfg, tmp_path / "r", callbacks=[PoisonWeights()], quiet=True)
    msg = str(err.value)
    assert "nan" in msg and "epoch 2, step 3" in msg and "(epoch 1) is kept" in msg
    assert "--lr" in msg
    ckpt = find_checkpoint(tmp_path / "r", prefer="last")
    assert ckpt.meta["epoch"] == 1
    good = ckpt.build_model()
    assert all(torch.isfinite(v).all() for v in good.state_dict().values())


# ------------------------------------------------------------------------------ pieces


def test_googlenet_aux_losses_weighted_0_3():
    from convzoo.models.googlenet import GoogLeNetOutputs

    torch.manual_seed(0)
    logits, a2, a1 = torch.randn(3, 4, 5).unbind(0)
    y = torch.tensor([0, 1, 2, 3])
    loss, main_logits = classification_loss(GoogLeNetOutputs(logits, a2, a1), y)
    expect = F.cross_entropy(logits, y) + 0.3 * (F.cross_entropy(a2, y) + F.cross_entropy(a1, y))
    assert torch.allclose(loss, expect) and main_logits is logits


def test_googlenet_trains_with_aux_heads_in_the_loop(tmp_path):
    torch.manual_seed(0)
    model = convzoo.create_model("googlenet", num_classes=10)
    data = build_datasets("digits", model.card, input_size=32, augment=False)
    data.train, data.val = Subset(data.train, range(4)), Subset(data.val, range(4))
    seen = []

    class Spy(Callback):
        def on_step_end(self, trainer, epoch, step, loss):
            seen.append(loss)

    res = fit(
        model,
        data,
        None,
        TrainConfig(epochs=1, batch_size=4, lr=0.01, threads=1),
        None,
        callbacks=[Spy()],
        quiet=True,
    )
    assert res.status == "finished" and len(seen) == 1 and math.isfinite(seen[0])
    # The loop saw the training-mode namedtuple (aux heads on), not plain logits.
    model.train()
    x = torch.stack([data.train[i][0] for i in range(4)])
    out = model(x)
    assert isinstance(out, tuple) and out.aux_logits1 is not None


def _learning_rates(cfg: TrainConfig, steps: int = 40) -> list[float]:
    """The learning rate of each of ``steps`` steps, 10 steps an epoch."""
    opt = build_optimizer([nn.Parameter(torch.zeros(1))], cfg)
    sched = build_scheduler(opt, cfg, steps_per_epoch=10)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_schedules_follow_their_formulas():
    cfg = TrainConfig(epochs=4, lr=0.1, warmup_epochs=1, schedule="cosine")
    lrs = _learning_rates(cfg)
    assert lrs[0] == pytest.approx(0.1 / 11) and lrs[9] == pytest.approx(0.1 * 10 / 11)
    assert lrs[10] == pytest.approx(0.1)  # warm-up over: the peak
    assert lrs[25] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 15 / 30)))
    cfg = TrainConfig(epochs=4, lr=0.1, warmup_epochs=0, schedule="step", step_size=2, gamma=0.1)
    lrs = _learning_rates(cfg)
    assert lrs[19] == pytest.approx(0.1) and lrs[20] == pytest.approx(0.01)
    cfg = TrainConfig(epochs=4, lr=0.1, warmup_epochs=1, schedule="onecycle")
    lrs = _learning_rates(cfg)
    assert max(lrs) == pytest.approx(0.1) and lrs.index(max(lrs)) in (9, 10)
    assert lrs[-1] < 1e-5


class TinyBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.num_classes = 3
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(F.relu(self.bn(self.conv(x))), 1).flatten(1))


def test_frozen_layers_param_groups_and_epoch_hook():
    torch.manual_seed(0)
    model = TinyBN()
    for p in [*model.conv.parameters(), *model.bn.parameters()]:
        p.requires_grad_(False)
    before = weights(model)
    ds = TensorDataset(torch.randn(24, 1, 8, 8) * 3 + 1, torch.arange(24) % 3)
    groups = [
        {"params": list(model.fc.parameters()), "lr": 0.05},
        {"params": list(model.conv.parameters()) + list(model.bn.parameters()), "lr": 0.005},
    ]
    calls = []

    def unfreeze_conv_at_epoch_1(trainer, epoch):
        calls.append(epoch)
        for p in trainer.model.conv.parameters():
            p.requires_grad_(epoch >= 1)

    cfg = TrainConfig(epochs=2, batch_size=8, warmup_epochs=0, schedule="constant")
    res = fit(
        model,
        ds,
        ds,
        cfg,
        None,
        param_groups=groups,
        callbacks=[unfreeze_conv_at_epoch_1],
        classes=["a", "b", "c"],
        quiet=True,
    )
    assert res.status == "finished" and calls == [0, 1]
    after = weights(model)
    # BN frozen all along: its parameters and running statistics untouched (eval mode).
    for k in ("bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"):
        assert torch.equal(before[k], after[k]), k
    assert not torch.equal(before["conv.weight"], after["conv.weight"])  # unfrozen at epoch 1
    assert not torch.equal(before["fc.weight"], after["fc.weight"])


def test_checkpoint_swap_interrupted_keeps_old(tmp_path, monkeypatch):
    model = TinyBN()
    save_checkpoint(tmp_path / "last", model, {"epoch": 1}, None)
    real_replace = os.replace
    calls = []

    def crash_on_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the moment between the two renames
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "last", model, {"epoch": 2}, None)
    monkeypatch.setattr(os, "replace", real_replace)
    ckpt = find_checkpoint(tmp_path, prefer="last")
    assert ckpt.meta["epoch"] == 1  # recovered from .last.old, complete


def test_outputs_of_a_run(tmp_path):
    model, data = digits_lenet(n_train=64)
    fit(model, data, None, TrainConfig(epochs=2, batch_size=32), tmp_path / "r", quiet=True)
    r = tmp_path / "r"
    rows = list(csv.DictReader((r / "metrics.csv").read_text().splitlines()))
    jl = [json.loads(line) for line in (r / "metrics.jsonl").read_text().splitlines()]
    assert [int(x["epoch"]) for x in rows] == [1, 2] == [x["epoch"] for x in jl]
    assert float(rows[1]["val_acc"]) == pytest.approx(jl[1]["val_acc"], rel=1e-5)
    cfg = json.loads((r / "config.json").read_text())
    assert cfg["epochs"] == 2 and cfg["global_batch"] == 32
    state = torch.load(r / "last" / "state.pt", weights_only=True)
    assert {"optimizer", "scheduler", "scaler", "rng"} <= set(state)
    assert not list(r.rglob(".*tmp*"))  # no temporary file left behind


def test_cli_trains_on_fashion_mnist_idx_files(tmp_path, monkeypatch):
    from convzoo import data as D
    from test_data import fake_fashion

    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    fake_fashion(tmp_path / "fm", n_train=40, n_test=20)
    out = tmp_path / "run"
    args = ["train", "lenet5", "--data", "fashion-mnist", "--data-dir", str(tmp_path / "fm")]
    assert main([*args, "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    meta = json.loads((out / "last" / "meta.json").read_text())
    assert meta["classes"][9] == "Ankle boot"
    splits = json.loads((out / "summary.json").read_text())["splits"]
    if splits["test"] is None:  # a data module that still validates on the test set
        assert meta["data"]["val_split"] == "test set"
        assert meta["data"]["train_images"] == 40 and meta["data"]["val_images"] == 20
    else:  # issue 14: a stratified 10% of the training set (at least one image a class of
        # the 10 with 4 each), the test set apart
        assert splits == {"train": 30, "val": 10, "test": 20}


def test_evaluate_matches_scikit_learn():
    from sklearn.metrics import (
        confusion_matrix,
        precision_recall_fscore_support,
        top_k_accuracy_score,
    )

    from convzoo.train import evaluate

    torch.manual_seed(0)
    x = torch.randn(50, 1, 4, 4)
    y = torch.randint(0, 6, (50,))
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 6))
    res = evaluate(model, TensorDataset(x, y), classes=list("abcdef"), batch_size=16)
    with torch.no_grad():
        scores = model(x)
    pred = scores.argmax(1)
    p, r, _, _ = precision_recall_fscore_support(y, pred, labels=range(6), zero_division=0)
    assert res.precision == pytest.approx(p.tolist()) and res.recall == pytest.approx(r.tolist())
    assert res.confusion.tolist() == confusion_matrix(y, pred, labels=range(6)).tolist()
    assert res.top1 == pytest.approx(float((pred == y).float().mean()))
    assert res.top5 == pytest.approx(top_k_accuracy_score(y, scores, k=5, labels=range(6)))
    assert res.loss == pytest.approx(float(F.cross_entropy(scores, y)), rel=1e-6)
