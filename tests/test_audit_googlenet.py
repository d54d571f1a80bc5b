"""GoogLeNet's Table 1: the cause of every disagreeing cell, and what the table determines."""

from __future__ import annotations

import math

import pytest

from convzoo.inspect.audit import AuditReport, audit


@pytest.fixture(scope="module")
def rep() -> AuditReport:
    return audit("googlenet", "paper")


# (row, column) -> (cause, whether a computation reproduces the printed cell)
EXPECTED = {
    ("convolution 112x112x64", "params"): ("unexplained", False),
    ("convolution 112x112x64", "ops"): ("unexplained", False),
    ("inception (3b)", "params"): ("inconsistent", False),
    ("inception (4a)", "params"): ("inconsistent", True),
    ("inception (4a)", "ops"): ("inconsistent", False),
    ("inception (4b)", "params"): ("inconsistent", False),
    ("inception (4c)", "params"): ("inconsistent", False),
    ("inception (4d)", "params"): ("inconsistent", False),
    ("inception (4e)", "params"): ("inconsistent", False),
    ("inception (5a)", "params"): ("inconsistent", False),
    ("inception (5a)", "ops"): ("inconsistent", False),
    ("inception (5b)", "params"): ("inconsistent", False),
}


def test_every_disagreeing_cell_and_its_cause(rep: AuditReport) -> None:
    got = {(f.row, f.field): (f.cause, bool(f.reproduction)) for f in rep.mismatches}
    assert got == EXPECTED


def test_k_is_1024_and_the_params_digits_truncate(rep: AuditReport) -> None:
    # conv2 (1x1 64->64 and 3x3 64->192) and the linear layer are exact multiples of 1024
    assert 64 * 64 + 3 * 3 * 64 * 192 == 112 * 1024
    assert 1024 * 1000 == 1000 * 1024
    assert rep.find("convolution 56x56x192", "params").ok and rep.find("linear", "params").ok
    # inception (3a): 163,328 weights are 159.5K: printed 159K, so the digit is truncated
    assert rep.find("inception (3a)", "params").ok and "163,328 weights" in str(
        rep.find("inception (3a)", "params").live
    )
    params = rep.summary[0]
    assert "the unit is determined (K = 1024)" in params
    assert "the last digit is determined (truncated)" in params
    assert "whether biases count is not determined" in params  # with biases fits as well
    assert (
        "the unit is determined (M = 10^6); the last digit is determined (rounded)"
        in (rep.summary[1])
    )


def test_3b_4b_4e_are_not_derived_from_their_ops(rep: AuditReport) -> None:
    for row, ops_m, positions, printed in (
        ("inception (3b)", 304, 784, 380),
        ("inception (4b)", 88, 196, 437),
        ("inception (4e)", 170, 196, 840),
    ):
        implied = ops_m * 1e6 / positions / 1024  # 378.7K, 438.5K, 847.0K
        assert printed not in (math.floor(implied), round(implied))
        cell = rep.find(row, "params")
        assert cell.reproduction == "" and "contradicts its own row" in cell.note
        assert rep.find(row, "ops").ok  # the row's ops agree with the network


def test_4a_params_are_its_printed_ops_over_positions(rep: AuditReport) -> None:
    implied = 73e6 / 196 / 1024  # 363.7K
    assert round(implied) == 364 and math.floor(implied) == 363
    cell = rep.find("inception (4a)", "params")
    assert "73M / 196 = 363.7K" in cell.reproduction and "rounded: 364K" in cell.reproduction


def test_4a_ops_are_one_unit_low(rep: AuditReport) -> None:
    ops = rep.find("inception (4a)", "ops")
    assert round(73_608_192 / 1e6) == 74 and ops.published == "73M"
    assert "printed 1 unit below the count" in ops.note and ops.reproduction == ""


def test_4c_params_contradict_its_own_right_ops(rep: AuditReport) -> None:
    assert rep.find("inception (4c)", "ops").ok  # 99.85M rounds to the printed 100M
    assert not rep.find("inception (4c)", "params").ok  # 497.5K printed 463K


def test_channels_and_sizes_all_agree(rep: AuditReport) -> None:
    channel_cols = [f for f in rep.findings if f.field.startswith("n") or f.field == "pool_proj"]
    assert len(channel_cols) == 54 and all(f.ok for f in channel_cols)
    assert all(f.ok for f in rep.findings if f.field == "output size")
    assert rep.find("convolution 112x112x64", "ops").published == "34M"  # 7x7x3x64 is 118M
