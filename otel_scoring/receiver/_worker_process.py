"""One ingest worker of the receiver: reads exports from its socket, stores them, answers with counts.

Started by :class:`~._workers.IngestWorkers` as ``python -m otel_scoring.receiver._worker_process``
with the socket's file descriptor; the first message on it names the store (a SQLite path or a
PostgreSQL URL, which is why it is not an argument). It exits when the socket closes.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import sys
from multiprocessing.connection import Connection
from typing import Any, Callable, List, Optional

from otel_scoring.receiver._core import Encoding, Refused, read_and_store
from otel_scoring.receiver._workers import READY
from otel_scoring.store_postgres import is_postgres_url
from otel_scoring.stores import open_store


def lock_path(db_path: str) -> str:
    """The file whose ``flock`` the workers of a SQLite store take around each transaction."""
    return db_path + ".ingest-lock"


def _serve(connection: Connection) -> None:
    try:
        target = connection.recv()
    except (EOFError, OSError):
        return
    store = open_store(target)
    sink: Callable[[Any], int] = store.add
    if not is_postgres_url(target):
        lock = os.open(lock_path(target), os.O_RDWR | os.O_CREAT, 0o600)

        def in_turn(translation: Any) -> int:  # SQLite: one writer at a time
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return store.add(translation)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

        sink = in_turn

    connection.send(READY)
    while True:
        try:
            encoding, signal_name, transport = connection.recv()
            raw = connection.recv_bytes()
        except (EOFError, OSError):
            return  # the acceptor closed the socket or died: nothing more will come
        try:
            answer: Any = ("ok", read_and_store(sink, raw, Encoding(encoding), signal_name, transport))
        except Refused as refused:
            answer = ("refused", refused.status, refused.message, refused.logged)
        connection.send(answer)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m otel_scoring.receiver._worker_process", description="An ingest worker of otel-scoring's receiver (started by it).")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--log-level", type=int, default=logging.WARNING)
    args = parser.parse_args(argv)
    # Ctrl+C reaches the whole process group, and a service manager's SIGTERM often the whole
    # group too: the acceptor stops its workers itself, once what they are storing is stored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"otel-scoring worker {os.getpid()}: %(levelname)s %(message)s"))
    logger = logging.getLogger("otel_scoring")
    logger.addHandler(handler)
    logger.setLevel(args.log_level)
    _serve(Connection(args.fd))


if __name__ == "__main__":
    main()
