"""Generic checks: rounding rules applied exactly, and the causes they can prove.

Every comparison with a printed number goes through a :class:`Rounding`: the exact count is
divided by the table's unit (1,024 for GoogLeNet's K, 10^6 for its M...) and rounded or
truncated to the digits the cell shows, in exact rational arithmetic. A printed cell agrees
with a count when that gives the printed digits, and a cause is accepted only when its
computation gives them: there is no tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from convzoo.inspect.audit.report import AuditReport


@dataclass(frozen=True)
class Rounding:
    """How a table prints a count: divided by ``unit``, then rounded (half up) or truncated."""

    unit: int = 1
    mode: str = "round"  # "round" | "truncate"
    suffix: str = ""  # the printed unit, e.g. "K"

    def describe(self) -> str:
        unit = f"{self.suffix} = {self.unit:,}" if self.suffix else f"units of {self.unit:,}"
        return f"{unit}, {'rounded' if self.mode == 'round' else 'truncated'}"

    def shown(self, exact: Fraction | int, decimals: int) -> Fraction:
        """The value the table would print for ``exact`` with ``decimals`` digits."""
        scaled = Fraction(exact) / self.unit * 10**decimals
        q = math.floor(scaled) if self.mode == "truncate" else math.floor(scaled + Fraction(1, 2))
        return Fraction(q, 10**decimals)

    def reproduces(self, exact: Fraction | int, printed: str) -> bool:
        value, decimals = parse_printed(printed)
        return self.shown(exact, decimals) == value

    def units_off(self, exact: Fraction | int, printed: str) -> int:
        """How many units of the printed last digit the cell is above the count's digits."""
        value, decimals = parse_printed(printed)
        return int((value - self.shown(exact, decimals)) * 10**decimals)

    def format(self, exact: Fraction | int, printed: str) -> str:
        """``exact`` printed as the table would print it (the digits of ``printed``)."""
        _, decimals = parse_printed(printed)
        return f"{float(self.shown(exact, decimals)):.{decimals}f}{self.suffix}"


def parse_printed(text: str) -> tuple[Fraction, int]:
    """``"2.7K"`` -> ``(Fraction(27, 10), 1)``: the printed value in its unit, and its decimals."""
    digits = text.strip().rstrip("KMGkmg").replace(",", "")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return Fraction(digits), decimals


def decimal(exact: Fraction | int, unit: int, places: int = 1) -> str:
    """A count in a unit with a few decimals, for notes (``363.7``)."""
    return f"{float(Fraction(exact) / unit):.{places}f}"


@dataclass(frozen=True)
class Derivation:
    """A way to compute a cell: a label, the exact value, and the computation written out."""

    label: str
    exact: Fraction | int
    formula: str


def first_reproducing(
    printed: str, derivations: Iterable[Derivation], rules: Sequence[Rounding]
) -> tuple[Derivation, Rounding] | None:
    """The first derivation that gives the printed digits under one of ``rules``, or None."""
    for d in derivations:
        for rule in rules:
            if rule.reproduces(d.exact, printed):
                return d, rule
    return None


def rules_tied_best(reproduced: dict[str, list[str]]) -> list[str]:
    """The rules that reproduce the most cells (``reproduced``: rule -> cells it reproduces)."""
    best = max(len(v) for v in reproduced.values())
    return [rule for rule, cells in reproduced.items() if len(cells) == best]


def one_edit(printed: int, right: int) -> str:
    """How ``printed`` is one keystroke from ``right`` (a digit dropped, added, changed, or two
    neighbours swapped); '' when it is not."""
    a, b = str(printed), str(right)
    if a == b:
        return ""
    if len(a) + 1 == len(b) and any(b[:i] + b[i + 1 :] == a for i in range(len(b))):
        return "a digit dropped"
    if len(a) == len(b) + 1 and any(a[:i] + a[i + 1 :] == b for i in range(len(a))):
        return "a digit added"
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return "one digit changed"
        swapped = len(diff) == 2 and diff[1] == diff[0] + 1
        if swapped and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]:
            return "two neighbouring digits swapped"
    return ""


def conv_params(kernel: Sequence[int] | None, cin: int, cout: int) -> tuple[int, str]:
    """A conv's parameters with biases from its kernel and channels, and the formula written."""
    k = list(kernel) if kernel else [1, 1]
    value = math.prod(k) * cin * cout + cout
    return value, f"{'·'.join(map(str, k))}·{cin}·{cout} + {cout} = {value:,}"


def check_printed_total(rep: AuditReport, printed_total: int, sum_of_rows: int) -> bool:
    """A table's printed total against the sum of its own printed rows."""
    ok = printed_total == sum_of_rows
    rep.add(
        "Total",
        "params (sum of rows)",
        printed_total,
        sum_of_rows,
        ok,
        "inconsistent",
        "" if ok else "the printed total is not the sum of the printed rows.",
    )
    return ok


def own_columns_finding(
    rep: AuditReport,
    tag: str,
    params: int,
    kernel: Sequence[int] | None,
    cin: int,
    cout: int,
    is_pool: bool,
) -> None:
    """A row whose printed parameters disagree with its own kernel and channel columns.

    A pooling row has no parameters; when its number is what the conv formula makes of its own
    kernel and channels, that is the reproduction. A conv row's number one keystroke from what
    its columns give is a typo.
    """
    value, formula = conv_params(kernel, cin, cout)
    expected = 0 if is_pool else value
    if params == expected:
        return
    if is_pool:
        rep.add(
            tag,
            "params (own columns)",
            params,
            0,
            False,
            "inconsistent",
            "a pooling layer has no parameters.",
            f"the conv formula applied to the row's own kernel and channels, {formula}"
            if params == value
            else "",
        )
        return
    slip = one_edit(params, value)
    rep.add(
        tag,
        "params (own columns)",
        params,
        value,
        False,
        "typo" if slip else "inconsistent",
        f"the row's own kernel and channels give {formula}.",
        f"{value:,} with {slip}" if slip else "",
    )


def add_number(
    rep: AuditReport, row: str, field_: str, printed: int | None, live: int | None, note: str = ""
) -> None:
    """One numeric cell against the network: a one-keystroke slip is a typo, else unexplained."""
    ok = printed == live
    slip = one_edit(printed, live) if not ok and printed is not None and live is not None else ""
    rep.add(
        row,
        field_,
        printed,
        live,
        ok,
        "typo" if slip else "unexplained",
        note,
        f"{live:,} with {slip}" if slip else "",
    )
