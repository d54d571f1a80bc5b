"""The structural-details table: rows from the tracer, totals computed from the rows, renderers.

Renderers only format: every number they print is a field of a :class:`LayerRecord` or of
:class:`Totals`. Formats: ``text`` (the terminal's width, 100 columns in a pipe; columns dropped
by priority rather than overflowing, the layer's type among the last to go), ``md`` (like the
lecture's tables), ``csv``, ``json`` (schema ``convzoo.summary/1``, documented in
``docs/structural-tables.md``), ``latex`` (``table`` floats of 50 rows in ``\footnotesize``,
the columns that fit an A4 page's text width) and ``html`` (a standalone page; in Jupyter a
table shows itself as HTML through ``_repr_html_``).

The ``lecture`` column holds the names the lecture and the papers give the layers (LeNet-5's
C1, S2 ... F6, AlexNet's conv1 ... fc8, VGG's conv3-64, GoogLeNet's "#3x3 reduce", ResNet's
conv2-1): computed from the rows by :func:`lecture_names`, never typed per network.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from convzoo.errors import ConvzooError
from convzoo.inspect import costs
from convzoo.inspect.trace import LayerRecord, TraceResult

FORMATS = ("text", "md", "csv", "json", "latex", "html")
CONVENTIONS = ("real", "lecture")
JSON_SCHEMA = "convzoo.summary/1"


def _hwc(shape: Sequence[int]) -> str:
    """``H x W x C`` as in the lecture (the batch dimension dropped)."""
    if len(shape) == 4:
        return f"{shape[2]}x{shape[3]}x{shape[1]}"
    if len(shape) == 2:
        return f"1x1x{shape[1]}"
    return "x".join(str(s) for s in shape[1:])


def _input_text(r: LayerRecord) -> str:
    """A depth-concat row shows the channels it joins: ``28x28x(64+128+32+32)``."""
    inputs = r.extra.get("inputs") if r.kind == "concat" else None
    if inputs and all(len(s) == 4 for s in inputs):
        h, w = inputs[0][2], inputs[0][3]
        return f"{h}x{w}x(" + "+".join(str(s[1]) for s in inputs) + ")"
    return _hwc(r.input_shape)


def _pair_text(v: Sequence[int] | None) -> str:
    if v is None:
        return ""
    return str(v[0]) if len(set(v)) == 1 else "x".join(str(x) for x in v)


def _kernel_text(v: Sequence[int] | None) -> str:
    return "" if v is None else "x".join(str(x) for x in v)


def human(n: float, unit: str = "") -> str:
    """``1.23M``-style abbreviation (powers of 1000) for the terminal."""
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.2f}{suffix}{unit}"
    return f"{int(n)}{unit}"


def human_bytes(n: float) -> str:
    for div, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= div:
            return f"{n / div:.2f} {suffix}"
    return f"{int(n)} B"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    get: Callable[[LayerRecord, SummaryTable], Any]
    priority: int  # the lower, the longer it survives on a narrow terminal
    numeric: bool = False
    short: Callable[[Any], str] | None = None  # abbreviation for the text renderer


def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


COLUMNS: dict[str, Column] = {
    c.key: c
    for c in (
        Column("index", "#", lambda r, t: r.index if r.index is not None else "", 0, True),
        Column("name", "layer", lambda r, t: r.name, 0),
        Column("lecture", "lecture", lambda r, t: t.lecture.get(r.name, ""), 1),
        # the type survives longer than the input (the row above shows it as its output)
        Column("type", "type", lambda r, t: r.type, 1),
        Column("input", "input", lambda r, t: _input_text(r), 2),
        Column("output", "output", lambda r, t: _hwc(r.output_shape), 0),
        Column("kernel", "kernel", lambda r, t: _kernel_text(r.kernel), 1),
        Column("stride", "stride", lambda r, t: _pair_text(r.stride), 3),
        Column("pad", "pad", lambda r, t: _pair_text(r.padding), 3),
        Column("groups", "groups", lambda r, t: r.groups if r.kind == "conv" else "", 5, True),
        Column("in", "in", lambda r, t: "" if r.in_channels is None else r.in_channels, 5, True),
        Column(
            "out", "out", lambda r, t: "" if r.out_channels is None else r.out_channels, 5, True
        ),
        Column("params", "params", lambda r, t: r.params, 0, True, lambda v: f"{v:,}"),
        Column(
            "params_pct",
            "params %",
            lambda r, t: round(_pct(r.params, t.totals.params), 2),
            6,
            True,
            lambda v: f"{v:.1f}",
        ),
        Column("macs", "MACs", lambda r, t: r.macs, 0, True, lambda v: human(v)),
        Column(
            "macs_pct",
            "MACs %",
            lambda r, t: round(_pct(r.macs, t.totals.macs), 2),
            6,
            True,
            lambda v: f"{v:.1f}",
        ),
        Column(
            "activations",
            "activations",
            lambda r, t: r.activations * 1,
            7,
            True,
            lambda v: human(v),
        ),
        Column("rf", "RF", lambda r, t: _pair_text(r.receptive_field), 4),
    )
}
DEFAULT_COLUMNS = tuple(COLUMNS)
# The text renderer shows the lecture's names only when asked (``lecture_names=True``).
TEXT_HIDDEN = ("lecture",)
# The columns of the LaTeX table: those that fit the text width of an A4 page in footnotesize.
LATEX_COLUMNS = ("index", "name", "output", "kernel", "stride", "pad", "groups", "params", "macs")


@dataclass(frozen=True)
class Totals:
    """Totals of a table, computed from its rows (plus parameters the forward never used)."""

    params: int
    trainable_params: int
    frozen_params: int
    unused_params: int
    macs: int
    weight_bytes: int
    activation_bytes: int
    input_bytes: int
    batch_size: int

    @property
    def flops(self) -> int:
        """FLOPs = 2 x MACs (one multiply and one add)."""
        return 2 * self.macs

    def to_dict(self) -> dict[str, int]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["flops"] = self.flops
        return d


@dataclass
class SummaryTable:
    """A structural-details table. ``total_params`` and ``total_macs`` are the headline numbers."""

    model_name: str
    input_shape: tuple[int, ...]
    rows: list[LayerRecord]
    totals: Totals
    convention: str = "real"
    depth: int | None = None
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    unused: dict[str, int] = field(default_factory=dict)
    output_shapes: list[tuple[int, ...]] = field(default_factory=list)
    # row name -> the name the lecture or the paper gives the layer (see lecture_names)
    lecture: dict[str, str] = field(default_factory=dict)
    # the trace the table was built from (its rows carry the data flow the diagrams draw)
    trace: TraceResult | None = field(default=None, repr=False, compare=False)

    @property
    def total_params(self) -> int:
        return self.totals.params

    @property
    def total_macs(self) -> int:
        return self.totals.macs

    @property
    def total_flops(self) -> int:
        return self.totals.flops

    def weighted(self) -> list[LayerRecord]:
        """The numbered rows (conv and linear layers, projection shortcuts excepted)."""
        return [r for r in self.rows if r.index is not None]

    def render(
        self,
        fmt: str = "text",
        columns: Sequence[str] | None = None,
        width: int = 100,
        *,
        lecture_names: bool = False,
    ) -> str:
        """The table as ``text``, ``md``, ``csv``, ``json``, ``latex`` or ``html``.

        ``width`` is the terminal's for ``text``. ``lecture_names`` adds the lecture's layer
        names to the text table (the other formats carry them in their ``lecture`` column)."""
        if fmt not in FORMATS:
            raise ConvzooError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        cols = check_columns(columns or self.columns)
        if fmt == "text" and columns is None:
            cols = tuple(c for c in cols if lecture_names or c not in TEXT_HIDDEN)
        elif fmt == "latex" and columns is None:
            cols = tuple(
                c for c in cols if c in LATEX_COLUMNS or (lecture_names and c in TEXT_HIDDEN)
            )
        if lecture_names and "lecture" not in cols and "name" in cols:
            i = cols.index("name") + 1
            cols = (*cols[:i], "lecture", *cols[i:])
        return RENDERERS[fmt](self, cols, width)

    def __str__(self) -> str:
        return self.render("text")

    def __repr__(self) -> str:
        """One line: the notebook shows the table itself through ``_repr_html_``."""
        shape = "x".join(str(s) for s in self.input_shape[1:])
        return (
            f"<SummaryTable {self.model_name} input {shape}: {len(self.rows)} rows, "
            f"{self.total_params:,} params, {human(self.total_macs)} MACs>"
        )

    def _repr_html_(self) -> str:
        """Jupyter's view: the table (scrollable, sticky header) and its totals."""
        foot = "".join(f"<li>{html.escape(line)}</li>" for line in _footer_lines(self))
        return (
            f"<div><b>{html.escape(_title(self))}</b>"
            f'<div style="max-height:420px;overflow:auto">'
            f"{html_table(self, self.columns, sticky=True)}</div><ul>{foot}</ul></div>"
        )

    def to_pandas(self) -> Any:
        """The rows as a ``pandas.DataFrame``, one column a table column (pandas is optional:
        ``pip install convzoo[notebook]``)."""
        try:
            import pandas as pd  # optional, and slow to import: only when asked
        except ImportError:
            raise ConvzooError(
                "to_pandas() needs pandas: pip install pandas (or convzoo[notebook])"
            ) from None
        cols = list(self.columns)
        frame = pd.DataFrame(_cells(self, cols), columns=cols)
        return frame.replace("", None)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(render_json(self, self.columns, 0))


