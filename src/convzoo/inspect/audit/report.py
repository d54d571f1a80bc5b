"""The audit's findings and their rendering.

A :class:`Finding` is one checked cell of a published table: the printed value, the value
computed from the live network (or from the table's own other cells), whether they agree and,
for a disagreement, its kind and the exact computation that reproduces the printed value (if
one does). An :class:`AuditReport` holds the findings of one audit and formats them; its
summary sentences are formatted from the findings by the table family that made them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from convzoo.errors import ConvzooError

#: The kinds of disagreement, and what each means.
CAUSE_TEXT = {
    "typo": "a slip of the pen or of a key: a digit dropped, added or changed, or a slipped "
    "column that feeds the cell, and that slip reproduces the printed value",
    "convention": "the table counts differently (the output layer's connections, the "
    "lecture's '0.5' padding), and its own way of counting reproduces the cell",
    "variant": "the table's number belongs to another network than the one checked (the "
    "paper's v1 ResNet, the plain baseline), or the table describes a layer the network lacks",
    "inconsistent": "the table contradicts itself: a total that is not the sum of its rows, a "
    "cell that its own row's other cells contradict",
    "unexplained": "nothing computed from the numbers reproduces the printed cell",
}
CAUSES = tuple(CAUSE_TEXT)
FORMATS = ("text", "md")


@dataclass
class Finding:
    """One checked cell of a published table."""

    row: str
    field: str
    published: Any
    live: Any
    ok: bool
    cause: str = ""  # one of CAUSES ('' when ok)
    note: str = ""
    reproduction: str = ""  # the exact computation that gives the printed value ('' if none)
    table: str = ""  # the id of the published table the cell belongs to


@dataclass
class AuditReport:
    """The findings of one audit: one or more published tables against one network."""

    model: str
    table: str
    against: str
    title: str
    source: str
    findings: list[Finding] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    tables: list[dict[str, str]] = field(default_factory=list)
    current_table: str = ""
    #: False: of a table that describes several networks (ResNet's five depths, VGG's six
    #: configurations), only the column of ``model`` is checked.
    whole: bool = True

    def columns(self, all_columns: Sequence[str]) -> tuple[str, ...]:
        """The networks of a several-network table this audit checks: all, or ``model``'s."""
        if self.whole:
            return tuple(all_columns)
        if self.model not in all_columns:
            raise ConvzooError(
                f"{self.title} has no column for {self.model!r}; its columns are "
                f"{', '.join(all_columns)}"
            )
        return (self.model,)

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
        reproduction: str = "",
    ) -> Finding:
        """Record one cell; a disagreement without a cause is ``unexplained``."""
        if not ok and not cause:
            cause = "unexplained"
        if cause and cause not in CAUSES:
            raise AssertionError(f"unknown cause {cause!r}")  # a bug in a table family
        f = Finding(
            row,
            field_,
            published,
            live,
            ok,
            "" if ok else cause,
            note,
            "" if ok else reproduction,
            self.current_table,
        )
        self.findings.append(f)
        return f

    def render(self, fmt: str = "text", verbose: bool = False) -> str:
        if fmt not in FORMATS:
            raise ConvzooError(f"unknown audit format {fmt!r}; choose {' or '.join(FORMATS)}")
        md = fmt == "md"
        bullet = "- " if md else "  - "
        out = [f"{'## ' if md else ''}Audit of {self.title} against {self.model}", ""]
        for t in self.tables or [{"title": self.title, "source": self.source}]:
            where = f", {t['where']}" if t.get("where") else ""
            out.append(f"{bullet}{t['title']}: {t['source']}{where}.")
            if t.get("found_at"):
                out.append(f"{'  ' if md else '    '}Checked against: {t['found_at']}.")
        out += [
            "",
            f"{len(self.findings)} cells checked: {len(self.matches)} agree, "
            f"{len(self.mismatches)} disagree.",
            "",
        ]
        shown = self.findings if verbose else self.mismatches
        if shown:
            out += ["Cells:" if verbose else "Disagreements:", ""]
            out += [bullet + _line(f) for f in shown]
            out.append("")
        right = _rows_right(self.findings)
        if right:
            out += [
                f"Where the table is right (every checked cell agrees): {', '.join(right)}.",
                "",
            ]
        if self.summary:
            out += ["**Summary**" if md else "Summary:", ""]
            out += [bullet + s for s in self.summary]
        return "\n".join(out).rstrip() + "\n"


def _line(f: Finding) -> str:
    mark = "ok" if f.ok else f.cause
    text = f"{f.row} / {f.field}: published {f.published!s}, expected {f.live!s} [{mark}]"
    if f.note:
        text += f" {f.note}"
    if f.reproduction:
        text += f" Reproduced by: {f.reproduction}."
    elif f.cause == "unexplained":
        text += " Nothing computed from the numbers reproduces the printed value."
    return text


def _rows_right(findings: list[Finding]) -> list[str]:
    wrong = {f.row for f in findings if not f.ok}
    seen: list[str] = []
    for f in findings:
        if f.row not in wrong and f.row not in seen:
            seen.append(f.row)
    return seen
