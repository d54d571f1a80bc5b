"""Architecture diagrams laid out from the figure graph (:mod:`convzoo.report.graph`).

Two looks, as the lecture draws them:

* :func:`flow_scene`, the block diagram: one box a layer with its output H x W x C, top to
  bottom, each inception module with its four branches side by side and the depth-concat
  below them, each residual block with its shortcut beside the residual path (a dashed line
  for an identity shortcut, a box for a projection), stages framed. :func:`stage_scenes` gives
  one scene per stage, which the HTML report folds.
* :func:`layered_scene`, the classic layered look of LeNet-5, AlexNet and VGG: feature maps as
  stacks, left to right, sized by their resolution, AlexNet's two towers one above the other
  (a layer whose convolution, or the next one, has ``groups=2``), VGG's blocks in colours.

Our own layout rather than Graphviz: these networks are series-parallel graphs, so a layout
is a recursion over series and branches (a few dozen lines), where Graphviz would be a system
dependency and would not draw the lecture's figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from convzoo.inspect.table import lecture_names
from convzoo.inspect.trace import LayerRecord, TraceResult
from convzoo.report.graph import Block, Item, Node, Stage, figure_of, walk
from convzoo.report.scene import Group, Line, Polygon, Rect, Scene, Text

BOX_W, BOX_H = 168, 40
GAP_Y, GAP_X = 20, 14
PAD = 10  # inside a block's frame
TITLE_H = 18
IDENTITY_W = 26

FILL = {
    "input": "#e5e7eb",
    "conv": "#dbeafe",
    "maxpool": "#fee2e2",
    "avgpool": "#fee2e2",
    "linear": "#dcfce7",
    "concat": "#fef3c7",
    "add": "#fef3c7",
}
MINOR_NOTE = {"batchnorm": "BN", "act": "", "lrn": "LRN", "dropout": "dropout"}


def _x(v: Sequence[int] | None) -> str:
    if not v:
        return ""
    return str(v[0]) if len(set(v)) == 1 else "×".join(map(str, v))


def hwc(shape: Sequence[int]) -> str:
    """``H×W×C`` as the lecture writes it (batch dropped)."""
    if len(shape) == 4:
        return f"{shape[2]}×{shape[3]}×{shape[1]}"
    if len(shape) == 2:
        return f"{shape[1]}"
    return "×".join(map(str, shape[1:]))


def node_label(node: Node) -> tuple[str, str]:
    """The two lines of a box: what the layer is, and the H×W×C it outputs."""
    r = node.main
    k = "×".join(map(str, r.kernel)) if r.kernel else ""
    s = f"/{_x(r.stride)}" if r.stride and max(r.stride) > 1 else ""
    if r.kind == "input":
        head = "input"
    elif r.kind == "conv":
        head = f"conv {k}{s}, {r.out_channels}"
        if r.groups > 1:
            head += f", {r.groups} groups"
    elif r.kind in ("maxpool", "avgpool"):
        what = "max pool" if r.kind == "maxpool" else "avg pool"
        out = r.output_shape
        if len(out) == 4 and out[2] == out[3] == 1 and r.type.startswith("Adaptive"):
            head = f"global {what}"
        else:
            head = f"{what} {k}{s}"
    elif r.kind == "linear":
        head = f"fc {r.out_channels}"
    elif r.kind == "concat":
        head = "depth concat"
    elif r.kind == "add":
        head = "add (+)"
    else:
        head = r.type
    notes = [
        MINOR_NOTE.get(m.kind, m.type) or m.type.replace("ReLU", "ReLU")
        for m in node.rows[1:]
        if m.kind != "view"
    ]
    notes = [n for n in dict.fromkeys(notes) if n]
    if notes and len(head) + sum(len(n) + 3 for n in notes) <= 24:
        head += " + " + " + ".join(notes)
    return head, hwc(node.rows[-1].output_shape)


# --- the flow (block) diagram ---------------------------------------------------------------

Point = tuple[float, float]


@dataclass
class _Laid:
    """An element with its size; ``place`` draws it and returns its entry and exit points."""

    w: float
    h: float


class _Box(_Laid):
    def __init__(self, node: Node):
        super().__init__(BOX_W, BOX_H)
        self.node = node

    def place(self, x: float, y: float, out: Group) -> tuple[list[Point], list[Point]]:
        head, shape = node_label(self.node)
        r = self.node.main
        names = ", ".join(dict.fromkeys(m.name for m in self.node.rows))
        g = Group(cls=f"node {r.kind}", name=r.name, title=f"{names}: {head} -> {shape}")
        g.add(
            Rect(x, y, self.w, self.h, fill=FILL.get(r.kind, "#f3f4f6")),
            Text(x + self.w / 2, y + 16, head, size=11.5, weight="bold"),
            Text(x + self.w / 2, y + 31, shape, size=10.5, color="#374151"),
        )
        out.add(g)
        return [(x + self.w / 2, y)], [(x + self.w / 2, y + self.h)]


class _Identity(_Laid):
    """An empty branch: the identity shortcut of a residual block."""

    def __init__(self) -> None:
        super().__init__(IDENTITY_W, BOX_H)

    def place(self, x: float, y: float, out: Group) -> tuple[list[Point], list[Point]]:
        cx = x + self.w / 2
        out.add(
            Group(
                cls="identity",
                children=[Line([(cx, y), (cx, y + self.h)], arrow=False, dash=True)],
                title="identity shortcut",
            )
        )
        return [(cx, y)], [(cx, y + self.h)]


def _connect(out: Group, a: list[Point], b: list[Point], dash: bool = False) -> None:
    if not a or not b:
        return
    if len(a) == 1:
        for p in b:
            mid = a[0][1] + (p[1] - a[0][1]) / 2
            pts = [a[0], p] if p[0] == a[0][0] else [a[0], (a[0][0], mid), (p[0], mid), p]
            out.add(Line(pts, dash=dash))
    else:
        for p in a:
            mid = p[1] + (b[0][1] - p[1]) / 2
            q = b[0]
            pts = [p, q] if p[0] == q[0] else [p, (p[0], mid), (q[0], mid), q]
            out.add(Line(pts, dash=dash))


class _Series(_Laid):
    def __init__(self, items: Sequence[_Laid]):
        self.items = list(items)
        w = max((i.w for i in self.items), default=IDENTITY_W)
        h = sum(i.h for i in self.items) + GAP_Y * max(0, len(self.items) - 1)
        super().__init__(w, h)

    def place(self, x: float, y: float, out: Group) -> tuple[list[Point], list[Point]]:
        first: list[Point] = []
        prev: list[Point] = []
        for i, item in enumerate(self.items):
            tops, bottoms = item.place(x + (self.w - item.w) / 2, y, out)  # type: ignore[attr-defined]
            if i == 0:
                first = tops
            else:
                _connect(out, prev, tops)
            prev = bottoms
            y += item.h + GAP_Y
        return first, prev


class _Parallel(_Laid):
    def __init__(self, branches: Sequence[_Laid]):
        self.branches = list(branches)
        w = sum(b.w for b in self.branches) + GAP_X * (len(self.branches) - 1)
        super().__init__(w, max(b.h for b in self.branches))

    def place(self, x: float, y: float, out: Group) -> tuple[list[Point], list[Point]]:
        tops: list[Point] = []
        bottoms: list[Point] = []
        for b in self.branches:
            t, bt = b.place(x, y, out)  # type: ignore[attr-defined]
            tops.extend(t)
            if bt and bt[0][1] < y + self.h:  # a short branch runs on to the join
                out.add(Line([bt[0], (bt[0][0], y + self.h)], arrow=False))
                bt = [(bt[0][0], y + self.h)]
            bottoms.extend(bt)
            x += b.w + GAP_X
        return tops, bottoms


class _Frame(_Laid):
    """A framed block or stage: title on top, content inside."""

    def __init__(self, inner: _Laid, title: str, cls: str, name: str, info: str = ""):
        self.inner, self.title, self.cls, self.name, self.info = inner, title, cls, name, info
        super().__init__(inner.w + 2 * PAD, inner.h + 2 * PAD + TITLE_H)

    def place(self, x: float, y: float, out: Group) -> tuple[list[Point], list[Point]]:
        g = Group(cls=self.cls, name=self.name, title=self.info or self.title)
        stage = "stage" in self.cls
        g.add(
            Rect(
                x,
                y,
                self.w,
                self.h,
                fill="none" if stage else "#fbfbfd",
                stroke="#9ca3af" if stage else "#6b7280",
                dash=stage or "residual" in self.cls,
                rx=8,
            ),
            Text(
                x + 8, y + 13, self.title, size=11, anchor="start", weight="bold", color="#4b5563"
            ),
        )
        tops, bottoms = self.inner.place(x + PAD, y + PAD + TITLE_H, g)  # type: ignore[attr-defined]
        out.add(g)
        return tops, bottoms


def _block_title(b: Block) -> tuple[str, str]:
    if b.kind == "inception":
        return f"{b.name} (inception)", "four branches and a depth-concat"
    if b.kind == "residual":
        convs = sum(1 for n in b.nodes() if n.main.kind == "conv" and not n.main.shortcut)
        what = "bottleneck" if convs >= 3 else "basic block"
        short = "projection shortcut" if b.projection else "identity shortcut"
        return f"{b.name} ({what})", short
    return b.name, b.kind


def _lay_items(items: Sequence[Item]) -> _Series:
    laid: list[_Laid] = []
    for it in items:
        if isinstance(it, Block):
            branches = [_lay_items(br) if br else _Identity() for br in it.branches]
            inner = _Series([_Parallel(branches), _Box(it.join)])
            title, info = _block_title(it)
            kind = it.kind
            if kind == "residual":
                kind += " projection" if it.projection else " identity"
                kind += " bottleneck" if "bottleneck" in title else " basic"
            laid.append(_Frame(inner, title, f"block {kind}", it.name, info))
        else:
            laid.append(_Box(it))
    return _Series(laid)


def _stage_frame(stage: Stage) -> _Frame:
    n = len(stage.blocks())
    title = stage.name + (f" · {n} blocks" if n > 1 else "")
    title += f" · {hwc(stage.output_shape)}"
    return _Frame(_lay_items(stage.items), title, "stage", stage.name)


def _scene_of(frames: Sequence[_Laid], title: str, entry: bool = False) -> Scene:
    top = GAP_Y if entry else 0
    body = _Series(frames)
    scene = Scene(body.w + 2 * PAD, body.h + 2 * PAD + top, title=title)
    tops, _ = body.place(PAD, PAD + top, scene.root)
    if entry and tops:
        _connect(scene.root, [(scene.width / 2, 0)], tops)
    return scene


def flow_scene(trace: TraceResult, title: str = "") -> Scene:
    """The whole block diagram in one scene (for `convzoo draw`)."""
    return _scene_of([_stage_frame(s) for s in figure_of(trace)], title)


def stage_scenes(trace: TraceResult) -> list[tuple[Stage, Scene]]:
    """One scene per stage (the report folds each), every one after the first with an entry
    arrow from the stage above."""
    stages = figure_of(trace)
    return [
        (s, _scene_of([_lay_items(s.items)], s.name, entry=i > 0)) for i, s in enumerate(stages)
    ]


def block_scene(trace: TraceResult, name: str, title: str = "") -> Scene:
    """One block of a network alone (the inception module figure of the lecture)."""
    for stage in figure_of(trace):
        for b in stage.blocks():
            if b.name == name:
                laid = _lay_items([b])
                scene = Scene(laid.w + 2 * PAD, laid.h + 2 * PAD + BOX_H + GAP_Y, title=title)
                prev = Node(-1, [_previous_layer(b)])
                body = _Series([_Box(prev), *laid.items])
                body.place(PAD, PAD, scene.root)
                scene.width = body.w + 2 * PAD
                return scene
    raise KeyError(name)


def _previous_layer(b: Block) -> LayerRecord:
    first = walk(b.branches[0])[0] if b.branches[0] else b.join
    return LayerRecord(
        name="previous layer",
        type="previous layer",
        kind="input",
        depth=0,
        output_shape=first.main.input_shape,
    )


# --- the classic layered look ---------------------------------------------------------------

BLOCK_COLOURS = ("#93c5fd", "#fca5a5", "#86efac", "#fcd34d", "#c4b5fd", "#f9a8d4", "#67e8f9")


def _towers(rows: list[LayerRecord]) -> list[int]:
    """How many towers each row's output is split into: 2 where its conv, or the next conv
    of the network, has ``groups=2`` (AlexNet's two GPUs), else 1."""
    convs = [i for i, r in enumerate(rows) if r.kind == "conv"]
    towers = [1] * len(rows)
    for j, i in enumerate(convs):
        nxt = rows[convs[j + 1]] if j + 1 < len(convs) else None
        if rows[i].groups > 1 or (nxt is not None and nxt.groups > 1):
            end = convs[j + 1] if nxt is not None else len(rows)
            for k in range(i, end):
                if rows[k].kind != "linear":
                    towers[k] = max(rows[i].groups, nxt.groups if nxt is not None else 1)
    return towers


def layered_scene(trace: TraceResult, title: str = "", family: str = "") -> Scene:
    """Feature maps as stacks, left to right (LeNet-5, AlexNet, VGG), with the towers; each
    layer labelled with its lecture name (C1, conv1, conv3-64) where the family has them."""
    names = lecture_names(trace.records, family)
    nodes = [
        n
        for s in figure_of(trace)
        for n in walk(s.items)
        if not (n.main.kind == "avgpool" and n.main.input_shape == n.main.output_shape)
    ]
    rows = [n.rows[-1] if n.main.kind != "input" else n.main for n in nodes]
    mains = [n.main for n in nodes]
    towers = _towers(mains)
    max_hw = max(r.output_shape[2] for r in rows if len(r.output_shape) == 4)
    scene = Scene(0, 0, title=title)
    x = 16.0
    height = 360.0
    mid = height / 2 + 10
    block = 0
    prev_right: float | None = None
    for node, r, t in zip(nodes, rows, towers, strict=True):
        main = node.main
        shape = r.output_shape
        if len(shape) == 4:
            c, h = shape[1], shape[2]
            side = 24 + 150 * math.sqrt(h / max_hw)
            if t > 1:
                side = min(side, 130)
            depth = min(46.0, 4 + 6 * math.log2(max(2, c)))
            colour = BLOCK_COLOURS[block % len(BLOCK_COLOURS)]
            if main.kind == "maxpool":
                colour = "#e5e7eb"
            g = Group(cls=f"layer {main.kind}", name=main.name, title=f"{main.name}: {hwc(shape)}")
            tops = []
            for k in range(t):
                cy = mid if t == 1 else mid + (k - 0.5) * (side + 60)
                _cuboid(g, x, cy - side / 2, side, depth, colour)
                tops.append(cy - side / 2)
                g.add(
                    Text(
                        x + (side + depth) / 2,
                        cy + side / 2 + 14,
                        f"{c // t}@{shape[2]}×{shape[3]}",
                        size=10,
                        color="#374151",
                    )
                )
            label = names.get(main.name, main.name) if main.kind != "input" else "input"
            g.add(Text(x + (side * 0.35 + depth) / 2, 40, label, size=11, weight="bold"))
            right = x + side * 0.35 + depth
            width = side * 0.35 + depth
            if main.kind in ("maxpool", "avgpool"):
                block += 1
        else:
            n = shape[-1]
            bar = 12.0
            tall = 40 + 200 * min(1.0, math.log10(max(10, n)) / 4)
            g = Group(cls=f"layer {main.kind}", name=main.name, title=f"{main.name}: {n}")
            g.add(
                Rect(x, mid - tall / 2, bar, tall, fill="#dcfce7", stroke="#15803d", rx=2),
                Text(x + bar / 2, 40, names.get(main.name, main.name), size=11, weight="bold"),
                Text(x + bar / 2, mid + tall / 2 + 14, str(n), size=10, color="#374151"),
            )
            right = x + bar
            width = bar + 28  # room for labels such as FC-4096 beside the next bar
        if prev_right is not None:
            g.children.insert(0, Line([(prev_right + 4, mid), (x - 4, mid)], color="#9ca3af"))
        scene.add(g)
        prev_right = right
        x += width + 34
    scene.width = x + 10
    scene.height = height + 60
    if title:
        scene.add(Text(16, 20, title, size=14, weight="bold", anchor="start"))
    return scene


def _cuboid(g: Group, x: float, y: float, side: float, depth: float, colour: str) -> None:
    """A stack of feature maps seen obliquely: a front square, a top and a side face."""
    front_w = side * 0.35
    dx, dy = depth, -depth * 0.6
    g.add(
        Polygon(
            [(x, y), (x + dx, y + dy), (x + dx + front_w, y + dy), (x + front_w, y)], fill="#f8fafc"
        ),
        Polygon(
            [
                (x + front_w, y),
                (x + front_w + dx, y + dy),
                (x + front_w + dx, y + side + dy),
                (x + front_w, y + side),
            ],
            fill="#e2e8f0",
        ),
        Polygon([(x, y), (x + front_w, y), (x + front_w, y + side), (x, y + side)], fill=colour),
    )