def check_columns(columns: Sequence[str]) -> tuple[str, ...]:
    cols = []
    for c in columns:
        for part in str(c).split(","):
            part = part.strip()
            if not part:
                continue
            if part not in COLUMNS:
                raise ConvzooError(f"unknown column {part!r}; choose from {', '.join(COLUMNS)}")
            cols.append(part)
    if not cols:
        raise ConvzooError(f"no columns given; choose from {', '.join(COLUMNS)}")
    return tuple(cols)


# --- building the table ---------------------------------------------------------------------


def _number(rows: list[LayerRecord]) -> None:
    i = 0
    for r in rows:
        if r.kind in costs.WEIGHTED_KINDS and not r.shortcut:
            i += 1
            r.index = i
        else:
            r.index = None


def _lecture(rows: list[LayerRecord]) -> list[LayerRecord]:
    """The lecture's convention: conv, pooling, linear and depth-concat rows; convs with biases;
    no batch norm, no projection shortcut, no activation / dropout / addition rows."""
    out = []
    for r in rows:
        if r.shortcut or r.kind not in (*costs.WEIGHTED_KINDS, *costs.POOL_KINDS, "concat"):
            continue
        params = r.params
        if r.kind == "conv" and not r.has_bias and r.out_channels:
            params += r.out_channels
        out.append(replace(r, params=params, trainable_params=params, param_bytes=params * 4))
    return out


