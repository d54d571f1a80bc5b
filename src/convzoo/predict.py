"""Classify images with a network of the zoo: pretrained weights or a checkpoint of your own.

The transforms come from the weights' metadata (torchvision's preset for its ImageNet weights:
resize the shorter side, centre crop, normalise) or from the checkpoint's (what ``convzoo train``
/ ``convzoo finetune`` used); without either, from the model card (input size, mean, std).

Images are read, transformed and classified one batch at a time, so memory stays flat however
many images a folder holds. A file that cannot be decoded (truncated, not an image, a
decompression bomb) is reported with its path and reason and the others are still predicted
(:func:`iter_predictions` with ``errors="report"``, what the CLI does); the library's
:func:`predict` raises on the first one by default.

Networks trained on white strokes on a dark background (the digits LeNet-5, MNIST and
Fashion-MNIST runs) are given a dark-on-light image inverted, with a note: a digit drawn black
on white would otherwise read as a "0" at 99%.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import nn
from torchvision import transforms as T
from torchvision.datasets.folder import IMG_EXTENSIONS

from convzoo.data import Geometry, ImageAsArray, pil_transforms, trained_on_builtin
from convzoo.errors import ConvzooError
from convzoo.outputs import main_logits
from convzoo.registry import (
    card_of,
    checked_builder_kwargs,
    create_model,
    list_models,
    model_card,
)
from convzoo.weights import (
    get_weight_entry,
    imagenet_categories,
    is_entry_name,
    load_state_dict_into,
    read_checkpoint,
    weight_entries,
)

# Data sets whose images are white (high) strokes on a black (low) background.
DARK_BACKGROUND_DATA = frozenset({"digits", "mnist", "fashion-mnist", "kmnist", "emnist"})


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
    dark_background: bool = False  # trained on light strokes on a dark background
    notes: list[str] = field(default_factory=list)  # about the whole run (e.g. class names)


class UnreadableImage(ConvzooError):
    """An image file that cannot be decoded; the message names the file and the reason."""


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
    """The image files among ``paths``; folders are searched recursively, in sorted order.

    A folder's symlinks to folders are not followed (a link loop would list files forever),
    and a file reached twice is listed once."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    for p in map(Path, paths):
        if p.is_dir():
            imgs = sorted(
                f for f in p.rglob("*") if f.suffix.lower() in IMG_EXTENSIONS and f.is_file()
            )
            if not imgs:
                raise ConvzooError(
                    f"folder {p} holds no images (looked for {', '.join(IMG_EXTENSIONS)})"
                )
        elif p.is_file():
            imgs = [p]
        else:
            raise FileNotFoundError(f"image {str(p)!r} does not exist")
        for f in imgs:
            st = f.stat()
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                found.append(f)
    if not found:
        raise ConvzooError("no images given")
    return found


