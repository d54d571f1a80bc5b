"""`convzoo report`: one self-contained HTML page about a network (and its run, or a bench).

Nothing is loaded from the network when the page is opened: styles are inline, figures are
inline SVG, the run's PNG files are embedded as ``data:`` URIs, and there is no script. The
page holds, in order: the headline numbers, the architecture diagram (one foldable
``<details>`` a stage), the per-layer charts (parameters, MACs, activation memory, receptive
field), the structural table (sticky header), the audit's findings where a published table
exists, and the run's or the bench's own figures where those files exist.

The per-layer charts are inline SVG drawn here rather than matplotlib figures: they follow the
page's width (no sideways scrolling), and a ResNet-152 report stays well under two seconds
(matplotlib alone takes longer to import and draw four charts of 150 bars).
"""

from __future__ import annotations

import base64
import csv
import html
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from convzoo.errors import ConvzooError
from convzoo.inspect import summarize
from convzoo.inspect.audit import audit
from convzoo.inspect.table import SummaryTable, html_table, human, human_bytes
from convzoo.inspect.trace import TraceResult
from convzoo.io import write_text
from convzoo.report.diagram import hwc, stage_scenes
from convzoo.report.scene import to_svg
from convzoo.report.source import Source, resolve
from convzoo.version import __version__

log = logging.getLogger(__name__)
esc = html.escape

CSS = """
:root { --fg: #111827; --muted: #6b7280; --line: #e5e7eb; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "DejaVu Sans", sans-serif; color: var(--fg);
       margin: 0 auto; padding: 1.2em 2em; max-width: 1280px; }
h1 { font-size: 1.6em; margin: 0.2em 0; } h2 { font-size: 1.25em; margin-top: 1.6em;
     border-bottom: 1px solid var(--line); padding-bottom: 0.2em; }
.muted { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 0.6em; margin: 0.8em 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 0.4em 0.8em; }
.card b { display: block; font-size: 1.15em; }
details.stage { border: 1px solid var(--line); border-radius: 8px; margin: 0.4em 0;
                padding: 0.2em 0.6em; }
details.stage summary { cursor: pointer; font-weight: 600; padding: 0.3em 0; }
.diagram-wrap { overflow-x: auto; max-width: 100%; }
svg.diagram { display: block; margin: 0 auto; max-width: 100%; height: auto; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr));
          gap: 1em; }
.chart svg { width: 100%; height: auto; display: block; }
.chart h3 { font-size: 1em; margin: 0.4em 0; }
.table-wrap { max-height: 75vh; overflow: auto; border: 1px solid var(--line); }
table.summary { border-collapse: collapse; font-size: 12px; width: 100%; }
table.summary th { position: sticky; top: 0; background: #f3f4f6; z-index: 1; }
table.summary th, table.summary td { border-bottom: 1px solid var(--line); padding: 2px 6px;
     text-align: left; white-space: nowrap; }
table.summary td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.summary td.name { white-space: normal; word-break: break-all; }
table.summary tr.conv td, table.summary tr.linear td { background: #f6fbff; }
table.summary tr.concat td, table.summary tr.add td { background: #fff8e6; }
pre { white-space: pre-wrap; word-break: break-word; background: #f9fafb; padding: 0.8em;
      border: 1px solid var(--line); border-radius: 6px; font-size: 12px; }
img.figure { max-width: 100%; height: auto; border: 1px solid var(--line); }
footer { margin-top: 2em; color: var(--muted); font-size: 0.85em; }
"""