def _aggregate(rows: list[LayerRecord], depth: int) -> list[LayerRecord]:
    """Rows deeper than ``depth`` merged into their ancestor at ``depth`` (sums of costs)."""
    out: list[LayerRecord] = []
    current: LayerRecord | None = None
    for r in rows:
        if r.depth <= depth:
            out.append(r)
            current = None
            continue
        prefix = ".".join(r.name.split(".")[:depth])
        if current is not None and current.name == prefix:
            current.params += r.params
            current.trainable_params += r.trainable_params
            current.param_bytes += r.param_bytes
            current.macs += r.macs
            current.output_shape = r.output_shape
            current.output_bytes = r.output_bytes
            current.out_channels = r.out_channels
            current.extra["activations"] = current.extra.get("activations", 0) + r.activations
            continue
        current = LayerRecord(
            name=prefix,
            type="block",
            kind="block",
            depth=depth,
            input_shape=r.input_shape,
            output_shape=r.output_shape,
            in_channels=r.in_channels,
            out_channels=r.out_channels,
            params=r.params,
            trainable_params=r.trainable_params,
            param_bytes=r.param_bytes,
            macs=r.macs,
            output_bytes=r.output_bytes,
            extra={"activations": r.activations},
        )
        out.append(current)
    return out


def build_table(
    trace: TraceResult,
    *,
    model_name: str,
    batch_size: int,
    convention: str = "real",
    depth: int | None = None,
    columns: Sequence[str] | None = None,
) -> SummaryTable:
    if convention not in CONVENTIONS:
        raise ConvzooError(
            f"unknown convention {convention!r}; choose one of {', '.join(CONVENTIONS)}"
        )
    if depth is not None and depth < 1:
        raise ConvzooError(f"depth must be at least 1, got {depth}")
    rows = [replace(r, extra=dict(r.extra)) for r in trace.records]
    _number(rows)
    if convention == "lecture":
        rows = _lecture(rows)
        unused: dict[str, int] = {}
        unused_trainable = 0
    else:
        unused = dict(trace.unused_params)
        unused_trainable = trace.unused_trainable
    params = sum(r.params for r in rows) + sum(unused.values())
    trainable = sum(r.trainable_params for r in rows) + unused_trainable
    totals = Totals(
        params=params,
        trainable_params=trainable,
        frozen_params=params - trainable,
        unused_params=sum(unused.values()),
        macs=sum(r.macs for r in rows),
        weight_bytes=sum(r.param_bytes for r in rows)
        + (4 * sum(unused.values()))
        + (trace.buffer_bytes if convention == "real" else 0),
        activation_bytes=sum(0 if r.inplace else r.output_bytes for r in rows),
        input_bytes=costs.numel(trace.input_shape) * 4,
        batch_size=batch_size,
    )
    if depth is not None:
        rows = _aggregate(rows, depth)
    for r in rows:
        r.extra.pop("module", None)
    return SummaryTable(
        model_name=model_name,
        input_shape=tuple(trace.input_shape),
        rows=rows,
        totals=totals,
        convention=convention,
        depth=depth,
        columns=check_columns(columns) if columns else DEFAULT_COLUMNS,
        unused=unused,
        output_shapes=trace.output_shapes,
    )


