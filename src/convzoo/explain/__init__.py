"""What a trained network looks at, and what its filters are.

* :func:`attribute` (the heatmaps of a batch) and :func:`explain` (images in, files out, as
  `convzoo explain` does): Grad-CAM, Grad-CAM++, saliency, integrated gradients
  (:mod:`convzoo.explain.methods`, on Captum).
* :func:`filter_grid` and :func:`feature_maps` (`convzoo filters`): a conv layer's kernels as a
  grid of small images (AlexNet's conv1 figure), and its activations for one image.

Images are resized whole to the network's input size (no crop), so that every pixel of the
image gets a heat value; the heatmap is then resized back to the image's own height and width.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from convzoo.errors import ConvzooError
from convzoo.explain.methods import (
    LAYER_METHODS,
    METHODS,
    ExplainError,
    attribute,
    default_layer,
)
from convzoo.io import write_bytes
from convzoo.outputs import main_logits
from convzoo.predict import Predictor, find_images, load_image, load_predictor

__all__ = [
    "LAYER_METHODS",
    "METHODS",
    "ExplainError",
    "Explained",
    "attribute",
    "default_layer",
    "explain",
    "feature_maps",
    "filter_grid",
    "first_conv",
]


@dataclass
class Explained:
    """One image explained: its heatmap (H x W in [0, 1]) and the files written."""

    image: Path
    method: str
    layer: str | None
    target: int
    probability: float
    heatmap: np.ndarray
    png: Path
    npy: Path


def _as_predictor(source: str | os.PathLike[str] | Predictor, weights: str | None) -> Predictor:
    if isinstance(source, Predictor):
        return source
    return load_predictor(source, weights=weights, progress=False)


def _mean_std(pred: Predictor) -> tuple[list[float], list[float]]:
    card: Any = getattr(pred.model, "card", None)
    mean = pred.transforms.get("mean") or card.mean
    std = pred.transforms.get("std") or card.std
    return [float(m) for m in mean], [float(s) for s in std]


def _tensor_of(pred: Predictor, img: Any) -> Tensor:
    """The whole image at the network's input size, normalised as its weights expect."""
    from torchvision.transforms.v2 import functional as TF

    size = pred.crop_size
    t = TF.to_dtype(TF.to_image(img), torch.float32, scale=True)
    t = TF.resize(t, [size, size], antialias=True)
    mean, std = _mean_std(pred)
    return TF.normalize(t, mean, std)


def _colour(heat: np.ndarray) -> np.ndarray:
    # matplotlib's colormap registry only, no figure: cheap once matplotlib is imported
    from matplotlib import colormaps

    return (colormaps["jet"](heat)[..., :3] * 255).astype(np.uint8)


def overlay(img: Any, heat: np.ndarray, alpha: float = 0.45) -> Any:
    """The heatmap (jet colours) over the image, at the image's size."""
    from PIL import Image

    base = np.asarray(img.convert("RGB"), dtype=np.float32)
    mixed = (1 - alpha) * base + alpha * _colour(heat).astype(np.float32)
    return Image.fromarray(mixed.clip(0, 255).astype(np.uint8))