# --- per-layer charts -----------------------------------------------------------------------


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    unit: str = "",
    colour: str = "#3b82f6",
    fmt: Any = human,
) -> str:
    """A bar chart as inline SVG: one bar a layer, the value of the largest labelled."""
    n = max(1, len(values))
    w, h, left, bottom = 720.0, 220.0, 54.0, 22.0
    top = max(values, default=0) or 1
    bw = (w - left - 8) / n
    out = [
        f'<svg viewBox="0 0 {w:.0f} {h:.0f}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'font-size="10" font-family="sans-serif">',
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - 4}" y2="{h - bottom}" stroke="#9ca3af"/>',
    ]
    for frac in (0.5, 1.0):
        y = h - bottom - frac * (h - bottom - 12)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{w - 4}" y2="{y:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end" fill="#6b7280">'
            f"{esc(fmt(top * frac))}{unit}</text>"
        )
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        bh = (h - bottom - 12) * v / top
        x = left + i * bw
        out.append(
            f'<rect x="{x + 0.1 * bw:.2f}" y="{h - bottom - bh:.2f}" width="{0.8 * bw:.2f}" '
            f'height="{bh:.2f}" fill="{colour}"><title>{esc(label)}: {esc(fmt(v))}{unit}'
            "</title></rect>"
        )
    step = max(1, n // 12)
    for i in range(0, n, step):
        out.append(
            f'<text x="{left + (i + 0.5) * bw:.1f}" y="{h - 8}" text-anchor="middle" '
            f'fill="#6b7280">{i + 1}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _charts(table: SummaryTable) -> str:
    rows = table.weighted()
    labels = [f"{r.index} {r.name}" for r in rows]
    act_rows = [r for r in table.rows if r.kind in ("conv", "linear", "maxpool", "avgpool")]
    rf_rows = [r for r in table.rows if r.receptive_field]
    charts: list[tuple[str, list[str], list[float], str, str, Any]] = [
        (
            "Parameters per layer (conv and fc, numbered)",
            labels,
            [r.params for r in rows],
            "",
            "#3b82f6",
            human,
        ),
        ("MACs per layer (FLOPs = 2 × MACs)", labels, [r.macs for r in rows], "", "#f97316", human),
        (
            "Activation memory per layer (output of one image, float32)",
            [r.name for r in act_rows],
            [r.output_bytes / max(1, table.totals.batch_size) for r in act_rows],
            "",
            "#10b981",
            human_bytes,
        ),
        (
            "Receptive field growth (side in input pixels, conv and pool layers)",
            [r.name for r in rf_rows],
            [max(r.receptive_field or (0,)) for r in rf_rows],
            " px",
            "#8b5cf6",
            lambda v: f"{v:.0f}",
        ),
    ]
    parts = []
    for title, labs, vals, unit, colour, fmt in charts:
        if not vals:
            continue
        parts.append(
            f'<div class="chart"><h3>{esc(title)}</h3>'
            f"{bar_chart(labs, vals, unit=unit, colour=colour, fmt=fmt)}</div>"
        )
    return '<div class="charts">' + "".join(parts) + "</div>"


# --- sections -------------------------------------------------------------------------------


def _diagram(result: TraceResult) -> str:
    parts = []
    scenes = stage_scenes(result)
    for stage, scene in scenes:
        blocks = len(stage.blocks())
        title = esc(stage.name) + (f" · {blocks} blocks" if blocks > 1 else "")
        title += f" · {esc(hwc(stage.output_shape))}"
        # deep stages (ResNet-101's 23 blocks) start folded; the others open
        opened = " open" if blocks <= 8 else ""
        parts.append(
            f'<details class="stage" data-stage="{esc(stage.name)}"{opened}>'
            f"<summary>{title}</summary>"
            f'<div class="diagram-wrap">{to_svg(scene, standalone=False)}</div></details>'
        )
    return "\n".join(parts)


def _cards(table: SummaryTable) -> str:
    tot = table.totals
    items = [
        ("parameters", f"{tot.params:,}"),
        ("MACs", f"{human(tot.macs)} ({tot.macs:,})"),
        ("FLOPs (2 × MACs)", human(tot.flops)),
        ("weight memory", human_bytes(tot.weight_bytes)),
        ("activation memory", human_bytes(tot.activation_bytes)),
        ("conv + fc layers", str(len(table.weighted()))),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><span class="muted">{esc(k)}</span><b>{esc(v)}</b></div>'
            for k, v in items
        )
        + "</div>"
    )


def _audit(name: str) -> str:
    parts = []
    for against in ("lecture", "paper"):
        try:
            # the network's own column: ResNet's Table 1 whole would trace all five depths
            rep = audit(name, against, whole=False)
        except ConvzooError:
            continue  # no published table of this kind for this network
        parts.append(
            f"<h3>Against the {esc(against)}: {esc(rep.title)}</h3>"
            f"<pre>{esc(rep.render('text'))}</pre>"
        )
    return "".join(parts)


def _image(path: Path, alt: str) -> str:
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img class="figure" alt="{esc(alt)}" src="data:{mime};base64,{data}">'
        f'<figcaption class="muted">{esc(path.name)}</figcaption></figure>'
    )


