"""Transfer learning: the offline proof that it works, the modes, the CLI, bad input.

The proof (Yosinski et al. 2014's setting in miniature): LeNet-5 pretrained on the digits 0-4
(scikit-learn's 1,797 real 8x8 scans), then fine-tuned on 24 images per class of the digits 5-9.
With the same budget (epochs, images, optimiser, seed), ``head`` and ``staged`` must beat the same
network trained from scratch on those images by a margin.
"""

from __future__ import annotations

import json
import os
import signal
import warnings

import pytest
import torch
from PIL import Image

from convzoo import create_model
from convzoo.cli import main
from convzoo.data import ArrayDataset, DataBundle, RandomShift, _background, geometry_from_card
from convzoo.errors import ConvzooError
from convzoo.registry import model_card
from convzoo.train import TrainConfig, fit
from convzoo.train.finetune import (
    FinetuneSpec,
    StagedUnfreeze,
    finetune,
    head_parameter_names,
    parameter_groups,
    set_trainable,
)

MARGIN = 0.05  # measured here: head 0.901, staged 0.903, scratch 0.760 (docs/transfer-learning.md)


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONVZOO_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # runs/ folders land in the test's folder


def _digits_bundle(classes, per_class=None, seed=0):
    """Digits of ``classes`` relabelled 0..k-1: ``per_class`` training images a class (else
    80%), the rest for validation."""
    from sklearn.datasets import load_digits

    geo = geometry_from_card(model_card("lenet5"))
    d = load_digits()
    x = torch.from_numpy(d.images).float() / 16.0
    y = torch.from_numpy(d.target)
    g = torch.Generator().manual_seed(seed)
    tr, va = [], []
    for c in classes:
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)].tolist()
        n = per_class or int(len(idx) * 0.8)
        tr += idx[:n]
        va += idx[n:]
    relabel = {c: i for i, c in enumerate(classes)}

    def labels(ids):
        return torch.tensor([relabel[int(y[i])] for i in ids])

    aug = RandomShift(0.1, _background(geo))
    return DataBundle(
        ArrayDataset(x[tr], labels(tr), geo, aug),
        ArrayDataset(x[va], labels(va), geo, None),
        [str(c) for c in classes],
        f"digits {classes}",
        "seeded split",
        geo.input_size,
        geo.mean,
        geo.std,
    )


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """LeNet-5 trained on the digits 0-4 by the training loop; its best checkpoint folder."""
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("pre") / "run"
    model = create_model("lenet5", num_classes=5)
    cfg = TrainConfig(model="lenet5", epochs=6, batch_size=32, lr=0.05, seed=0)
    r = fit(model, _digits_bundle([0, 1, 2, 3, 4]), None, cfg, out, quiet=True)
    assert r.best_val_acc > 0.97  # LeCun et al.'s network learns the digits it saw
    return out / "best"


@pytest.mark.slow
def test_transfer_beats_scratch(pretrained):
    few = _digits_bundle([5, 6, 7, 8, 9], per_class=24, seed=0)
    cfg = TrainConfig(
        model="lenet5",
        epochs=6,
        batch_size=16,
        lr=0.02,
        momentum=0.9,
        weight_decay=0.0,
        warmup_epochs=0.0,
        seed=0,
    )
    acc = {}
    for mode, weights in (("head", str(pretrained)), ("staged", str(pretrained)), ("full", None)):
        r = finetune("lenet5", few, weights=weights, mode=mode, config=cfg, quiet=True)
        acc[mode if weights else "scratch"] = r.last["val_acc"]
    print(acc)
    assert acc["head"] > acc["scratch"] + MARGIN, acc
    assert acc["staged"] > acc["scratch"] + MARGIN, acc


