"""The audit's old home, kept so that ``convzoo.inspect.references.audit`` still imports.

The audit now lives in :mod:`convzoo.inspect.audit` (report, tables, checks, one module per
table family); its tables are in ``convzoo/inspect/audit/data/``.
"""

from __future__ import annotations

from convzoo.inspect.audit import (
    AGAINST,
    AUDITS,
    CAUSES,
    LECTURE_TABLES,
    PAPER_TABLES,
    TABLE_MODELS,
    TITLES,
    AuditReport,
    Finding,
    audit,
    audit_all,
    audit_table,
    load_table,
    sources,
)

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
