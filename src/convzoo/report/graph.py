"""The architecture as a figure sees it: the data-flow graph of a trace, folded into stages,
series and parallel branches.

The tracer (:mod:`convzoo.inspect.trace`) numbers every value a row makes; a row's ``inputs``
are the values it read. That gives a graph of rows. A figure does not draw a box for every
ReLU or batch norm: those *minor* rows are folded into the row before them (the box says
``+BN +ReLU``). Branches are found from the graph alone, not from module names: a row read by
several rows is a fork, and its join is its immediate post-dominator (the first row every path
from it must pass; Cooper, Harvey and Kennedy's two-finger walk). A fork and its join bound a
:class:`Block`: the four branches of an inception module meeting at their depth-concat, the
residual path and the shortcut of a ResNet block meeting at their addition (an identity
shortcut is a branch with no rows). The stages a figure groups are computed by
:func:`split_stages`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from convzoo.inspect.trace import LayerRecord, TraceResult

# Rows folded into the row before them: a figure shows them as a note in that row's box.
MINOR_KINDS = ("act", "batchnorm", "dropout", "view", "lrn")
SINK = -1


@dataclass
class Node:
    """One box of the figure: a main row and the minor rows folded into it."""

    id: int
    rows: list[LayerRecord]
    preds: list[int] = field(default_factory=list)
    succs: list[int] = field(default_factory=list)

    @property
    def main(self) -> LayerRecord:
        return self.rows[0]

    @property
    def name(self) -> str:
        return self.main.name


@dataclass
class Block:
    """A fork's branches and the row where they join (a concat or an addition)."""

    name: str
    kind: str  # "inception", "concat", "residual", "branches"
    branches: list[list[Item]]
    join: Node

    @property
    def projection(self) -> bool:
        """A residual block whose shortcut has weights (a 1x1 conv: a projection shortcut)."""
        return self.kind == "residual" and all(b for b in self.branches)

    def nodes(self) -> list[Node]:
        out: list[Node] = []
        for branch in self.branches:
            out.extend(walk(branch))
        return [*out, self.join]


Item = Node | Block


def walk(items: Sequence[Item]) -> list[Node]:
    """Every node of a series, blocks opened, in order."""
    out: list[Node] = []
    for it in items:
        if isinstance(it, Block):
            out.extend(it.nodes())
        else:
            out.append(it)
    return out


def input_record(trace: TraceResult) -> LayerRecord:
    return LayerRecord(
        name="input", type="input", kind="input", depth=0, output_shape=trace.input_shape, output=0
    )


def build_nodes(trace: TraceResult) -> list[Node]:
    """The rows as graph nodes (node 0 the input), minor rows folded into their producer."""
    nodes = [Node(0, [input_record(trace)])]
    producer = {0: 0}
    for r in trace.records:
        n = Node(len(nodes), [r])
        n.preds = list(dict.fromkeys(producer[v] for v in r.inputs if v in producer))
        for p in n.preds:
            nodes[p].succs.append(n.id)
        if r.output is not None:
            producer[r.output] = n.id
        nodes.append(n)
    alive = [True] * len(nodes)
    for n in nodes[1:]:
        if n.main.kind not in MINOR_KINDS or len(n.preds) != 1:
            continue
        up = nodes[n.preds[0]]
        if up.succs != [n.id] or up.id == 0:
            continue
        up.rows.extend(n.rows)
        up.succs = n.succs
        for s in n.succs:
            nodes[s].preds = [up.id if q == n.id else q for q in nodes[s].preds]
        alive[n.id] = False
    keep = [n for n in nodes if alive[n.id]]
    renumber = {n.id: i for i, n in enumerate(keep)}
    for n in keep:
        n.id = renumber[n.id]
        n.preds = [renumber[p] for p in n.preds]
        n.succs = [renumber[s] for s in n.succs]
    return keep


def post_dominators(nodes: list[Node]) -> list[int]:
    """The immediate post-dominator of every node (``SINK`` past the last row)."""
    ipdom = [SINK] * len(nodes)
    rank = {SINK: len(nodes)}

    def order(i: int) -> int:
        return rank.get(i, i)

    def meet(a: int, b: int) -> int:
        while a != b:
            while order(a) < order(b):
                a = ipdom[a]
            while order(b) < order(a):
                b = ipdom[b]
        return a

    for n in reversed(nodes):
        succs = n.succs or [SINK]
        d = succs[0]
        for s in succs[1:]:
            d = meet(d, s)
        ipdom[n.id] = d
    return ipdom


