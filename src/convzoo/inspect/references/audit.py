"""The audit: the lecture's and the papers' published tables checked against the live networks.

Each published table is data (a CSV next to this file; ``sources.csv`` says where it comes
from). :func:`audit` traces the live network with :func:`convzoo.inspect.summarize`, in the
table's counting convention, and returns an :class:`AuditReport`: one :class:`Finding` per
checked cell, with the published and the live value, whether they agree, and for a
disagreement its most likely cause:

``typo``          the table's own columns give another value (a slip of the pen or of a key);
``convention``    the table counts differently (biases, batch norm, K = 1024, FLOPs = MACs...);
``variant``       the table describes another network than the one it names;
``inconsistent``  the table contradicts itself (a total that is not the sum of its rows,
                  a row whose number does not follow from its own kernel and channels).

Rounding conventions of a table (millions rounded to integers, K = 1024) are honoured: a value
that rounds to the published one is a match.
"""

from __future__ import annotations

import csv
import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from convzoo.errors import ConvzooError

AGAINST = ("lecture", "paper")

# Which published table describes which registered network.
LECTURE_TABLES = {
    "alexnet": "lecture_alexnet",
    "vgg16": "lecture_vgg16",
    "googlenet": "lecture_googlenet",
    "resnet18": "lecture_resnet18",
}
PAPER_TABLES = {
    "lenet5_1998": "paper_lenet5_1998",
    "alexnet_2012": "paper_alexnet_2012",
    **{m: "paper_vgg_table2" for m in ("vgg11", "vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19")},
    "googlenet": "paper_googlenet_table1",
    **{
        m: "paper_resnet_table1"
        for m in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
    },
}
# The network each of the nine tables is audited against by default.
TABLE_MODELS = {
    "lecture_alexnet": ("alexnet", "lecture"),
    "lecture_vgg16": ("vgg16", "lecture"),
    "lecture_googlenet": ("googlenet", "lecture"),
    "lecture_resnet18": ("resnet18", "lecture"),
    "paper_lenet5_1998": ("lenet5_1998", "paper"),
    "paper_alexnet_2012": ("alexnet_2012", "paper"),
    "paper_vgg_table2": ("vgg16", "paper"),
    "paper_googlenet_table1": ("googlenet", "paper"),
    "paper_resnet_table1": ("resnet50", "paper"),
}


@dataclass
class Finding:
    """One checked cell of a published table."""

    row: str
    field: str
    published: Any
    live: Any
    ok: bool
    cause: str = ""  # typo | convention | variant | inconsistent ('' when ok)
    note: str = ""


