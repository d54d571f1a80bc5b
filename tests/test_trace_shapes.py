"""The tracer's shape formulas (convzoo.inspect.shapes) against torch's own kernels on CPU."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from convzoo.inspect import shapes


def meta(t: torch.Tensor) -> torch.Tensor:
    return torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta")


def as_meta(a):
    if isinstance(a, list):
        return [as_meta(t) for t in a]
    return meta(a) if isinstance(a, torch.Tensor) else a


def made_shape(formula, args: tuple, kwargs: dict | None = None):
    out = formula(tuple(as_meta(a) for a in args), kwargs or {})
    return None if out is None else tuple(out.shape)


def torch_shape(func, args: tuple, kwargs: dict | None = None):
    """The shape torch's CPU kernel gives, or None where torch refuses the arguments."""
    try:
        return tuple(func(*args, **(kwargs or {})).shape)
    except (RuntimeError, ValueError):
        return None


CONVS = list(
    itertools.product(
        (5, 7, 8),  # input side
        (1, 3, 4),  # kernel
        (1, 2, 3),  # stride
        (0, 1, 2, "valid", "same"),  # padding
        (1, 2),  # dilation
    )
)


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("side,k,s,p,d", CONVS)
def test_conv_formula_is_torchs_wherever_it_answers(side, k, s, p, d) -> None:
    x, w = torch.randn(2, 4, side, side + 1), torch.randn(6, 2, k, k)
    args = (x, w, None, s, p, d, 2)
    # every valid case answered, every case torch refuses (padding="same" with a stride, a
    # kernel larger than the padded input) passed on to torch
    assert made_shape(shapes.conv, args) == torch_shape(F.conv2d, args)


def test_conv_refusals_are_left_to_torch() -> None:
    x = torch.randn(1, 3, 8, 8)
    assert made_shape(shapes.conv, (x, torch.randn(4, 2, 3, 3))) is None  # channels
    assert made_shape(shapes.conv, (torch.randn(1, 3, 2, 2), torch.randn(4, 3, 3, 3))) is None
    assert made_shape(shapes.conv, (x, torch.randn(4, 3, 3, 3), torch.randn(5))) is None
    assert made_shape(shapes.conv, (x.to(torch.float64), torch.randn(4, 3, 3, 3))) is None
    assert made_shape(shapes.conv, (x[..., ::2], torch.randn(4, 3, 3, 3))) is None  # strided
    assert made_shape(shapes.conv, (x, torch.randn(4, 3, 3, 3)), {"stride": 2}) == (1, 4, 3, 3)


POOLS = list(
    itertools.product(
        (5, 6, 7, 13),  # input side
        (1, 2, 3),  # kernel
        (None, 1, 2, 3),  # stride
        (0, 1),  # padding
        (False, True),  # ceil_mode
    )
)


@pytest.mark.parametrize("side,k,s,p,ceil", POOLS)
def test_pool_formulas_are_torchs(side, k, s, p, ceil) -> None:
    x = torch.randn(1, 2, side, side + 2)
    kw = {"stride": s, "padding": p, "ceil_mode": ceil}
    assert made_shape(shapes.max_pool(2), (x, k), kw) == torch_shape(F.max_pool2d, (x, k), kw)
    pos = (x, k, s, p, ceil)  # avg_pool2d as nn.AvgPool2d calls it: positionally
    assert made_shape(shapes.avg_pool(2), pos) == torch_shape(F.avg_pool2d, pos)


def test_max_pool_with_indices_and_dilation_past_the_rule_go_to_torch() -> None:
    x = torch.randn(1, 2, 9, 9)
    assert made_shape(shapes.max_pool(2), (x, 3), {"return_indices": True}) is None
    assert made_shape(shapes.max_pool(2), (x, 3), {"dilation": 2}) == tuple(
        F.max_pool2d(x, 3, dilation=2).shape
    )


@pytest.mark.parametrize(
    "a,b",
    [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (3, 1)), ((1, 6, 1, 1), (2, 6, 5, 5)), ((2, 3), (4,))],
)
@pytest.mark.parametrize("op", [torch.add, torch.sub, torch.mul, torch.div])
def test_elementwise_broadcasts_as_torch(a, b, op) -> None:
    x, y = torch.randn(a), torch.randn(b)
    assert made_shape(shapes.elementwise(False), (x, y)) == torch_shape(op, (x, y))
    assert made_shape(shapes.elementwise(False), (2.0, x)) == a  # 2 * x
    # in place keeps the left operand, so only when the broadcast is its own shape
    inplace = made_shape(shapes.elementwise(True), (x, y))
    assert inplace == (a if torch_shape(op, (x, y)) == a else None)


def test_integer_tensors_and_promotion_go_to_torch() -> None:
    i = torch.ones(2, 3, dtype=torch.int64)
    assert made_shape(shapes.elementwise(False), (i, i)) is None
    assert made_shape(shapes.elementwise(False), (i, 0.5)) is None
    assert made_shape(shapes.elementwise(False), (torch.randn(2, 3), True)) is None


def test_cat_and_reductions_are_torchs() -> None:
    a, b = torch.randn(2, 3, 5, 5), torch.randn(2, 4, 5, 5)
    assert made_shape(shapes.cat, ([a, b], 1)) == torch_shape(torch.cat, ([a, b], 1))
    assert made_shape(shapes.cat, ([a, b], -3)) == (2, 7, 5, 5)
    assert made_shape(shapes.cat, ([a, b], 0)) is None  # torch refuses: 3 != 4
    for args, kw in [((a, -1), {}), ((a, (2, 3)), {}), ((a, (2, 3), True), {}), ((a, 1), {})]:
        assert made_shape(shapes.reduction, args, kw) == torch_shape(torch.sum, args, kw)
        assert made_shape(shapes.reduction, args, kw) == torch_shape(torch.mean, args, kw)
    assert made_shape(shapes.reduction, (a,)) is None  # a full reduction goes to torch


@pytest.mark.slow
def test_tracing_the_zoo_imports_no_sympy() -> None:
    """The reason for the formulas: torch's Python meta kernels import sympy (0.9 s or more)
    at their first torch._check. LeNet-5 (1998) is left out: its C3 scatters its connection
    table with index_copy, whose decomposition imports it."""
    code = (
        "import sys\n"
        "from convzoo.inspect import summarize\n"
        "from convzoo.registry import list_models\n"
        "for name in list_models():\n"
        "    if name != 'lenet5_1998':\n"
        "        summarize(name)\n"
        "        assert 'sympy' not in sys.modules, name\n"
        "print('sympy' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
