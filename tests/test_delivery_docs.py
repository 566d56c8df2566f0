"""docs/reliability.md backs every claim with a test that exists, says what it proves, and runs."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, List, Tuple

TESTS = Path(__file__).resolve().parent
DOC = TESTS.parent / "docs" / "reliability.md"
CITATION = re.compile(r"`(test_[a-z0-9_]+\.py)::(test_[a-z0-9_]+)`")


def _guarantees() -> List[str]:
    text = DOC.read_text(encoding="utf-8")
    guaranteed = text.split("## Guaranteed", 1)[1].split("## Not guaranteed", 1)[0]
    return re.split(r"\n- ", guaranteed)[1:]


def _tests_of(filename: str) -> Dict[str, ast.FunctionDef]:
    tree = ast.parse((TESTS / filename).read_text(encoding="utf-8"))
    return {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def _skipped_unconditionally(test: ast.FunctionDef) -> bool:
    for decorator in test.decorator_list:
        source = ast.unparse(decorator)
        if source in ("pytest.mark.skip", "pytest.mark.xfail") or source.startswith(("pytest.mark.skip(", "pytest.mark.xfail(")):
            return True
    return False


def test_every_guarantee_cites_a_test() -> None:
    """Each bullet under "Guaranteed" names at least one `test_file.py::test_name` that proves it."""
    guarantees = _guarantees()
    assert guarantees, "docs/reliability.md has no guarantees under '## Guaranteed'"
    unproven = [claim[:80] for claim in guarantees if not CITATION.search(claim)]
    assert unproven == []


def test_every_cited_test_exists_says_what_it_proves_and_runs() -> None:
    """Each cited test is a function in that file, opens with the sentence of what it proves, and is not skipped or xfailed outright."""
    cited: List[Tuple[str, str]] = CITATION.findall(DOC.read_text(encoding="utf-8"))
    problems = []
    for filename, test_name in cited:
        test = _tests_of(filename).get(test_name)
        if test is None:
            problems.append(f"{filename}::{test_name} does not exist")
            continue
        if not (ast.get_docstring(test) or "").strip():
            problems.append(f"{filename}::{test_name} has no docstring saying what it proves")
        if _skipped_unconditionally(test):
            problems.append(f"{filename}::{test_name} is skipped or xfailed outright")
    assert problems == []
