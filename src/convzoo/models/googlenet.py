"""GoogLeNet: Szegedy et al., "Going Deeper with Convolutions" (CVPR 2015, arXiv:1409.4842).

Three networks:

* ``googlenet``: the paper's network (Table 1 and Figure 3; Caffe's ``bvlc_googlenet``): a stem
  of conv 7x7/2 (64), max pool 3x3/2, LRN, conv 1x1 (64), conv 3x3 (192), LRN, max pool 3x3/2;
  nine inception modules with dimension reduction (Figure 2b) and TRUE 5x5 convolutions in the
  third branch; max pools 3x3/2 between stages; average pool (7x7 at 224, here adaptive);
  dropout 0.4; a linear classifier. No batch norm. Two auxiliary classifiers (after 4a and 4d:
  average pool 5x5/3, conv 1x1 128, fc 1024, dropout 0.7, linear) whose logits are returned in
  training mode, as ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)``, and skipped in
  eval mode.
* ``googlenet_naive``: the same network built of naive inception modules (Figure 2a): 1x1, 3x3
  and 5x5 convs straight on the input and a 3x3 max pool that passes every input channel on.
  Without the pool projection the output of each module is wider than its input, so the widths
  grow from module to module (192 -> 416 -> 832 -> ... -> 4944 at 5b) and with them the cost
  of every 3x3 and 5x5 conv: the very blow-up that made the paper add the 1x1 reductions.
* ``googlenet_tv``: torchvision's layout (``BasicConv2d`` = conv without bias + batch norm +
  ReLU, a 3x3 conv in the "5x5" branch, a 2x2 max pool before stage 5, no LRN, dropout 0.2,
  adaptive aux pools, ``transform_input``), parameter for parameter, so torchvision's
  ``googlenet`` state dict loads with ``strict=True``.

The widths of every inception module come from one table, ``inception_cfgs``, copied from the
paper's Table 1. Parameter names follow torchvision's (``conv1``, ``inception3a.branch2.1``,
``aux1.fc2``, ``fc``) wherever the network has the same part.

Where ``googlenet`` differs from the paper, and why:

* The final 7x7 average pool is adaptive (the identity of the paper's at 224x224), so other
  input sizes work.
* The auxiliary heads pool 5x5/3 as the paper whenever the map is at least 5x5 and then pool
  adaptively to 4x4 (the identity at 224, where the 14x14 map pools to 4x4), so that their
  ``fc1`` (128*4*4 -> 1024) fits any input size.
* The LRN uses the constants of Caffe's ``bvlc_googlenet`` (n=5, alpha=1e-4, beta=0.75, k=1);
  Caffe, like PyTorch, divides alpha by n, so the same numbers apply.
* Initialisation: He et al. (2015) for convs, N(0, 0.01) for linears; the paper trained with
  DistBelief and does not state its initialisation.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from torch import Tensor, nn

from convzoo.errors import ConvzooError
from convzoo.models._base import ClassicNet
from convzoo.registry import register_model

__all__ = [
    "GoogLeNet",
    "GoogLeNetNaive",
    "GoogLeNetOutputs",
    "GoogLeNetTV",
    "Inception",
    "InceptionAux",
    "InceptionNaive",
    "inception_cfgs",
]

_PAPER = "Szegedy et al., Going Deeper with Convolutions"

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])
GoogLeNetOutputs.__doc__ = """Outputs in training mode with auxiliary heads (torchvision's order):
main logits, logits of the head after 4d, logits of the head after 4a."""

# Table 1 of the paper: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
inception_cfgs: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
# Where the max pools 3x3/2 sit between the modules, and where the auxiliary heads branch off.
_POOL_AFTER = ("3b", "4e")
_AUX_AFTER = {"4a": "aux1", "4d": "aux2"}


class ConvReLU(nn.Module):
    """A convolution (with bias) and a ReLU: the paper's conv layer ("all convolutions, including
    those inside the Inception modules, use rectified linear activation")."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs: Any) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.conv(x), inplace=True)


