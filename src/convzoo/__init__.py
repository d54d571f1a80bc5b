"""convzoo: classic ConvNets, faithful to their papers, checked layer by layer."""

# isort: skip_file
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

# The registry imports no network and no weights (torchvision's `_api.py` shape): importing the
# weights module imports the networks (they register themselves) and registers the loader that
# create_model(weights=...) uses.
import convzoo.weights  # noqa: F401

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
