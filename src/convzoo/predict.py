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
from collections.abc import Callable, Iterable, Sequence
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
    transform: Callable[[Any], torch.Tensor]
    crop_size: int
    categories: list[str] | None
    in_chans: int
    source: str
    transforms: dict[str, Any] = field(default_factory=dict)


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
    if src in _REGISTRY and not Path(src).exists():
        from convzoo.weights import get_weight_entry, weight_entries

        if weights is None:  # the network's first entry: imagenet where torchvision has one
            entries = weight_entries(src)
            if not entries:
                raise ConvzooError(
                    f"{src} has no published weights; give --weights FILE or a checkpoint"
                )
            weights = entries[0].name
        num_classes = 1000
        if "/" not in weights and "." not in weights:  # an entry name: its number of classes
            num_classes = get_weight_entry(src, weights).num_classes
        model = create_model(src, num_classes=num_classes, weights=weights)
        info = model.card.extra.get("weights", {})
        name = src
        label = f"{src} weights {weights}"
    else:
        from convzoo.weights import load_state_dict_into

        path = Path(src)
        if not path.exists():
            raise FileNotFoundError(
                f"{src!r} is neither a model of the zoo nor a checkpoint "
                f"(`convzoo list` shows the models)"
            )
        state, meta = read_checkpoint(path)
        m = meta.get("model")
        name = model_name or (m.get("name") if isinstance(m, dict) else m)
        name = name or _meta_get(meta, "model_name", "arch")
        if not isinstance(name, str):
            raise ConvzooError(
                f"{path} does not say which network it holds; give it with --model NAME"
            )
        kwargs = dict(m.get("kwargs", {})) if isinstance(m, dict) else {}
        classes = _meta_get(meta, "classes", "categories")
        if "num_classes" not in kwargs:
            n = _meta_get(meta, "num_classes")
            if not n and classes:
                n = len(classes)
            if not n:  # a plain state dict: its classifier says how many classes
                from convzoo.registry import model_card

                head = state.get(f"{model_card(name).classifier}.weight")
                n = head.shape[0] if head is not None else 1000
            kwargs["num_classes"] = int(n)
        extra = _meta_get(meta, "model_kwargs") or {}
        model = create_model(name, **{**extra, **kwargs})
        load_state_dict_into(model, state, str(path), name)
        info = {"categories": classes, "transforms": _meta_get(meta, "transforms"), "meta": meta}
        label = str(path)
    card = model.card
    transform, crop, tdict = _transform_for(info, card)
    categories = info.get("categories")
    if categories is not None and len(categories) != card.num_classes:
        categories = None
    model.eval().to(device)
    return Predictor(model, name, transform, crop, categories, card.in_chans, label, tdict)


def _transform_for(info: dict[str, Any], card: Any) -> tuple[Callable, int, dict[str, Any]]:
    """The eval transform: the weights' preset (resize, crop) if they state one; for a training
    checkpoint, the validation transform ``convzoo train`` used (:func:`convzoo.data.
    pil_transforms` on the geometry it recorded); else the card's defaults."""
    t = dict(info.get("transforms") or {})
    if "crop_size" in t:
        return build_transform(t), int(t["crop_size"]), t
    meta = info.get("meta") or {}
    if t or "input_size" in meta:
        from convzoo.data import Geometry, pil_transforms

        size = t.get("input_size") or meta.get("input_size") or card.input_size
        mean = t.get("mean") or meta.get("mean") or card.mean
        std = t.get("std") or meta.get("std") or card.std
        c, h, w = (int(v) for v in size)
        geo = Geometry(c, h, w, tuple(mean), tuple(std))
        t = {"input_size": [c, h, w], "mean": list(mean), "std": list(std)}
        return pil_transforms(geo, train=False, augment=False), min(h, w), t
    t = default_transforms(card)
    return build_transform(t), int(t["crop_size"]), t


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
    crop = predictor.crop_size
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
