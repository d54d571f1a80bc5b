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


def test_unreadable_image_reported_others_predicted(ckpt, images, capsys):
    """Issue 10 section 3: on a folder, a bad file is reported in one line (path and reason),
    the others are predicted, and the exit status says something was skipped. (Before, one bad
    file stopped the run before any output.) The library's predict() still raises."""
    path, _ = ckpt
    (images / "broken.jpg").write_bytes(b"not an image at all")
    assert main(["predict", str(path), str(images)]) == 2
    cap = capsys.readouterr()
    for name in ("gray.png", "rgb.png", "rgba.png", "tiny.jpg"):
        assert name in cap.out
    assert "broken.jpg" not in cap.out
    skipped = [line for line in cap.err.splitlines() if "broken.jpg" in line]
    assert len(skipped) == 1 and "broken.jpg: cannot be read as an image" in skipped[0]
    assert "Traceback" not in cap.err
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


# ------------------------------------------------------------------------------ faults (issue 10)


def _png_with_size(path, width, height):
    """A real 1x1 PNG whose header then claims ``width`` x ``height`` (CRC fixed), as a
    decompression bomb's header does; Pillow checks the size when it opens the file."""
    import struct
    import zlib

    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))


def _bad_files(d):
    """Files that fail to decode in different ways, each a real fault."""
    good = Image.fromarray((torch.rand(64, 64, 3) * 255).to(torch.uint8).numpy(), "RGB")
    good.save(d / "whole.png")
    png = (d / "whole.png").read_bytes()
    (d / "cut.png").write_bytes(png[: len(png) // 2])  # truncated inside the image data
    flipped = bytearray(png)
    start = png.index(b"IDAT") + 8
    for i in range(start, min(start + 64, len(png) - 16)):
        flipped[i] ^= 0xFF  # corrupt compressed data
    (d / "corrupt.png").write_bytes(bytes(flipped))
    good.save(d / "whole.jpg", quality=90)
    jpg = (d / "whole.jpg").read_bytes()
    (d / "cut.jpg").write_bytes(jpg[: len(jpg) // 3])
    (d / "empty.png").write_bytes(b"")
    (d / "text.jpg").write_text("hello")
    return {"cut.png", "corrupt.png", "cut.jpg", "empty.png", "text.jpg"}


def test_every_kind_of_bad_file_reported_once_the_others_predicted(ckpt, tmp_path, capsys):
    path, _ = ckpt
    d = tmp_path / "mixed"
    d.mkdir()
    bad = _bad_files(d)
    assert main(["predict", str(path), str(d)]) == 2
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    for name in bad:
        lines = [line for line in cap.err.splitlines() if f"/{name}:" in line]
        assert len(lines) == 1, (name, cap.err)
        assert name not in cap.out
    assert "whole.png" in cap.out and "whole.jpg" in cap.out
    assert f"{len(bad)} image(s) could not be read" in cap.err
    results = predict(load_predictor(path), [d], errors="report")
    assert {r["image"].rsplit("/", 1)[-1] for r in results if "error" in r} == bad
    assert all("top" in r for r in results if "error" not in r)


@pytest.mark.parametrize("side", [10_000, 40_000])  # over Pillow's warning and its error limit
def test_decompression_bomb_is_one_line(ckpt, tmp_path, capsys, side):
    path, _ = ckpt
    bomb = tmp_path / "bomb.png"
    _png_with_size(bomb, side, side)
    assert side * side > Image.MAX_IMAGE_PIXELS
    assert main(["predict", str(path), str(bomb)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "decompression bomb" in err
    assert len([line for line in err.splitlines() if "bomb.png" in line]) == 1


def test_streams_one_batch_at_a_time(ckpt, tmp_path, monkeypatch):
    """Memory flat in the number of images: before the first result is yielded, only the first
    batch has been opened (the old code decoded every image first)."""
    import convzoo.predict as P

    path, _ = ckpt
    d = tmp_path / "many"
    d.mkdir()
    for i in range(40):
        Image.new("L", (32, 32), color=i).save(d / f"{i:02d}.png")
    opened = []
    real_open = P._open_image
    monkeypatch.setattr(P, "_open_image", lambda p: (opened.append(p), real_open(p))[1])
    stream = P.iter_predictions(load_predictor(path), [d], batch_size=4)
    first = next(stream)
    assert first["image"].endswith("00.png") and len(opened) == 4
    assert len(list(stream)) == 39 and len(opened) == 40


def _digit_images(tmp_path, invert):
    from sklearn.datasets import load_digits

    d = load_digits()
    folder = tmp_path / ("black-on-white" if invert else "white-on-black")
    folder.mkdir()
    labels = {}
    for i in range(20):
        arr = (d.images[i] * 255 / 16).round().astype("uint8")
        if invert:
            arr = 255 - arr  # black strokes on white paper
        img = Image.fromarray(arr, "L").resize((64, 64), Image.BILINEAR)
        name = f"{i:02d}.png"
        img.save(folder / name)
        labels[name] = str(d.target[i])
    return folder, labels


def _accuracy(results, labels):
    return sum(r["top"][0]["class"] == labels[r["image"].rsplit("/", 1)[-1]] for r in results)


def test_black_on_white_digit_is_inverted_for_the_digits_lenet(tmp_path):
    """Issue 14 section 4: the digits LeNet-5 was trained on white ink on black. A digit drawn
    black on white is inverted (with a note) and read right; kept as is it is misread."""
    pred = load_predictor("lenet5")  # the shipped digits weights
    assert pred.dark_background
    dark, labels = _digit_images(tmp_path, invert=False)
    light, _ = _digit_images(tmp_path, invert=True)
    as_drawn = predict(pred, [dark], topk=1)
    assert _accuracy(as_drawn, labels) >= 18
    assert not any("inverted" in " ".join(r["notes"]) for r in as_drawn)
    inverted = predict(pred, [light], topk=1)
    assert all("inverted" in " ".join(r["notes"]) for r in inverted)
    assert _accuracy(inverted, labels) >= 18
    kept = predict(pred, [light], topk=1, invert=False)
    assert _accuracy(kept, labels) <= 10  # what the issue saw: mostly one wrong class


def test_photo_network_never_inverts(ckpt, tmp_path):
    """Only networks trained on dark backgrounds invert: a light image fed to a checkpoint of
    other data is kept as it is."""
    path, _ = ckpt
    light, _ = _digit_images(tmp_path, invert=True)
    pred = load_predictor(path)
    assert not pred.dark_background
    assert not any("inverted" in " ".join(r["notes"]) for r in predict(pred, [light]))


def test_thousand_class_file_without_names_prints_imagenet_names(tmp_path, images, capsys):
    """Issue 14 section 4: 1000-class weights print ImageNet class names, not indices, even from
    a plain state dict that names no classes; the names are torchvision's."""
    import torchvision

    f = tmp_path / "r18.pth"
    tv = torchvision.models.resnet18().eval()
    torch.save(tv.state_dict(), f)
    assert main(["predict", str(f), "--model", "resnet18", str(images / "rgb.png"), "--json"]) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    names = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    for t in out["results"][0]["top"]:
        assert t["class"] == names[t["index"]]
    assert "ImageNet-1k" in cap.err


def test_bad_device_is_one_line(ckpt, images, capsys):
    path, _ = ckpt
    # Refused by argparse, before the checkpoint is read: one line, exit status 2.
    with pytest.raises(SystemExit) as stop:
        main(["predict", str(path), str(images), "--device", "bogus"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "is not a device" in err and err.count("\n") == 1
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit) as stop:
            main(["predict", str(path), str(images), "--device", "cuda"])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and "no CUDA device" in err and err.count("\n") == 1


def test_a_fashion_mnist_file_is_padded_as_the_runs_images_were(tmp_path, monkeypatch):
    """A run trained on a built-in set predicts a file of that set's own size on the tensor the
    run's evaluation saw: Fashion-MNIST's 28x28 padded into LeNet-5's 32x32, not resized by
    256/224 and centre-cropped like a photo (and no "upscaled" note)."""
    from convzoo import data as D
    from convzoo.predict import _prepare
    from convzoo.registry import model_card
    from test_data import fake_fashion

    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    fake_fashion(tmp_path / "fm", n_train=40, n_test=20)
    run = tmp_path / "run"
    args = ["train", "lenet5", "--data", "fashion-mnist", "--data-dir", str(tmp_path / "fm")]
    assert main([*args, "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    bundle = D.build_datasets(
        "fashion-mnist", model_card("lenet5"), data_dir=tmp_path / "fm", augment=False
    )
    path = tmp_path / "item.png"
    Image.fromarray(D.read_idx(tmp_path / "fm" / "t10k-images-idx3-ubyte.gz")[3]).save(path)
    got, notes = _prepare(load_predictor(run), path, invert=False)
    want = bundle.test[3][0]
    assert got.shape == want.shape == (1, 32, 32)
    assert torch.allclose(got, want, atol=1e-5)
    assert not any("upscaled" in n for n in notes)


def test_a_folder_called_mnist_keeps_the_photo_recipe(tmp_path, monkeypatch):
    """Whether a run was trained on a built-in set is read from its data fingerprint, not its
    name: a folder of photos named like a built-in set is resized and cropped as photos."""
    from convzoo.data import ImageAsArray
    from test_data import make_folder

    monkeypatch.chdir(tmp_path)
    make_folder(tmp_path / "mnist", n=6)
    run = tmp_path / "run"
    args = ["train", "lenet5", "--data", "mnist/", "--epochs", "1", "--batch-size", "4"]
    assert main([*args, "--out", str(run), "--quiet"]) == 0
    assert not isinstance(load_predictor(run).transform, ImageAsArray)
