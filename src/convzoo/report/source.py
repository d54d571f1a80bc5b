"""What a report or a figure is of: a network of the zoo, a torchvision network, a user's module,
a training run (its checkpoint's metadata and the files the run wrote) or a bench results folder.

The network is always built on the ``meta`` device: a report never allocates weights, and a run's
weights are never read (its ``meta.json`` names the network and its arguments).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

import convzoo.weights  # noqa: F401  (registers the networks and the weights loader)
from convzoo.errors import ConvzooError
from convzoo.inspect.trace import meta_build
from convzoo.registry import create_model, list_models, model_card

TORCHVISION = "torchvision:"


@dataclass
class Source:
    """A resolved source: the network (on meta), its name, family, input size, and folders."""

    label: str
    model: nn.Module | None = None
    name: str = ""
    family: str = ""
    input_size: tuple[int, ...] = (3, 224, 224)
    run_dir: Path | None = None
    bench_dir: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _checkpoint_meta(path: Path) -> tuple[dict[str, Any], Path] | None:
    """The ``meta.json`` of a run folder (best/ first, then last/) or of a checkpoint folder."""
    folder = path.parent if path.is_file() else path
    for c in (folder, folder / "best", folder / "last"):
        meta_path = c / "meta.json"
        if meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise ConvzooError(f"{meta_path}: not valid JSON ({err})") from None
            run = c.parent if c.name in ("best", "last") else c
            return meta, run
    return None


def _build_on_meta(builder: Callable[[], nn.Module]) -> nn.Module:
    with meta_build():
        return builder()


def _zoo(name: str, **kwargs: Any) -> Source:
    card = model_card(name)
    kwargs.setdefault("num_classes", card.num_classes)
    model = _build_on_meta(lambda: create_model(name, **kwargs))
    size = (int(kwargs.get("in_chans", card.in_chans)), *card.input_size[1:])
    return Source(name, model, name, card.family, size, meta={"kwargs": kwargs})


def resolve(source: str | os.PathLike[str] | nn.Module, input_size: Any = None) -> Source:
    """A :class:`Source` for a zoo name, ``torchvision:NAME``, ``package.module:attr`` (a
    module or a function that returns one), a run or checkpoint folder, a bench results folder,
    or an ``nn.Module``."""
    if isinstance(source, nn.Module):
        card = getattr(source, "card", None)
        name = getattr(card, "name", None) or type(source).__name__
        size = tuple(getattr(card, "input_size", None) or (3, 224, 224))
        return Source(name, source, name, getattr(card, "family", ""), size)
    text = os.fspath(source)
    path = Path(text)
    if text in list_models() and not path.exists():
        return _zoo(text)
    if path.exists():
        if (path / "results.json").is_file() or path.name == "results.json":
            bench = path if path.is_dir() else path.parent
            return Source(f"benchmark {bench}", bench_dir=bench)
        found = _checkpoint_meta(path)
        if found is None:
            raise ConvzooError(
                f"{path} is neither a training run or checkpoint (no meta.json) nor a bench "
                "results folder (no results.json)"
            )
        meta, run = found
        m = meta.get("model") or {}
        name = m.get("name") if isinstance(m, dict) else m
        if not isinstance(name, str) or name not in list_models():
            raise ConvzooError(f"{path}: its meta.json names no network of the zoo ({name!r})")
        kwargs = dict(m.get("kwargs") or {}) if isinstance(m, dict) else {}
        src = _zoo(name, **kwargs)
        t = meta.get("transforms") or {}
        if t.get("input_size"):
            src.input_size = tuple(int(v) for v in t["input_size"])
        src.label, src.run_dir, src.meta = f"{name} (run {run})", run, meta
        return src
    if text.startswith(TORCHVISION):
        from torchvision import models as tv  # torchvision: imported only for its networks

        tv_name = text[len(TORCHVISION) :]
        if tv_name not in tv.list_models():
            raise ConvzooError(
                f"torchvision has no network {tv_name!r}; see torchvision.models.list_models()"
            )
        model = _build_on_meta(lambda: tv.get_model(tv_name, weights=None))
        size = (3, 299, 299) if tv_name == "inception_v3" else (3, 224, 224)
        return Source(text, model, tv_name, "", size)
    if ":" in text:
        module_name, _, attr = text.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise ConvzooError(f"cannot load {text!r}: {err}") from None
        if not isinstance(obj, nn.Module):
            if not callable(obj):
                raise ConvzooError(f"{text} is neither an nn.Module nor a function making one")
            obj = _build_on_meta(obj)
        if not isinstance(obj, nn.Module):
            raise ConvzooError(f"{text} did not give an nn.Module")
        return resolve(obj)
    raise ConvzooError(
        f"{text!r} is not a network of the zoo (`convzoo list`), torchvision:NAME, "
        "module:attr, a run folder or a bench results folder"
    )
