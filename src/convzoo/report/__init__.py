"""Seeing a network: the HTML report and the architecture figures, drawn from the trace.

* :func:`write_report` / :func:`report_html`: one self-contained HTML page (`convzoo report`).
* :func:`draw`: the diagram alone as SVG or PNG (`convzoo draw`): the layered look of the
  lecture for LeNet-5, AlexNet (its two towers) and VGG (its blocks), the block diagram for
  GoogLeNet and ResNet; :func:`draw_inception` the inception module figure, naive or with
  dimension reductions, from the code of ``googlenet_naive`` and ``googlenet``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from torch import nn

from convzoo.errors import ConvzooError
from convzoo.inspect import summarize
from convzoo.inspect.trace import trace
from convzoo.report.diagram import block_scene, flow_scene, layered_scene
from convzoo.report.page import report_html, write_report
from convzoo.report.scene import Scene, save, to_png, to_svg
from convzoo.report.source import Source, resolve

__all__ = [
    "LOOKS",
    "Scene",
    "Source",
    "diagram",
    "draw",
    "draw_inception",
    "inception_scene",
    "report_html",
    "resolve",
    "to_png",
    "to_svg",
    "write_report",
]

LOOKS = ("auto", "layered", "blocks")
# The families drawn as the lecture draws them: feature maps left to right.
LAYERED_FAMILIES = ("lenet", "alexnet", "vgg")


def diagram(
    source: str | os.PathLike[str] | nn.Module,
    input_size: Sequence[int] | str | None = None,
    look: str = "auto",
) -> Scene:
    """The architecture figure of ``source``: ``layered`` (feature maps left to right),
    ``blocks`` (the block diagram, top to bottom) or ``auto`` (layered for LeNet, AlexNet and
    VGG, blocks for the rest)."""
    if look not in LOOKS:
        raise ConvzooError(f"unknown look {look!r}; choose one of {', '.join(LOOKS)}")
    src = resolve(source)
    if src.model is None:
        raise ConvzooError(f"{src.label} is not a network: there is no architecture to draw")
    table = summarize(src.model, input_size if input_size is not None else src.input_size)
    result = table.trace
    assert result is not None
    if look == "layered" or (look == "auto" and src.family in LAYERED_FAMILIES):
        return layered_scene(result, src.name, src.family)
    return flow_scene(result, src.name)


def inception_scene(naive: bool = False) -> Scene:
    """The inception module figure of the lecture: (a) naive, (b) with dimension reductions,
    drawn from inception (3a) of ``googlenet_naive`` or ``googlenet``."""
    name = "googlenet_naive" if naive else "googlenet"
    src = resolve(name)
    assert src.model is not None
    result = trace(src.model, (1, *src.input_size), model_name=name)
    title = (
        "Inception module, naive version"
        if naive
        else ("Inception module with dimension reductions")
    )
    return block_scene(result, "inception3a", title)


def draw(
    source: str | os.PathLike[str] | nn.Module,
    path: str | os.PathLike[str],
    input_size: Sequence[int] | str | None = None,
    look: str = "auto",
) -> Path:
    """Write the figure of ``source`` to ``path`` (``.svg`` or ``.png``)."""
    return save(diagram(source, input_size, look), path)


def draw_inception(path: str | os.PathLike[str], naive: bool = False) -> Path:
    return save(inception_scene(naive), path)
