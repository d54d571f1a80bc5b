"""Pretrained weights: entries as data, reading state dicts safely, loading them into a network.

A :class:`WeightEntry` says where a network's weights come from (URL, SHA-256, format), what
they expect (the transforms: resize, crop, mean, std) and what they give (the categories and the
metrics the publisher states). Two sources of entries:

* the torchvision-compatible networks (``model_card(name).torchvision_twin``) take theirs from
  torchvision's own weights API (:func:`torchvision.models.get_model_weights`), nothing copied by
  hand. torchvision publishes only the first 8 hex digits of each file's SHA-256, in the file name
  (``resnet18-f37072fd.pth``); we check that prefix, exactly as ``torch.hub`` does, and say so
  (``sha256_is_prefix``). A prefix of 32 bits detects truncation and corruption, not a forgery.
* entries of our own, as JSON in ``convzoo/data/weights.json`` (full SHA-256); ``lenet5``
  ``digits`` ships inside the package (``package:`` URL), so it works offline.

Entry names: ``imagenet`` is the publisher's first ImageNet-1k recipe (torchvision's
``IMAGENET1K_V1``, the one the classic papers and PyTorch's transfer-learning tutorial use); later
recipes keep torchvision's name in lower case (``imagenet1k_v2``).

Files are read as safetensors, or as ``.pth``/``.pt`` with ``torch.load(weights_only=True)``
only: a pickle that would run code is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import urllib.parse
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from torch import nn

import convzoo.models  # noqa: F401  (importing the package registers the networks)
from convzoo import io
from convzoo.errors import ConvzooError
from convzoo.io.cache import (
    cache_state,
    fetch,
    hash_from_file_name,
    hash_matches,
    is_plain_file_name,
    sha256_of,
    table_cache_path,
    url_basename,
    url_cache_path,
)
from convzoo.io.checkpoint import Checkpoint, find_checkpoint
from convzoo.registry import (
    checked_builder_kwargs,
    create_model,
    list_models,
    model_card,
    set_weights_loader,
)

DEFAULT_ENTRY = "imagenet"
# The one rule for "is this string a weight entry name": an identifier (imagenet, digits,
# imagenet1k_v2) that is not also an existing file or folder.
_ENTRY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Keys under which a training checkpoint keeps the network's state dict.
_STATE_KEYS = ("model", "state_dict", "model_state_dict", "model_state")


class WeightsWarning(UserWarning):
    """Weights were loaded, but not all of them (e.g. a classifier of another size)."""


@dataclass(frozen=True)
class WeightEntry:
    """One set of published weights for one network of the zoo."""

    model: str
    name: str
    url: str
    sha256: str
    sha256_is_prefix: bool
    file_format: str  # "pth" or "safetensors"
    num_classes: int
    categories: tuple[str, ...]
    transforms: dict[str, Any]  # resize_size, crop_size, mean, std, interpolation
    metrics: dict[str, Any]  # as the publisher states them, e.g. {"ImageNet-1K": {"acc@1": ..}}
    source: str  # who publishes them, e.g. "torchvision ResNet18_Weights.IMAGENET1K_V1"
    dataset: str = "ImageNet-1k"
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # attributes set when loaded
    requires: dict[str, Any] = field(default_factory=dict)  # attributes the network must have
    notes: str = ""
    # "dark": trained on light strokes on a dark background (predict inverts dark-on-light).
    background: str = ""

    @property
    def file_name(self) -> str:
        """The file's name in the cache: the last part of the table's URL, as torch hub names
        it (``resnet18-f37072fd.pth``), so that torchvision's cache is shared. The name is
        ours (the table is), and still checked to be a plain file name."""
        if self.url.startswith("package:"):
            name = self.url.rsplit("/", 1)[-1]
        else:
            name = urllib.parse.urlsplit(self.url).path.rsplit("/", 1)[-1]
        if not is_plain_file_name(name) or name != url_basename(self.url):
            raise ConvzooError(f"weights table entry {self.model} {self.name}: bad file name")
        return name

    def cache_path(self) -> Path:
        """Where the file lives in the cache (it may not be there yet); for a file shipped
        inside the package, where it is installed."""
        if self.url.startswith("package:"):
            return Path(str(resources.files("convzoo").joinpath(self.url[len("package:") :])))
        return table_cache_path(self.file_name)

    def cache_state(self) -> str:
        """``"cached"`` (the file is there and its hash matches), ``"damaged"`` or
        ``"missing"``."""
        return cache_state(self.cache_path(), self.sha256)

    def is_cached(self) -> bool:
        return self.cache_state() == "cached"

    def to_dict(self, categories: bool = False) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["categories"] = list(self.categories) if categories else len(self.categories)
        d["file_name"] = self.file_name
        return d

    def meta(self) -> dict[str, Any]:
        """What a loaded model keeps of its weights (``model.card.extra["weights"]``)."""
        return {
            "model": self.model,
            "name": self.name,
            "source": self.source,
            "url": self.url,
            "categories": list(self.categories),
            "transforms": dict(self.transforms),
            "metrics": self.metrics,
            "background": self.background,
        }


def _tv_weights(name: str) -> Any:
    """torchvision's weights enum of its network ``name`` (``ResNet18_Weights``).

    Imported here, not at the top: any torchvision import runs its package, which imports all
    its networks and torchvision.ops, and that imports torch._dynamo (seconds). Building a
    network, `convzoo list` and the structural tables need no torchvision; only a torchvision
    weight entry does."""
    from torchvision.models import get_model_weights

    return get_model_weights(name)


@lru_cache(maxsize=1)
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, in torchvision's order (its weights' metadata)."""
    return tuple(_tv_weights("resnet18")["IMAGENET1K_V1"].meta["categories"])


