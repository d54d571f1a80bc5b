"""`convzoo predict`: class names and probabilities, the right transforms, bad images refused."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from convzoo import create_model
from convzoo.cli import main
from convzoo.errors import ConvzooError
from convzoo.hub import sha256_of
from convzoo.predict import load_predictor, predict

CLASSES = ["ant", "bee", "wasp"]


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONVZOO_OFFLINE", "1")


@pytest.fixture
def ckpt(tmp_path):
    """A LeNet-5 checkpoint folder as `convzoo train` writes it (weights + meta.json)."""
    from convzoo.train.checkpoint import save_checkpoint

    model = create_model("lenet5", num_classes=3).eval()
    meta = {
        "model": {"name": "lenet5", "kwargs": {"num_classes": 3}},
        "classes": CLASSES,
        "input_size": [1, 32, 32],
        "mean": list(model.card.mean),
        "std": list(model.card.std),
    }
    return save_checkpoint(tmp_path / "run" / "best", model, meta), model


@pytest.fixture
def images(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    g = torch.Generator().manual_seed(1)

    def noise(mode, size):
        c = len(mode)
        arr = (torch.rand(size[1], size[0], c, generator=g) * 255).to(torch.uint8)
        return Image.fromarray(arr.squeeze(-1).numpy() if c == 1 else arr.numpy(), mode)

    noise("RGB", (60, 48)).save(d / "rgb.png")
    noise("L", (40, 40)).save(d / "gray.png")
    noise("RGBA", (50, 50)).save(d / "rgba.png")
    noise("RGB", (12, 9)).save(d / "tiny.jpg")
    return d


def _reference(model, path, card):
    """Independent of predict.py: torchvision's eval recipe as convzoo's data module states it
    (resize to size/0.875, centre crop, normalise), on the image converted to grayscale."""
    t = T.Compose(
        [
            T.Resize((37, 37), antialias=True),  # round(32 / 0.875)
            T.CenterCrop(32),
            T.ToTensor(),
            T.Normalize(card.mean[:1], card.std[:1]),
        ]
    )
    img = Image.open(path)
    if img.mode == "RGBA":  # composited on white, then luminance
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img)
    x = t(img.convert("L")).unsqueeze(0)
    with torch.no_grad():
        return model(x).softmax(1)[0]


def test_checkpoint_predictions_match_reference(ckpt, images):
    path, model = ckpt
    pred = load_predictor(path)
    results = predict(pred, [images], topk=3)
    assert [r["image"].rsplit("/", 1)[-1] for r in results] == [
        "gray.png",
        "rgb.png",
        "rgba.png",
        "tiny.jpg",
    ]
    for r in results:
        ref = _reference(model, r["image"], model.card)
        top = r["top"]
        assert [t["class"] for t in top] == [CLASSES[i] for i in ref.argsort(descending=True)]
        for t in top:
            assert t["prob"] == pytest.approx(float(ref[t["index"]]), abs=1e-5)
        assert sum(t["prob"] for t in top) == pytest.approx(1.0, abs=1e-5)
    notes = {r["image"].rsplit("/", 1)[-1]: " ".join(r["notes"]) for r in results}
    assert "converted from RGB to L" in notes["rgb.png"]
    assert "transparency composited on white" in notes["rgba.png"]
    assert "smaller than the 32x32 crop; upscaled" in notes["tiny.jpg"]
    assert notes["gray.png"] == ""


def test_cli_json_and_text(ckpt, images, capsys):
    path, _ = ckpt
    assert main(["predict", str(path), str(images / "rgb.png"), "--topk", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "lenet5" and len(out["results"][0]["top"]) == 2
    assert main(["predict", str(path.parent), str(images / "gray.png")]) == 0  # run folder
    text = capsys.readouterr().out
    assert "gray.png" in text and any(c in text for c in CLASSES)


def test_unreadable_image_stops_before_any_output(ckpt, images, capsys):
    path, _ = ckpt
    (images / "broken.jpg").write_bytes(b"not an image at all")
    assert main(["predict", str(path), str(images)]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""  # nothing printed half-way
    assert cap.err.count("\n") == 1 and "broken.jpg: cannot be read as an image" in cap.err
    with pytest.raises(ConvzooError, match="cannot be read"):
        predict(load_predictor(path), [images / "broken.jpg"])


def test_empty_folder_and_missing_file(ckpt, tmp_path):
    path, _ = ckpt
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    pred = load_predictor(path)
    with pytest.raises(ConvzooError, match="holds no images"):
        predict(pred, [empty])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        predict(pred, [tmp_path / "nope.png"])
    with pytest.raises(FileNotFoundError, match="neither a model of the zoo nor a checkpoint"):
        load_predictor(tmp_path / "nothing")


def test_plain_state_dict_needs_model_name(tmp_path, images):
    f = tmp_path / "w.pth"
    torch.save(create_model("lenet5", num_classes=10).state_dict(), f)
    with pytest.raises(ConvzooError, match="--model NAME"):
        load_predictor(f)
    r = predict(load_predictor(f, model_name="lenet5"), [images / "gray.png"], topk=1)
    assert r[0]["top"][0]["class"] in [str(i) for i in range(10)]


def test_imagenet_weights_give_imagenet_names(tmp_path, images, monkeypatch):
    """A model name with ImageNet weights (placed in the cache, see test_weights): the class
    names are torchvision's categories, the transform its preset (resize 256, crop 224)."""
    import torchvision

    import convzoo.weights as W

    e = W.get_weight_entry("resnet18")
    e.cache_path().parent.mkdir(parents=True)
    tv = torchvision.models.resnet18().eval()
    torch.save(tv.state_dict(), e.cache_path())
    placed = dataclasses.replace(e, sha256=sha256_of(e.cache_path())[:8])
    monkeypatch.setattr(W, "get_weight_entry", lambda model, name="imagenet": placed)
    pred = load_predictor("resnet18")
    assert pred.crop_size == 224 and pred.transforms["resize_size"] == 256
    r = predict(pred, [images / "rgb.png"], topk=5)[0]
    preset = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    with torch.no_grad():
        ref = tv(preset(Image.open(images / "rgb.png")).unsqueeze(0)).softmax(1)[0]
    assert r["top"][0]["index"] == int(ref.argmax())
    assert r["top"][0]["class"] == e.categories[int(ref.argmax())]
    assert r["top"][0]["prob"] == pytest.approx(float(ref.max()), abs=1e-4)