# --- the lecture's layer names ----------------------------------------------------------------

_MAIN_KINDS = ("conv", "linear", "maxpool", "avgpool")


def _noop_pool(r: LayerRecord) -> bool:
    """An adaptive pool that keeps the size it is given (LeNet-5's, AlexNet's at 227)."""
    return r.kind in costs.POOL_KINDS and r.input_shape == r.output_shape


def _lenet_names(rows: list[LayerRecord]) -> dict[str, str]:
    """C1, S2, C3, S4, C5, F6, OUTPUT: the 1998 paper's names, numbered through the layers.
    The paper's C5 is a 5x5 conv over a 5x5 map, which a fully-connected layer equals."""
    names: dict[str, str] = {}
    mains = [r for r in rows if r.kind in _MAIN_KINDS and not _noop_pool(r)]
    convs_seen = 0
    for i, r in enumerate(mains, start=1):
        if r.kind == "conv":
            convs_seen += 1
            letter = "C"
        elif r.kind == "linear":
            letter = "C" if convs_seen == 2 and i == 5 else "F"
        else:
            letter = "S"
        names[r.name] = "OUTPUT" if r is mains[-1] and r.kind == "linear" else f"{letter}{i}"
    return names


def _alexnet_names(rows: list[LayerRecord]) -> dict[str, str]:
    names: dict[str, str] = {}
    counts = {"conv": 0}
    for r in rows:
        if r.kind == "conv":
            counts["conv"] += 1
            names[r.name] = f"conv{counts['conv']}"
        elif r.kind == "maxpool":  # numbered by the conv before it, as the lecture does
            names[r.name] = f"maxpool{counts['conv']}"
        elif r.kind == "linear":
            counts["conv"] += 1
            names[r.name] = f"fc{counts['conv']}"
    return names