def _torchvision_entries(model: str, twin: str) -> list[WeightEntry]:
    try:
        enum = _tv_weights(twin)
    except (ValueError, KeyError):
        return []
    entries = []
    for i, w in enumerate(enum):
        t = w.transforms()  # torchvision's ImageClassification preset: resize, crop, mean, std
        prefix = hash_from_file_name(w.url.rsplit("/", 1)[-1])
        if prefix is None:  # every torchvision classification file carries one; be safe anyway
            continue
        if not w.meta.get("categories"):
            # VGG16_Weights.IMAGENET1K_FEATURES: only the conv features are valid (ported for
            # SSD), the classifier holds no trained values; not a classifier's weights.
            continue
        kwargs: dict[str, Any] = {}
        notes = w.meta.get("_docs", "").strip()
        if twin == "googlenet":
            # torchvision builds GoogLeNet for these weights with transform_input=True: the
            # weights were ported from TensorFlow and expect inputs scaled to [-1, 1].
            kwargs["transform_input"] = True
        requires: dict[str, Any] = {}
        if twin in ("resnet50", "resnet101", "resnet152"):
            # Trained with torchvision's v1.5 bottleneck (stride in the 3x3 conv); the paper's
            # v1 has the same parameters, so only this check tells them apart.
            requires["variant"] = "v1.5"
        entries.append(
            WeightEntry(
                model=model,
                name=DEFAULT_ENTRY if i == 0 else w.name.lower(),
                url=w.url,
                sha256=prefix,
                sha256_is_prefix=True,
                file_format="pth",
                num_classes=len(w.meta["categories"]),
                categories=tuple(w.meta["categories"]),
                transforms={
                    "resize_size": int(t.resize_size[0]),
                    "crop_size": int(t.crop_size[0]),
                    "mean": [float(v) for v in t.mean],
                    "std": [float(v) for v in t.std],
                    "interpolation": t.interpolation.value,
                },
                metrics=dict(w.meta.get("_metrics", {})),
                source=f"torchvision {type(w).__name__}.{w.name}",
                model_kwargs=kwargs,
                requires=requires,
                notes=notes,
            )
        )
    return entries