def _png_bytes(img: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def explain(
    source: str | os.PathLike[str] | Predictor,
    images: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    method: str = "gradcam",
    layer: str | None = None,
    target: int | None = None,
    weights: str | None = None,
    grid: bool = True,
) -> list[Explained]:
    """Explain every image (files or folders) with ``method``; for each writes
    ``OUT/<stem>-<method>.png`` (the heatmap over the image) and ``OUT/<stem>-<method>.npy``
    (float32 in [0, 1], the image's height x width), and with several images a
    ``grid-<method>.png``. Every image is read before anything is written."""
    if method not in METHODS:
        raise ExplainError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    pred = _as_predictor(source, weights)
    files = find_images(images)
    pics = [load_image(f, pred.in_chans)[0] for f in files]
    stems = [f.stem for f in files]
    if len(set(stems)) != len(stems):
        raise ConvzooError("two images share a file name (stem); explain them into two folders")
    x = torch.stack([_tensor_of(pred, p) for p in pics])
    device = next(pred.model.parameters()).device
    x = x.to(device)
    name = layer
    if method in LAYER_METHODS and name is None:
        name = default_layer(pred.model, tuple(x.shape))
    mean, std = _mean_std(pred)
    black = [(0 - m) / s for m, s in zip(mean, std, strict=True)]  # the normalised black
    baseline = torch.tensor(black, device=device).view(1, -1, 1, 1).expand_as(x)
    with torch.no_grad():
        probs = main_logits(pred.model(x)).softmax(1)
    tgt = probs.argmax(1) if target is None else torch.full_like(probs.argmax(1), target)
    heat = attribute(pred.model, x, method, layer=name, target=tgt, baseline=baseline)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for f, img, h, t, p in zip(files, pics, heat, tgt, probs, strict=True):
        full = (
            F.interpolate(
                h[None, None], size=(img.height, img.width), mode="bilinear", align_corners=False
            )[0, 0]
            .clamp(0, 1)
            .cpu()
            .numpy()
        )
        full = full.astype(np.float32)
        png, npy = out / f"{f.stem}-{method}.png", out / f"{f.stem}-{method}.npy"
        write_bytes(png, _png_bytes(overlay(img, full)))
        write_bytes(npy, _npy_bytes(full))
        results.append(Explained(f, method, name, int(t), float(p[int(t)]), full, png, npy))
    if grid and len(results) > 1:
        label = [c for c in (pred.categories or [])]
        write_bytes(out / f"grid-{method}.png", _grid_png(results, pics, label))
    return results


def _grid_png(results: list[Explained], pics: list[Any], categories: list[str]) -> bytes:
    """Up to 32 images, each with its heatmap beside it, as one figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = results[:32]
    cols = min(4, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig = Figure(figsize=(cols * 3.2, rows * 1.75), dpi=110)
    FigureCanvasAgg(fig)
    for i, r in enumerate(shown):
        for j in range(2):
            ax = fig.add_subplot(rows, 2 * cols, 2 * i + j + 1)
            ax.axis("off")
            img = pics[i]
            if j == 0:
                ax.imshow(np.asarray(img.convert("RGB")))
                cls = categories[r.target] if r.target < len(categories) else str(r.target)
                ax.set_title(f"{cls} ({100 * r.probability:.0f}%)", fontsize=8)
            else:
                ax.imshow(np.asarray(overlay(img, r.heatmap)))
                ax.set_title(r.method, fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# --- filters and feature maps ---------------------------------------------------------------


def first_conv(model: nn.Module) -> str:
    card = getattr(model, "card", None)
    if card is not None and isinstance(model.get_submodule(card.first_conv), nn.Conv2d):
        return str(card.first_conv)
    for n, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            return n
    raise ExplainError("the network has no conv layer")


def _tiles(tiles: np.ndarray, titles: list[str], suptitle: str) -> bytes:
    """A grid of small images (``K x h x w`` grey or ``K x h x w x 3`` colour) as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = tiles.shape[0]
    cols = math.ceil(math.sqrt(k * 1.5))
    rows = math.ceil(k / cols)
    fig = Figure(figsize=(cols * 0.9 + 0.4, rows * 0.9 + 0.7), dpi=110)
    FigureCanvasAgg(fig)
    for i in range(k):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(tiles[i], cmap=None if tiles.ndim == 4 else "gray", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if titles:
            ax.set_title(titles[i], fontsize=6)
    fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def filter_grid(model: nn.Module, layer: str | None = None) -> tuple[bytes, str]:
    """The kernels of a conv layer as a grid (PNG bytes) and the layer's name.

    Kernels of 3 input channels show as colour images (AlexNet's conv1 figure), each scaled
    to its own range; others show the mean over their input channels, in grey."""
    name = layer or first_conv(model)
    conv = model.get_submodule(name) if name in dict(model.named_modules()) else None
    if not isinstance(conv, nn.modules.conv._ConvNd) or conv.weight.dim() != 4:
        raise ExplainError(f"{name!r} is not a 2-D conv layer of the network")
    if conv.weight.is_meta:
        raise ExplainError("the network has no weights (built on the meta device)")
    w = conv.weight.detach().float().cpu()
    w = w[:96]
    if w.shape[1] == 3:
        tiles = w.permute(0, 2, 3, 1)
        lo = tiles.flatten(1).min(1).values.view(-1, 1, 1, 1)
        hi = tiles.flatten(1).max(1).values.view(-1, 1, 1, 1)
        tiles = (tiles - lo) / (hi - lo).clamp_min(1e-12)
    else:
        tiles = w.mean(1)
    title = f"{name}: {conv.out_channels} filters {'x'.join(map(str, w.shape[2:]))}"
    if conv.out_channels > 96:
        title += " (the first 96)"
    return _tiles(tiles.numpy(), [], title), name


def feature_maps(
    pred: Predictor, image: str | os.PathLike[str], layer: str | None = None
) -> tuple[bytes, str]:
    """The activations of a layer for one image, one tile a channel (the first 64)."""
    name = layer or first_conv(pred.model)
    try:
        module = pred.model.get_submodule(name)
    except AttributeError:
        raise ExplainError(f"the network has no layer {name!r}") from None
    img, _ = load_image(image, pred.in_chans)
    x = _tensor_of(pred, img)[None].to(next(pred.model.parameters()).device)
    store: dict[str, Tensor] = {}
    handle = module.register_forward_hook(lambda m, a, out: store.__setitem__("a", out))
    try:
        with torch.no_grad():
            pred.model.eval()(x)
    finally:
        handle.remove()
    a = store.get("a")
    if a is None or a.dim() != 4:
        raise ExplainError(f"{name!r} gives no spatial output to show")
    maps = a[0, :64].float().cpu().numpy()
    title = f"{name} for {Path(image).name}: {a.shape[1]} maps {a.shape[2]}x{a.shape[3]}"
    return _tiles(maps, [str(i) for i in range(maps.shape[0])], title), name
