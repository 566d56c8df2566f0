"""``otel-scoring serve`` that also notes which traces it stored: for the scale-out tests.

Runs the real CLI (``python tests/support/recording_serve.py serve --db … --grpc-port …``) with one
change: after each committed ``add``, the store appends a JSON line ``{"scores": [ids], "traces":
[trace ids]}`` to the file ``$OTEL_SCORING_TEST_RECORD``. Several receivers writing one database
cannot otherwise tell the test which of them stored a trace.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from otel_scoring import cli, stores

RECORD_ENV_VAR = "OTEL_SCORING_TEST_RECORD"


def _recording_open_store(target: Any, _open: Any = stores.open_store) -> Any:
    store = _open(target)
    add = store.add
    record_path = os.environ[RECORD_ENV_VAR]

    def recording_add(translation: Any) -> int:
        written = add(translation)  # committed before it is noted
        scores = list(getattr(translation, "scores", ()))
        line = {"scores": [s.id for s in scores], "traces": sorted({s.trace_id for s in scores if s.trace_id})}
        with open(record_path, "a", encoding="utf-8") as record:
            record.write(json.dumps(line) + "\n")
        return written

    store.add = recording_add
    return store


if __name__ == "__main__":
    stores.open_store = _recording_open_store  # cli opens every store through stores.open_store
    sys.exit(cli.main(sys.argv[1:]))
