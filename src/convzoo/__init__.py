"""convzoo: classic ConvNets, faithful to their papers, checked layer by layer."""

from convzoo.errors import ConvzooError, UnknownModelError
from convzoo.registry import (
    ModelCard,
    count_parameters,
    create_model,
    list_models,
    model_card,
    parameter_count,
    register_model,
)
from convzoo.version import __version__

__all__ = [
    "ConvzooError",
    "__version__",
    "ModelCard",
    "UnknownModelError",
    "count_parameters",
    "create_model",
    "list_models",
    "model_card",
    "parameter_count",
    "register_model",
]


def __getattr__(name: str):
    # Heavier parts load on first use, so `import convzoo` stays quick.
    if name == "summarize":
        from convzoo.inspect import summarize

        return summarize
    if name == "optimize":
        from convzoo.optimize import optimize

        return optimize
    raise AttributeError(f"module 'convzoo' has no attribute {name!r}")
