"""Classify images with a network of the zoo: pretrained weights or a checkpoint of your own.

The transforms come from the weights' metadata (torchvision's preset for its ImageNet weights:
resize the shorter side, centre crop, normalise) or from the checkpoint's (what ``convzoo train``
/ ``convzoo finetune`` used); without either, from the model card (input size, mean, std).
Every image is read and checked before any prediction is printed, so a bad file stops the run
with one message and no half-written output.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convzoo.errors import ConvzooError

try:  # the extensions torchvision's ImageFolder accepts
    from torchvision.datasets.folder import IMG_EXTENSIONS
except ImportError:  # pragma: no cover
    IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


@dataclass
class Predictor:
    """A network in eval mode with the transform and class names its weights expect."""

    model: nn.Module
    name: str
    transforms: dict[str, Any]
    categories: list[str] | None
    in_chans: int
    source: str
    notes: list[str] = field(default_factory=list)

    def transform(self, image: Any) -> torch.Tensor:
        return build_transform(self.transforms)(image)


def default_transforms(card: Any) -> dict[str, Any]:
    """Transforms from a model card: crop at the card's input size, resize by 256/224 (the
    ImageNet convention of AlexNet, VGG and ResNet evaluation), the card's mean and std."""
    crop = int(card.input_size[1])
    resize = crop if crop < 64 else int(math.floor(crop * 256 / 224))
    return {
        "resize_size": resize,
        "crop_size": crop,
        "mean": list(card.mean),
        "std": list(card.std),
        "interpolation": "bilinear",
    }


def build_transform(t: dict[str, Any]) -> Any:
    """The torchvision transform for a transforms dict (resize, centre crop, normalise)."""
    from torchvision import transforms as T

    interp = T.InterpolationMode(t.get("interpolation", "bilinear"))
    return T.Compose(
        [
            T.Resize(int(t["resize_size"]), interpolation=interp, antialias=True),
            T.CenterCrop(int(t["crop_size"])),
            T.ToTensor(),
            T.Normalize(list(t["mean"]), list(t["std"])),
        ]
    )


def find_images(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The image files among ``paths``; folders are searched recursively, in sorted order."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            imgs = sorted(
                f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMG_EXTENSIONS
            )
            if not imgs:
                raise ConvzooError(
                    f"folder {p} holds no images (looked for {', '.join(IMG_EXTENSIONS)})"
                )
            found.extend(imgs)
        elif p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"image {str(p)!r} does not exist")
    if not found:
        raise ConvzooError("no images given")
    return found


def load_image(path: str | os.PathLike[str], in_chans: int) -> tuple[Any, list[str]]:
    """Open an image as the network wants it (RGB, or L for one channel) and say what changed.

    Transparency is composited on white (dropping it would show whatever colour the transparent
    pixels happen to hold).
    """
    from PIL import Image, UnidentifiedImageError

    notes: list[str] = []
    try:
        with Image.open(path) as im:
            im.load()
            img = im.copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ConvzooError(
            f"{path}: cannot be read as an image ({type(err).__name__}: {err}); give a JPEG, "
            f"PNG or another format Pillow reads"
        ) from None
    if in_chans not in (1, 3):
        raise ConvzooError(f"images can feed networks of 1 or 3 channels, not {in_chans}")
    want = "RGB" if in_chans == 3 else "L"
    if img.mode != want:
        orig = img.mode
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(bg, rgba)
            notes.append(f"{path}: transparency composited on white")
        notes.append(f"{path}: converted from {orig} to {want}")
        img = img.convert(want)
    return img, notes


def _meta_get(meta: dict, *keys: str) -> Any:
    for k in keys:
        if k in meta and meta[k] is not None:
            return meta[k]
    args = meta.get("args") or meta.get("config")
    if isinstance(args, dict):
        for k in keys:
            if k in args and args[k] is not None:
                return args[k]
    return None


def load_predictor(
    source: str | os.PathLike[str],
    *,
    weights: str | None = None,
    model_name: str | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> Predictor:
    """A :class:`Predictor` from a model name (with ``weights``, default ``"imagenet"``) or from
    a checkpoint file (which names its model; else give ``model_name``)."""
    from convzoo.registry import _REGISTRY, create_model, list_models
    from convzoo.weights import read_checkpoint

    src = os.fspath(source)
    list_models()  # import the zoo
    if src in _REGISTRY and not Path(src).is_file():
        model = create_model(src, weights=weights or "imagenet")
        info = model.card.extra.get("weights", {})
        name = src
        label = f"{src} weights {weights or 'imagenet'}"
    else:
        path = Path(src)
        if not path.is_file():
            raise FileNotFoundError(
                f"{src!r} is neither a model of the zoo nor a checkpoint file "
                f"(`convzoo list` shows the models)"
            )
        state, meta = read_checkpoint(path)
        name = model_name or _meta_get(meta, "model", "model_name", "arch")
        if not isinstance(name, str):
            raise ConvzooError(
                f"{path} does not say which network it holds; give it with --model NAME"
            )
        num_classes = _meta_get(meta, "num_classes")
        classes = _meta_get(meta, "classes", "categories")
        if num_classes is None:
            num_classes = len(classes) if classes else 1000
        kwargs = _meta_get(meta, "model_kwargs") or {}
        in_chans = _meta_get(meta, "in_chans")
        model = create_model(name, num_classes=int(num_classes), in_chans=in_chans, **kwargs)
        from convzoo.weights import load_state_dict_into

        load_state_dict_into(model, state, str(path), name)
        info = {"categories": classes, "transforms": _meta_get(meta, "transforms")}
        label = str(path)
    card = model.card
    transforms = dict(info.get("transforms") or default_transforms(card))
    categories = info.get("categories")
    if categories is not None and len(categories) != card.num_classes:
        categories = None
    model.eval().to(device)
    return Predictor(model, name, transforms, categories, card.in_chans, label)


@torch.no_grad()
def predict(
    predictor: Predictor,
    images: Sequence[str | os.PathLike[str]],
    topk: int = 5,
    batch_size: int = 16,
) -> list[dict[str, Any]]:
    """Top-``topk`` classes and probabilities for each image (files or folders).

    All images are read and transformed first: one unreadable file stops the run before any
    result exists.
    """
    if topk < 1:
        raise ConvzooError(f"--topk must be at least 1, got {topk}")
    files = find_images(images)
    crop = int(predictor.transforms["crop_size"])
    tensors, notes = [], []
    for f in files:
        img, note = load_image(f, predictor.in_chans)
        if min(img.size) < crop:
            note.append(
                f"{f}: {img.size[0]}x{img.size[1]} is smaller than the {crop}x{crop} crop; "
                f"upscaled (expect less reliable predictions)"
            )
        tensors.append(predictor.transform(img))
        notes.append(note)
    device = next(predictor.model.parameters()).device
    k = min(topk, predictor.model.card.num_classes)
    results = []
    for start in range(0, len(tensors), batch_size):
        batch = torch.stack(tensors[start : start + batch_size]).to(device)
        out = predictor.model(batch)
        logits = out[0] if isinstance(out, tuple) else out
        probs = logits.float().softmax(dim=1)
        p, idx = probs.topk(k, dim=1)
        for j in range(batch.shape[0]):
            i = start + j
            results.append(
                {
                    "image": str(files[i]),
                    "top": [
                        {
                            "index": int(c),
                            "class": predictor.categories[int(c)]
                            if predictor.categories
                            else str(int(c)),
                            "prob": float(q),
                        }
                        for q, c in zip(p[j], idx[j], strict=False)
                    ],
                    "notes": notes[i],
                }
            )
    return results
