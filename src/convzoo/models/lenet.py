"""LeNet-5 as it is taught (``lenet5``) and as the 1998 paper built it (``lenet5_1998``).

Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "Gradient-based learning applied to document
recognition", Proceedings of the IEEE 86(11), 1998, section II.B and Table I.

Layer names follow the paper: C = convolution, S = subsampling, F = fully connected; the number is
the layer's depth (C1, S2, C3, S4, C5, F6, then the output layer).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from convzoo.errors import ConvzooError
from convzoo.models._base import ClassicNet
from convzoo.registry import register_model

__all__ = [
    "C3_TABLE",
    "EuclideanRBF",
    "LeNet5",
    "LeNet5_1998",
    "PartialConv2d",
    "ScaledTanh",
    "TrainableSubsampling",
    "lenet5",
    "lenet5_1998",
    "paley_hadamard",
]

_PAPER = (
    "LeCun, Bottou, Bengio, Haffner: Gradient-based learning applied to document recognition "
    "(Proc. IEEE, 1998)"
)

# MNIST's training-set statistics (after ToTensor, ink = 1): the usual normalisation for the
# taught network, which gives the input mean 0 and variance 1, the aim the paper states for its
# own input scaling (section II.B).
MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)

# The paper's own input scaling (section II.B): background (white) -> -0.1, ink (black) -> 1.175.
# With ToTensor's [0, 1] and ink = 1 (MNIST's convention), (x - mean) / std = 1.275 x - 0.1.
PAPER_STD = (1.0 / 1.275,)
PAPER_MEAN = (0.1 / 1.275,)

# Table I of the paper: which S2 maps (rows) each C3 map (column) takes. Maps 0-5 take three
# contiguous maps, 6-11 four contiguous, 12-14 four discontinuous, 15 takes all six. The paper's
# reasons: fewer connections, and broken symmetry so that maps learn different features.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# LeNet-5 as taught
# --------------------------------------------------------------------------------------------


class LeNet5(ClassicNet):
    """LeNet-5 as it is taught (the lecture's network): 61,706 parameters for 10 classes.

    1x32x32 -> conv 6@5x5 -> tanh -> avg pool 2x2 -> conv 16@5x5 -> tanh -> avg pool 2x2
    -> fc 120 -> tanh -> fc 84 -> tanh -> fc ``num_classes``.

    Where it differs from the 1998 paper (see :class:`LeNet5_1998` for the faithful network):
    every conv sees every map of the layer below (no Table I), the subsampling is a plain average
    (no trainable coefficient and bias), the squashing is plain ``tanh``, and the output is an
    ordinary linear layer trained with cross-entropy instead of Euclidean RBF units.

    An ``AdaptiveAvgPool2d(5)`` before the classifier is an identity at 32x32 (the maps are 5x5
    there already) and lets other sizes run, e.g. MNIST's 28x28 without the paper's padding to
    32x32. The smallest input is 16x16: below it the second pool gets a 1x1 map.
    """

    min_input_size = 16
    first_conv = "features.0"
    classifier_name = "classifier.4"

    def __init__(self, num_classes: int = 10, in_chans: int = 1) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 6, kernel_size=5),  # C1
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2, stride=2),  # S2
            nn.Conv2d(6, 16, kernel_size=5),  # C3
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2, stride=2),  # S4
        )
        self.avgpool = nn.AdaptiveAvgPool2d((5, 5))
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120),  # C5 (a 5x5 conv on 5x5 maps is a full connection)
            nn.Tanh(),
            nn.Linear(120, 84),  # F6
            nn.Tanh(),
            nn.Linear(84, num_classes),  # output
        )

    def forward_features(self, x: Tensor) -> Tensor:
        # N x C x 32 x 32 -> C1: N x 6 x 28 x 28 -> S2: N x 6 x 14 x 14
        # -> C3: N x 16 x 10 x 10 -> S4: N x 16 x 5 x 5
        return self.features(x)

    def forward_head(self, x: Tensor) -> Tensor:
        x = self.avgpool(x)  # N x 16 x 5 x 5
        x = torch.flatten(x, 1)  # N x 400
        return self.classifier(x)  # N x 120 -> N x 84 -> N x num_classes


# --------------------------------------------------------------------------------------------
# The pieces of the 1998 network
# --------------------------------------------------------------------------------------------


class ScaledTanh(nn.Module):
    """The paper's squashing function ``f(a) = A tanh(S a)`` with A = 1.7159, S = 2/3.

    Appendix A: with these constants f(1) = 1 and f(-1) = -1, the second derivative is largest at
    +-1, and the effective gain is close to 1 in the range used.
    """

    def __init__(self, amplitude: float = 1.7159, slope: float = 2.0 / 3.0) -> None:
        super().__init__()
        self.amplitude = amplitude
        self.slope = slope

    def forward(self, x: Tensor) -> Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope:.4f}"


class TrainableSubsampling(nn.Module):
    """S2/S4 of the paper: per map, the sum of each 2x2 block times one trainable coefficient
    plus one trainable bias (the squashing follows as its own module).

    2 parameters a map; each output unit has 4 input connections and 1 bias connection.
    """

    def __init__(self, channels: int, kernel_size: int = 2) -> None:
        super().__init__()
        self.channels = channels
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The paper's rule (section II.B, "Gradient-based learning"): uniform in
        # [-2.4/F, 2.4/F] with F the fan-in of the unit, here the k*k summed inputs.
        bound = 2.4 / (self.kernel_size**2)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def inputs_per_map(self) -> list[int]:
        """Connections into one output unit of each map: k*k inputs and the bias."""
        return [self.kernel_size**2 + 1] * self.channels

    def forward(self, x: Tensor) -> Tensor:
        k = self.kernel_size
        # The sum of a k x k block is k*k times its average; avg_pool2d also refuses maps
        # smaller than k with a RuntimeError, which the input-size checks rely on.
        s = F.avg_pool2d(x, k, stride=k) * (k * k)
        return s * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.channels}, kernel_size={self.kernel_size}"


class PartialConv2d(nn.Module):
    """A convolution in which output map ``j`` sees only the input maps ``table[j]`` (C3).

    Only the connected kernels are parameters: ``weight`` holds one k x k kernel per pair of the
    table (60 for Table I), so the parameter count is the paper's 1,516 and not the 2,416 of a
    full 6 -> 16 convolution. The forward scatters them into a dense, mostly zero kernel and runs
    one ``conv2d``, which is quicker than 16 small convolutions and gives the same sums.
    """

    pair_index: Tensor

    def __init__(
        self, table: tuple[tuple[int, ...], ...], in_channels: int, kernel_size: int = 5
    ) -> None:
        super().__init__()
        if any(not 0 <= i < in_channels for row in table for i in row):
            raise ValueError(f"connection table refers to maps outside 0..{in_channels - 1}")
        self.table = tuple(tuple(row) for row in table)
        self.in_channels = in_channels
        self.out_channels = len(table)
        self.kernel_size = kernel_size
        pairs = [j * in_channels + i for j, row in enumerate(self.table) for i in row]
        # Index of each stored kernel in the flattened (out, in) grid of the dense kernel.
        self.register_buffer("pair_index", torch.tensor(pairs, dtype=torch.long), persistent=False)
        self.weight = nn.Parameter(torch.empty(len(pairs), kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(self.out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Uniform in [-2.4/F, 2.4/F], F = the fan-in of the unit the connection belongs to.
        k2 = self.kernel_size**2
        with torch.no_grad():
            start = 0
            for j, row in enumerate(self.table):
                bound = 2.4 / (len(row) * k2)
                self.weight[start : start + len(row)].uniform_(-bound, bound)
                self.bias[j].uniform_(-bound, bound)
                start += len(row)

    def inputs_per_map(self) -> list[int]:
        """Connections into one output unit of each map: the connected kernels and the bias."""
        return [len(row) * self.kernel_size**2 + 1 for row in self.table]

    def dense_weight(self) -> Tensor:
        """The equivalent full ``(out, in, k, k)`` kernel, zero where the table has no link."""
        k = self.kernel_size
        dense = self.weight.new_zeros(self.out_channels * self.in_channels, k, k)
        dense = dense.index_copy(0, self.pair_index, self.weight)
        return dense.view(self.out_channels, self.in_channels, k, k)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.dense_weight(), self.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"connections={len(self.pair_index)}"
        )


def paley_hadamard(q: int = 83) -> list[list[int]]:
    """A Hadamard matrix of order q + 1 by Paley's first construction (q prime, q = 3 mod 4).

    H = [[1, 1^T], [-1, Q + I]] with Q the Jacobsthal matrix Q[i][j] = legendre(j - i, q).
    Its rows are +-1 vectors, mutually orthogonal (H H^T = (q+1) I). Pure Python, so that it
    also runs when the model is built on the meta device.
    """
    if q < 3 or q % 4 != 3 or any(q % d == 0 for d in range(2, math.isqrt(q) + 1)):
        raise ValueError(f"Paley's construction needs a prime q = 3 mod 4, got {q}")
    squares = {(i * i) % q for i in range(1, q)}

    def legendre(a: int) -> int:
        a %= q
        return 0 if a == 0 else (1 if a in squares else -1)

    rows = [[1] * (q + 1)]
    for i in range(q):
        rows.append([-1] + [legendre(j - i) + (1 if i == j else 0) for j in range(q)])
    return rows


def rbf_codes(num_classes: int, dim: int = 84) -> list[list[float]]:
    """Fixed +-1 centres for the RBF output units.

    The paper drew its centres as stylised 7x12 bitmaps of the characters (Fig. 3), which we do
    not have. We use rows of an 84 x 84 Paley Hadamard matrix, without the constant first row: 83
    codes, each half +1 and half -1, every pair at the same squared distance 2 * 84 = 168, the
    most evenly separated set of +-1 codes there is. Beyond 83 classes the remaining codes are
    drawn as random signs from a generator with a fixed seed (1998), so every build gives the
    same centres.
    """
    codes: list[list[float]] = []
    if dim == 84:
        codes = [[float(v) for v in row] for row in paley_hadamard(83)[1:]][:num_classes]
    if len(codes) < num_classes:
        gen = torch.Generator(device="cpu").manual_seed(1998)
        extra = torch.randint(0, 2, (num_classes - len(codes), dim), generator=gen, device="cpu")
        codes += (extra * 2 - 1).float().tolist()
    return codes


class EuclideanRBF(nn.Module):
    """The paper's output layer (eq. 7): ``y_i = sum_j (x_j - w_ij)^2``, centres fixed.

    Returns ``-y``, minus the squared distances, as logits: cross-entropy on them is the paper's
    MAP criterion (eq. 9) without its constant "rubbish class" term ``exp(-j)``, so the usual
    classification losses train the network as the paper did; ``argmax`` of the logits is the
    nearest centre, the paper's decision. The centres are a buffer, not parameters, as in the
    paper ("the parameter vectors of these units were chosen by hand and kept fixed").
    """

    centres: Tensor

    def __init__(self, in_features: int = 84, out_features: int = 10) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.register_buffer("centres", torch.tensor(rbf_codes(out_features, in_features)))

    def forward(self, x: Tensor) -> Tensor:
        # N x in -> N x out: minus the squared Euclidean distance to each centre.
        return -(x.unsqueeze(1) - self.centres).pow(2).sum(-1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fixed centres"


# --------------------------------------------------------------------------------------------
# LeNet-5 as in the paper
# --------------------------------------------------------------------------------------------


class LeNet5_1998(ClassicNet):
    """LeNet-5 as LeCun, Bottou, Bengio and Haffner built it (1998, section II.B).

    - C1: 6 maps, 5x5 conv;  S2: trainable subsampling (sum of 2x2, one coefficient and one
      bias a map); C3: 16 maps, 5x5, with the partial connections of Table I; S4: as S2;
      C5: 120 maps, 5x5 conv (1x1 output at 32x32); F6: 84 units; output: Euclidean RBF units.
    - Every layer up to F6 is squashed by 1.7159 tanh(2a/3), the subsampling layers included.
    - Weights and biases start uniform in [-2.4/F, 2.4/F], F the unit's fan-in (the paper).
    - 60,000 trainable parameters for 10 classes (the paper's "60,000"); :meth:`layer_counts`
      recomputes the per-layer parameters and connections of section II.B from the modules.

    Where we differ and why:

    - The RBF centres are Hadamard codes (see :func:`rbf_codes`), not the paper's 7x12 bitmaps,
      which are not published as data; any fixed, well-separated +-1 codes play the same role.
    - The output layer returns ``-distance``, so cross-entropy trains it (the paper's eq. 9
      without the rubbish class).
    - An ``AdaptiveAvgPool2d(5)`` before C5, an identity at 32x32, lets other sizes run
      (e.g. unpadded 28x28 MNIST); the paper's C5 would grow larger than 1x1 instead. The
      smallest input is 16x16.
    - ``in_chans`` other than 1 widens C1 (the paper's input is one grey channel).
    - Training details (stochastic diagonal Levenberg-Marquardt) belong to the trainer, not here.
    """

    #: The layers that :meth:`layer_counts` reports, with the paper's names.
    PAPER_LAYERS = ("c1", "s2", "c3", "s4", "c5", "f6")

    min_input_size = 16
    first_conv = "c1"
    classifier_name = "rbf"

    def __init__(self, num_classes: int = 10, in_chans: int = 1) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.c1 = nn.Conv2d(in_chans, 6, kernel_size=5)
        self.act1 = ScaledTanh()
        self.s2 = TrainableSubsampling(6)
        self.act2 = ScaledTanh()
        self.c3 = PartialConv2d(C3_TABLE, in_channels=6, kernel_size=5)
        self.act3 = ScaledTanh()
        self.s4 = TrainableSubsampling(16)
        self.act4 = ScaledTanh()
        self.avgpool = nn.AdaptiveAvgPool2d((5, 5))
        self.c5 = nn.Conv2d(16, 120, kernel_size=5)
        self.act5 = ScaledTanh()
        self.f6 = nn.Linear(120, 84)
        self.act6 = ScaledTanh()
        self.rbf = EuclideanRBF(84, num_classes)
        for layer in (self.c1, self.c5, self.f6):
            _paper_init(layer)

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.act1(self.c1(x))  # N x 6 x 28 x 28
        x = self.act2(self.s2(x))  # N x 6 x 14 x 14
        x = self.act3(self.c3(x))  # N x 16 x 10 x 10
        x = self.act4(self.s4(x))  # N x 16 x 5 x 5
        return x

    def forward_head(self, x: Tensor) -> Tensor:
        x = self.avgpool(x)  # N x 16 x 5 x 5
        x = self.act5(self.c5(x))  # N x 120 x 1 x 1
        x = torch.flatten(x, 1)  # N x 120
        x = self.act6(self.f6(x))  # N x 84
        return self.rbf(x)  # N x num_classes (minus squared distances)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the RBF output by one with ``num_classes`` fixed centres.

        The RBF layer has no trainable parameters: to fine-tune, train F6 (and below) too.
        """
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ConvzooError(f"num_classes must be a positive integer, got {num_classes!r}")
        old = self.rbf
        new = EuclideanRBF(old.in_features, num_classes).to(
            device=old.centres.device, dtype=old.centres.dtype
        )
        self.rbf = new
        self.num_classes = num_classes
        card = getattr(self, "card", None)
        if card is not None:
            self.card = dataclasses.replace(card, num_classes=num_classes)

    def layer_counts(self, input_size: tuple[int, int] = (32, 32)) -> list[dict[str, Any]]:
        """Trainable parameters and connections of C1, S2, C3, S4, C5 and F6, as in section II.B.

        Computed from the modules: a layer's parameters are its trainable tensors' sizes; its
        connections are, for every output unit, the inputs it reads plus its bias, which is
        (sum over output maps of the inputs per unit) x (output height x width). The output
        sizes come from a forward pass of one ``input_size`` image (on the model's device; on
        the meta device it costs nothing). At 32x32 the paper's numbers are: C1 156 / 122,304;
        S2 12 / 5,880; C3 1,516 / 151,600; S4 32 / 2,000; C5 48,120 / 48,120; F6 10,164 / 10,164.
        """
        shapes: dict[str, torch.Size] = {}
        hooks = [
            getattr(self, name).register_forward_hook(
                lambda _m, _i, out, name=name: shapes.__setitem__(name, out.shape)
            )
            for name in self.PAPER_LAYERS
        ]
        ref = next(self.parameters())
        x = torch.zeros(1, self.in_chans, *input_size, device=ref.device, dtype=ref.dtype)
        try:
            with torch.no_grad():
                self.forward_head(self.forward_features(x))
        finally:
            for h in hooks:
                h.remove()
        rows = []
        for name in self.PAPER_LAYERS:
            module = getattr(self, name)
            params = sum(p.numel() for p in module.parameters() if p.requires_grad)
            units_per_map = math.prod(shapes[name][2:])  # 1 for a linear layer's (N, out)
            connections = sum(_inputs_per_map(module)) * units_per_map
            rows.append({"layer": name.upper(), "params": params, "connections": connections})
        return rows


def _inputs_per_map(module: nn.Module) -> list[int]:
    """For each output map (or unit) of a layer, the connections into one of its units."""
    if isinstance(module, (TrainableSubsampling, PartialConv2d)):
        return module.inputs_per_map()
    bias = 1 if getattr(module, "bias", None) is not None else 0
    if isinstance(module, nn.Conv2d):
        fan_in = module.in_channels // module.groups * math.prod(module.kernel_size)
        return [fan_in + bias] * module.out_channels
    if isinstance(module, nn.Linear):
        return [module.in_features + bias] * module.out_features
    raise TypeError(f"no connection rule for {type(module).__name__}")


def _paper_init(layer: nn.Conv2d | nn.Linear) -> None:
    """Uniform in [-2.4/F, 2.4/F], F = fan-in of the unit (the paper's rule, section II.B)."""
    fan_in = _inputs_per_map(layer)[0] - (1 if layer.bias is not None else 0)
    bound = 2.4 / fan_in
    nn.init.uniform_(layer.weight, -bound, bound)
    if layer.bias is not None:
        nn.init.uniform_(layer.bias, -bound, bound)


# --------------------------------------------------------------------------------------------
# Registered builders
# --------------------------------------------------------------------------------------------


@register_model(
    family="lenet",
    paper=_PAPER + " -- as taught",
    year=1998,
    input_size=(1, 32, 32),
    **LeNet5.card_facts(),
    num_classes=10,
    mean=MNIST_MEAN,
    std=MNIST_STD,
    notes="LeNet-5 as taught: full C3, average pooling, tanh, linear output. 61,706 params.",
)
def lenet5(*, num_classes: int = 10, in_chans: int = 1, **kwargs: Any) -> LeNet5:
    """LeNet-5 as it is taught; mean/std are MNIST's training-set statistics."""
    return LeNet5(num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model(
    family="lenet",
    paper=_PAPER,
    year=1998,
    input_size=(1, 32, 32),
    **LeNet5_1998.card_facts(),
    num_classes=10,
    mean=PAPER_MEAN,
    std=PAPER_STD,
    notes=(
        "The paper's LeNet-5: C3 table, trainable subsampling, 1.7159 tanh(2a/3), RBF output "
        "(fixed Hadamard codes). 60,000 trainable params; mean/std give the paper's input "
        "scaling (-0.1 background, 1.175 ink)."
    ),
)
def lenet5_1998(*, num_classes: int = 10, in_chans: int = 1, **kwargs: Any) -> LeNet5_1998:
    """LeNet-5 as in the 1998 paper; mean/std map ToTensor's [0, 1] to the paper's [-0.1, 1.175]."""
    return LeNet5_1998(num_classes=num_classes, in_chans=in_chans, **kwargs)
