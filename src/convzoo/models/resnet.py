"""ResNet: He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition" (CVPR 2016,
arXiv:1512.03385), Table 1: ResNet-18, -34 (basic blocks) and -50, -101, -152 (bottlenecks).

The layout and parameter names are torchvision's ``models/resnet.py`` (``conv1``, ``bn1``,
``layer1..4``, ``avgpool``, ``fc``; blocks with ``expansion``; projection shortcuts, option B of
the paper, in ``downsample``), so torchvision's state dicts load with ``strict=True``.

Where we differ from the paper, and why:

* By default the bottleneck puts its stride in the 3x3 conv (``conv2``): "ResNet v1.5", as in
  torchvision and its weights; it is slightly more accurate. ``variant="v1"`` builds the paper's
  network, where the first 1x1 conv (``conv1``) of the first block of a stage has stride 2.
  Both variants have the same parameters (and names), only the place of the stride differs.
  For ResNet-18/34 (basic blocks) the two are the same network.
* The paper says nothing of zero-initialising the last BN of each residual branch; torchvision's
  ``zero_init_residual`` (Goyal et al. 2017) is offered, off by default.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from convzoo.errors import ConvzooError
from convzoo.models._base import ClassicNet
from convzoo.registry import register_model

__all__ = ["BasicBlock", "Bottleneck", "ResNet"]

_PAPER = "He, Zhang, Ren & Sun, Deep Residual Learning for Image Recognition"
_VARIANTS = ("v1.5", "v1")


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding, no bias (a batch norm follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias (a batch norm follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs and a shortcut (the paper's Figure 5, left); ResNet-18 and -34."""

    expansion: int = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        del stride_in_1x1  # no 1x1 conv here: v1 and v1.5 are the same block
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) and a shortcut (Figure 5, right); ResNet-50/101/152.

    ``stride_in_1x1=False`` (v1.5, torchvision) strides in the 3x3 conv; ``True`` (v1, the
    paper and its Caffe models) in the first 1x1 conv, which then skips 3 of 4 positions.
    """

    expansion: int = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = conv1x1(inplanes, planes, stride_1x1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride_3x3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(ClassicNet):
    """A ResNet: 7x7/2 stem, 3x3/2 max pool, four stages of residual blocks, global average pool
    and a linear classifier.

    Every stride-2 layer pads, so any input of at least 1x1 runs through (the maps just bottom out
    at 1x1); batch norm in training mode still needs more than one value per channel, i.e. a
    batch of 2 or more where the last stage's map is 1x1.
    """

    min_input_size = 1
    first_conv = "conv1"
    classifier_name = "fc"

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: list[int],
        num_classes: int = 1000,
        in_chans: int = 3,
        zero_init_residual: bool = False,
        variant: str = "v1.5",
    ) -> None:
        super().__init__()
        if variant not in _VARIANTS:
            raise ConvzooError(
                f"variant must be one of {', '.join(map(repr, _VARIANTS))} (v1.5: stride in the "
                f"bottleneck's 3x3 conv, as torchvision; v1: in its first 1x1, as the paper); "
                f"got {variant!r}"
            )
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.variant = variant
        self._stride_in_1x1 = variant == "v1"
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            # Each residual branch then starts at zero and each block as an identity.
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(
        self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int, stride: int = 1
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            # Projection shortcut (the paper's option B) where the shape changes.
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [
            block(self.inplanes, planes, stride, downsample, stride_in_1x1=self._stride_in_1x1)
        ]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_features(self, x: Tensor) -> Tensor:
        # N x 3 x 224 x 224
        x = self.relu(self.bn1(self.conv1(x)))
        # N x 64 x 112 x 112
        x = self.maxpool(x)
        # N x 64 x 56 x 56
        x = self.layer1(x)
        # N x 64 (basic) or 256 (bottleneck) x 56 x 56
        x = self.layer2(x)
        # N x 128 or 512 x 28 x 28
        x = self.layer3(x)
        # N x 256 or 1024 x 14 x 14
        x = self.layer4(x)
        # N x 512 or 2048 x 7 x 7
        return x

    def forward_head(self, x: Tensor) -> Tensor:
        x = self.avgpool(x)
        # N x 512 or 2048 x 1 x 1
        x = torch.flatten(x, 1)
        x = self.fc(x)
        # N x num_classes
        return x


_COMMON: dict[str, Any] = dict(
    family="resnet",
    paper=_PAPER,
    year=2015,
    input_size=(3, 224, 224),
    **ResNet.card_facts(),
)


def _resnet(
    block: type[BasicBlock | Bottleneck],
    layers: list[int],
    num_classes: int,
    in_chans: int,
    **kwargs: Any,
) -> ResNet:
    return ResNet(block, layers, num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model(**_COMMON, torchvision_twin="resnet18", notes="basic blocks [2, 2, 2, 2]")
def resnet18(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """ResNet-18: basic blocks, layers [2, 2, 2, 2]; 11,689,512 parameters."""
    return _resnet(BasicBlock, [2, 2, 2, 2], num_classes, in_chans, **kwargs)


@register_model(**_COMMON, torchvision_twin="resnet34", notes="basic blocks [3, 4, 6, 3]")
def resnet34(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """ResNet-34: basic blocks, layers [3, 4, 6, 3]; 21,797,672 parameters."""
    return _resnet(BasicBlock, [3, 4, 6, 3], num_classes, in_chans, **kwargs)


@register_model(
    **_COMMON, torchvision_twin="resnet50", notes="bottlenecks [3, 4, 6, 3]; variant='v1' option"
)
def resnet50(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """ResNet-50: bottlenecks, layers [3, 4, 6, 3]; 25,557,032 parameters.

    ``variant="v1"`` puts the stride in the first 1x1 conv, as the paper.
    """
    return _resnet(Bottleneck, [3, 4, 6, 3], num_classes, in_chans, **kwargs)


@register_model(
    **_COMMON, torchvision_twin="resnet101", notes="bottlenecks [3, 4, 23, 3]; variant='v1' option"
)
def resnet101(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """ResNet-101: bottlenecks, layers [3, 4, 23, 3]; 44,549,160 parameters."""
    return _resnet(Bottleneck, [3, 4, 23, 3], num_classes, in_chans, **kwargs)


@register_model(
    **_COMMON, torchvision_twin="resnet152", notes="bottlenecks [3, 8, 36, 3]; variant='v1' option"
)
def resnet152(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> ResNet:
    """ResNet-152: bottlenecks, layers [3, 8, 36, 3]; 60,192,808 parameters."""
    return _resnet(Bottleneck, [3, 8, 36, 3], num_classes, in_chans, **kwargs)
