"""convzoo: classic ConvNets, faithful to their papers, checked layer by layer.

The public face is lazy (PEP 562): ``import convzoo`` imports nothing but the version, and each
name below is imported on first access. The registry's names need torch, and ``convzoo --help``
must answer without it (the CLI package is a submodule, so importing it runs this file first).

Getting a registry name (``convzoo.create_model``, ``from convzoo import list_models``) also
imports :mod:`convzoo.weights`, which imports the networks (they register themselves) and
registers the loader that ``create_model(..., weights=...)`` uses, the way torchvision's
``models/__init__.py`` imports its model files. The registry itself imports neither.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from convzoo.version import __version__

if TYPE_CHECKING:  # what the lazy names are, for mypy and editors; nothing runs here
    from convzoo.errors import ConvzooError, UnknownModelError
    from convzoo.inspect import summarize
    from convzoo.optimize import optimize
    from convzoo.registry import (
        ModelCard,
        count_parameters,
        create_model,
        list_models,
        model_card,
        parameter_count,
        register_model,
    )

# Each lazy name and the module that defines it.
_LAZY: dict[str, str] = {
    "ConvzooError": "convzoo.errors",
    "UnknownModelError": "convzoo.errors",
    "ModelCard": "convzoo.registry",
    "count_parameters": "convzoo.registry",
    "create_model": "convzoo.registry",
    "list_models": "convzoo.registry",
    "model_card": "convzoo.registry",
    "parameter_count": "convzoo.registry",
    "register_model": "convzoo.registry",
    "summarize": "convzoo.inspect",
    "optimize": "convzoo.optimize",
}

__all__ = [
    "ConvzooError",
    "ModelCard",
    "UnknownModelError",
    "__version__",
    "count_parameters",
    "create_model",
    "list_models",
    "model_card",
    "optimize",
    "parameter_count",
    "register_model",
    "summarize",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'convzoo' has no attribute {name!r}")
    if module_name == "convzoo.registry":
        # The networks and the weights loader register themselves when this is imported; a
        # bare registry would list no model.
        importlib.import_module("convzoo.weights")
    value = getattr(importlib.import_module(module_name), name)
    if f"convzoo.{name}" != module_name:
        # Cached, so the next access is a plain attribute. Not `optimize`: that is also a
        # submodule, which the import system binds here once it is imported, and
        # `import convzoo.optimize as m` must keep giving the module.
        globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