@dataclass
class AuditReport:
    model: str
    table: str
    against: str
    title: str
    source: str
    findings: list[Finding] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)

    @property
    def matches(self) -> list[Finding]:
        return [f for f in self.findings if f.ok]

    @property
    def mismatches(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def find(self, row: str, field_: str) -> Finding:
        """The finding of one cell (``row`` as the table labels it)."""
        for f in self.findings:
            if f.row == row and f.field == field_:
                return f
        raise KeyError(f"no finding for row {row!r}, field {field_!r}")

    def add(
        self,
        row: str,
        field_: str,
        published: Any,
        live: Any,
        ok: bool,
        cause: str = "",
        note: str = "",
    ) -> Finding:
        f = Finding(row, field_, published, live, ok, "" if ok else (cause or "inconsistent"), note)
        self.findings.append(f)
        return f

    def render(self, fmt: str = "text", verbose: bool = False) -> str:
        if fmt not in ("text", "md"):
            raise ConvzooError(f"unknown audit format {fmt!r}; choose text or md")
        md = fmt == "md"
        out = [
            f"{'## ' if md else ''}Audit of {self.title} against {self.model}",
            "",
            f"Source: {self.source}",
            "",
            f"{len(self.findings)} cells checked: {len(self.matches)} agree, "
            f"{len(self.mismatches)} disagree.",
            "",
        ]
        shown = self.findings if verbose else self.mismatches
        if shown:
            out.append("Disagreements:" if not verbose else "Cells:")
            out.append("")
            for f in shown:
                mark = "ok" if f.ok else f.cause
                line = (
                    f"{f.row} / {f.field}: published {f.published!s}, expected {f.live!s} "
                    f"[{mark}]" + (f" {f.note}" if f.note else "")
                )
                out.append(f"- {line}" if md else f"  - {line}")
            out.append("")
        right = sorted(
            {f.row for f in self.matches} - {f.row for f in self.mismatches},
            key=lambda r: [f.row for f in self.findings].index(r),
        )
        if right:
            out.append(f"Where the table is right (every checked cell agrees): {', '.join(right)}.")
            out.append("")
        if self.summary:
            out.append("Summary:" if not md else "**Summary**")
            out.append("")
            out.extend(f"- {s}" if md else f"  - {s}" for s in self.summary)
        return "\n".join(out).rstrip() + "\n"


# --- data -----------------------------------------------------------------------------------


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("convzoo.inspect.references").joinpath(name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def sources() -> dict[str, dict[str, str]]:
    """The index of the published tables: title, source, units and notes of each."""
    return {r["table"]: r for r in _read_csv("sources.csv")}


def load_table(table: str) -> list[dict[str, str]]:
    """The rows of one published table, as given (strings)."""
    src = sources()
    if table not in src:
        raise ConvzooError(f"unknown table {table!r}; the tables are {', '.join(src)}")
    return _read_csv(src[table]["file"])


def _ints(text: str) -> list[int] | None:
    parts = text.split()
    try:
        return [int(p) for p in parts] if parts else None
    except ValueError:
        return None


def _int(text: str) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _kind(label: str) -> str:
    label = label.lower()
    if label.startswith("conv"):
        return "conv"
    if label.startswith("fc"):
        return "linear"
    if "pool" in label:
        return "pool"
    if "concat" in label:
        return "concat"
    return "other"


def _formula_params(
    kind: str, kernel: list[int] | None, cin: int | None, cout: int | None
) -> int | None:
    """Parameters that a row's own columns imply (the lecture counts biases)."""
    if kind == "pool":
        return 0
    if cin is None or cout is None:
        return None
    k = math.prod(kernel) if kernel else 1
    return k * cin * cout + cout


def _near_typo(a: int, b: int) -> bool:
    """Same length and one or two digits changed, or the same digits in another order."""
    sa, sb = str(a), str(b)
    if sorted(sa) == sorted(sb):
        return True
    if len(sa) == len(sb):
        return sum(x != y for x, y in zip(sa, sb, strict=True)) <= 2
    return abs(len(sa) - len(sb)) == 1 and difflib.SequenceMatcher(None, sa, sb).ratio() > 0.8


def _hwc_live(shape: tuple[int, ...]) -> list[int]:
    if len(shape) == 4:
        return [shape[2], shape[3], shape[1]]
    return [1, 1, shape[-1]]


# --- the lecture's sequential tables (AlexNet, VGG16, ResNet18) -----------------------------


def _live_rows(model: str, convention: str = "lecture", **kw: Any) -> tuple[list, Any]:
    from convzoo.inspect import summarize

    t = summarize(model, convention=convention, **kw)
    rows = [
        r
        for r in t.rows
        if r.kind in ("conv", "linear", "maxpool", "avgpool", "concat")
        and not (r.kind in ("maxpool", "avgpool") and r.input_shape == r.output_shape)
    ]
    return rows, t


def _audit_sequential(rep: AuditReport, model: str, table: list[dict[str, str]]) -> None:
    rows = [r for r in table if r["layer"] != "Total"]
    total_row = next((r for r in table if r["layer"] == "Total"), None)
    live, live_table = _live_rows(model)
    pub_kinds = ["pool" if _kind(r["layer"]) == "pool" else _kind(r["layer"]) for r in rows]
    live_kinds = ["pool" if r.kind in ("maxpool", "avgpool") else r.kind for r in live]
    pairs: dict[int, Any] = {}
    sm = difflib.SequenceMatcher(None, pub_kinds, live_kinds, autojunk=False)
    for a, b, n in sm.get_matching_blocks():
        for k in range(n):
            pairs[a + k] = live[b + k]

    prev_out: list[int] | None = None
    published_sum = 0
    for i, r in enumerate(rows):
        label = r["layer"]
        kind = _kind(label)
        kernel = _ints(r["kernel"])
        cin, cout = _int(r["in"]), _int(r["out"])
        inp, outp = _ints(r["input"]), _ints(r["output"])
        stride, pad = r["stride"].strip(), r["pad"].strip()
        params = _int(r["params"])
        published_sum += params or 0
        lv = pairs.get(i)
        tag = f"{label} (row {r['row']})"

        # the label itself: VGG's 'conv3-64' names kernel and width
        m = re.fullmatch(r"conv(\d)-(\d+)", label)
        m0 = re.fullmatch(r"conv(\d)0(\d+)", label)
        if m0 and not m and cout is not None and int(m0.group(2)) == cout:
            rep.add(
                tag,
                "label",
                label,
                f"conv{m0.group(1)}-{m0.group(2)}",
                False,
                "typo",
                f"'0' typed for '-': the row's kernel and width say conv3-{m0.group(2)}",
            )
        # internal: the row's own parameter formula
        expect = _formula_params(kind, kernel, cin, cout)
        if expect is not None and params is not None and params != expect:
            if kind == "pool":
                rep.add(
                    tag,
                    "params (own columns)",
                    params,
                    0,
                    False,
                    "inconsistent",
                    "a pooling layer has no parameters; the stray value is counted in the "
                    "printed total",
                )
            else:
                _report_own_columns(rep, tag, params, expect)
        # internal: chain of shapes
        if prev_out is not None and inp is not None and math.prod(inp) != math.prod(prev_out):
            rep.add(
                tag,
                "input (vs row above)",
                " ".join(map(str, inp)),
                " ".join(map(str, prev_out)),
                False,
                "inconsistent",
                "the input differs from the output of the row above",
            )
        if outp is not None:
            prev_out = outp
        if lv is None:
            rep.add(
                tag,
                "layer",
                label,
                "-",
                False,
                "variant",
                "no layer of the live network corresponds to this row",
            )
            continue
        live_in, live_out = _hwc_live(lv.input_shape), _hwc_live(lv.output_shape)
        if inp is not None and len(inp) == 3 and kind != "linear":
            ok = inp == live_in
            note = ""
            if not ok and i == 0:
                note = (
                    f"the network's default input is {live_in[0]}x{live_in[1]}; with the "
                    f"published {inp[0]}x{inp[1]} and the network's padding the output "
                    "would not be the published one"
                )
            rep.add(
                tag,
                "input",
                " ".join(map(str, inp)),
                " ".join(map(str, live_in)),
                ok,
                "typo" if i == 0 else "inconsistent",
                note,
            )
        if outp is not None and len(outp) == 3 and kind != "linear":
            rep.add(
                tag,
                "output",
                " ".join(map(str, outp)),
                " ".join(map(str, live_out)),
                outp == live_out,
                "inconsistent",
            )
        if kernel and kind != "linear":
            lk = list(lv.kernel) if lv.kernel else None
            rep.add(
                tag,
                "kernel",
                "x".join(map(str, kernel)),
                "x".join(map(str, lk)) if lk else "-",
                kernel == lk,
                "typo",
            )
        if stride and kind != "linear":
            ls = lv.stride[0] if lv.stride else None
            rep.add(tag, "stride", stride, ls, _int(stride) == ls, "typo")
        if pad and kind != "linear":
            lp = lv.padding[0] if lv.padding else None
            if pad == "0.5":
                rep.add(
                    tag,
                    "pad",
                    pad,
                    lp,
                    False,
                    "convention",
                    f"'0.5' is the lecture's shorthand for the padding that halves the "
                    f"size at stride 2; the network pads {lp} (with output "
                    f"{live_out[0]}x{live_out[1]})",
                )
            else:
                ok = _int(pad) == lp
                note = ""
                if not ok and inp and outp and kernel and _int(stride):
                    own = (inp[0] + 2 * _int(pad) - kernel[0]) // _int(stride) + 1
                    if own == outp[0]:
                        note = (
                            f"the published pad {pad} gives the published output at the "
                            f"published input {inp[0]}, but the network pads {lp} at "
                            f"input {live_in[0]}: the input and pad were changed together"
                        )
                rep.add(tag, "pad", pad, lp, ok, "typo", note)
        if cin is not None:
            rep.add(tag, "in", cin, lv.in_channels, cin == lv.in_channels, "typo")
        if cout is not None:
            rep.add(tag, "out", cout, lv.out_channels, cout == lv.out_channels, "typo")
        if params is not None:
            ok = params == lv.params
            cause, note = "typo", ""
            if not ok and kind == "pool":
                cause = "inconsistent"
                note = "pooling has no parameters"
            rep.add(tag, "params", params, lv.params, ok, cause, note)

    live_total = live_table.total_params
    if total_row is not None:
        pub_total = _int(total_row["params"])
        _check_printed_total(rep, pub_total, published_sum)
        ok = pub_total == live_total
        note = ""
        if not ok and pub_total == published_sum:
            diff = pub_total - live_total
            culprit = [r["layer"] for r in rows if _int(r["params"]) == diff]
            note = (
                f"the total is the sum of the rows, which differ from the network by "
                f"{diff:,}" + (f" (the {', '.join(culprit)} row)" if culprit else "")
            )
        rep.add("Total", "params", pub_total, live_total, ok, "inconsistent", note)
    real_total = _live_rows(model, convention="real")[1].total_params
    rep.summary.append(
        f"The network counted as the lecture does (conv biases, no batch norm, no projection "
        f"shortcuts) has {live_total:,} parameters; the real {model} has {real_total:,}."
    )


def _report_own_columns(rep: AuditReport, tag: str, params: int, expect: int) -> None:
    """A row whose printed parameters disagree with its own kernel and channel columns."""
    rep.add(
        tag,
        "params (own columns)",
        params,
        expect,
        False,
        "typo" if _near_typo(params, expect) else "inconsistent",
        "the row's own kernel and channels give this value",
    )


def _check_printed_total(rep: AuditReport, printed_total: int, sum_of_rows: int) -> None:
    """A table's printed total against the sum of its own printed rows."""
    rep.add(
        "Total",
        "params (sum of rows)",
        printed_total,
        sum_of_rows,
        printed_total == sum_of_rows,
        "inconsistent",
        "the printed total is not the sum of the printed rows",
    )


# --- the lecture's GoogLeNet table ----------------------------------------------------------


def _audit_lecture_googlenet(rep: AuditReport, model: str, table: list[dict[str, str]]) -> None:
    rows = [r for r in table if r["layer"] != "Total"]
    total_row = next((r for r in table if r["layer"] == "Total"), None)
    live, live_table = _live_rows(model)
    convs = [r for r in live if r.kind in ("conv", "linear")]
    used: set[int] = set()
    published_sum = 0
    for r in rows:
        label, kind = r["layer"], _kind(r["layer"])
        tag = f"{label} (row {r['row']}{', ' + r['block'] if r['block'] else ''})"
        params = _int(r["params"])
        published_sum += params or 0
        kernel, cin, cout = _ints(r["kernel"]), _int(r["in"]), _int(r["out"])
        inp, outp = _ints(r["input"]), _ints(r["output"])
        if kind == "concat" or (inp is None and outp is None and params is None):
            if outp is None or len(outp) != 3:
                rep.add(
                    tag,
                    "output",
                    r["input"] or r["output"],
                    "-",
                    False,
                    "typo",
                    "malformed cell: five numbers where H W C (and H W C) are expected",
                )
            continue
        if (inp is not None and len(inp) not in (3, 6)) or (outp is None and inp is not None):
            rep.add(
                tag,
                "input/output",
                r["input"],
                "-",
                False,
                "typo",
                "malformed cell: the input and output sizes run together with a stray number",
            )
        if (
            inp is not None
            and len(inp) == 3
            and cin is not None
            and kind == "conv"
            and inp[2] != cin
        ):
            rep.add(
                tag,
                "in (vs input size)",
                cin,
                inp[2],
                False,
                "inconsistent",
                "the row's input size and its 'in' column disagree",
            )
        expect = _formula_params(kind, kernel, cin, cout)
        if expect is not None and params is not None and params != expect:
            _report_own_columns(rep, tag, params, expect)
        if kind not in ("conv", "linear"):
            continue
        # the live layer with the same kernel and channels, in order
        k = tuple(kernel) if kernel else None
        match = None
        for i, lv in enumerate(convs):
            if i in used:
                continue
            lk = tuple(lv.kernel) if lv.kernel else (1, 1)
            if lk == k and lv.in_channels == cin and lv.out_channels == cout:
                match = i
                break
        if match is None and inp is not None and len(inp) == 3 and inp[2] != cin:
            for i, lv in enumerate(convs):
                lk = tuple(lv.kernel) if lv.kernel else (1, 1)
                if (
                    i not in used
                    and lk == k
                    and lv.in_channels == inp[2]
                    and lv.out_channels == cout
                ):
                    match = i
                    rep.add(
                        tag,
                        "in",
                        cin,
                        inp[2],
                        False,
                        "typo",
                        f"{lv.name} has these channels when 'in' is read from the row's "
                        "input size: the 'in' column is the slip",
                    )
                    break
        if match is None:
            own_slip = inp is not None and len(inp) == 3 and inp[2] != cin
            rep.add(
                tag,
                "layer",
                f"{'x'.join(map(str, kernel or []))} {kind} {cin}->{cout}",
                "-",
                False,
                "typo" if own_slip else "variant",
                "no layer of the network has this kernel and these channels"
                + (
                    " (and the row's input size and 'in' column disagree)"
                    if own_slip
                    else "; the network's layer here differs (another variant)"
                ),
            )
            continue
        used.add(match)
        lv = convs[match]
        ok = params == lv.params
        rep.add(
            tag,
            "params",
            params,
            lv.params,
            ok,
            "typo" if not ok and expect == lv.params else "inconsistent",
            f"matched to {lv.name}",
        )
    live_total = live_table.total_params
    if total_row is not None:
        pub_total = _int(total_row["params"])
        _check_printed_total(rep, pub_total, published_sum)
        rep.add(
            "Total",
            "params",
            pub_total,
            live_total,
            pub_total == live_total,
            "inconsistent",
            "the network counted as the lecture counts (biases, no aux)",
        )
    rep.summary.append(
        f"{len(used)} of the table's {sum(1 for r in rows if _kind(r['layer']) == 'conv')} conv "
        f"rows name a layer of the network (same kernel and channels); the network has "
        f"{sum(1 for c in convs if c.kind == 'conv')} conv layers and {live_total:,} parameters "
        "counted the lecture's way (auxiliary classifiers excluded)."
    )


# --- the papers -----------------------------------------------------------------------------


def _audit_lenet(rep: AuditReport, model: str, table: list[dict[str, str]]) -> None:
    import torch

    from convzoo.registry import create_model

    with torch.device("meta"):
        net = create_model(model, num_classes=10)
    counts = {c["layer"]: c for c in net.layer_counts()}
    psum = csum = 0
    for r in table:
        layer = r["layer"]
        if layer == "Total":
            continue
        c = counts.get(layer)
        for key in ("params", "connections"):
            pub = int(r[key])
            live = c[key] if c else None
            rep.add(layer, key, pub, live, pub == live, "variant")
        psum += counts[layer]["params"] if layer in counts else 0
        csum += counts[layer]["connections"] if layer in counts else 0
    total = next(r for r in table if r["layer"] == "Total")
    rep.add(
        "Total",
        "params",
        int(total["params"]),
        psum,
        int(total["params"]) == psum,
        "convention",
        "",
    )
    out_conn = 84 * net.num_classes
    conn_ok = int(total["connections"]) == csum
    rep.add(
        "Total",
        "connections",
        int(total["connections"]),
        csum,
        conn_ok,
        "convention",
        f"C1..F6 sum to {csum:,}; the paper's total also counts the {out_conn} connections "
        f"of the RBF output layer (84 x 10), whose centres are fixed, not trainable: "
        f"{csum + out_conn:,}",
    )
    if not conn_ok and int(total["connections"]) == csum + out_conn:
        rep.summary.append(
            "The per-layer parameters and connections of section II.B all agree with the live "
            "network; the total of 340,908 connections includes the output layer's 840."
        )


def _audit_alexnet2012(rep: AuditReport, model: str, table: list[dict[str, str]]) -> None:
    from convzoo.registry import parameter_count

    pub = int(table[0]["value"])
    live = parameter_count(model)
    # "60 million" is an approximation: agree within 2 %
    ok = abs(live - pub) <= 0.02 * pub
    rep.add(
        "params",
        "total",
        "about 60 million",
        f"{live:,}",
        ok,
        "convention",
        f"{live / 1e6:.2f} M; the paper rounds down",
    )
    for other in ("alexnet", "alexnet_owt"):
        rep.summary.append(
            f"{other}: {parameter_count(other):,} parameters ({parameter_count(other) / 1e6:.1f} M)"
        )
    rep.summary.append(
        "The two-tower network of the paper (grouped conv2, conv4, conv5) has "
        f"{live:,} parameters: 'about 60 million' holds to {100 * (live - pub) / pub:.1f} %."
    )


def _audit_vgg(rep: AuditReport, model: str, table: list[dict[str, str]]) -> None:
    from convzoo.registry import parameter_count

    for r in table:
        live = parameter_count(r["model"])
        pub = int(r["params_millions"])
        ok = round(live / 1e6) == pub
        rep.add(
            f"{r['config']} ({r['model']})",
            "params (M)",
            pub,
            f"{live / 1e6:.2f}",
            ok,
            "convention",
            "millions rounded to the nearest integer",
        )


def _kilo(text: str) -> float:
    return float(text.rstrip("KkMm"))


def _audit_googlenet_table1(rep: AuditReport, model: str, table: list[dict[str, str]]) -> None:
    from convzoo.inspect import summarize

    t = summarize(model)
    convs = [r for r in t.rows if r.kind in ("conv", "linear")]
    modules = {r.name for r in t.rows}
    for r in table:
        mod = r["module"]
        if not mod:
            continue
        parts = mod.split("+")
        rows = [c for c in convs if any(c.name == p or c.name.startswith(p + ".") for p in parts)]
        label = r["type"]
        # output size
        outs = [
            x
            for x in t.rows
            if any(x.name == p or x.name.startswith(p + ".") for p in parts)
            and x.kind not in ("act",)
        ]
        if outs:
            last = outs[-1].output_shape
            live_out = "x".join(map(str, _hwc_live(last)))
            rep.add(
                label,
                "output size",
                r["output_size"],
                live_out,
                r["output_size"] == live_out,
                "typo",
            )
        elif not any(p in modules for p in parts):
            continue
        # channel columns of an inception row
        if label.startswith("inception"):
            br = {c.name.split(".", 1)[1]: c.out_channels for c in rows}
            live_cols = {
                "n1x1": br.get("branch1.conv"),
                "n3x3_reduce": br.get("branch2.0.conv"),
                "n3x3": br.get("branch2.1.conv"),
                "n5x5_reduce": br.get("branch3.0.conv"),
                "n5x5": br.get("branch3.1.conv"),
                "pool_proj": br.get("branch4.1.conv"),
            }
            for col, lv in live_cols.items():
                pub = _int(r[col])
                rep.add(label, col, pub, lv, pub == lv, "typo")
        weights = sum(c.params - (c.out_channels if c.has_bias else 0) for c in rows)
        ops = sum(c.macs for c in rows)
        positions = ops / weights if weights else 0  # output H x W of the row
        pub_ops = _kilo(r["ops"]) if r["ops"] else None
        # rounded or truncated to the digits shown: both happen in the table
        ops_ok = pub_ops is not None and abs(pub_ops - ops / 1e6) < 1
        if r["params"]:
            pub = _kilo(r["params"])
            step = 0.1 if "." in r["params"] else 1
            live_k = weights / 1024
            ok = abs(pub - live_k) < step or abs(pub - weights / 1000) < step
            note = f"{weights:,} weights (biases excluded) = {live_k:.1f} K with K = 1024"
            cause = "inconsistent"
            if not ok and pub_ops is not None and positions:
                implied = pub_ops * 1e6 / positions / 1024
                if ops_ok and abs(implied - pub) <= 0.01 * pub:
                    cause = "convention"
                    note += (
                        f"; the cell equals the row's printed ops / output positions "
                        f"({r['ops']} / {positions:.0f} = {implied:.0f} K): it was "
                        "derived from the rounded ops, not from the layers"
                    )
                elif ops_ok:
                    if abs(pub - live_k) <= 2:
                        cause = "typo"
                    note += (
                        f"; the row's own ops ({r['ops']}) agree with the network and "
                        f"imply {implied:.0f} K: the params cell contradicts its own row"
                    )
                elif abs(implied - pub) / pub < 0.05:
                    note += (
                        f"; the row's params and ops agree with each other ({r['ops']} = "
                        f"{r['params']} x {positions:.0f} output positions) but not with "
                        "the row's own patch size and channel columns, which match the "
                        "network: an arithmetic slip inside the table"
                    )
            rep.add(label, "params", r["params"], f"{live_k:.1f}K", ok, cause, note)
        if pub_ops is not None:
            rep.add(
                label,
                "ops",
                r["ops"],
                f"{ops / 1e6:.1f}M",
                ops_ok,
                "inconsistent",
                "multiply-adds of the row's conv / linear layers, M = 10^6 (rounded or truncated)",
            )
    params = [f for f in rep.findings if f.field == "params"]
    ops = [f for f in rep.findings if f.field == "ops"]
    chans = [f for f in rep.findings if f.field.startswith("n") or f.field == "pool_proj"]
    rep.summary.append(
        "Params are weights without biases with K = 1024 (inception (3a): 163,328 weights = "
        "159.5 K, printed 159K); ops are multiply-adds of the conv and linear layers with "
        f"M = 10^6. Channel columns: {sum(f.ok for f in chans)} of {len(chans)} agree; ops: "
        f"{sum(f.ok for f in ops)} of {len(ops)}; params: {sum(f.ok for f in params)} of "
        f"{len(params)}: the params column is the table's weak point, often contradicting the "
        "ops of its own row."
    )


def _audit_resnet_table1(rep: AuditReport, model: str, table: list[dict[str, str]]) -> None:
    from convzoo.inspect import summarize

    for r in table:
        name = r["model"]
        pub = float(r["flops_1e9"])
        macs = _conv_linear_macs(summarize(name))
        # one decimal, rounded or truncated (3.66 G is printed 3.6, 7.57 G is printed 7.6)
        ok = abs(macs / 1e9 - pub) < 0.1
        note = "conv and linear multiply-adds (the paper's 'FLOPs' are multiply-adds)"
        if name in ("resnet50", "resnet101", "resnet152"):
            macs_v1 = _conv_linear_macs(summarize(name, variant="v1"))
            ok_v1 = abs(macs_v1 / 1e9 - pub) < 0.1
            rep.add(
                f"{name} (v1, the paper's)",
                "GFLOPs (multiply-adds)",
                pub,
                f"{macs_v1 / 1e9:.2f}",
                ok_v1,
                "inconsistent",
                "stride 2 in the first 1x1 conv of a stage's first bottleneck, as the paper",
            )
            note = (
                "v1.5 (stride in the bottleneck's 3x3 conv, as torchvision, our default): "
                "the 3x3 conv runs at the lower resolution but the 1x1 before it at the "
                "higher one, so v1.5 costs more than the paper's v1"
            )
        rep.add(name, "GFLOPs (multiply-adds)", pub, f"{macs / 1e9:.2f}", ok, "variant", note)


def _conv_linear_macs(t: Any) -> int:
    return sum(x.macs for x in t.rows if x.kind in ("conv", "linear"))


_AUDITS: dict[str, Callable[[AuditReport, str, list[dict[str, str]]], None]] = {
    "lecture_alexnet": _audit_sequential,
    "lecture_vgg16": _audit_sequential,
    "lecture_resnet18": _audit_sequential,
    "lecture_googlenet": _audit_lecture_googlenet,
    "paper_lenet5_1998": _audit_lenet,
    "paper_alexnet_2012": _audit_alexnet2012,
    "paper_vgg_table2": _audit_vgg,
    "paper_googlenet_table1": _audit_googlenet_table1,
    "paper_resnet_table1": _audit_resnet_table1,
}


def audit(model: str, against: str = "lecture") -> AuditReport:
    """Compare the live network ``model`` with the published table that describes it."""
    if against not in AGAINST:
        raise ConvzooError(f"unknown reference {against!r}; choose one of {', '.join(AGAINST)}")
    tables = LECTURE_TABLES if against == "lecture" else PAPER_TABLES
    if model not in tables:
        raise ConvzooError(
            f"no {against} table describes {model!r}; the {against} tables cover "
            f"{', '.join(tables)}"
        )
    return audit_table(tables[model], model)


def audit_table(table: str, model: str | None = None) -> AuditReport:
    """Audit one of the nine published tables (``sources()`` lists them)."""
    src = sources()
    if table not in src:
        raise ConvzooError(f"unknown table {table!r}; the tables are {', '.join(src)}")
    default_model, against = TABLE_MODELS[table]
    model = model or default_model
    rep = AuditReport(
        model=model,
        table=table,
        against=against,
        title=src[table]["title"],
        source=src[table]["source"],
    )
    _AUDITS[table](rep, model, load_table(table))
    return rep