def _common_prefix(names: Sequence[str]) -> str:
    parts = [n.split(".") for n in names if n]
    if not parts:
        return ""
    prefix = os.path.commonprefix(parts)
    return ".".join(prefix)


def _block_kind(name: str, join: Node) -> str:
    if join.main.kind == "add":
        return "residual"
    if join.main.kind == "concat":
        return "inception" if "inception" in name.lower() else "concat"
    return "branches"


def decompose(nodes: list[Node]) -> list[Item]:
    """The graph as a series of nodes and blocks (branches are series themselves)."""
    ipdom = post_dominators(nodes)
    placed: set[int] = set()

    def series(start: int, stop: int) -> list[Item]:
        items: list[Item | _Pending] = []
        n = start
        while n not in (stop, SINK) and n not in placed:
            node = nodes[n]
            placed.add(n)
            if len(items) >= 1 and isinstance(items[-1], _Pending):
                pending = items.pop()
                assert isinstance(pending, _Pending)
                names = [x.name for b in pending.branches for x in walk(b)] + [node.name]
                name = _common_prefix(names) or node.name
                items.append(Block(name, _block_kind(name, node), pending.branches, node))
            else:
                items.append(node)
            if len(node.succs) > 1:
                join = ipdom[n]
                branches = [series(s, join) for s in node.succs]
                items.append(_Pending(branches))
                n = join
            else:
                n = node.succs[0] if node.succs else SINK
        return [it for it in items if not isinstance(it, _Pending)]

    return series(0, SINK)


@dataclass
class _Pending:
    branches: list[list[Item]]


@dataclass
class Stage:
    """A group of the figure: a stage of a ResNet, a block of VGG, the classifier."""

    name: str
    items: list[Item]

    def blocks(self) -> list[Block]:
        return [it for it in self.items if isinstance(it, Block)]

    @property
    def output_shape(self) -> tuple[int, ...]:
        last = self.items[-1]
        node = last.join if isinstance(last, Block) else last
        return node.rows[-1].output_shape


def _head(it: Item) -> str:
    return it.name.split(".")[0]


def _in_hw(it: Item) -> tuple[int, ...]:
    node = walk([it])[0] if isinstance(it, Block) else it
    shape = node.main.input_shape or node.main.output_shape
    return tuple(shape[2:]) if len(shape) > 2 else ()


def split_stages(items: list[Item]) -> list[Stage]:
    """Stages as the lecture groups them.

    Runs of items under one top-level module that holds blocks (``layer1`` of a ResNet) are a
    stage. Other items (a plain ``features`` sequence, GoogLeNet's separate stem layers and
    modules) are grouped by the spatial size of their input, so that a stage ends with the pool
    that halves it, as VGG's blocks and GoogLeNet's stages 3, 4 and 5 do.
    """
    runs: list[list[Item]] = []
    for it in items:
        if runs and _head(runs[-1][-1]) == _head(it) and it.name != "input":
            runs[-1].append(it)
        else:
            runs.append([it])
    stages: list[Stage] = []
    loose: list[Item] = []

    def flush() -> None:
        group: list[Item] = []
        for it in loose:
            if group and _in_hw(group[-1]) != _in_hw(it):
                stages.append(_named(group))
                group = []
            group.append(it)
        if group:
            stages.append(_named(group))
        loose.clear()

    for run in runs:
        if len(run) > 1 and any(isinstance(it, Block) for it in run):
            flush()
            stages.append(Stage(_head(run[0]), run))
        else:
            loose.extend(run)
    flush()
    return stages


def _named(group: list[Item]) -> Stage:
    names = [it.name for it in group if it.name != "input"] or ["input"]
    heads = list(dict.fromkeys(n.split(".")[0] for n in names))
    if len(names) == 1:
        name = names[0]
    elif len(heads) == 1:
        name = f"{names[0]} … {names[-1]}"
    else:
        name = f"{heads[0]} … {heads[-1]}"
    return Stage(name, group)


def figure_of(trace: TraceResult) -> list[Stage]:
    """The stages of the figure of a traced network.

    A graph that is not series-parallel (DenseNet, where every layer reads all the layers
    before it) cannot be drawn as branches and joins; it is drawn as the series of its layers
    in the order they ran, so that no layer is left out."""
    nodes = build_nodes(trace)
    items = decompose(nodes)
    if len(walk(items)) < len(nodes):
        items = list(nodes)
    return split_stages(items)