@pytest.mark.slow
def test_modes_freeze_what_they_say(pretrained):
    model = create_model("lenet5", num_classes=3)
    heads = head_parameter_names(model)
    assert heads == {n for n, _ in model.named_parameters() if n.startswith("classifier.")}
    set_trainable(model, backbone=False)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == heads
    spec = FinetuneSpec(str(pretrained), "staged", 1, 100.0, 3)
    groups = parameter_groups(model, spec, lr=0.1)
    lrs = [g["lr"] for g in groups]
    assert lrs[0] == pytest.approx(0.1 / 100) and lrs[-1] == pytest.approx(0.1)
    assert lrs == sorted(lrs)  # earlier layers learn more slowly
    n_params = sum(len(g["params"]) for g in groups)
    assert n_params == len(list(model.parameters()))
    full = parameter_groups(model, FinetuneSpec(None, "full"), lr=0.1)
    assert {g["lr"] for g in full} == {0.1}


def test_head_mode_keeps_backbone_and_bn_stats():
    """resnet18 in head mode: backbone weights and BatchNorm running stats unchanged, fc
    trained (tiny images and one epoch keep this quick)."""
    src = create_model("resnet18", num_classes=10)
    bundle = DataBundle(
        torch.utils.data.TensorDataset(torch.randn(8, 3, 32, 32), torch.arange(8) % 2),
        torch.utils.data.TensorDataset(torch.randn(4, 3, 32, 32), torch.arange(4) % 2),
        ["a", "b"],
        "noise",
        "given",
        (3, 32, 32),
        (0.5,) * 3,
        (0.5,) * 3,
    )
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        w = f"{d}/r18.pth"
        torch.save(src.state_dict(), w)
        cfg = TrainConfig(model="resnet18", epochs=1, batch_size=4, lr=0.1, warmup_epochs=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from convzoo.train.finetune import prepare, run_prepared

            spec = FinetuneSpec(w, "head")
            model, b, groups = prepare("resnet18", bundle, spec, cfg)
            run_prepared(model, b, groups, spec, cfg, None, quiet=True)
    ref = src.state_dict()
    for k, v in model.state_dict().items():
        if k.startswith("fc."):
            assert v.shape[0] == 2
        else:
            assert torch.equal(v, ref[k]), k  # includes bn running_mean / running_var


def _image_folder(root, classes, n=4, size=40):
    g = torch.Generator().manual_seed(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            arr = (torch.rand(size, size, 3, generator=g) * 255).to(torch.uint8).numpy()
            Image.fromarray(arr).save(root / c / f"{i}.png")
    return root


@pytest.mark.slow
def test_cli_finetune_resume_and_predict(tmp_path, pretrained, capsys):
    data = _image_folder(tmp_path / "imgs", ["ants", "bees"])
    out = tmp_path / "ft"
    args = [
        "finetune",
        "lenet5",
        "--weights",
        str(pretrained),
        "--data",
        str(data),
        "--mode",
        "staged",
        "--epochs",
        "2",
        "--head-epochs",
        "1",
        "--batch-size",
        "4",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(args) == 0
    assert json.loads((out / "finetune.json").read_text())["mode"] == "staged"
    meta = json.loads((out / "best" / "meta.json").read_text())
    assert meta["classes"] == ["ants", "bees"] and meta["model"]["name"] == "lenet5"
    # The same --out again is refused; resume of a finished run does no more epochs.
    assert main(args) == 2
    assert "already holds" in capsys.readouterr().err
    assert main(["finetune", "--resume", str(out), "--quiet"]) == 0
    assert len(json.loads((out / "last" / "meta.json").read_text())["history"]) == 2
    capsys.readouterr()
    assert main(["predict", str(out / "best"), str(data / "bees" / "0.png"), "--json"]) == 0
    top = json.loads(capsys.readouterr().out)["results"][0]["top"]
    assert {t["class"] for t in top} == {"ants", "bees"}


class _CtrlCAfterFirstEpoch(StagedUnfreeze):
    """:class:`StagedUnfreeze` that also delivers a real SIGINT at the end of the first epoch
    (the CLI builds its callbacks itself, so the test swaps the class)."""

    def on_epoch_end(self, trainer, epoch, metrics):
        if epoch == 0:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["staged", "head"])
def test_cli_interrupted_and_resumed_finetune_equals_uninterrupted(
    tmp_path, pretrained, capsys, monkeypatch, mode
):
    """`finetune --resume` rebuilds the network with no weights and takes the checkpoint's:
    the run's source weights may be gone, and the result is bit-exact with an uninterrupted
    run. Head mode computes its cached features with the checkpoint's backbone (random
    features would train another head). ``--deterministic``: one thread count for all three
    runs, whatever the load (the count changes the sums)."""
    import shutil

    import convzoo.train.finetune as ft
    from convzoo.train import find_checkpoint

    data = _image_folder(tmp_path / "imgs", ["ants", "bees"])
    source = tmp_path / "source"
    shutil.copytree(pretrained, source)

    def args(out):
        return ["finetune", "lenet5", "--weights", str(source), "--data", str(data),
                "--mode", mode, "--epochs", "3", "--head-epochs", "1", "--batch-size", "4",
                "--seed", "0", "--deterministic", "--out", str(out), "--quiet"]  # fmt: skip

    assert main(args(tmp_path / "a")) == 0
    with monkeypatch.context() as m:
        m.setattr(ft, "StagedUnfreeze", _CtrlCAfterFirstEpoch)
        assert main(args(tmp_path / "b")) == 130
    capsys.readouterr()
    assert json.loads((tmp_path / "b" / "last" / "meta.json").read_text())["epoch"] == 1
    shutil.rmtree(source)  # the checkpoint holds the weights: the source is not read again
    assert main(["finetune", "--resume", str(tmp_path / "b"), "--quiet"]) == 0, capsys.readouterr()
    a = find_checkpoint(tmp_path / "a", prefer="last").load_weights()
    b = find_checkpoint(tmp_path / "b", prefer="last").load_weights()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k  # bit-exact
    history = json.loads((tmp_path / "b" / "last" / "meta.json").read_text())["history"]
    assert len(history) == 3


@pytest.mark.slow
def test_resume_rebuilds_without_fetching_and_sets_the_entrys_attributes(tmp_path, monkeypatch):
    """prepare(resume=...) builds with weights=None (a URL in the spec is never passed on),
    loads the checkpoint's weights strictly, and sets again what an entry of our own table
    sets when loaded (torchvision's GoogLeNet's transform_input for torchvision's weights)."""
    from convzoo import registry
    from convzoo.train import save_checkpoint
    from convzoo.train.checkpoint import find_checkpoint
    from convzoo.train.finetune import prepare
    from convzoo.weights import entry_settings, weight_entries

    asked = []
    monkeypatch.setattr(registry, "_weights_loader", lambda *a, **k: asked.append(a))
    bundle = DataBundle(
        torch.utils.data.TensorDataset(torch.randn(4, 3, 64, 64), torch.arange(4) % 2),
        torch.utils.data.TensorDataset(torch.randn(2, 3, 64, 64), torch.arange(2) % 2),
        ["a", "b"], "noise", "given", (3, 64, 64), (0.5,) * 3, (0.5,) * 3,
    )  # fmt: skip
    cfg = TrainConfig(model="googlenet_tv", epochs=2, batch_size=2, warmup_epochs=0.0)
    torch.manual_seed(1)
    trained = create_model("googlenet_tv", num_classes=2)
    save_checkpoint(tmp_path / "last", trained, {"model": {"name": "googlenet_tv", "kwargs": {}}})
    ckpt = find_checkpoint(tmp_path / "last")
    (entry,) = [e for e in weight_entries("googlenet_tv") if e.model_kwargs]
    assert entry_settings("googlenet_tv", entry.name) == {"transform_input": True}
    assert entry_settings("googlenet_tv", "http://127.0.0.1:9/imagenet") == {}
    assert entry_settings("googlenet_tv", None) == {}
    for weights, transform_input in ((entry.name, True), ("http://127.0.0.1:9/evil.pth", False)):
        torch.manual_seed(2)  # another initialisation: the checkpoint's weights must win
        model, _, _ = prepare(
            "googlenet_tv", bundle, FinetuneSpec(weights, "full"), cfg, resume=ckpt, quiet=True
        )
        assert asked == []  # no weights loaded from anywhere but the checkpoint
        assert model.transform_input is transform_input
        for k, v in trained.state_dict().items():
            assert torch.equal(model.state_dict()[k], v), k


@pytest.mark.parametrize(
    "text, words",
    [
        ("{not json", "not valid JSON"),
        ('["weights"]', "not a fine-tuning spec"),
        ('{"weights": null, "mode": "full", "__class__": 1}', "__class__"),
        ('{"weights": null, "mode": "full", "head_epochs": "1"}', "head_epochs"),
        ('{"weights": null, "cache_features": 1}', "cache_features"),
        ('{"weights": 7}', "weights"),
    ],
)
def test_damaged_finetune_json_is_one_line(tmp_path, capsys, text, words):
    from convzoo.train.finetune import SPEC_FIELD_TYPES, read_spec

    assert set(SPEC_FIELD_TYPES) == set(FinetuneSpec.__dataclass_fields__)
    (tmp_path / "finetune.json").write_text(text)
    with pytest.raises(ConvzooError, match=words):
        read_spec(tmp_path)
    from convzoo.train import save_checkpoint

    meta = {"model": {"name": "lenet5", "kwargs": {}}, "config": {"model": "lenet5"}}
    save_checkpoint(tmp_path / "last", create_model("lenet5"), meta, {})
    # The CLI says the same in one line.
    code = main(["finetune", "--resume", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err


def test_cli_bad_input_writes_nothing(tmp_path, pretrained, capsys):
    data = _image_folder(tmp_path / "imgs", ["ants", "bees"])
    (data / "wasps").mkdir()  # a class folder with no images
    out = tmp_path / "ft"
    base = [
        "finetune",
        "lenet5",
        "--data",
        str(data),
        "--epochs",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main([*base, "--weights", str(pretrained)]) == 2
    err = capsys.readouterr().err
    assert "no readable training images: wasps" in err and err.count("\n") == 1
    assert not out.exists()
    (data / "wasps").rmdir()
    # Weights of another network.
    r18 = tmp_path / "r18.pth"
    torch.save(create_model("resnet18").state_dict(), r18)
    assert main([*base, "--weights", str(r18)]) == 2
    err = capsys.readouterr().err
    assert "do not fit lenet5" in err and "missing keys" in err and err.count("\n") == 1
    assert not out.exists()
    # A mode that does not exist, a staged run without room for both stages.
    with pytest.raises(SystemExit):
        main([*base, "--weights", str(pretrained), "--mode", "tail"])
    assert main([*base, "--weights", str(pretrained), "--head-epochs", "2"]) == 2
    assert "0 < head epochs < --epochs" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ConvzooError, match="must be one of"):
        FinetuneSpec(None, "tail").validate(3)


def test_staged_callback_decides_from_epoch_alone():
    """A resumed run lands in the right stage: the callback looks only at the epoch number."""
    from types import SimpleNamespace

    from convzoo.train.finetune import StagedUnfreeze

    model = create_model("lenet5", num_classes=3)
    heads = head_parameter_names(model)
    trainer = SimpleNamespace(
        model=model, epoch=2, quiet=True, dist=SimpleNamespace(enabled=False), optimizer=None
    )
    cb = StagedUnfreeze(FinetuneSpec(None, "staged", head_epochs=2))
    cb.on_fit_start(trainer)  # resumed after 2 epochs: the second stage
    assert all(p.requires_grad for p in model.parameters())
    cb = StagedUnfreeze(FinetuneSpec(None, "staged", head_epochs=2))
    trainer.epoch = 1
    cb.on_fit_start(trainer)  # resumed inside the first stage
    assert {n for n, p in model.named_parameters() if p.requires_grad} == heads
    cb.on_epoch_start(trainer, 1)
    assert not all(p.requires_grad for p in model.parameters())


def test_head_mode_chooses_its_threads_once(tmp_path, pretrained, monkeypatch):
    """The cached features and the head's training run on one measured thread count."""
    from convzoo import threads

    measured = []

    def busy(window_s: float = 0.15) -> float:
        measured.append(window_s)
        return 0.0

    monkeypatch.setattr(threads, "busy_cores", busy)
    data = _image_folder(tmp_path / "imgs", ["ants", "bees"])
    args = ["finetune", "lenet5", "--weights", str(pretrained), "--data", str(data)]
    args += ["--mode", "head", "--epochs", "1", "--batch-size", "4", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "run"), "--device", "cpu"]) == 0
    assert len(measured) == 1
