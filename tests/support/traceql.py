"""TraceQL syntax checked by Grafana's own grammar (npm ``@grafana/lezer-traceql``, strict mode).

``.ci/traceql.sh`` installs it into ``.ci/.traceql/``. Without it (or without ``node``) the tests
that need it skip outside CI and fail in CI, like the other peer groups.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import List, Optional, Sequence

import pytest

from support.peers import REPO_ROOT, in_ci

NODE_MODULES = REPO_ROOT / ".ci" / ".traceql" / "node_modules"
PARSE_SCRIPT = Path(__file__).with_name("traceql_parse.cjs")


def _require_parser() -> str:
    node = shutil.which("node")
    if node and (NODE_MODULES / "@grafana" / "lezer-traceql").is_dir():
        return node
    reason = "the TraceQL parser is not installed: run .ci/traceql.sh (needs node and npm)"
    if in_ci():
        pytest.fail(f"CI must check TraceQL, but {reason}", pytrace=False)
    pytest.skip(reason)


def traceql_syntax_errors(queries: Sequence[str]) -> List[Optional[str]]:
    """For each query, None when it parses, else the parser's error message."""
    node = _require_parser()
    result = subprocess.run(
        [node, str(PARSE_SCRIPT), str(NODE_MODULES)], input=json.dumps(list(queries)), capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout)
