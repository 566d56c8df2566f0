"""docs/reliability.md backs every claim with a test that exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
DOC = TESTS.parent / "docs" / "reliability.md"


def test_every_test_named_in_the_reliability_page_exists() -> None:
    """Each `test_file.py::test_name` the page cites is a test function in that file, and every guarantee cites one."""
    text = DOC.read_text()
    cited = re.findall(r"`(test_[a-z_]+\.py)::(test_[a-z0-9_]+)`", text)
    assert len(cited) >= 20
    for filename, test_name in cited:
        tree = ast.parse((TESTS / filename).read_text())
        defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        assert test_name in defined, f"docs/reliability.md cites {filename}::{test_name}, which does not exist"
    guaranteed = text.split("## Guaranteed", 1)[1].split("## Not guaranteed", 1)[0]
    for claim in re.split(r"\n- ", guaranteed)[1:]:
        assert "::test_" in claim, f"a guarantee without a test: {claim[:80]!r}"