def _vgg_names(rows: list[LayerRecord]) -> dict[str, str]:
    """The VGG paper's Table 1 notation: conv3-64, maxpool, FC-4096."""
    names: dict[str, str] = {}
    for r in rows:
        if r.kind == "conv" and r.kernel:
            names[r.name] = f"conv{r.kernel[0]}-{r.out_channels}"
        elif r.kind == "maxpool":
            names[r.name] = "maxpool"
        elif r.kind == "linear":
            names[r.name] = f"FC-{r.out_channels}"
        elif r.kind == "lrn":
            names[r.name] = "LRN"
    return names


def _googlenet_names(rows: list[LayerRecord]) -> dict[str, str]:
    """The paper's Table 1 columns inside an inception module: #1x1, #3x3 reduce, #3x3,
    #5x5 reduce, #5x5, pool proj; outside, the module's name."""
    names: dict[str, str] = {}
    branches: dict[tuple[str, str], list[LayerRecord]] = {}
    for r in rows:
        parts = r.name.split(".")
        if r.kind not in (*_MAIN_KINDS, "concat"):
            continue
        m = re.fullmatch(r"inception(\w+)", parts[0])
        if m and len(parts) > 2:
            branches.setdefault((parts[0], parts[1]), []).append(r)
        elif m:
            names[r.name] = f"inception ({m.group(1)})"
        else:
            names[r.name] = parts[0]
    for (module, _), members in branches.items():
        tag = module[len("inception") :]
        for j, r in enumerate(members):
            k = f"{r.kernel[0]}x{r.kernel[0]}" if r.kernel else ""
            if r.kind in costs.POOL_KINDS:
                label = "pool"
            elif j == 0 and len(members) > 1 and members[1].kind == "conv":
                nxt = members[1].kernel
                label = f"#{nxt[0]}x{nxt[0]} reduce" if nxt else "#reduce"
            elif j > 0 and members[0].kind in costs.POOL_KINDS:
                label = "pool proj"
            else:
                label = f"#{k}"
            names[r.name] = f"{tag} {label}"
    return names


def _resnet_names(rows: list[LayerRecord]) -> dict[str, str]:
    """conv1, then the lecture's conv2-1, conv2-2 ... (stage ``layerN`` is the paper's
    conv(N+1)_x), projection shortcuts as ``conv3 proj``, then avgpool and fc."""
    names: dict[str, str] = {}
    counts: dict[int, int] = {}
    for r in rows:
        m = re.match(r"layer(\d+)\.", r.name)
        if r.kind == "conv" and m:
            stage = int(m.group(1)) + 1
            if r.shortcut:
                names[r.name] = f"conv{stage} proj"
                continue
            counts[stage] = counts.get(stage, 0) + 1
            names[r.name] = f"conv{stage}-{counts[stage]}"
        elif r.kind in _MAIN_KINDS:
            head = r.name.split(".")[0]
            names[r.name] = "avg pool" if r.kind == "avgpool" else head
    return names


LECTURE_NAMERS = {
    "lenet": _lenet_names,
    "alexnet": _alexnet_names,
    "vgg": _vgg_names,
    "googlenet": _googlenet_names,
    "resnet": _resnet_names,
}


def lecture_names(rows: list[LayerRecord], family: str) -> dict[str, str]:
    """Row name -> the lecture's (or the paper's) name of the layer, for a family of the zoo;
    empty for other networks."""
    namer = LECTURE_NAMERS.get(family)
    return namer(rows) if namer else {}


# --- renderers ------------------------------------------------------------------------------


def _cells(t: SummaryTable, cols: Sequence[str]) -> list[list[Any]]:
    return [[COLUMNS[c].get(r, t) for c in cols] for r in t.rows]


