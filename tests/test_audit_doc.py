"""docs/audit.md is generated from the code: the committed file is the generator's output."""

from __future__ import annotations

from pathlib import Path

import pytest

from convzoo.inspect.audit import doc

DOC = Path(__file__).parents[1] / "docs" / "audit.md"


@pytest.mark.slow  # runs all nine audits
def test_committed_doc_is_generated() -> None:
    text = doc.render()
    assert DOC.read_text(encoding="utf-8") == text, (
        "docs/audit.md is stale: run `python -m convzoo.inspect.audit.doc > docs/audit.md`"
    )
    assert "from memory" not in text and "Caveat" not in text