@lru_cache(maxsize=1)
def _data_entries() -> tuple[WeightEntry, ...]:
    try:
        text = resources.files("convzoo").joinpath("data/weights.json").read_text()
    except FileNotFoundError:
        return ()
    entries = []
    for d in json.loads(text):
        d = dict(d)
        d["categories"] = tuple(d.get("categories", ()))
        d.setdefault("sha256_is_prefix", False)
        entries.append(WeightEntry(**d))
    return tuple(entries)


def weight_entries(model: str | None = None) -> list[WeightEntry]:
    """The weight entries of one network (or of every network of the zoo)."""
    names = [model] if model is not None else list_models()
    out: list[WeightEntry] = []
    for name in names:
        card = model_card(name)  # refuses unknown names with a helpful message
        if card.torchvision_twin:
            out.extend(_torchvision_entries(name, card.torchvision_twin))
        out.extend(e for e in _data_entries() if e.model == name)
    return out


def get_weight_entry(model: str, name: str = DEFAULT_ENTRY) -> WeightEntry:
    """The entry ``name`` of ``model``; an unknown one is refused with the names that exist."""
    entries = weight_entries(model)
    for e in entries:
        if e.name == name.lower():
            return e
    have = ", ".join(e.name for e in entries) or "none"
    raise ConvzooError(
        f"{model} has no weights named {name!r} (it has: {have}). `convzoo weights list` shows "
        f"every entry; a local file or a URL can be given instead."
    )


def fetch_weights(entry: WeightEntry, *, progress: bool = True) -> Path:
    """The cached file of ``entry``, downloaded and hash-checked first if needed.

    ``package:PATH`` URLs name a file shipped inside convzoo (no download, no cache); it is
    hash-checked all the same.
    """
    if entry.url.startswith("package:"):
        path = Path(str(resources.files("convzoo").joinpath(entry.url[len("package:") :])))
        if not path.is_file():
            raise FileNotFoundError(f"{entry.model} {entry.name}: {path} is missing; reinstall")
        digest = sha256_of(path)
        if not hash_matches(digest, entry.sha256):
            raise ConvzooError(
                f"{path}: SHA-256 {digest} is not the expected {entry.sha256}; the installed "
                f"file is damaged: reinstall convzoo"
            )
        return path
    return fetch(entry.url, entry.cache_path(), entry.sha256, progress=progress)


def is_entry_name(source: str | os.PathLike[str]) -> bool:
    """The one rule for "is this a weight entry name" (``imagenet``, ``digits``): an
    identifier that is not an existing file or folder. Anything else is a URL or a path."""
    s = os.fspath(source)
    return bool(_ENTRY_NAME.fullmatch(s)) and not Path(s).expanduser().exists()


