"""AlexNet: the lecture's one-tower network, the 2012 paper's two towers, torchvision's variant.

A. Krizhevsky, I. Sutskever and G. E. Hinton, "ImageNet classification with deep convolutional
neural networks", NIPS 2012 (``alexnet_2012``; the lecture's ``alexnet`` is its one-tower form).
A. Krizhevsky, "One weird trick for parallelizing convolutional neural networks",
arXiv:1404.5997, 2014 (``alexnet_owt``, torchvision's ``alexnet``).

All three share one class, built from a config table like torchvision's VGG; the parts are named
``features``, ``avgpool`` and ``classifier`` as in torchvision, so ``alexnet_owt`` loads
torchvision's state dict with ``strict=True``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from convzoo.models._base import ClassicNet
from convzoo.registry import IMAGENET_MEAN, register_model

__all__ = ["AlexNet", "Conv", "TowerLRN", "alexnet", "alexnet_2012", "alexnet_owt", "cfgs"]

_PAPER_2012 = (
    "Krizhevsky, Sutskever, Hinton: ImageNet classification with deep convolutional neural "
    "networks (NIPS 2012)"
)
_PAPER_OWT = (
    "Krizhevsky: One weird trick for parallelizing convolutional neural networks "
    "(arXiv:1404.5997, 2014)"
)


class Conv(NamedTuple):
    """One conv layer of a config: output maps, kernel, stride, padding, groups (towers)."""

    out: int
    kernel: int
    stride: int = 1
    padding: int = 0
    groups: int = 1


# The config tables. A Conv is followed by a ReLU; "L" is local response normalisation (per
# tower), "M" an overlapping 3x3/2 max pool. The output sizes are for the default input.
cfgs: dict[str, list[Conv | str]] = {
    # The lecture's table, 227x227 input: one tower, no LRN.
    "lecture": [
        Conv(96, 11, 4, 0), "M",  # 55x55x96 -> 27x27x96
        Conv(256, 5, 1, 2), "M",  # 27x27x256 -> 13x13x256
        Conv(384, 3, 1, 1), Conv(384, 3, 1, 1), Conv(256, 3, 1, 1), "M",  # 13x13 -> 6x6x256
    ],
    # The 2012 paper, 227x227 input: two towers (conv2, conv4, conv5 see only their own tower's
    # maps; conv3 sees both), LRN after the ReLUs of conv1 and conv2, before their pools.
    "2012": [
        Conv(96, 11, 4, 0), "L", "M",
        Conv(256, 5, 1, 2, groups=2), "L", "M",
        Conv(384, 3, 1, 1), Conv(384, 3, 1, 1, groups=2), Conv(256, 3, 1, 1, groups=2), "M",
    ],
    # torchvision's alexnet ("one weird trick"), 224x224 input: one tower, 64-192-384-256-256.
    "owt": [
        Conv(64, 11, 4, 2), "M",
        Conv(192, 5, 1, 2), "M",
        Conv(384, 3, 1, 1), Conv(256, 3, 1, 1), Conv(256, 3, 1, 1), "M",
    ],
}  # fmt: skip


class TowerLRN(nn.Module):
    """Local response normalisation as in the 2012 paper (section 3.3), within each tower.

    ``b[i] = a[i] / (k + alpha * sum_{j=i-n/2}^{i+n/2} a[j]^2) ** beta`` over the maps of the
    same tower, with k=2, n=5, alpha=1e-4, beta=0.75.

    ``torch.nn.LocalResponseNorm`` divides ``alpha`` by ``n`` (Caffe's convention); the paper
    does not, so we pass it ``alpha * n`` to get the paper's formula. On two GPUs each tower
    normalised its own 48 maps (cuda-convnet's per-GPU response-norm layers), so the sum never
    crosses from one tower into the other; ``groups=1`` gives one-tower LRN.
    """

    def __init__(
        self,
        size: int = 5,
        alpha: float = 1e-4,
        beta: float = 0.75,
        k: float = 2.0,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k, self.groups = size, alpha, beta, k, groups

    def forward(self, x: Tensor) -> Tensor:
        # Functional, without a child module, so that a per-module trace shows one layer.
        def lrn(t: Tensor) -> Tensor:
            return F.local_response_norm(t, self.size, self.alpha * self.size, self.beta, self.k)

        if self.groups == 1:
            return lrn(x)
        # Indexed rather than iterated: torch.fx can index the chunks of a traced tensor.
        towers = x.chunk(self.groups, dim=1)
        return torch.cat([lrn(towers[i]) for i in range(self.groups)], dim=1)

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, alpha={self.alpha} (paper's, not divided by size), "
            f"beta={self.beta}, k={self.k}, groups={self.groups}"
        )


def min_input_side(cfg: list[Conv | str]) -> int:
    """The smallest input side a config accepts: walk the layers back from a 1x1 output of the
    last pool, each asking ``(out - 1) * stride + kernel - 2 * padding`` of its input.

    67 for the lecture's and the paper's configs (no padding in conv1), 63 for "owt" (padding
    2); tests/test_models_registry.py checks that one pixel less fails inside the raw layers.
    """
    side = 1
    for v in reversed(cfg):
        if v == "M":  # 3x3, stride 2, no padding
            side = (side - 1) * 2 + 3
        elif isinstance(v, Conv):
            side = (side - 1) * v.stride + v.kernel - 2 * v.padding
    return side


def make_features(cfg: list[Conv | str], in_chans: int, lrn_groups: int = 1) -> nn.Sequential:
    """The convolutional part from a config table (indices match torchvision's for "owt")."""
    layers: list[nn.Module] = []
    channels = in_chans
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
        elif v == "L":
            layers.append(TowerLRN(size=5, alpha=1e-4, beta=0.75, k=2.0, groups=lrn_groups))
        else:
            assert isinstance(v, Conv)
            layers.append(
                nn.Conv2d(channels, v.out, v.kernel, v.stride, v.padding, groups=v.groups)
            )
            layers.append(nn.ReLU(inplace=True))
            channels = v.out
    return nn.Sequential(*layers)


class AlexNet(ClassicNet):
    """AlexNet from a config table: ``features`` (convs and pools), ``avgpool``, ``classifier``.

    ``avgpool`` is ``AdaptiveAvgPool2d(6)``: an identity at the default input size, where the
    last pool already gives 6x6 maps, and a way to run other sizes as torchvision does.

    ``dropout_after_relu`` places the dropouts as the paper does, on the outputs of fc6 and fc7;
    otherwise as torchvision does, on the inputs of fc6 and fc7. Both give ``classifier.6`` as
    the last layer and the same parameter names.
    """

    def __init__(
        self,
        cfg: list[Conv | str],
        num_classes: int = 1000,
        in_chans: int = 3,
        dropout: float = 0.5,
        dropout_after_relu: bool = False,
        lrn_groups: int = 1,
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.min_input_size = min_input_side(cfg)
        self.features = make_features(cfg, in_chans, lrn_groups)
        last = [v for v in cfg if isinstance(v, Conv)][-1].out
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        if dropout_after_relu:  # the paper: fc6 -> ReLU -> dropout -> fc7 -> ReLU -> dropout
            head = [
                nn.Linear(last * 6 * 6, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
                nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            ]  # fmt: skip
        else:  # torchvision: dropout -> fc6 -> ReLU -> dropout -> fc7 -> ReLU
            head = [
                nn.Dropout(p=dropout), nn.Linear(last * 6 * 6, 4096), nn.ReLU(inplace=True),
                nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            ]  # fmt: skip
        self.classifier = nn.Sequential(*head, nn.Linear(4096, num_classes))

    first_conv = "features.0"
    classifier_name = "classifier.6"

    @classmethod
    def card_facts_for(cls, cfg: list[Conv | str]) -> dict[str, Any]:
        """:meth:`card_facts` for a network built from ``cfg`` (its smallest input depends on
        the config)."""
        return {
            "min_input_size": min_input_side(cfg),
            "first_conv": cls.first_conv,
            "classifier": cls.classifier_name,
        }

    def forward_features(self, x: Tensor) -> Tensor:
        # lecture / 2012 at 227 (owt at 224 with 64, 192, 384, 256, 256 maps):
        # conv1 N x 96 x 55 x 55 -> pool1 N x 96 x 27 x 27 -> conv2 N x 256 x 27 x 27
        # -> pool2 N x 256 x 13 x 13 -> conv3 N x 384 x 13 x 13 -> conv4 N x 384 x 13 x 13
        # -> conv5 N x 256 x 13 x 13 -> pool5 N x 256 x 6 x 6
        return self.features(x)

    def forward_head(self, x: Tensor) -> Tensor:
        x = self.avgpool(x)  # N x 256 x 6 x 6 (identity at the default size)
        x = torch.flatten(x, 1)  # N x 9216
        return self.classifier(x)  # fc6 N x 4096 -> fc7 N x 4096 -> fc8 N x num_classes

    def init_paper_(self) -> None:
        """The 2012 paper's initialisation (section 5): weights from N(0, 0.01); biases 1 in
        conv2, conv4, conv5 and the hidden fully-connected layers (to give the ReLUs positive
        inputs early on), 0 elsewhere."""
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        fcs = [m for m in self.classifier if isinstance(m, nn.Linear)]
        ones = {id(convs[1]), id(convs[3]), id(convs[4]), id(fcs[0]), id(fcs[1])}
        layers: list[nn.Conv2d | nn.Linear] = [*convs, *fcs]
        for m in layers:
            nn.init.normal_(m.weight, mean=0.0, std=0.01)
            assert m.bias is not None  # every layer of AlexNet has a bias
            nn.init.constant_(m.bias, 1.0 if id(m) in ones else 0.0)


@register_model(
    family="alexnet",
    paper=_PAPER_2012 + " -- one tower, as in the lecture",
    year=2012,
    input_size=(3, 227, 227),
    **AlexNet.card_facts_for(cfgs["lecture"]),
    notes="The lecture's table: one tower, 96-256-384-384-256, no LRN; 62,378,344 params.",
)
def alexnet(*, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> AlexNet:
    """AlexNet as in the lecture's table: the 2012 network with its two towers merged into one.

    Where it differs from the paper (see :func:`alexnet_2012`): every conv sees all the maps of
    the layer below (no groups), so conv2, conv4 and conv5 have twice the paper's weights
    (62,378,344 parameters against 60,965,224), and there is no local response normalisation.
    The input is 227x227, the size that gives conv1 its 55x55 maps. Dropout and initialisation
    follow torchvision (dropout before fc6 and fc7; PyTorch's default init).
    """
    return AlexNet(cfgs["lecture"], num_classes, in_chans, dropout)


@register_model(
    family="alexnet",
    paper=_PAPER_2012,
    year=2012,
    input_size=(3, 227, 227),
    **AlexNet.card_facts_for(cfgs["2012"]),
    mean=IMAGENET_MEAN,
    std=(1 / 255, 1 / 255, 1 / 255),
    notes=(
        "The paper's two towers (groups=2 in conv2, conv4, conv5), per-tower LRN after conv1 and "
        "conv2, the paper's init; 60,965,224 params. mean/std: the paper only subtracts the "
        "mean, from 0-255 pixels."
    ),
)
def alexnet_2012(
    *,
    num_classes: int = 1000,
    in_chans: int = 3,
    dropout: float = 0.5,
    paper_init: bool = True,
) -> AlexNet:
    """AlexNet as Krizhevsky, Sutskever and Hinton built it (NIPS 2012, Fig. 2 and section 3).

    - Two towers, one a GPU: conv2, conv4 and conv5 see only the maps of their own tower
      (``groups=2``); conv3 and the fully-connected layers see both. 60,965,224 parameters.
    - ReLU after every layer; local response normalisation (k=2, n=5, alpha=1e-4, beta=0.75)
      after the ReLUs of conv1 and conv2, within each tower and with the paper's alpha (torch's
      ``LocalResponseNorm`` divides alpha by n; :class:`TowerLRN` undoes that).
    - Overlapping max pools (3x3, stride 2) after the two LRNs and after conv5.
    - Dropout 0.5 on the outputs of fc6 and fc7; the paper's initialisation
      (``paper_init=False`` keeps PyTorch's default).

    Where we differ and why:

    - The input is 227x227: the paper says 224x224, but with an 11x11 stride-4 conv and no
      padding only 227 gives the 55x55 maps of its Fig. 2 ((227 - 11) / 4 + 1 = 55).
    - The card's mean/std subtract ImageNet's per-channel mean and scale ToTensor's [0, 1] back
      to the paper's 0-255 pixels; the paper subtracted the mean image, not a mean per channel.
    - ``AdaptiveAvgPool2d(6)`` after pool5 (an identity at 227) lets other sizes run.
    """
    model = AlexNet(
        cfgs["2012"],
        num_classes,
        in_chans,
        dropout,
        dropout_after_relu=True,
        lrn_groups=2,
    )
    if paper_init:
        model.init_paper_()
    return model


@register_model(
    family="alexnet",
    paper=_PAPER_OWT,
    year=2014,
    input_size=(3, 224, 224),
    **AlexNet.card_facts_for(cfgs["owt"]),
    torchvision_twin="alexnet",
    notes="torchvision's alexnet (64-192-384-256-256, no LRN); loads its state dict strictly.",
)
def alexnet_owt(*, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> AlexNet:
    """torchvision's AlexNet, from "One weird trick" (Krizhevsky 2014): 61,100,840 parameters.

    One tower with 64, 192, 384, 256, 256 maps, padding 2 in conv1 (224x224 input gives 55x55),
    no LRN, dropout before fc6 and fc7. Parameter names are torchvision's, so its ``alexnet``
    state dict loads with ``strict=True``. It differs from the 2012 network in its channel
    counts (the paper's towers halved and regrouped), its lack of LRN and its padding.
    """
    return AlexNet(cfgs["owt"], num_classes, in_chans, dropout)
