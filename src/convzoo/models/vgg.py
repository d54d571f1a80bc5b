"""VGG: all six configurations of Simonyan & Zisserman, "Very Deep Convolutional Networks for
Large-Scale Image Recognition" (ICLR 2015, arXiv:1409.1556), Table 1.

The layout follows torchvision's ``models/vgg.py``: ``features`` (the convolutional stack built
from a config table), ``avgpool`` (an ``AdaptiveAvgPool2d(7)``, the identity at 224x224) and
``classifier`` (fc 4096 - fc 4096 - fc ``num_classes`` with ReLU and dropout 0.5). Parameter names
are torchvision's, so ``vgg11/13/16/19`` and their ``_bn`` versions load torchvision's state dicts
with ``strict=True``.

Where we differ from the paper, and why:

* The paper evaluates the fully connected layers densely, as convolutions over the whole image;
  like torchvision we pool adaptively to 7x7 and keep the fc layers, so any input of at least
  32x32 gives one prediction (the paper's testing resolution is not fixed either).
* ``_bn`` networks (batch norm after every conv) are torchvision's addition, not the paper's:
  batch norm came later (Ioffe & Szegedy 2015).
* The paper's networks take a mean-subtracted RGB image; like the rest of the zoo we use the
  ImageNet mean/std normalisation of torchvision's weights.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from convzoo.models._base import ClassicNet
from convzoo.registry import register_model

__all__ = ["VGG", "cfgs", "make_layers"]

_PAPER = "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition"

# Table 1 of the paper, one list a column. An int is a 3x3 conv (stride 1, padding 1) with that
# many output channels, "M" a 2x2 max pool with stride 2, "LRN" local response normalisation
# (A-LRN only), and a tuple ``(channels, 1)`` a 1x1 conv (configuration C).
# fmt: off
cfgs: dict[str, list[Any]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M",
          512, 512, (512, 1), "M", 512, 512, (512, 1), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
          512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
# fmt: on


def make_layers(cfg: list[Any], batch_norm: bool = False, in_chans: int = 3) -> nn.Sequential:
    """The convolutional stack of one configuration (torchvision's ``make_layers``).

    The LRN of A-LRN uses AlexNet's constants, as the paper says (Sec. 2.2): k=2, n=5,
    alpha=1e-4, beta=0.75 in Krizhevsky et al.'s formula ``a / (k + alpha * sum a^2)^beta``.
    PyTorch's ``LocalResponseNorm`` divides alpha by n, so it gets ``alpha = 5 * 1e-4``.
    """
    layers: list[nn.Module] = []
    in_channels = in_chans
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        elif v == "LRN":
            layers.append(nn.LocalResponseNorm(size=5, alpha=5 * 1e-4, beta=0.75, k=2.0))
        else:
            out_channels, kernel = v if isinstance(v, tuple) else (v, 3)
            conv = nn.Conv2d(in_channels, out_channels, kernel_size=kernel, padding=kernel // 2)
            if batch_norm:
                layers += [conv, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
            else:
                layers += [conv, nn.ReLU(inplace=True)]
            in_channels = out_channels
    return nn.Sequential(*layers)


class VGG(ClassicNet):
    """A VGG network: ``features`` -> ``avgpool`` (adaptive, 7x7) -> ``classifier``.

    Five 2x2/2 max pools halve the input five times, so the smallest input is 32x32 (the last
    pool sees 2x2); the adaptive pool then brings any map to 7x7.
    """

    min_input_size = 32
    first_conv = "features.0"
    classifier_name = "classifier.6"

    def __init__(
        self,
        features: nn.Sequential,
        num_classes: int = 1000,
        in_chans: int = 3,
        init_weights: bool = True,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            # torchvision's initialisation; the paper initialised the deeper nets from net A
            # (and later with Glorot's scheme), which a reimplementation need not copy.
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward_features(self, x: Tensor) -> Tensor:
        # N x 3 x 224 x 224
        x = self.features(x)
        # N x 512 x 7 x 7 (input / 32)
        return x

    def forward_head(self, x: Tensor) -> Tensor:
        x = self.avgpool(x)
        # N x 512 x 7 x 7
        x = torch.flatten(x, 1)
        # N x 25088
        x = self.classifier(x)
        # N x num_classes
        return x


def _vgg(cfg: str, batch_norm: bool, num_classes: int, in_chans: int, **kwargs: Any) -> VGG:
    features = make_layers(cfgs[cfg], batch_norm=batch_norm, in_chans=in_chans)
    return VGG(features, num_classes=num_classes, in_chans=in_chans, **kwargs)


_COMMON: dict[str, Any] = dict(
    family="vgg",
    paper=_PAPER,
    year=2014,
    input_size=(3, 224, 224),
    **VGG.card_facts(),
)


@register_model(**_COMMON, torchvision_twin="vgg11", notes="configuration A, 11 weight layers")
def vgg11(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> VGG:
    """VGG configuration A (8 conv + 3 fc), 132,863,336 parameters."""
    return _vgg("A", False, num_classes, in_chans, **kwargs)


@register_model(**_COMMON, notes="configuration A-LRN: A with local response norm after conv1")
def vgg11_lrn(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> VGG:
    """VGG configuration A-LRN: A with LRN after the first conv layer (no extra parameters).

    The paper found it does not help (Table 3) and dropped LRN from the deeper nets.
    """
    return _vgg("A-LRN", False, num_classes, in_chans, **kwargs)


@register_model(**_COMMON, torchvision_twin="vgg13", notes="configuration B, 13 weight layers")
def vgg13(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> VGG:
    """VGG configuration B (10 conv + 3 fc), 133,047,848 parameters."""
    return _vgg("B", False, num_classes, in_chans, **kwargs)


@register_model(
    **_COMMON, notes="configuration C: 16 weight layers, the third conv of stages 3-5 is 1x1"
)
def vgg16_c(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> VGG:
    """VGG configuration C: like D, but the last conv of stages 3, 4 and 5 is 1x1.

    133,638,952 parameters; no torchvision twin. The paper found it worse than D (Table 3):
    spatial context from the 3x3 convs matters.
    """
    return _vgg("C", False, num_classes, in_chans, **kwargs)


@register_model(**_COMMON, torchvision_twin="vgg16", notes="configuration D, 16 weight layers")
def vgg16(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> VGG:
    """VGG configuration D (13 conv + 3 fc), the "VGG-16": 138,357,544 parameters."""
    return _vgg("D", False, num_classes, in_chans, **kwargs)


@register_model(**_COMMON, torchvision_twin="vgg19", notes="configuration E, 19 weight layers")
def vgg19(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> VGG:
    """VGG configuration E (16 conv + 3 fc), the "VGG-19": 143,667,240 parameters."""
    return _vgg("E", False, num_classes, in_chans, **kwargs)


@register_model(**_COMMON, torchvision_twin="vgg11_bn", notes="A with batch norm (torchvision)")
def vgg11_bn(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> VGG:
    """VGG configuration A with batch norm after every conv (torchvision's addition)."""
    return _vgg("A", True, num_classes, in_chans, **kwargs)


@register_model(**_COMMON, torchvision_twin="vgg13_bn", notes="B with batch norm (torchvision)")
def vgg13_bn(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> VGG:
    """VGG configuration B with batch norm after every conv (torchvision's addition)."""
    return _vgg("B", True, num_classes, in_chans, **kwargs)


@register_model(**_COMMON, torchvision_twin="vgg16_bn", notes="D with batch norm (torchvision)")
def vgg16_bn(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> VGG:
    """VGG configuration D with batch norm after every conv (torchvision's addition)."""
    return _vgg("D", True, num_classes, in_chans, **kwargs)


@register_model(**_COMMON, torchvision_twin="vgg19_bn", notes="E with batch norm (torchvision)")
def vgg19_bn(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> VGG:
    """VGG configuration E with batch norm after every conv (torchvision's addition)."""
    return _vgg("E", True, num_classes, in_chans, **kwargs)
