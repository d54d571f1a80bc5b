"""The networks of the zoo, one module a family; importing this package registers them all."""

from convzoo.models import alexnet, googlenet, lenet, resnet, vgg  # noqa: F401
from convzoo.models._base import ClassicNet

__all__ = ["ClassicNet"]
