"""A user's code that calls the whole public API passes ``mypy --strict`` with otel-scoring as a dependency.

mypy runs on tests/typing/user_code.py in a subprocess, finding the package on ``MYPYPATH`` and
following it silently, as it follows a dependency installed in site-packages (the editable install
of this checkout is an import hook mypy cannot see). Errors in the user's file are what a user
would get: a name not explicitly re-exported, a wrong return type of ``do()``, a missing keyword.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
USER_CODE = ROOT / "tests" / "typing" / "user_code.py"
CONFIG = "[mypy]\nstrict = True\n\n[mypy-otel_scoring.*]\nfollow_imports = silent\n"


def test_user_code_using_the_whole_public_api_passes_mypy_strict(tmp_path):
    """mypy --strict reports no issue in a user module importing every public name and calling every scoring call."""
    (tmp_path / "mypy.ini").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "user_code.py").write_text(USER_CODE.read_text(encoding="utf-8"), encoding="utf-8")
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--no-incremental", "user_code.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_the_user_code_runs(tmp_path):
    """The typed user module is real code: it runs against the package and records without error."""
    result = subprocess.run([sys.executable, str(USER_CODE)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