def _footer_lines(t: SummaryTable) -> list[str]:
    tot = t.totals
    lines = [
        f"Total params: {tot.params:,} (trainable {tot.trainable_params:,}, frozen "
        f"{tot.frozen_params:,})",
        f"Total MACs: {tot.macs:,} ({human(tot.macs)}); FLOPs = 2 x MACs = {tot.flops:,}",
        f"Weight memory: {human_bytes(tot.weight_bytes)} (parameters and buffers)",
        f"Activation memory of one forward pass at batch {tot.batch_size}: "
        f"{human_bytes(tot.activation_bytes)} (input {human_bytes(tot.input_bytes)})",
    ]
    if tot.unused_params:
        lines.append(
            f"{tot.unused_params:,} parameters not used by this (inference) forward, counted in "
            f"the total: {', '.join(sorted({n.split('.')[0] for n in t.unused}))}"
        )
    if t.convention == "lecture":
        lines.append(
            "Convention: lecture (conv layers with biases, no batch norm, no projection "
            "shortcuts, no activation rows)"
        )
    return lines


def _title(t: SummaryTable) -> str:
    shape = "x".join(str(s) for s in t.input_shape[1:])
    return f"{t.model_name} - Structural Details (input {shape}, batch {t.input_shape[0]})"


def _text_value(c: str, v: Any) -> str:
    col = COLUMNS[c]
    if v == "" or v is None:
        return ""
    if col.short is not None and isinstance(v, (int, float)):
        return col.short(v)
    return str(v)


def _capped_widths(
    cols: Sequence[str], keep: Sequence[str], body: list[list[str]], name_cap: int
) -> list[int]:
    """The width of each kept column (its title or its widest cell; long names capped)."""
    out = []
    for c in keep:
        i = cols.index(c)
        w = max([len(COLUMNS[c].title)] + [len(r[i]) for r in body])
        out.append(min(w, name_cap) if c == "name" else w)
    return out


def _fits(cols: Sequence[str], keep: Sequence[str], body: list[list[str]], cap: int, width: int):
    return sum(_capped_widths(cols, keep, body, cap)) + 2 * (len(keep) - 1) <= width


def _fit_columns(cols: list[str], body: list[list[str]], width: int) -> tuple[list[str], int]:
    """The columns kept to fit ``width`` and the cap on the name column.

    The lowest-priority column goes first (the last of equals); once only priority-0 columns
    are left, the names are shortened. A wide column dropped late may have made room for a
    narrower one dropped before it, which comes back."""
    keep = list(cols)
    name_cap = 32
    while not _fits(cols, keep, body, name_cap, width):
        droppable = [c for c in keep if COLUMNS[c].priority > 0]
        if droppable:
            keep.remove(max(droppable, key=lambda c: (COLUMNS[c].priority, keep.index(c))))
        elif name_cap > 12:
            name_cap -= 4
        else:
            break
    for c in sorted((c for c in cols if c not in keep), key=lambda c: COLUMNS[c].priority):
        trial = [x for x in cols if x in keep or x == c]
        if _fits(cols, trial, body, name_cap, width):
            keep = trial
    return keep, name_cap


def render_text(t: SummaryTable, cols: Sequence[str], width: int = 100) -> str:
    cols = list(cols)
    body = [[_text_value(c, v) for c, v in zip(cols, row, strict=True)] for row in _cells(t, cols)]
    keep, name_cap = _fit_columns(cols, body, width)
    w = _capped_widths(cols, keep, body, name_cap)
    idx = [cols.index(c) for c in keep]

    def line(values: list[str]) -> str:
        parts = []
        for c, v, wd in zip(keep, values, w, strict=True):
            if len(v) > wd:  # long dotted names keep their informative end
                v = "…" + v[-(wd - 1) :]
            parts.append(v.rjust(wd) if COLUMNS[c].numeric else v.ljust(wd))
        return "  ".join(parts).rstrip()

    rule = "-" * min(width, sum(w) + 2 * (len(w) - 1))
    out = [_title(t)[:width], line([COLUMNS[cols[i]].title for i in idx]), rule]
    out.extend(line([r[i] for i in idx]) for r in body)
    out.append(rule)
    footer = _footer_lines(t)
    dropped = [COLUMNS[c].title for c in cols if c not in keep]
    if dropped:
        footer.append(
            f"(columns left out to fit {width} columns: {', '.join(dropped)}; "
            f"--format md/csv/json show them)"
        )
    for text in footer:  # wrapped, never wider than the terminal
        out.extend(textwrap.wrap(text, width, subsequent_indent="  ", break_on_hyphens=False))
    return "\n".join(out) + "\n"


