"""The generic checks: exact rounding rules, one-keystroke typos, the cause finder."""

from __future__ import annotations

from fractions import Fraction

import pytest

from convzoo.inspect.audit.checks import (
    Derivation,
    Rounding,
    conv_params,
    first_reproducing,
    one_edit,
    parse_printed,
    rules_tied_best,
)

K_TRUNC = Rounding(1024, "truncate", "K")
K_ROUND = Rounding(1024, "round", "K")


def test_parse_printed() -> None:
    assert parse_printed("2.7K") == (Fraction(27, 10), 1)
    assert parse_printed("1072K") == (Fraction(1072), 0)
    assert parse_printed("11.3") == (Fraction(113, 10), 1)
    assert parse_printed("650,000") == (Fraction(650_000), 0)


def test_rounding_is_exact_at_the_half() -> None:
    # 163,328 / 1024 = 159.5 exactly: truncation gives 159, rounding (half up) 160
    assert 163_328 / 1024 == 159.5
    assert K_TRUNC.reproduces(163_328, "159K") and not K_ROUND.reproduces(163_328, "159K")
    assert K_ROUND.reproduces(163_328, "160K")
    # no tolerance: 379.0K is not 380K under either rule
    assert not K_TRUNC.reproduces(388_096, "380K") and not K_ROUND.reproduces(388_096, "380K")
    assert K_TRUNC.units_off(388_096, "380K") == 1
    # one decimal
    assert Rounding(10**9, "round").reproduces(3_644_493_824, "3.6")
    assert not Rounding(10**9, "round").reproduces(3_663_761_408, "3.6")  # 3.66 -> 3.7
    assert Rounding(10**9, "truncate").reproduces(3_663_761_408, "3.6")
    assert K_TRUNC.format(9408, "2.7K") == "9.1K"


def test_one_edit() -> None:
    assert one_edit(8528, 18528) == "a digit dropped"
    assert one_edit(185280, 18528) == "a digit added"
    assert one_edit(211376, 221376) == "one digit changed"
    assert one_edit(12354, 12534) == "two neighbouring digits swapped"
    assert one_edit(13312, 12352) == ""  # two digits changed, far apart
    assert one_edit(100, 100) == ""


def test_conv_params() -> None:
    assert conv_params([2, 2], 128, 128) == (65_664, "2·2·128·128 + 128 = 65,664")
    assert conv_params(None, 192, 96)[0] == 192 * 96 + 96


@pytest.mark.parametrize(
    ("printed", "expected"),
    [("364K", ("ops", "round")), ("363K", ("ops", "truncate")), ("380K", None)],
)
def test_first_reproducing(printed: str, expected: tuple[str, str] | None) -> None:
    ops = Derivation("ops", Fraction(73 * 10**6, 196), "73M / 196")  # 363.7K with K = 1024
    found = first_reproducing(printed, [ops], [K_TRUNC, K_ROUND])
    assert (None if found is None else (found[0].label, found[1].mode)) == expected


def test_rules_tied_best() -> None:
    assert rules_tied_best({"a": ["x", "y"], "b": ["x"], "c": ["y", "z"]}) == ["a", "c"]
