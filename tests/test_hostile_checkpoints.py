"""Metadata is data, never instructions (issue 10 section 2).

A checkpoint whose metadata asks for ``weights=URL`` (or any argument its network does not take,
or a URL as a value) is refused in one line by every entry point that reads a checkpoint, driven
through the CLI, and a hostile HTTP server on 127.0.0.1 records zero requests.
"""

from __future__ import annotations

import json
import shutil

import pytest
import safetensors.torch
import torch
from PIL import Image

from convzoo import create_model
from convzoo.cli import main
from convzoo.errors import ConvzooError
from convzoo.registry import builder_arguments, checked_builder_kwargs, list_models


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVZOO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CONVZOO_OFFLINE", raising=False)  # a download would reach the server


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """A real `convzoo train` run folder (LeNet-5 on the digits, one epoch)."""
    out = tmp_path_factory.mktemp("clean") / "run"
    assert main(["train", "lenet5", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs") / "data"
    g = torch.Generator().manual_seed(0)
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            arr = (torch.rand(32, 32, generator=g) * 255).to(torch.uint8).numpy()
            Image.fromarray(arr, "L").save(root / cls / f"{i}.png")
    return root


def _poison(run, url, where=("model", "config")):
    """Put ``weights=url`` into every meta.json of the run (model.kwargs, config.model_kwargs)."""
    for meta_path in run.rglob("meta.json"):
        meta = json.loads(meta_path.read_text())
        if "model" in where:
            meta["model"]["kwargs"]["weights"] = url
        if "config" in where and "config" in meta:
            meta["config"]["model_kwargs"]["weights"] = url
        meta_path.write_text(json.dumps(meta))


def _one_line_refusal(capsys, code):
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert "refused" in err, err
    return err


@pytest.fixture
def hostile_run(tmp_path, clean_run, hostile_server):
    run = tmp_path / "run"
    shutil.copytree(clean_run, run)
    _poison(run, hostile_server.url("/evil.safetensors"))
    return run


@pytest.mark.slow
def test_predict_run_folder(hostile_run, hostile_server, capsys, tmp_path):
    img = tmp_path / "x.png"
    Image.new("L", (32, 32)).save(img)
    _one_line_refusal(capsys, main(["predict", str(hostile_run), str(img)]))
    _one_line_refusal(capsys, main(["predict", str(hostile_run / "best"), str(img)]))
    assert hostile_server.requests == []


def test_evaluate_run_folder(hostile_run, hostile_server, capsys):
    _one_line_refusal(capsys, main(["evaluate", str(hostile_run)]))
    _one_line_refusal(capsys, main(["evaluate", str(hostile_run), "--last"]))
    assert hostile_server.requests == []


def test_export_run_folder(hostile_run, hostile_server, capsys, tmp_path):
    code = main(["export", str(hostile_run), "--out", str(tmp_path / "m.onnx"), "--no-verify"])
    err = capsys.readouterr().err
    assert hostile_server.requests == []
    assert code == 2 and "Traceback" not in err, err
    assert not (tmp_path / "m.onnx").exists()


def test_train_resume(hostile_run, hostile_server, capsys):
    _one_line_refusal(capsys, main(["train", "--resume", str(hostile_run), "--epochs", "2"]))
    assert hostile_server.requests == []


def test_resume_with_only_the_config_poisoned(tmp_path, clean_run, hostile_server, capsys):
    run = tmp_path / "run"
    shutil.copytree(clean_run, run)
    _poison(run, hostile_server.url("/evil.pth"), where=("config",))
    _one_line_refusal(capsys, main(["train", "--resume", str(run), "--epochs", "2"]))
    assert hostile_server.requests == []


@pytest.mark.slow
def test_finetune_from_a_hostile_run(hostile_run, hostile_server, image_folder, capsys, tmp_path):
    """`finetune --weights RUN` takes the run's tensors only: its metadata builds nothing."""
    code = main(
        [
            "finetune",
            "lenet5",
            "--weights",
            str(hostile_run),
            "--data",
            str(image_folder),
            "--mode",
            "full",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "ft"),
            "--quiet",
        ]
    )
    capsys.readouterr()
    assert hostile_server.requests == []
    assert code == 0  # the tensors are used; the metadata built nothing


@pytest.fixture(scope="module")
def clean_finetune_run(tmp_path_factory, image_folder):
    out = tmp_path_factory.mktemp("ft") / "run"
    args = ["finetune", "lenet5", "--weights", "none", "--data", str(image_folder)]
    args += ["--mode", "full", "--epochs", "1", "--out", str(out), "--quiet"]
    assert main(args) == 0
    return out


@pytest.mark.slow
def test_finetune_resume_with_poisoned_meta(tmp_path, clean_finetune_run, hostile_server, capsys):
    run = tmp_path / "run"
    shutil.copytree(clean_finetune_run, run)
    _poison(run, hostile_server.url("/evil.pth"))
    _one_line_refusal(capsys, main(["finetune", "--resume", str(run), "--epochs", "2"]))
    assert hostile_server.requests == []


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/evil.pth", "/imagenet", "/x/..%2F..%2Fevil.safetensors"])
def test_finetune_resume_with_poisoned_finetune_json(
    tmp_path, clean_finetune_run, hostile_server, capsys, path
):
    """finetune.json's ``weights`` is a record of where the run started, never a source: the
    resumed run builds with no weights and takes the checkpoint's, and goes on."""
    run = tmp_path / "run"
    shutil.copytree(clean_finetune_run, run)
    spec = json.loads((run / "finetune.json").read_text())
    spec["weights"] = hostile_server.url(path)
    (run / "finetune.json").write_text(json.dumps(spec))
    code = main(["finetune", "--resume", str(run), "--epochs", "2", "--quiet"])
    err = capsys.readouterr().err
    assert hostile_server.requests == []
    assert code == 0 and "Traceback" not in err, err
    assert len(json.loads((run / "last" / "meta.json").read_text())["history"]) == 2


def _hostile_safetensors(path, header):
    state = create_model("lenet5", num_classes=10).state_dict()
    tensors = {k: v.contiguous() for k, v in state.items()}
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in header.items()}
    safetensors.torch.save_file(tensors, str(path), metadata=meta)
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "header",
    [
        {"model": "lenet5", "model_kwargs": {"weights": "URL"}},
        {"model": {"name": "lenet5", "kwargs": {"weights": "URL"}}},
        {"model": {"name": "lenet5", "kwargs": {"in_chans": "URL"}}},
        {"model": {"name": "lenet5", "kwargs": {"pretrained": True}}},
        {"model": {"name": "lenet5", "kwargs": {"__class__": 1}}},
        {"model": "lenet5", "model_kwargs": ["weights", "URL"]},
    ],
)
def test_predict_safetensors_header(tmp_path, hostile_server, capsys, header):
    url = hostile_server.url("/evil.pth")
    header = json.loads(json.dumps(header).replace("URL", url))
    f = _hostile_safetensors(tmp_path / "w.safetensors", header)
    img = tmp_path / "x.png"
    Image.new("L", (32, 32)).save(img)
    code = main(["predict", str(f), str(img)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert hostile_server.requests == []


def test_predict_pth_checkpoint_dict(tmp_path, hostile_server, capsys):
    f = tmp_path / "ck.pt"
    state = create_model("lenet5", num_classes=10).state_dict()
    torch.save({"model": state, "arch": "lenet5", "model_kwargs": {"weights": "http://x/"}}, f)
    img = tmp_path / "x.png"
    Image.new("L", (32, 32)).save(img)
    _one_line_refusal(capsys, main(["predict", str(f), str(img)]))
    assert hostile_server.requests == []


# ------------------------------------------------------------------------------ the allow-list


@pytest.mark.parametrize("name", list_models())
def test_allow_list_comes_from_the_builders_signature(name):
    """What the builder takes passes (every default value of the class it builds, read from
    the signature independently here); ``weights`` never does."""
    import inspect

    allowed = builder_arguments(name)
    assert {"num_classes", "in_chans"} <= allowed and "weights" not in allowed
    with pytest.raises(ConvzooError, match="refused"):
        checked_builder_kwargs(name, {"weights": "imagenet"}, "test")
    with pytest.raises(ConvzooError, match="refused"):
        checked_builder_kwargs(name, {"no_such_argument": 1}, "test")
    # A builder argument of ours round-trips: what `--model-arg` can give, a file may keep.
    with torch.device("meta"):
        cls = type(create_model(name))
    params = [inspect.signature(c.__init__).parameters for c in cls.mro() if "__init__" in vars(c)]
    for key in allowed - {"num_classes", "in_chans"}:
        default = next((p[key].default for p in params if key in p), None)
        if isinstance(default, (bool, int, float, str)):
            assert checked_builder_kwargs(name, {key: default}, "test") == {key: default}


def test_googlenet_arguments_pass():
    assert checked_builder_kwargs("googlenet", {"aux_logits": False}, "t") == {"aux_logits": False}
    assert checked_builder_kwargs("resnet50", {"variant": "v1"}, "t") == {"variant": "v1"}