def _md_escape(v: Any) -> str:
    return str(v).replace("|", "\\|")


def render_md(t: SummaryTable, cols: Sequence[str], width: int = 100) -> str:
    heads = [COLUMNS[c].title for c in cols]
    out = [
        f"**{_title(t)}**",
        "",
        "| " + " | ".join(heads) + " |",
        "|" + "|".join("---:" if COLUMNS[c].numeric else "---" for c in cols) + "|",
    ]
    for row in _cells(t, cols):
        vals = [
            f"{v:,}"
            if isinstance(v, int) and not isinstance(v, bool) and c != "index"
            else _md_escape(v)
            for c, v in zip(cols, row, strict=True)
        ]
        out.append("| " + " | ".join(vals) + " |")
    total = {c: "" for c in cols}
    first = cols[0]
    total[first] = "**Total**"
    if "params" in cols:
        total["params"] = f"**{t.totals.params:,}**"
    if "macs" in cols:
        total["macs"] = f"**{t.totals.macs:,}**"
    out.append("| " + " | ".join(total[c] for c in cols) + " |")
    out.append("")
    out.extend(f"- {line}" for line in _footer_lines(t))
    return "\n".join(out) + "\n"


def render_csv(t: SummaryTable, cols: Sequence[str], width: int = 100) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for row in _cells(t, cols):
        w.writerow(row)
    return buf.getvalue()


def render_json(t: SummaryTable, cols: Sequence[str], width: int = 100) -> str:
    def shape(s: Sequence[int]) -> list[int]:
        return [int(x) for x in s]

    rows = []
    for r in t.rows:
        rows.append(
            {
                "index": r.index,
                "name": r.name,
                "type": r.type,
                "kind": r.kind,
                "depth": r.depth,
                "input_shape": shape(r.input_shape),
                "output_shape": shape(r.output_shape),
                "kernel": None if r.kernel is None else shape(r.kernel),
                "stride": None if r.stride is None else shape(r.stride),
                "padding": None if r.padding is None else shape(r.padding),
                "in_channels": r.in_channels,
                "out_channels": r.out_channels,
                "params": r.params,
                "trainable_params": r.trainable_params,
                "macs": r.macs,
                "activations": r.activations,
                "receptive_field": None if r.receptive_field is None else shape(r.receptive_field),
                "shortcut": r.shortcut,
            }
        )
    doc = {
        "schema": JSON_SCHEMA,
        "model": t.model_name,
        "input_shape": shape(t.input_shape),
        "batch_size": t.totals.batch_size,
        "convention": t.convention,
        "depth": t.depth,
        "rule": "MACs = multiply-accumulates of one inference forward; FLOPs = 2 x MACs",
        "rows": rows,
        "totals": t.totals.to_dict(),
        "unused_params": t.unused,
    }
    return json.dumps(doc, indent=2 if width else None) + "\n"


_LATEX_SPECIAL = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
    "\\": r"\textbackslash{}",
}


def _tex(v: Any) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(v))


LATEX_ROWS_PER_PAGE = 50


