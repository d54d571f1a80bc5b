"""docs/audit.md is generated from the code; every cause the audits give has its computation."""

from __future__ import annotations

from pathlib import Path

import pytest

from convzoo.inspect.audit import audit_all, doc

DOC = Path(__file__).parents[1] / "docs" / "audit.md"
pytestmark = pytest.mark.slow  # runs all nine audits


def test_committed_doc_is_generated() -> None:
    text = doc.render()
    assert DOC.read_text(encoding="utf-8") == text, (
        "docs/audit.md is stale: run `python -m convzoo.inspect.audit.doc > docs/audit.md`"
    )
    assert "from memory" not in text and "Caveat" not in text


def test_every_typo_convention_and_variant_is_reproduced() -> None:
    for rep in audit_all():
        for f in rep.mismatches:
            if f.cause in ("typo", "convention", "variant"):
                assert f.reproduction, (rep.table, f.row, f.field)
            if f.cause == "unexplained":
                assert not f.reproduction, (rep.table, f.row, f.field)