class BasicConv2d(nn.Module):
    """torchvision's conv block: conv without bias, batch norm (eps 0.001), ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs: Any) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
    """Inception module with dimension reduction (the paper's Figure 2b).

    Four branches concatenated along the channels: 1x1; 1x1 reduce then 3x3; 1x1 reduce then
    5x5 (``ch5x5_kernel=3`` gives torchvision's 3x3 instead, see pytorch/vision#906); 3x3 max
    pool then 1x1 projection. Output channels: ``ch1x1 + ch3x3 + ch5x5 + pool_proj``.
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        conv_block: type[nn.Module] = ConvReLU,
        ch5x5_kernel: int = 5,
    ) -> None:
        super().__init__()
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        self.branch1 = conv_block(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            conv_block(in_channels, ch3x3red, kernel_size=1),
            conv_block(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            conv_block(in_channels, ch5x5red, kernel_size=1),
            conv_block(ch5x5red, ch5x5, kernel_size=ch5x5_kernel, padding=ch5x5_kernel // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            conv_block(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        # Every branch keeps the spatial size: N x C_i x H x W, concatenated on channels.
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(branches, 1)


class InceptionNaive(nn.Module):
    """Naive inception module (the paper's Figure 2a): 1x1, 3x3 and 5x5 convs and a 3x3 max pool,
    all on the input, concatenated.

    The pool branch has no projection, so it passes all ``in_channels`` on and the module's
    output (``ch1x1 + ch3x3 + ch5x5 + in_channels``) is always wider than its input.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3: int, ch5x5: int) -> None:
        super().__init__()
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + in_channels
        self.branch1 = ConvReLU(in_channels, ch1x1, kernel_size=1)
        self.branch2 = ConvReLU(in_channels, ch3x3, kernel_size=3, padding=1)
        self.branch3 = ConvReLU(in_channels, ch5x5, kernel_size=5, padding=2)
        self.branch4 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True)

    def forward(self, x: Tensor) -> Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(branches, 1)


def paper_aux_pool(x: Tensor) -> Tensor:
    """The paper's 5x5/3 average pool where the map is at least 5x5, then adaptive to 4x4.

    Wrapped for ``torch.fx`` (a single call in a traced graph): the choice depends on the
    map's size, which a symbolic trace does not know."""
    if min(x.shape[-2:]) >= 5:
        x = F.avg_pool2d(x, kernel_size=5, stride=3)
    return F.adaptive_avg_pool2d(x, (4, 4))


torch.fx.wrap("paper_aux_pool")


class InceptionAux(nn.Module):
    """Auxiliary classifier: average pool, conv 1x1 (128), fc 1024, ReLU, dropout, linear.

    ``paper_pool=True``: the paper's 5x5/3 average pool (14x14 -> 4x4 at 224) where the map is
    at least 5x5, then an adaptive pool to 4x4 (the identity at 224) so that ``fc1`` fits any
    input. ``paper_pool=False``: torchvision's adaptive pool to 4x4 alone.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        conv_block: type[nn.Module] = ConvReLU,
        dropout: float = 0.7,
        paper_pool: bool = True,
    ) -> None:
        super().__init__()
        self.paper_pool = paper_pool
        self.conv = conv_block(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: Tensor) -> Tensor:
        # aux1: N x 512 x 14 x 14, aux2: N x 528 x 14 x 14 (naive: 1280 and 2640 channels)
        x = paper_aux_pool(x) if self.paper_pool else F.adaptive_avg_pool2d(x, (4, 4))
        # N x C x 4 x 4
        x = self.conv(x)
        # N x 128 x 4 x 4
        x = torch.flatten(x, 1)
        # N x 2048
        x = F.relu(self.fc1(x), inplace=True)
        # N x 1024
        x = self.dropout(x)
        x = self.fc2(x)
        # N x num_classes
        return x


class _GoogLeNetBase(ClassicNet):
    """What the three networks share: the nine inception modules of Table 1 with their pools and
    auxiliary heads, the trunk that runs them, and the global average pool, dropout and ``fc``.

    A subclass builds its own stem (``conv1`` ... ``maxpool2``, 192 maps at a quarter of the
    input side), runs it in :meth:`_stem`, then calls :meth:`_build_inceptions_and_head`.
    """

    classifier_name = "fc"
    first_conv = "conv1.conv"
    inception3a: nn.Module
    inception3b: nn.Module
    inception4a: nn.Module
    inception4b: nn.Module
    inception4c: nn.Module
    inception4d: nn.Module
    inception4e: nn.Module
    inception5a: nn.Module
    inception5b: nn.Module
    aux1: InceptionAux | None
    aux2: InceptionAux | None

    def __init__(self, num_classes: int, in_chans: int, aux_logits: bool) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.aux_logits = aux_logits

    def _make_inception(
        self, in_channels: int, cfg: tuple[int, int, int, int, int, int]
    ) -> Inception | InceptionNaive:
        raise NotImplementedError

    def _build_inceptions_and_head(
        self,
        *,
        pool_before_stage5: nn.MaxPool2d,
        aux_block: type[nn.Module],
        aux_paper_pool: bool,
        dropout: float,
        dropout_aux: float,
    ) -> None:
        in_channels = 192  # the stem's output
        blocks: dict[str, Inception | InceptionNaive] = {}
        for stage, cfg in inception_cfgs.items():
            blocks[stage] = self._make_inception(in_channels, cfg)
            setattr(self, f"inception{stage}", blocks[stage])
            in_channels = blocks[stage].out_channels
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.maxpool4 = pool_before_stage5
        self.aux1 = self.aux2 = None
        if self.aux_logits:
            self.aux1, self.aux2 = (
                InceptionAux(
                    blocks[stage].out_channels,
                    self.num_classes,
                    conv_block=aux_block,
                    dropout=dropout_aux,
                    paper_pool=aux_paper_pool,
                )
                for stage in _AUX_AFTER
            )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(in_channels, self.num_classes)

    def _stem(self, x: Tensor) -> Tensor:
        """``conv1`` ... ``maxpool2``: N x 3 x 224 x 224 -> N x 192 x 28 x 28."""
        raise NotImplementedError

    def _trunk(self, x: Tensor, with_aux: bool) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Feature maps before the pool, and the aux logits (after 4d, after 4a) if asked."""
        x = self._stem(x)
        # N x 192 x 28 x 28
        x = self.inception3a(x)
        # N x 256 x 28 x 28 (naive: 416)
        x = self.inception3b(x)
        # N x 480 x 28 x 28 (naive: 832)
        x = self.maxpool3(x)
        # N x 480 x 14 x 14
        x = self.inception4a(x)
        # N x 512 x 14 x 14 (naive: 1280)
        aux1 = self.aux1(x) if with_aux and self.aux1 is not None else None
        x = self.inception4b(x)
        # N x 512 x 14 x 14
        x = self.inception4c(x)
        # N x 512 x 14 x 14
        x = self.inception4d(x)
        # N x 528 x 14 x 14 (naive: 2640)
        aux2 = self.aux2(x) if with_aux and self.aux2 is not None else None
        x = self.inception4e(x)
        # N x 832 x 14 x 14
        x = self.maxpool4(x)
        # N x 832 x 7 x 7
        x = self.inception5a(x)
        # N x 832 x 7 x 7
        x = self.inception5b(x)
        # N x 1024 x 7 x 7 (naive: 4944)
        return x, aux2, aux1

    def forward_features(self, x: Tensor) -> Tensor:
        return self._trunk(x, with_aux=False)[0]

    def forward_head(self, x: Tensor) -> Tensor:
        x = self.avgpool(x)
        # N x 1024 x 1 x 1 (naive: 4944)
        x = torch.flatten(x, 1)
        x = self.dropout(x)
        x = self.fc(x)
        # N x num_classes
        return x

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:  # type: ignore[override]
        """Logits; in training mode with auxiliary heads, ``GoogLeNetOutputs``."""
        self.check_input(x)
        with_aux = self.training and self.aux_logits
        features, aux2, aux1 = self._trunk(x, with_aux=with_aux)
        logits = self.forward_head(features)
        if with_aux:
            return GoogLeNetOutputs(logits, aux2, aux1)
        return logits

    def reset_classifier(self, num_classes: int) -> None:
        """Replace ``fc`` and, where there are auxiliary heads, their last layers too."""
        super().reset_classifier(num_classes)
        for aux in (self.aux1, self.aux2):
            if aux is not None:
                old = aux.fc2
                aux.fc2 = nn.Linear(old.in_features, num_classes).to(
                    device=old.weight.device, dtype=old.weight.dtype
                )


class GoogLeNet(_GoogLeNetBase):
    """The paper's GoogLeNet (Table 1), inception modules with dimension reduction.

    6,998,552 parameters with the auxiliary heads off (13,378,280 with them); the paper's
    Table 1 lists weights only, in units of 1024 ("K"), see ``tests/test_models_googlenet.py``.
    Max pools round up (Caffe's rule), so 224 -> 112 -> 56 -> 28 -> 14 -> 7 as in Table 1.
    The smallest input is 31x31: the 3x3/2 pool before stage 5 then sees 2x2 (at 30x30, 1x1).
    """

    min_input_size = 31

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        dropout: float = 0.4,
        dropout_aux: float = 0.7,
        init_weights: bool = True,
    ) -> None:
        super().__init__(num_classes, in_chans, aux_logits)
        # Caffe's LRN (n=5, alpha=1e-4, beta=0.75, k=1) divides alpha by n, as PyTorch's does.
        self.conv1 = ConvReLU(in_chans, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.norm1 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        self.conv2 = ConvReLU(64, 64, kernel_size=1)
        self.conv3 = ConvReLU(64, 192, kernel_size=3, padding=1)
        self.norm2 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self._build_inceptions_and_head(
            pool_before_stage5=nn.MaxPool2d(3, stride=2, ceil_mode=True),
            aux_block=ConvReLU,
            aux_paper_pool=True,
            dropout=dropout,
            dropout_aux=dropout_aux,
        )
        if init_weights:
            self._init_paper_weights()

    def _make_inception(
        self, in_channels: int, cfg: tuple[int, int, int, int, int, int]
    ) -> Inception | InceptionNaive:
        return Inception(in_channels, *cfg)

    def _stem(self, x: Tensor) -> Tensor:
        # N x 3 x 224 x 224
        x = self.conv1(x)
        # N x 64 x 112 x 112
        x = self.norm1(self.maxpool1(x))
        # N x 64 x 56 x 56
        x = self.conv2(x)
        # N x 64 x 56 x 56
        x = self.norm2(self.conv3(x))
        # N x 192 x 56 x 56
        return self.maxpool2(x)

    def _init_paper_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                else:
                    nn.init.normal_(m.weight, 0, 0.01)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)


class GoogLeNetNaive(GoogLeNet):
    """GoogLeNet built of naive inception modules (Figure 2a), to compare costs with ``googlenet``.

    Each module keeps Table 1's #1x1, #3x3 and #5x5 and drops the reductions and the pool
    projection; the pool branch passes all input channels on, so the widths grow:
    3a 416, 3b 832, 4a 1280, 4b 1728, 4c 2176, 4d 2640, 4e 3344, 5a 4048, 5b 4944.
    Stem, pools, auxiliary heads (on 1280 and 2640 channels) and classifier are the paper's.
    """

    def _make_inception(
        self, in_channels: int, cfg: tuple[int, int, int, int, int, int]
    ) -> Inception | InceptionNaive:
        ch1x1, _, ch3x3, _, ch5x5, _ = cfg
        return InceptionNaive(in_channels, ch1x1, ch3x3, ch5x5)


class GoogLeNetTV(_GoogLeNetBase):
    """torchvision's GoogLeNet, parameter for parameter (``torchvision.models.googlenet``).

    Differs from the paper: batch norm in every conv block (no conv biases), a 3x3 conv where
    the paper has 5x5 (a known bug kept for the weights' sake, pytorch/vision#906), no LRN,
    a 2x2/2 max pool before stage 5, dropout 0.2, adaptive 4x4 pools in the aux heads.
    ``transform_input=True`` turns an ImageNet-normalised input into the (x - 0.5) / 0.5 one
    that torchvision's ImageNet weights (ported from TensorFlow) expect.
    6,624,904 parameters without the auxiliary heads. The smallest input is 15x15 (its 2x2 pool
    before stage 5 accepts the 1x1 map that the paper's 3x3 pool refuses).
    """

    min_input_size = 15

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        transform_input: bool = False,
        dropout: float = 0.2,
        dropout_aux: float = 0.7,
        init_weights: bool = True,
    ) -> None:
        if transform_input and in_chans != 3:
            raise ConvzooError(
                f"transform_input re-normalises the three ImageNet RGB channels; it needs "
                f"in_chans=3, got in_chans={in_chans}. Pass transform_input=False."
            )
        super().__init__(num_classes, in_chans, aux_logits)
        self.transform_input = transform_input
        self.conv1 = BasicConv2d(in_chans, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self._build_inceptions_and_head(
            pool_before_stage5=nn.MaxPool2d(2, stride=2, ceil_mode=True),
            aux_block=BasicConv2d,
            aux_paper_pool=False,
            dropout=dropout,
            dropout_aux=dropout_aux,
        )
        if init_weights:  # torchvision's
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

    def _make_inception(
        self, in_channels: int, cfg: tuple[int, int, int, int, int, int]
    ) -> Inception | InceptionNaive:
        return Inception(in_channels, *cfg, conv_block=BasicConv2d, ch5x5_kernel=3)

    def _transform_input(self, x: Tensor) -> Tensor:
        if self.transform_input:
            x_ch0 = torch.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
            x_ch1 = torch.unsqueeze(x[:, 1], 1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
            x_ch2 = torch.unsqueeze(x[:, 2], 1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
            x = torch.cat((x_ch0, x_ch1, x_ch2), 1)
        return x

    def _stem(self, x: Tensor) -> Tensor:
        x = self._transform_input(x)
        # N x 3 x 224 x 224
        x = self.conv1(x)
        # N x 64 x 112 x 112
        x = self.maxpool1(x)
        # N x 64 x 56 x 56
        x = self.conv2(x)
        # N x 64 x 56 x 56
        x = self.conv3(x)
        # N x 192 x 56 x 56
        return self.maxpool2(x)


_COMMON: dict[str, Any] = dict(
    family="googlenet",
    paper=_PAPER,
    year=2014,
    input_size=(3, 224, 224),
)


@register_model(
    **_COMMON,
    **GoogLeNet.card_facts(),
    notes="the paper's network: true 5x5 branches, LRN, no BN, aux heads (aux_logits=True)",
)
def googlenet(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> GoogLeNet:
    """The paper's GoogLeNet (Table 1); ``aux_logits=False`` drops the auxiliary heads."""
    return GoogLeNet(num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model(
    **_COMMON,
    **GoogLeNetNaive.card_facts(),
    notes="GoogLeNet of naive inception modules (Fig. 2a): widths grow, for cost comparison",
)
def googlenet_naive(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> GoogLeNetNaive:
    """GoogLeNet of naive inception modules (no 1x1 reductions): a cost comparison."""
    return GoogLeNetNaive(num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model(
    **_COMMON,
    **GoogLeNetTV.card_facts(),
    torchvision_twin="googlenet",
    notes="torchvision's layout: BN, 3x3 in the '5x5' branch, transform_input",
)
def googlenet_tv(*, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> GoogLeNetTV:
    """torchvision's GoogLeNet; ``aux_logits`` and ``transform_input`` as in torchvision."""
    return GoogLeNetTV(num_classes=num_classes, in_chans=in_chans, **kwargs)
