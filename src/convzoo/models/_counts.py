"""The parameter count of every registered network in its default build, as a table.

``convzoo list`` shows these counts; building the 23 networks to count them, even on the meta
device, took as long again as importing torch. ``tests/test_models_counts.py`` recounts every
entry on a built network, so the table cannot drift from the code; a network registered
without an entry here (a user's own) is counted on the meta device.
"""

from __future__ import annotations

from convzoo.registry import parameter_count

__all__ = ["DEFAULT_PARAMETERS", "default_parameter_count"]

#: Parameters (tied ones once) of ``create_model(name)``: the card's classes and channels, the
#: builder's defaults (GoogLeNet's auxiliary heads included, LeNet-5 1998's fixed RBF centres
#: excluded: they are a buffer).
DEFAULT_PARAMETERS: dict[str, int] = {
    "lenet5": 61_706,
    "lenet5_1998": 60_000,
    "alexnet": 62_378_344,
    "alexnet_2012": 60_965_224,
    "alexnet_owt": 61_100_840,
    "vgg11": 132_863_336,
    "vgg11_lrn": 132_863_336,
    "vgg13": 133_047_848,
    "vgg16_c": 133_638_952,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840,
    "vgg13_bn": 133_053_736,
    "vgg16_bn": 138_365_992,
    "vgg19_bn": 143_678_248,
    "googlenet": 13_378_280,
    "googlenet_naive": 104_274_376,
    "googlenet_tv": 13_004_888,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}


def default_parameter_count(name: str) -> int:
    """Parameters of ``create_model(name)``: from the table, else counted on the meta device."""
    count = DEFAULT_PARAMETERS.get(name)
    return parameter_count(name) if count is None else count