def entry_settings(model_name: str, source: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The plain attributes that loading ``source`` sets on the network (GoogLeNet's
    ``transform_input`` for torchvision's weights), when ``source`` names an entry of our own
    table; ``{}`` for anything else (a file or a URL sets none). Read from the table: nothing is
    fetched, so a resumed run can rebuild the network its weights were loaded into without
    loading them again."""
    if source is None or not is_entry_name(source):
        return {}
    name = os.fspath(source).lower()
    for e in weight_entries(model_name):
        if e.name == name:
            return dict(e.model_kwargs)
    return {}


# --------------------------------------------------------------------------------------------
# Reading


def read_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict]:
    """The state dict in a weights file or training checkpoint, and the metadata beside it.

    safetensors: tensors, and the string metadata of its header. ``.pth``/``.pt``: read with
    ``torch.load(weights_only=True)``: a plain state dict, or a dict holding one under ``model``
    / ``state_dict`` (a ``convzoo train`` checkpoint) next to other plain values.
    """
    path = Path(path)
    if path.is_dir() or (
        path.name == "weights.safetensors" and path.with_name("meta.json").is_file()
    ):
        # A `convzoo train` checkpoint folder (or run folder): its weights and meta.json.
        ckpt = find_checkpoint(path)
        return ckpt.load_weights(), {**ckpt.meta, "checkpoint": str(ckpt.path)}
    return _read_file(path)


def model_from_checkpoint(ckpt: Checkpoint, device: str | torch.device = "cpu") -> nn.Module:
    """The network a checkpoint folder was trained as, with its weights (strict), in eval
    mode. Its builder arguments pass :func:`convzoo.registry.checked_builder_kwargs`: the
    metadata never chooses weights, never triggers a download."""
    m = ckpt.meta.get("model") or {}
    name = m.get("name") if isinstance(m, dict) else None
    if not isinstance(name, str) or not name:
        raise ConvzooError(f"{ckpt.path}: the metadata does not name a registered network")
    kwargs = checked_builder_kwargs(name, m.get("kwargs"), str(ckpt.path / "meta.json"))
    model = create_model(name, **kwargs)
    load_state_dict_into(model, ckpt.load_weights(), str(ckpt.path), name, strict=True)
    return model.to(device).eval()


def _read_file(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
        try:
            with safetensors.safe_open(str(path), framework="pt") as f:
                header: dict[str, Any] = dict(f.metadata() or {})
                state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
        except Exception as err:  # safetensors raises its own error types
            raise ConvzooError(
                f"{path}: not a readable safetensors file, truncated or damaged? ({err})"
            ) from None
        # convzoo writes nested metadata as JSON strings; decode those that are.
        for k, v in list(header.items()):
            if isinstance(v, str) and v[:1] in "[{":
                with contextlib.suppress(ValueError):
                    header[k] = json.loads(v)
        return state, header
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        msg = str(err)
        if "Weights only load failed" in msg or "Unsupported global" in msg:
            raise ConvzooError(
                f"{path}: refused: the file is a pickle that holds more than tensors and plain "
                f"values, and unpickling it could run code. convzoo reads .pth/.pt files with "
                f"torch.load(weights_only=True) only. If you trust the file, re-save its state "
                f"dict (torch.save(model.state_dict(), ...)) or convert it to safetensors."
            ) from None
        raise ConvzooError(
            f"{path}: not a readable PyTorch file, truncated or damaged? ({type(err).__name__}: "
            f"{msg.split('. ')[0][:160] if msg else ''})"
        ) from None
    meta: dict[str, Any] = {}
    if isinstance(obj, dict):
        for key in _STATE_KEYS:
            inner = obj.get(key)
            if (
                isinstance(inner, dict)
                and inner
                and all(isinstance(v, torch.Tensor) for v in inner.values())
            ):
                meta = {k: v for k, v in obj.items() if k != key and not _is_tensor_tree(v)}
                obj = inner
                break
    if (
        not isinstance(obj, dict)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        raise ConvzooError(
            f"{path}: does not hold a state dict (a dict of parameter names to tensors), "
            f"nor a checkpoint with one under 'model' or 'state_dict'"
        )
    return obj, meta


def _is_tensor_tree(v: Any) -> bool:
    # Optimizer and scheduler states are not metadata a user reads.
    if isinstance(v, torch.Tensor):
        return True
    if isinstance(v, dict):
        return any(_is_tensor_tree(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return any(_is_tensor_tree(x) for x in v)
    return False


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A state dict from safetensors or a ``.pth``/``.pt`` file (read with ``weights_only``)."""
    return read_checkpoint(path)[0]


def save_state_dict(
    state: dict[str, torch.Tensor], path: str | os.PathLike[str], metadata: dict | None = None
) -> Path:
    """Write a state dict as safetensors through the atomic writer; metadata as JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}
    # safetensors refuses shared storage; clone so tied or viewed tensors save.
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
    io.write_bytes(path, safetensors.torch.save(tensors, metadata=meta))
    return path


# --------------------------------------------------------------------------------------------
# Loading


@dataclass
class LoadReport:
    """What :func:`load_state_dict_into` did."""

    source: str
    loaded: int
    skipped_classifier: list[str] = field(default_factory=list)
    dropped_aux: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"loaded {self.loaded} tensors from {self.source}"]
        if self.skipped_classifier:
            parts.append(
                f"classifier not loaded (other number of classes): {self.skipped_classifier}"
            )
        if self.dropped_aux:
            parts.append(f"ignored {len(self.dropped_aux)} auxiliary-head tensors")
        return "; ".join(parts)


def classifier_modules(model: nn.Module) -> set[str]:
    """Names of the final classifiers: the card's, and the last layers of GoogLeNet's auxiliary
    heads (``aux1``/``aux2``, a Linear with ``num_classes`` outputs)."""
    n = getattr(model, "num_classes", None)
    names = {getattr(model, "classifier_name", "")}
    for name, m in model.named_modules():
        if name.startswith("aux") and isinstance(m, nn.Linear) and m.out_features == n:
            names.add(name)
    names.discard("")
    return names


# The name fine-tuning imported before it was public.
_classifier_modules = classifier_modules


def load_state_dict_into(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    source: str,
    model_name: str,
    *,
    strict: bool = False,
) -> LoadReport:
    """Load ``state`` into ``model``; everything must fit except, possibly, the classifier.

    A classifier whose number of classes differs from the model's is left as initialised, with a
    :class:`WeightsWarning`; auxiliary heads the model does not have (GoogLeNet built with
    ``aux_logits=False``) are ignored, as torchvision does. Any other difference is a
    :class:`ConvzooError` listing the missing and unexpected keys and the shapes that differ;
    nothing is loaded then. ``strict=True`` (a checkpoint of this very network) refuses a
    classifier of another size too.
    """
    own = model.state_dict()
    heads = classifier_modules(model)
    head_keys = {k for k in own if k.rsplit(".", 1)[0] in heads}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    dropped_aux = [k for k in unexpected if k.split(".", 1)[0] in {"aux1", "aux2"}]
    dropped_aux = dropped_aux if not any(k.startswith(("aux1.", "aux2.")) for k in own) else []
    unexpected = [k for k in unexpected if k not in dropped_aux]
    shapes = [
        (k, tuple(state[k].shape), tuple(v.shape))
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    skipped = [k for k, _, _ in shapes if k in head_keys and not strict]
    # The classifier's own keys differ only in the number of classes (first dim).
    bad_shapes = [s for s in shapes if s[0] not in skipped or s[1][1:] != s[2][1:]]
    if missing or unexpected or bad_shapes:
        lines = [f"the weights in {source} do not fit {model_name}:"]
        if missing:
            lines.append(f"missing keys ({len(missing)}): {_short(missing)}")
        if unexpected:
            lines.append(f"unexpected keys ({len(unexpected)}): {_short(unexpected)}")
        if bad_shapes:
            lines.append(
                "shapes that differ (key: file vs model): "
                + _short([f"{k}: {a} vs {b}" for k, a, b in bad_shapes])
            )
        lines.append(
            "Are they weights of another network? `convzoo weights list "
            f"{model_name}` shows the entries that fit."
        )
        raise ConvzooError(" ".join(lines))
    to_load = {k: v for k, v in state.items() if k in own and k not in skipped}
    if skipped:
        # Keep the model's freshly initialised classifier for those keys.
        to_load.update({k: own[k] for k in skipped})
    model.load_state_dict(to_load, strict=True)
    report = LoadReport(source, len(to_load) - len(skipped), skipped, dropped_aux)
    if skipped:
        n_file = next(a for k, a, _ in shapes if k in skipped)[0]
        warnings.warn(
            f"{model_name}: loaded the weights of {source} except the classifier "
            f"({', '.join(sorted({k.rsplit('.', 1)[0] for k in skipped}))}), which has {n_file} "
            f"classes there and {getattr(model, 'num_classes', '?')} here; it stays newly "
            f"initialised: train it (e.g. `convzoo finetune`).",
            WeightsWarning,
            stacklevel=3,
        )
    return report


def _short(items: list[str], n: int = 8) -> str:
    more = f" ... and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def _is_url(source: str) -> bool:
    return "://" in source and source.split("://", 1)[0] in {"http", "https", "file", "ftp"}


def resolve_weights(
    source: str | os.PathLike[str], model_name: str, *, progress: bool = True
) -> tuple[Path, WeightEntry | None]:
    """The local file for ``source`` (an entry name, a path or a URL) and its entry, if any.

    A user's URL is cached under a name computed from the whole URL
    (:func:`convzoo.io.cache.url_cache_path`), never under a name taken from it."""
    s = os.fspath(source)
    if _is_url(s):
        # A user's URL: checked against the hash prefix in its name if it has one (torch.hub's
        # convention), else downloaded unchecked, as torch.hub does.
        known = [e for e in weight_entries(model_name) if e.url == s]
        if known:
            return fetch_weights(known[0], progress=progress), known[0]
        prefix = hash_from_file_name(url_basename(s))
        return fetch(s, url_cache_path(s), prefix, progress=progress), None
    if is_entry_name(s):
        entry = get_weight_entry(model_name, s)
        return fetch_weights(entry, progress=progress), entry
    path = Path(s).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"weights file {s!r} does not exist (nor is it a weight entry of {model_name}; "
            f"`convzoo weights list {model_name}` shows them)"
        )
    return path, None


def _check_requires(model: nn.Module, entry: WeightEntry, model_name: str) -> None:
    for key, value in entry.requires.items():
        have = getattr(model, key, value)
        if have != value:
            raise ConvzooError(
                f"{model_name} weights {entry.name!r} were trained with {key}={value!r}; this "
                f"network has {key}={have!r} (same parameter shapes, different computation). "
                f"Build it with {key}={value!r} to use them."
            )


def load_weights(
    model: nn.Module,
    source: str | os.PathLike[str],
    model_name: str,
    *,
    progress: bool = True,
) -> LoadReport:
    """Load weights into ``model`` from an entry name (``"imagenet"``), a file or a URL.

    The categories and transforms of the weights are kept in ``model.card.extra["weights"]``
    (for :mod:`convzoo.predict`) when the model has a card.
    """
    if is_entry_name(source):
        # An entry name: check what the weights require before fetching them.
        _check_requires(model, get_weight_entry(model_name, os.fspath(source)), model_name)
    path, entry = resolve_weights(source, model_name, progress=progress)
    if entry is not None:
        _check_requires(model, entry, model_name)
    try:
        state, meta = read_checkpoint(path)
    except ConvzooError as err:
        s = os.fspath(source)
        if entry is None and _is_url(s) and path == url_cache_path(s):
            # A user's URL without a hash could not be verified when it came: a transfer cut
            # short is only found now. It is not kept, or every later try would fail the same.
            path.unlink(missing_ok=True)
            raise ConvzooError(
                f"{err} (the download was removed from the cache: try again)"
            ) from None
        raise
    label = f"{model_name} weights {entry.name!r} ({path})" if entry else str(path)
    report = load_state_dict_into(model, state, label, model_name)
    if entry is not None:
        # Settings the weights need that are plain attributes of the network (GoogLeNet's
        # transform_input, as torchvision sets it when it loads these weights).
        for key, value in entry.model_kwargs.items():
            if hasattr(model, key):
                setattr(model, key, value)
    card = getattr(model, "card", None)
    if card is not None:
        info: dict[str, Any] = entry.meta() if entry else {"source": str(source), "file": str(path)}
        if not entry:
            for key in ("categories", "classes", "transforms"):
                if key in meta:
                    info["categories" if key == "classes" else key] = meta[key]
        if info.get("categories") is not None and len(info["categories"]) != getattr(
            model, "num_classes", len(info["categories"])
        ):
            info["categories"] = None  # the classifier was not loaded: its names do not apply
        info["report"] = str(report)
        model.card = dataclasses.replace(card, extra={**card.extra, "weights": info})
    return report


set_weights_loader(load_weights)
