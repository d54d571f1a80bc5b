"""A figure as a list of shapes, written as SVG or drawn with matplotlib (PNG).

The diagrams are laid out once, in pixels, as rectangles, texts and lines; the SVG writer
keeps groups (``<g class="block residual" data-name="layer1.0">``) so that a page can style,
fold and test them, and the PNG is matplotlib's rendering of the same shapes (no SVG
rasteriser needed: cairosvg would bring in the cairo C library).
"""

from __future__ import annotations

import html
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convzoo.errors import ConvzooError
from convzoo.io import write_bytes, write_text

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str = "#ffffff"
    stroke: str = "#555555"
    rx: float = 4
    dash: bool = False
    width: float = 1.0
    cls: str = ""


@dataclass
class Text:
    x: float
    y: float
    text: str
    size: float = 11
    anchor: str = "middle"  # start, middle, end
    weight: str = "normal"
    color: str = "#111111"
    cls: str = ""


@dataclass
class Line:
    points: list[tuple[float, float]]
    arrow: bool = True
    color: str = "#555555"
    dash: bool = False
    width: float = 1.2
    cls: str = ""


@dataclass
class Polygon:
    points: list[tuple[float, float]]
    fill: str = "#ffffff"
    stroke: str = "#555555"
    width: float = 0.8


@dataclass
class Group:
    cls: str = ""
    name: str = ""
    title: str = ""
    children: list[Shape] = field(default_factory=list)

    def add(self, *shapes: Shape) -> None:
        self.children.extend(shapes)


Shape = Rect | Text | Line | Polygon | Group


@dataclass
class Scene:
    width: float
    height: float
    root: Group = field(default_factory=Group)
    title: str = ""

    def add(self, *shapes: Shape) -> None:
        self.root.add(*shapes)


def _attrs(**kw: Any) -> str:
    return "".join(
        f' {k.rstrip("_").replace("_", "-")}="{html.escape(str(v))}"' for k, v in kw.items() if v
    )


def _svg_shape(s: Shape, out: list[str]) -> None:
    if isinstance(s, Group):
        attrs = _attrs(class_=s.cls, data_name=s.name)
        out.append(f"<g{attrs}>")
        if s.title:
            out.append(f"<title>{html.escape(s.title)}</title>")
        for c in s.children:
            _svg_shape(c, out)
        out.append("</g>")
    elif isinstance(s, Rect):
        out.append(
            f'<rect x="{s.x:.1f}" y="{s.y:.1f}" width="{s.w:.1f}" height="{s.h:.1f}" '
            f'rx="{s.rx:g}" fill="{s.fill}" stroke="{s.stroke}" stroke-width="{s.width:g}"'
            + (' stroke-dasharray="5 3"' if s.dash else "")
            + _attrs(class_=s.cls)
            + "/>"
        )
    elif isinstance(s, Text):
        out.append(
            f'<text x="{s.x:.1f}" y="{s.y:.1f}" font-size="{s.size:g}" text-anchor="{s.anchor}" '
            f'fill="{s.color}"'
            + (f' font-weight="{s.weight}"' if s.weight != "normal" else "")
            + _attrs(class_=s.cls)
            + f">{html.escape(s.text)}</text>"
        )
    elif isinstance(s, Line):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in s.points)
        out.append(
            f'<polyline points="{pts}" fill="none" stroke="{s.color}" stroke-width="{s.width:g}"'
            + (' stroke-dasharray="4 3"' if s.dash else "")
            + (' marker-end="url(#arrow)"' if s.arrow else "")
            + _attrs(class_=s.cls)
            + "/>"
        )
    else:
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in s.points)
        out.append(
            f'<polygon points="{pts}" fill="{s.fill}" stroke="{s.stroke}" '
            f'stroke-width="{s.width:g}"/>'
        )


def to_svg(scene: Scene, *, standalone: bool = True, cls: str = "diagram") -> str:
    """The scene as SVG: a file of its own (``standalone``) or an element to inline in HTML."""
    out = [
        ('<?xml version="1.0" encoding="UTF-8"?>\n' if standalone else "")
        + f'<svg xmlns="http://www.w3.org/2000/svg" class="{cls}" '
        f'width="{scene.width:.0f}" height="{scene.height:.0f}" '
        f'viewBox="0 0 {scene.width:.0f} {scene.height:.0f}" font-family="{FONT}" role="img">',
    ]
    if scene.title:
        out.append(f"<title>{html.escape(scene.title)}</title>")
    out.append(
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#555555"/></marker></defs>'
    )
    out.append('<rect width="100%" height="100%" fill="#ffffff"/>')
    _svg_shape(scene.root, out)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _mpl_shape(ax: Any, s: Shape, H: float) -> None:
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.patches import Polygon as MplPolygon

    if isinstance(s, Group):
        for c in s.children:
            _mpl_shape(ax, c, H)
    elif isinstance(s, Rect):
        ax.add_patch(
            FancyBboxPatch(
                (s.x, s.y),
                s.w,
                s.h,
                boxstyle=f"round,pad=0,rounding_size={min(s.rx, s.w / 2, s.h / 2)}",
                facecolor=s.fill,
                edgecolor=s.stroke,
                linewidth=s.width * 0.75,
                linestyle="--" if s.dash else "-",
            )
        )
    elif isinstance(s, Text):
        ha = {"start": "left", "middle": "center", "end": "right"}[s.anchor]
        # SVG places text on its baseline; matplotlib's "baseline" alignment does the same
        ax.text(
            s.x,
            s.y,
            s.text,
            fontsize=s.size * 0.75,
            ha=ha,
            va="baseline",
            color=s.color,
            fontweight=s.weight,
        )
    elif isinstance(s, Line):
        xs = [p[0] for p in s.points]
        ys = [p[1] for p in s.points]
        style = "--" if s.dash else "-"
        if s.arrow and len(s.points) >= 2:
            ax.plot(xs[:-1], ys[:-1], style, color=s.color, linewidth=s.width * 0.75)
            ax.add_patch(
                FancyArrowPatch(
                    s.points[-2],
                    s.points[-1],
                    arrowstyle="-|>",
                    mutation_scale=8,
                    color=s.color,
                    linewidth=s.width * 0.75,
                    shrinkA=0,
                    shrinkB=0,
                    linestyle=style,
                )
            )
        else:
            ax.plot(xs, ys, style, color=s.color, linewidth=s.width * 0.75)
    else:
        ax.add_patch(
            MplPolygon(
                s.points,
                closed=True,
                facecolor=s.fill,
                edgecolor=s.stroke,
                linewidth=s.width * 0.75,
            )
        )


def to_png(scene: Scene, scale: float = 2.0) -> bytes:
    """The scene drawn by matplotlib at ``scale`` image pixels per SVG pixel."""
    # matplotlib's object API: no pyplot, no global backend switch (imported here: ~0.3 s)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(scene.width / 96, scene.height / 96), dpi=96)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, scene.width)
    ax.set_ylim(scene.height, 0)  # y grows downwards, as in SVG
    ax.axis("off")
    _mpl_shape(ax, scene.root, scene.height)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96 * scale, facecolor="white")
    return buf.getvalue()


def save(scene: Scene, path: str | os.PathLike[str]) -> Path:
    """Write the scene as ``.svg`` or ``.png`` (by the file's suffix), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        write_text(path, to_svg(scene))
    elif suffix == ".png":
        write_bytes(path, to_png(scene))
    else:
        raise ConvzooError(f"{path}: write the figure as .svg or .png")
    return path