def _open_image(path: str | os.PathLike[str]) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that: both refused.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                return im.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise UnreadableImage(
            f"{path}: refused: a decompression bomb? ({err}). Resize it first if it is a real "
            f"image."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        raise UnreadableImage(
            f"{path}: cannot be read as an image ({type(err).__name__}: {err}); give a JPEG, "
            f"PNG or another format Pillow reads"
        ) from None


def load_image(path: str | os.PathLike[str], in_chans: int) -> tuple[Any, list[str]]:
    """Open an image as the network wants it (RGB, or L for one channel) and say what changed.

    Transparency is composited on white (dropping it would show whatever colour the transparent
    pixels happen to hold).
    """
    if in_chans not in (1, 3):
        raise ConvzooError(f"images can feed networks of 1 or 3 channels, not {in_chans}")
    img = _open_image(path)
    notes: list[str] = []
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


def has_light_background(img: Image.Image) -> bool:
    """Whether an image's background is lighter than its strokes: its border (the outer 1/16
    of each side, where a centred drawing has no ink) is lighter than mid-grey and lighter
    than the image as a whole."""
    gray = img.convert("L")
    w, h = gray.size
    band_w, band_h = max(1, w // 16), max(1, h // 16)
    t = torch.frombuffer(bytearray(gray.tobytes()), dtype=torch.uint8).view(h, w).float()
    border = torch.cat(
        [
            t[:band_h].flatten(),
            t[-band_h:].flatten(),
            t[:, :band_w].flatten(),
            t[:, -band_w:].flatten(),
        ]
    )
    background = float(border.median())
    return background > 127.5 and background > float(t.mean())


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


def _device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConvzooError(f"--device {device!r} is not a device (cpu, cuda, cuda:1)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConvzooError(f"--device {device!r}: torch sees no GPU here; use --device cpu")
    return dev


def _from_name(name: str, weights: str | None) -> tuple[nn.Module, dict[str, Any], str]:
    if weights is None:  # the network's first entry: imagenet where torchvision has one
        entries = weight_entries(name)
        if not entries:
            raise ConvzooError(f"{name} has no published weights; give --weights FILE or a run")
        weights = entries[0].name
    num_classes = get_weight_entry(name, weights).num_classes if is_entry_name(weights) else 1000
    model = create_model(name, num_classes=num_classes, weights=weights)
    return model, dict(card_of(model).extra.get("weights", {})), f"{name} weights {weights}"


def _from_checkpoint(path: Path, model_name: str | None) -> tuple[nn.Module, dict[str, Any], str]:
    state, meta = read_checkpoint(path)
    m = meta.get("model")
    name = model_name or (m.get("name") if isinstance(m, dict) else m)
    name = name or _meta_get(meta, "model_name", "arch")
    if not isinstance(name, str):
        raise ConvzooError(f"{path} does not say which network it holds; give it with --model NAME")
    source = str(path)
    kwargs = checked_builder_kwargs(name, m.get("kwargs") if isinstance(m, dict) else None, source)
    extra = checked_builder_kwargs(name, _meta_get(meta, "model_kwargs"), source)
    classes = _meta_get(meta, "classes", "categories")
    if "num_classes" not in kwargs:
        n = _meta_get(meta, "num_classes")
        if not n and classes:
            n = len(classes)
        if not n:  # a plain state dict: its classifier says how many classes
            head = state.get(f"{model_card(name).classifier}.weight")
            n = head.shape[0] if head is not None else 1000
        kwargs["num_classes"] = int(n)
    model = create_model(name, **{**extra, **kwargs})
    load_state_dict_into(model, state, source, name)
    info = {"categories": classes, "transforms": _meta_get(meta, "transforms"), "meta": meta}
    return model, info, source


def _trained_on_dark(info: dict[str, Any]) -> bool:
    if info.get("background") == "dark":
        return True
    meta = info.get("meta") or {}
    data = meta.get("data")
    name = data.get("name") if isinstance(data, dict) else _meta_get(meta, "data")
    return isinstance(name, str) and name.lower() in DARK_BACKGROUND_DATA


def load_predictor(
    source: str | os.PathLike[str],
    *,
    weights: str | None = None,
    model_name: str | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> Predictor:
    """A :class:`Predictor` from a model name (with ``weights``, default its first entry) or
    from a checkpoint (a file, a checkpoint folder or a run folder, which names its model; else
    give ``model_name``). Metadata never chooses weights: its builder arguments pass an
    allow-list (:func:`convzoo.registry.checked_builder_kwargs`)."""
    src = os.fspath(source)
    dev = _device(device)
    if src in list_models() and not Path(src).exists():
        model, info, label = _from_name(src, weights)
        name = src
    else:
        path = Path(src)
        if not path.exists():
            raise FileNotFoundError(
                f"{src!r} is neither a model of the zoo nor a checkpoint "
                f"(`convzoo list` shows the models)"
            )
        model, info, label = _from_checkpoint(path, model_name)
        name = card_of(model).name
    card = card_of(model)
    transform, crop, tdict = _transform_for(info, card)
    notes = []
    categories = info.get("categories")
    if categories is not None and len(categories) != card.num_classes:
        categories = None
    if categories is None and card.num_classes == 1000:
        categories = list(imagenet_categories())
        notes.append("class names: ImageNet-1k's (the weights do not name their 1000 classes)")
    model.eval().to(dev)
    return Predictor(
        model,
        name,
        transform,
        crop,
        list(categories) if categories is not None else None,
        card.in_chans,
        label,
        tdict,
        dark_background=_trained_on_dark(info),
        notes=notes,
    )


def _transform_for(info: dict[str, Any], card: Any) -> tuple[Callable, int, dict[str, Any]]:
    """The eval transform: the weights' preset (resize, crop) if they state one; for a training
    checkpoint, the validation transform ``convzoo train`` used: for a built-in (in-memory) data
    set its array path with the set's fit (:class:`convzoo.data.ImageAsArray`), else
    :func:`convzoo.data.pil_transforms` on the geometry it recorded; else the card's defaults."""
    t = dict(info.get("transforms") or {})
    if "crop_size" in t:
        return build_transform(t), int(t["crop_size"]), t
    meta = info.get("meta") or {}
    if t or "input_size" in meta:
        size = t.get("input_size") or meta.get("input_size") or card.input_size
        mean = t.get("mean") or meta.get("mean") or card.mean
        std = t.get("std") or meta.get("std") or card.std
        c, h, w = (int(v) for v in size)
        geo = Geometry(c, h, w, tuple(mean), tuple(std))
        t = {"input_size": [c, h, w], "mean": list(mean), "std": list(std)}
        builtin = trained_on_builtin(meta)
        if builtin is not None:
            # trained on an in-memory set: the image goes the way its images went
            return ImageAsArray(geo, builtin.fit), min(h, w), t
        return pil_transforms(geo, train=False, augment=False), min(h, w), t
    t = default_transforms(card)
    return build_transform(t), int(t["crop_size"]), t


def _prepare(predictor: Predictor, path: Path, invert: bool) -> tuple[torch.Tensor, list[str]]:
    img, notes = load_image(path, predictor.in_chans)
    crop = predictor.crop_size
    pads = isinstance(predictor.transform, ImageAsArray) and predictor.transform.pads(
        img.size[1], img.size[0]
    )
    if min(img.size) < crop and not pads:
        notes.append(
            f"{path}: {img.size[0]}x{img.size[1]} is smaller than the {crop}x{crop} crop; "
            f"upscaled (expect less reliable predictions)"
        )
    if invert and predictor.dark_background and has_light_background(img):
        img = ImageOps.invert(img)
        notes.append(
            f"{path}: inverted: its background is lighter than its strokes, and {predictor.name} "
            f"was trained on light strokes on a dark background (--no-invert keeps it as is)"
        )
    return predictor.transform(img), notes


@torch.no_grad()
def iter_predictions(
    predictor: Predictor,
    images: Sequence[str | os.PathLike[str]],
    topk: int = 5,
    batch_size: int = 16,
    *,
    errors: str = "raise",
    invert: bool = True,
) -> Iterator[dict[str, Any]]:
    """Top-``topk`` classes and probabilities for each image (files or folders), yielded in
    order, one batch read at a time (memory does not grow with the number of images).

    ``errors="raise"``: an unreadable file raises :class:`UnreadableImage`; ``"report"``: it
    is yielded as ``{"image": path, "error": reason}`` and the others are predicted.
    """
    if topk < 1:
        raise ConvzooError(f"--topk must be at least 1, got {topk}")
    if batch_size < 1:
        raise ConvzooError(f"batch size must be at least 1, got {batch_size}")
    if errors not in ("raise", "report"):
        raise ValueError(f"errors must be 'raise' or 'report', not {errors!r}")
    files = find_images(images)
    device = next(predictor.model.parameters()).device
    k = min(topk, card_of(predictor.model).num_classes)
    for start in range(0, len(files), batch_size):
        slots: list[dict[str, Any]] = []
        tensors = []
        for f in files[start : start + batch_size]:
            try:
                x, notes = _prepare(predictor, f, invert)
            except UnreadableImage as err:
                if errors == "raise":
                    raise
                slots.append({"image": str(f), "error": str(err)})
                continue
            slots.append({"image": str(f), "notes": notes})
            tensors.append(x)
        if tensors:
            logits = main_logits(predictor.model(torch.stack(tensors).to(device)))
            p, idx = logits.float().softmax(dim=1).topk(k, dim=1)
            rows = iter(zip(p.tolist(), idx.tolist(), strict=True))
            for slot in slots:
                if "error" not in slot:
                    probs, indices = next(rows)
                    slot["top"] = [
                        {"index": c, "class": _class_name(predictor, c), "prob": q}
                        for q, c in zip(probs, indices, strict=True)
                    ]
        yield from slots


def _class_name(predictor: Predictor, index: int) -> str:
    return predictor.categories[index] if predictor.categories else str(index)


def predict(
    predictor: Predictor,
    images: Sequence[str | os.PathLike[str]],
    topk: int = 5,
    batch_size: int = 16,
    *,
    errors: str = "raise",
    invert: bool = True,
) -> list[dict[str, Any]]:
    """:func:`iter_predictions` as a list (the results are small; the images are not kept)."""
    return list(iter_predictions(predictor, images, topk, batch_size, errors=errors, invert=invert))
