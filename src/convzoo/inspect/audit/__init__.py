"""The audit: the lecture's and the papers' published tables checked against the live networks.

Each published table is data (a CSV in ``data/``; ``data/sources.csv`` says where it comes
from, where its numbers were checked and how its digits are rounded). :func:`audit` traces
the live network in the table's counting convention and returns an
:class:`~convzoo.inspect.audit.report.AuditReport`: one finding per checked cell, with the
printed and the live value, whether they agree, and for a disagreement its kind and the exact
computation that reproduces the printed cell, when one does (see
:data:`~convzoo.inspect.audit.report.CAUSES`). Comparisons follow the table's rounding rule
exactly (:mod:`convzoo.inspect.audit.checks`); there is no tolerance.

The modules: ``report`` (findings, rendering), ``tables`` (the data), ``checks`` (rounding
rules, generic checks and the cause finder), one module per table family (``lecture``,
``lecture_googlenet``, ``googlenet``, ``vgg``, ``resnet``, ``lenet``, ``alexnet``), and
``doc`` (docs/audit.md).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from convzoo.errors import ConvzooError
from convzoo.inspect.audit import (
    alexnet,
    googlenet,
    lecture,
    lecture_googlenet,
    lenet,
    resnet,
    vgg,
)
from convzoo.inspect.audit.report import CAUSES, AuditReport, Finding
from convzoo.inspect.audit.tables import load_table, sources

__all__ = [
    "AGAINST",
    "AUDITS",
    "CAUSES",
    "LECTURE_TABLES",
    "PAPER_TABLES",
    "TABLE_MODELS",
    "TITLES",
    "AuditReport",
    "Finding",
    "audit",
    "audit_all",
    "audit_table",
    "load_table",
    "sources",
]

AGAINST = ("lecture", "paper")

# Which audit describes which registered network.
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
# The network each of the nine audits checks by default, and against what.
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

#: The audits that read several of a paper's tables, by the name of the whole.
TITLES = {
    "paper_lenet5_1998": "LeNet-5 (LeCun et al. 1998): section II and Table I",
    "paper_alexnet_2012": "AlexNet (Krizhevsky et al. 2012): abstract, Figure 2, sections 3.5, 4",
    "paper_vgg_table2": "VGG (Simonyan and Zisserman 2014): Tables 1 and 2",
    "paper_resnet_table1": "ResNet (He et al. 2015): Table 1 whole",
}

Family = Callable[[AuditReport, str], None]
#: The nine audits: each reads one or more published tables (sources.csv's ``audit`` column).
AUDITS: dict[str, Family] = {
    "lecture_alexnet": partial(lecture.audit_sequential, table_id="lecture_alexnet"),
    "lecture_vgg16": partial(lecture.audit_sequential, table_id="lecture_vgg16"),
    "lecture_resnet18": partial(lecture.audit_sequential, table_id="lecture_resnet18"),
    "lecture_googlenet": partial(
        lecture_googlenet.audit_lecture_googlenet, table_id="lecture_googlenet"
    ),
    "paper_lenet5_1998": lenet.audit_lenet,
    "paper_alexnet_2012": alexnet.audit_alexnet2012,
    "paper_vgg_table2": vgg.audit_vgg,
    "paper_googlenet_table1": partial(
        googlenet.audit_googlenet_table1, table_id="paper_googlenet_table1"
    ),
    "paper_resnet_table1": resnet.audit_resnet,
}


def audit(model: str, against: str = "lecture", *, whole: bool = True) -> AuditReport:
    """Compare the live network ``model`` with the published table that describes it.

    ``whole=False`` checks only ``model``'s own column of a table that describes several
    networks (the report does: ResNet's Table 1 whole traces all five depths, 9 traces)."""
    if against not in AGAINST:
        raise ConvzooError(f"unknown reference {against!r}; choose one of {', '.join(AGAINST)}")
    tables = LECTURE_TABLES if against == "lecture" else PAPER_TABLES
    if model not in tables:
        raise ConvzooError(
            f"no {against} table describes {model!r}; the {against} tables cover "
            f"{', '.join(tables)}"
        )
    return audit_table(tables[model], model, whole=whole)


def audit_table(table: str, model: str | None = None, *, whole: bool = True) -> AuditReport:
    """Run one of the nine audits (``AUDITS`` lists them) against ``model`` or its default."""
    if table not in AUDITS:
        raise ConvzooError(f"unknown table {table!r}; the tables are {', '.join(AUDITS)}")
    default_model, against = TABLE_MODELS[table]
    model = model or default_model
    tables = [row for row in sources().values() if row["audit"] == table]
    rep = AuditReport(
        model=model,
        table=table,
        against=against,
        title=TITLES.get(table, tables[0]["title"]),
        source=tables[0]["source"],
        tables=tables,
        current_table=table if table in sources() else tables[0]["table"],
        whole=whole,
    )
    AUDITS[table](rep, model)
    return rep


def audit_all() -> list[AuditReport]:
    """The nine audits, each against its default network."""
    return [audit_table(table) for table in TABLE_MODELS]
