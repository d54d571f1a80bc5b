"""The networks of the zoo, one module a family; importing this package registers them all.

The imports run in the lecture's order, which is the order `list_models()` gives.
"""

# isort: skip_file
from convzoo.models import lenet  # noqa: F401
from convzoo.models import alexnet  # noqa: F401
from convzoo.models import vgg  # noqa: F401
from convzoo.models import googlenet  # noqa: F401
from convzoo.models import resnet  # noqa: F401
from convzoo.models._base import ClassicNet

__all__ = ["ClassicNet"]
