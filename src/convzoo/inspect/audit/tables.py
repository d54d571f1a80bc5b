"""The published tables as data: one CSV each in ``data/``, indexed by ``data/sources.csv``.

``sources.csv`` names, for every table, its file, the audit that reads it, its title, the
publication, where in it the numbers are, the public copy they were checked against, the units
and the rounding rule the table's digits follow. The CSVs hold the printed numbers only (no
prose of the papers).
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

from convzoo.errors import ConvzooError


def _read_csv(name: str) -> list[dict[str, str]]:
    text = (
        resources.files("convzoo.inspect.audit").joinpath("data").joinpath(name).read_text("utf-8")
    )
    return list(csv.DictReader(text.splitlines()))


@cache
def _sources() -> tuple[tuple[str, dict[str, str]], ...]:
    return tuple((r["table"], r) for r in _read_csv("sources.csv"))


def sources() -> dict[str, dict[str, str]]:
    """The index of the published tables: file, audit, title, source, units, rounding, notes."""
    return {table: dict(row) for table, row in _sources()}


def load_table(table: str) -> list[dict[str, str]]:
    """The rows of one published table, as printed (strings)."""
    src = sources()
    if table not in src:
        raise ConvzooError(f"unknown table {table!r}; the tables are {', '.join(src)}")
    return _read_csv(src[table]["file"])


# --- reading the printed cells ----------------------------------------------------------------


def ints(text: str) -> list[int] | None:
    """``"28 28 192"`` -> ``[28, 28, 192]``; None for an empty or non-numeric cell."""
    parts = text.split()
    try:
        return [int(p) for p in parts] if parts else None
    except ValueError:
        return None


def int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def layer_kind(label: str) -> str:
    """The kind of a lecture table's row from its label: conv, linear, pool, concat or other."""
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
