"""The table of parameter counts that `convzoo list` shows is the count of the built networks."""

from __future__ import annotations

import pytest
import torch

import convzoo
from convzoo.models._counts import DEFAULT_PARAMETERS, default_parameter_count


def test_every_registered_network_has_an_entry_and_no_entry_is_stale():
    assert set(DEFAULT_PARAMETERS) == set(convzoo.list_models())


@pytest.mark.parametrize("name", convzoo.list_models())
def test_table_is_the_count_of_the_built_network(name):
    # Built on the meta device: the same modules and shapes as on the CPU, without the memory.
    with torch.device("meta"):
        model = convzoo.create_model(name)
    counted = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    assert DEFAULT_PARAMETERS[name] == counted


def test_a_network_without_an_entry_is_counted(monkeypatch):
    monkeypatch.delitem(DEFAULT_PARAMETERS, "lenet5")
    assert default_parameter_count("lenet5") == 61_706  # the lecture's figure
