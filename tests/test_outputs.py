"""convzoo.outputs.main_logits: the one reading of "the main logits" of a network's output."""

from __future__ import annotations

from types import SimpleNamespace

import torch

import convzoo
from convzoo.inspect.trace import meta_build
from convzoo.outputs import main_logits


def test_googlenet_in_training_gives_its_main_head_not_an_auxiliary_one():
    with meta_build():
        model = convzoo.create_model("googlenet", num_classes=5).train()
    out = model(torch.empty(2, 3, 224, 224, device="meta"))
    # torchvision's namedtuple: (logits, aux_logits2, aux_logits1), read here by field name.
    assert type(out).__name__ == "GoogLeNetOutputs"
    assert main_logits(out) is out.logits
    assert out.aux_logits1 is not None and main_logits(out) is not out.aux_logits1
    model.eval()
    plain = model(torch.empty(2, 3, 224, 224, device="meta"))
    assert isinstance(plain, torch.Tensor) and main_logits(plain) is plain
    assert plain.shape == (2, 5)


def test_lists_and_output_objects_of_networks_from_outside_the_zoo():
    a, b = torch.zeros(1, 3), torch.ones(1, 3)
    assert main_logits([a, b]) is a
    assert main_logits(SimpleNamespace(logits=b, hidden=a)) is b
