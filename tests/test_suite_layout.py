"""The suite's own layout: shared helpers live in the ``support`` package, and no test file imports another."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import List

TESTS = Path(__file__).resolve().parent


def _imported_modules(path: Path) -> List[str]:
    names: List[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def test_no_test_file_imports_another_test_file() -> None:
    """Every import in a test file is of the package, a library or ``support``: never of a ``test_*`` module."""
    test_files = sorted(TESTS.glob("test_*.py"))
    assert len(test_files) > 30  # the walk really sees the suite
    offenders = {
        path.name: [name for name in _imported_modules(path) if name.split(".")[0].startswith("test_")]
        for path in test_files
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_helpers_live_in_the_support_package() -> None:
    """Beside the test files and conftest.py, the tests folder holds no loose Python module a test could import."""
    loose = sorted(path.name for path in TESTS.glob("*.py") if not path.name.startswith("test_") and path.name != "conftest.py")
    assert loose == []
    assert (TESTS / "support" / "__init__.py").is_file()
    assert {"exported.py", "record_builders.py", "span_forms.py", "fakes"} <= {path.name for path in (TESTS / "support").iterdir()}