def render_latex(t: SummaryTable, cols: Sequence[str], width: int = 100) -> str:
    """``table`` floats of at most :data:`LATEX_ROWS_PER_PAGE` rows each (a deep network
    continues over several, "continued" in their captions), in ``\\footnotesize`` with narrow
    column gaps: :data:`LATEX_COLUMNS` (MACs abbreviated) fit the text width of an A4 page
    with 2.5 cm margins (455 pt; a test measures every row) and the rows its text height.
    Needs no package."""
    spec = "".join("r" if COLUMNS[c].numeric else "l" for c in cols)
    head = " & ".join(_tex(COLUMNS[c].title) for c in cols) + r" \\"
    lines = []
    for row in _cells(t, cols):
        vals = [
            human(v) if c == "macs" else f"{v:,}" if isinstance(v, int) and c != "index" else v
            for c, v in zip(cols, row, strict=True)
        ]
        lines.append(" & ".join(_tex(v) for v in vals) + r" \\")
    total = ["" for _ in cols]
    total[0] = r"\textbf{Total}"
    if "params" in cols:
        total[cols.index("params")] = rf"\textbf{{{t.totals.params:,}}}"
    if "macs" in cols:
        total[cols.index("macs")] = rf"\textbf{{{t.totals.macs:,}}}"
    pages = [lines[i : i + LATEX_ROWS_PER_PAGE] for i in range(0, len(lines), LATEX_ROWS_PER_PAGE)]
    out: list[str] = []
    for n, page in enumerate(pages or [[]]):
        last = n == len(pages) - 1 or not pages
        caption = _tex(_title(t)) + (f" (continued, part {n + 1})" if n else "")
        if last:
            caption += f". {_tex(_footer_lines(t)[1])}"
        out += [
            r"\begin{table}[p]" if len(pages) > 1 else r"\begin{table}[ht]",
            r"\centering",
            r"\footnotesize",
            r"\setlength{\tabcolsep}{3pt}",
            rf"\begin{{tabular}}{{{spec}}}",
            r"\hline",
            head,
            r"\hline",
            *page,
        ]
        if last:
            out += [r"\hline", " & ".join(total) + r" \\"]
        out += [r"\hline", r"\end{tabular}", rf"\caption{{{caption}}}", r"\end{table}"]
    return "\n".join(out) + "\n"


NUM_CLASS = ' class="num"'


def html_table(t: SummaryTable, cols: Sequence[str], *, sticky: bool = False) -> str:
    """The rows as an HTML ``<table class="summary">`` (used by the page, Jupyter and the
    report); numbers in full, one ``<tr class="KIND">`` a row."""
    esc = html.escape
    style = ' style="position:sticky;top:0;background:#eee"' if sticky else ""
    head = "".join(f"<th{style}>{esc(COLUMNS[c].title)}</th>" for c in cols)
    body = []
    for r, row in zip(t.rows, _cells(t, cols), strict=True):
        tds = "".join(
            f'<td class="num">{v:,}</td>'
            if isinstance(v, int) and c != "index"
            else f"<td{_cell_class(c)}>{esc(str(v))}</td>"
            for c, v in zip(cols, row, strict=True)
        )
        body.append(f'<tr class="{esc(r.kind)}">{tds}</tr>')
    return (
        f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>'
        + "\n".join(body)
        + "</tbody></table>"
    )


def _cell_class(c: str) -> str:
    if COLUMNS[c].numeric:
        return NUM_CLASS
    return ' class="name"' if c == "name" else ""


def render_html(t: SummaryTable, cols: Sequence[str], width: int = 100) -> str:
    esc = html.escape
    foot = "".join(f"<li>{esc(line)}</li>" for line in _footer_lines(t))
    table = html_table(t, cols).replace('<table class="summary">', "<table>", 1)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{esc(_title(t))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; }}
th {{ background: #eee; position: sticky; top: 0; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.conv td, tr.linear td {{ background: #f6fbff; }}
tr.concat td, tr.add td {{ background: #fff8e6; }}
</style>
</head>
<body>
<h1>{esc(_title(t))}</h1>
{table}
<ul>{foot}</ul>
</body>
</html>
"""


RENDERERS: dict[str, Callable[[SummaryTable, Sequence[str], int], str]] = {
    "text": render_text,
    "md": render_md,
    "csv": render_csv,
    "json": render_json,
    "latex": render_latex,
    "html": render_html,
}
