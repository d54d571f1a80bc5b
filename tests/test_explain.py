"""`convzoo explain` and `convzoo filters` (issue 12, section 3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import convzoo
from convzoo.cli import main
from convzoo.errors import ConvzooError
from convzoo.explain import METHODS, attribute, default_layer, explain, filter_grid

BLACK = (0 - 0.1307) / 0.3081  # a black pixel after the digits weights' normalisation


@pytest.fixture(scope="module")
def digits_images(tmp_path_factory):
    """Eight real digits (scikit-learn's) as PNG files, one of them not square."""
    from sklearn.datasets import load_digits

    d = load_digits()
    folder = tmp_path_factory.mktemp("digits")
    for i in range(8):
        a = (d.images[i] / 16 * 255).astype(np.uint8)
        size = (40, 24) if i == 0 else (32, 32)
        Image.fromarray(a).resize(size, Image.NEAREST).save(folder / f"d{i}-{d.target[i]}.png")
    return folder


@pytest.mark.parametrize("name", convzoo.list_models())
def test_default_layer_is_the_last_conv_with_a_spatial_output(name: str) -> None:
    # independent of the tracer: forward hooks on every Conv2d of the meta-built network
    with torch.device("meta"):
        model = convzoo.create_model(name)
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        m.register_forward_hook(lambda mod, a, out, n=n: shapes.__setitem__(n, tuple(out.shape)))
        for n, m in model.named_modules()
        # nn.Conv2d, and LeNet-5 (1998)'s own PartialConv2d for C3
        if "Conv" in type(m).__name__ and not list(m.children()) and "downsample" not in n
    ]
    with torch.no_grad():
        model.eval()(torch.empty(1, *model.card.input_size, device="meta"))
    for h in hooks:
        h.remove()
    spatial = [n for n, s in shapes.items() if max(s[2:]) > 1]
    assert default_layer(model, (1, *model.card.input_size)) == spatial[-1]


def test_lenets_default_layer_is_not_c5() -> None:
    with torch.device("meta"):
        m = convzoo.create_model("lenet5_1998")
    assert default_layer(m, (1, 1, 32, 32)) == "c3"


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_files_at_the_images_own_size(method: str, digits_images, tmp_path) -> None:
    assert (
        main(["explain", "lenet5", str(digits_images), "--method", method, "--out", str(tmp_path)])
        == 0
    )
    heat = np.load(tmp_path / f"d0-0-{method}.npy")
    assert heat.shape == (24, 40) and heat.dtype == np.float32  # H x W of the 40x24 image
    assert heat.min() >= 0 and heat.max() <= 1 and heat.max() > 0.9
    assert Image.open(tmp_path / f"d0-0-{method}.png").size == (40, 24)
    assert Image.open(tmp_path / f"d3-3-{method}.png").size == (32, 32)
    assert (tmp_path / f"grid-{method}.png").is_file()
    assert len(list(tmp_path.glob("*.npy"))) == 8


def test_python_api_mirrors_the_command(digits_images, tmp_path) -> None:
    image = digits_images / "d3-3.png"
    results = explain("lenet5", [image], tmp_path / "api", method="gradcam++", target=8)
    assert (
        main(
            [
                "explain",
                "lenet5",
                str(image),
                "--method",
                "gradcam++",
                "--class",
                "8",
                "--out",
                str(tmp_path / "cli"),
            ]
        )
        == 0
    )
    assert results[0].target == 8 and results[0].layer == "features.3"
    np.testing.assert_array_equal(
        np.load(tmp_path / "api" / "d3-3-gradcam++.npy"),
        np.load(tmp_path / "cli" / "d3-3-gradcam++.npy"),
    )
    np.testing.assert_array_equal(results[0].heatmap, np.load(results[0].npy))


def test_user_mistakes_are_one_line(digits_images, tmp_path, capsys) -> None:
    args = ["explain", "lenet5", str(digits_images), "--out", str(tmp_path)]
    assert main([*args, "--layer", "features.9"]) == 2
    assert "no layer 'features.9'" in capsys.readouterr().err
    assert main([*args, "--class", "10"]) == 2
    assert "not one of the network's 10 classes" in capsys.readouterr().err
    assert main(["explain", "lenet5", str(tmp_path / "missing.png"), "--out", str(tmp_path)]) == 2


@pytest.mark.slow
def test_deletion_salient_pixels_hurt_far_more_than_random_ones() -> None:
    """The faithfulness test: with the shipped LeNet-5 digits weights, on every validation
    digit it classifies correctly (scikit-learn's real digits), blacking out the 10% most
    salient pixels must lower the predicted class's probability at least 4 times as much as
    blacking out as many random pixels (seeded)."""
    from convzoo.data import build_datasets

    model = convzoo.create_model("lenet5", weights="digits").eval()
    val = build_datasets("digits", model.card, augment=False).val
    x = torch.stack([val[i][0] for i in range(len(val))])
    y = torch.tensor([val[i][1] for i in range(len(val))])
    with torch.no_grad():
        probs = model(x).softmax(1)
    keep = probs.argmax(1) == y
    x, y, p0 = x[keep], y[keep], probs[keep].gather(1, y[keep, None])[:, 0]
    assert len(x) > 300
    k = int(0.1 * 32 * 32)
    rng = torch.Generator().manual_seed(0)

    def drop(idx: torch.Tensor, xs: torch.Tensor, ps: torch.Tensor, ys: torch.Tensor) -> float:
        cut = xs.clone().flatten(1).scatter_(1, idx, BLACK).view_as(xs)
        with torch.no_grad():
            return float((ps - model(cut).softmax(1).gather(1, ys[:, None])[:, 0]).mean())

    for method in METHODS:
        n = 96 if method == "integrated-gradients" else len(x)  # 32 steps a digit: slower
        xs, ys, ps = x[:n], y[:n], p0[:n]
        heat = attribute(model, xs, method, target=ys, baseline=BLACK)
        salient = drop(heat.flatten(1).topk(k, dim=1).indices, xs, ps, ys)
        random = drop(torch.rand(n, 32 * 32, generator=rng).topk(k, dim=1).indices, xs, ps, ys)
        assert salient > 0.05 and salient > 4 * random, (method, salient, random)


@pytest.mark.slow
def test_filter_grid_and_feature_maps(digits_images, tmp_path) -> None:
    assert main(["filters", "lenet5", "-o", str(tmp_path / "c1.png")]) == 0
    assert Image.open(tmp_path / "c1.png").format == "PNG"
    assert main(["filters", "lenet5", "--layer", "features.3", "-o", str(tmp_path / "c3.png")]) == 0
    assert (
        main(
            [
                "filters",
                "lenet5",
                "--feature-maps",
                str(digits_images / "d3-3.png"),
                "-o",
                str(tmp_path / "maps.png"),
            ]
        )
        == 0
    )
    assert Image.open(tmp_path / "maps.png").size[0] > 200
    assert (
        main(["filters", "lenet5", "--layer", "classifier.0", "-o", str(tmp_path / "x.png")]) == 2
    )
    # three input channels: colour tiles, AlexNet's conv1 figure (here with untrained weights)
    png, layer = filter_grid(convzoo.create_model("alexnet_2012"))
    assert layer == "features.0" and png[:4] == b"\x89PNG"
    with torch.device("meta"):
        meta = convzoo.create_model("alexnet_2012")
    with pytest.raises(ConvzooError, match="no weights"):
        filter_grid(meta)