def _metrics_table(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        return ""
    head = "".join(f"<th>{esc(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{esc(c)}</td>' for c in r) + "</tr>" for r in rows[1:]
    )
    return (
        f'<h3>{esc(path.name)}</h3><div class="table-wrap"><table class="summary">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _run(run: Path) -> str:
    """The run's own files, those that exist: learning curves, metrics, confusion, top losses."""
    parts = []
    curves = run / "learning_curves.png"
    if curves.is_file():
        parts.append(_image(curves, "learning curves"))
    for ev in sorted(run.glob("eval-*.json")):
        try:
            doc = json.loads(ev.read_text(encoding="utf-8"))
            parts.append(
                f"<p>{esc(ev.name)}: top-1 {100 * float(doc.get('top1', 0)):.2f}% on "
                f"{esc(str(doc.get('data')))} ({esc(str(doc.get('split')))})</p>"
            )
        except (json.JSONDecodeError, TypeError, ValueError):
            log.warning("%s: not a readable evaluation result; left out", ev)
    for png in sorted(run.glob("*confusion*.png")):
        parts.append(_image(png, "confusion matrix"))
    for png in sorted(run.glob("*top-losses*.png")):
        parts.append(_image(png, "top losses"))
    metrics = run / "metrics.csv"
    if metrics.is_file():
        parts.append(_metrics_table(metrics))
    if not parts:
        return '<p class="muted">The run folder holds no curves, metrics or evaluations yet.</p>'
    return "".join(parts)


def _bench(folder: Path) -> str:
    charts = sorted(folder.glob("*.png")) or sorted(folder.glob("*.svg"))
    if not charts:
        return (
            f'<p class="muted">{esc(str(folder))} holds no charts yet: '
            f"<code>convzoo plot {esc(str(folder))}</code> draws them.</p>"
        )
    return "".join(_image(p, p.stem) for p in charts)


def _page(title: str, body: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<style>{CSS}</style>
</head>
<body>
{body}
<footer>convzoo {esc(__version__)}: MACs are multiply-accumulates of one inference forward
(FLOPs = 2 × MACs); the network was traced on the meta device (no weights allocated).</footer>
</body>
</html>
"""


def report_html(
    source: str | os.PathLike[str] | nn.Module,
    input_size: Sequence[int] | str | None = None,
    *,
    audit: bool = True,
) -> str:
    """The HTML report of ``source`` (see :func:`convzoo.report.source.resolve`)."""
    src = resolve(source)
    if src.model is None:
        assert src.bench_dir is not None
        body = f"<h1>{esc(src.label)}</h1><h2>Benchmark charts</h2>{_bench(src.bench_dir)}"
        return _page(src.label, body)
    return _network_page(src, input_size, audit)


def _network_page(src: Source, input_size: Any, audit: bool) -> str:
    assert src.model is not None
    size = input_size if input_size is not None else src.input_size
    table = summarize(src.model, size)
    result = table.trace
    assert result is not None
    sections = [
        f"<h1>{esc(src.label)}</h1>",
        f'<p class="muted">input {esc("×".join(map(str, table.input_shape[1:])))}'
        + (f" · family {esc(src.family)}" if src.family else "")
        + "</p>",
        _cards(table),
        '<h2 id="diagram">Architecture</h2>',
        '<p class="muted">One box a layer with its output H×W×C; batch norm and activations '
        "are noted in the box of the layer they follow. Stages fold.</p>",
        _diagram(result),
        '<h2 id="charts">Per-layer costs</h2>',
        _charts(table),
        '<h2 id="table">Structural table</h2>',
        f'<div class="table-wrap">{html_table(table, report_columns(table))}</div>',
    ]
    if audit and src.family:
        findings = _audit(src.name)
        if findings:
            sections += ['<h2 id="audit">Audit against the published tables</h2>', findings]
    if src.run_dir is not None:
        sections += ['<h2 id="run">Training run</h2>', _run(src.run_dir)]
    return _page(f"{src.label}: convzoo report", "\n".join(sections))


def report_columns(table: SummaryTable) -> tuple[str, ...]:
    cols = ["index", "name"]
    if any(table.lecture.values()):
        cols.append("lecture")
    return (
        *cols,
        "type",
        "input",
        "output",
        "kernel",
        "stride",
        "pad",
        "groups",
        "in",
        "out",
        "params",
        "macs",
        "rf",
    )


def write_report(
    source: str | os.PathLike[str] | nn.Module,
    path: str | os.PathLike[str],
    input_size: Sequence[int] | str | None = None,
    *,
    audit: bool = True,
) -> Path:
    """Write the report atomically; returns its path."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ConvzooError(f"{path}: the report is an HTML file; name it FILE.html")
    write_text(path, report_html(source, input_size, audit=audit))
    return path
