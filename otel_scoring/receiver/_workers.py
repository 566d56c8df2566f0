"""Worker processes that read and store exports, so ingest is not held to one core.

One receiver process translates on one core at a time, whatever the machine has: the GIL
serializes its Python. With workers, the receiver's process is the acceptor: its transports and
:class:`~._core.ReceiverCore` still read every request, check it at the gate and hold its share of
the memory budget, then hand the (inflated, counted) body to an idle worker over a socket pair.
The worker translates it, bounds its records and stores them into the same SQLite file, and
answers with the counts the reply is made from; the acceptor answers the exporter only then, so a
reply still means stored.

SQLite lets one writer in at a time, and its busy handler sleeps 1, 2, 5, 10 ... ms while a writer
waits, so workers of a SQLite store take a ``flock`` on a file beside the database around each
transaction instead: the next one gets it the moment it is released, and translation runs in
parallel. Workers of a PostgreSQL store write side by side, each on a connection of its own.

A worker that dies (killed, out of memory) answers its request 503 / ``UNAVAILABLE``, which
exporters retry, and is replaced. Records are upserted by id, so a retried export whose
transaction committed before its worker died is stored once. A worker exits when its socket
closes: when the receiver stops, or when the acceptor dies however it dies, so none outlives it.

The workers are plain interpreters (:mod:`._worker_process`), not
``multiprocessing`` children: nothing of the application's ``__main__`` runs in them, and the
acceptor's gRPC threads are never forked.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Callable, List, Optional, Set

from otel_scoring._receiver_defaults import MAX_INGEST_WORKERS
from otel_scoring.receiver._core import Encoding, Ingested, Refused
from otel_scoring.store_postgres import is_postgres_url

_logger = logging.getLogger(__name__)

# How long one export may take in a worker (waiting for the write lock included) before the worker
# is taken for hung: killed, replaced, and the export answered 503 to be retried.
WORKER_TIMEOUT_SECONDS = 60.0
START_TIMEOUT_SECONDS = 60.0  # for a new worker to import the package and open the store
_DEATH_LOG_INTERVAL_SECONDS = 60.0
RESTART_BACKOFF_SECONDS = 5.0  # between attempts to start a worker after one failed to start
READY = "ready"  # what a worker sends once it has opened the store


class _Worker:
    def __init__(self, process: "subprocess.Popen[bytes]", connection: Connection) -> None:
        self.process = process
        self.connection = connection

    def end(self, timeout_seconds: float) -> None:
        """Close its socket (it exits once its export, if any, is stored); kill it past the timeout."""
        self.connection.close()
        try:
            self.process.wait(max(0.0, timeout_seconds))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class IngestWorkers:
    """``count`` worker processes reading and storing exports into the store ``target`` names: a
    SQLite file (the workers take turns on a lock beside it) or a ``postgresql://`` URL (PostgreSQL
    takes their writes side by side, as it does several receivers').

    :meth:`ingest` is a :data:`~._core.Ingest` for :class:`~._core.ReceiverCore`. ``on_stored`` is
    called in the acceptor after each export a worker stored (the receiver wakes its waiters). A
    worker that has not answered within ``timeout_seconds`` is taken for hung and replaced.
    """

    def __init__(self, target: str, count: int, on_stored: Optional[Callable[[], None]] = None, timeout_seconds: float = WORKER_TIMEOUT_SECONDS) -> None:
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_INGEST_WORKERS:
            raise ValueError(f"ingest_workers must be an integer from 1 to {MAX_INGEST_WORKERS}, got {count!r}")
        if target == ":memory:":
            raise ValueError("ingest workers store into a SQLite file or a PostgreSQL database they all open; a :memory: store is private to one process")
        # The target goes to each worker over its socket, never on its command line: a PostgreSQL
        # URL may hold a password, and every user of the machine can read the process list.
        self._target = target if is_postgres_url(target) else os.path.abspath(target)
        self.count = count
        self.timeout_seconds = timeout_seconds
        self._on_stored = on_stored
        self._idle: "queue.Queue[_Worker]" = queue.Queue()
        self._workers: Set[_Worker] = set()
        self._guard = threading.Lock()
        self._closing = False
        self._starting = 0  # workers being started in place of dead ones
        self._retry_at = -math.inf  # no new worker before this, after one failed to start
        self._last_death_log = -math.inf

    @property
    def pids(self) -> List[int]:
        """The worker processes' ids (they change as dead workers are replaced)."""
        with self._guard:
            return sorted(worker.process.pid for worker in self._workers)

    def start(self) -> None:
        """Start every worker and wait until each has opened the store; ``OSError`` if one cannot."""
        # All spawned before any is waited for, so their interpreters start side by side.
        started = [self._spawn() for _ in range(self.count)]
        try:
            for worker in started:
                self._wait_ready(worker)
        except BaseException:
            for worker in started:
                worker.end(0)
            raise
        with self._guard:
            self._workers.update(started)
        for worker in started:
            self._idle.put(worker)

    def ingest(self, raw: bytes, encoding: Encoding, signal_name: str, transport: str) -> Ingested:
        """Have an idle worker read and store one body; raises :class:`~._core.Refused` as
        :func:`~._core.read_and_store` does, and 503 when no worker could."""
        worker = self._take()
        try:
            # The body as its own message: sent from the acceptor's buffer, not copied into a pickle.
            worker.connection.send((encoding.value, signal_name, transport))
            worker.connection.send_bytes(raw)
            if not worker.connection.poll(self.timeout_seconds):
                raise TimeoutError
            answer = worker.connection.recv()
        except (EOFError, OSError, TimeoutError):
            self._replace(worker)
            raise Refused(503, "the ingest worker storing this export stopped; retry", logged=True) from None
        self._idle.put(worker)
        if answer[0] == "refused":
            _, status, message, logged = answer
            raise Refused(status, message, logged)
        if self._on_stored is not None:
            self._on_stored()
        ingested: Ingested = answer[1]
        return ingested

    def _take(self) -> _Worker:
        """An idle worker, waiting for one up to the timeout; 503 when there is none to wait for."""
        if len(self._workers) < self.count:
            self._top_up()
        with self._guard:
            if not self._workers and not self._starting:
                raise Refused(503, "no ingest worker is running (the log says why); retry later", logged=True)
        try:
            return self._idle.get(timeout=self.timeout_seconds)
        except queue.Empty:
            raise Refused(503, f"all {self.count} ingest workers stayed busy for {self.timeout_seconds:g} s; retry later") from None

    def close(self, timeout_seconds: float) -> None:
        """Stop every worker within about ``timeout_seconds``; those still busy then are killed."""
        deadline = time.monotonic() + max(0.0, timeout_seconds)
        with self._guard:
            self._closing = True
            workers, self._workers = list(self._workers), set()
        for worker in workers:
            worker.connection.close()
        for worker in workers:
            worker.end(deadline - time.monotonic())

    # --- Workers ------------------------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        ours, theirs = socket.socketpair()
        level = logging.getLogger("otel_scoring").getEffectiveLevel()
        command = [sys.executable, "-m", "otel_scoring.receiver._worker_process", "--fd", str(theirs.fileno()), "--log-level", str(level)]
        try:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),))
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        worker = _Worker(process, Connection(ours.detach()))
        try:
            worker.connection.send(self._target)
        except OSError:
            pass  # it died at once: waiting for it to be ready says so
        return worker

    def _wait_ready(self, worker: _Worker) -> None:
        try:
            ready = worker.connection.poll(START_TIMEOUT_SECONDS) and worker.connection.recv() == READY
        except (EOFError, OSError):
            ready = False
        if not ready:
            raise OSError(f"an ingest worker did not start (exit code {worker.process.poll()}); its error is on stderr")

    def _start_one(self) -> _Worker:
        worker = self._spawn()
        try:
            self._wait_ready(worker)
        except BaseException:
            worker.end(0)
            raise
        return worker

    def _replace(self, worker: _Worker) -> None:
        """A worker that died or hung: killed, logged, and another started in its place."""
        worker.process.kill()
        code = worker.process.wait()
        now = time.monotonic()
        if now - self._last_death_log >= _DEATH_LOG_INTERVAL_SECONDS:  # a crash loop logs once a minute
            self._last_death_log = now
            _logger.warning(
                "An ingest worker (pid %d) stopped while storing an export (exit code %d); the export was answered 503 to be retried, and another worker takes its place",
                worker.process.pid,
                code,
            )
        with self._guard:
            self._workers.discard(worker)
        self._top_up()

    def _top_up(self) -> None:
        """Start one worker if there are fewer than ``count``; after one failed to start, not before
        :data:`RESTART_BACKOFF_SECONDS` have passed (each failure is logged)."""
        with self._guard:
            if self._closing or len(self._workers) + self._starting >= self.count or time.monotonic() < self._retry_at:
                return
            self._starting += 1
        try:
            worker = self._start_one()
        except Exception:
            self._retry_at = time.monotonic() + RESTART_BACKOFF_SECONDS
            _logger.exception("Could not start an ingest worker; %d of %d are running, and another start is tried in %g s", len(self._workers), self.count, RESTART_BACKOFF_SECONDS)
            return
        finally:
            with self._guard:
                self._starting -= 1
        with self._guard:
            closing = self._closing
            if not closing:
                self._workers.add(worker)
        if closing:
            worker.end(0)
        else:
            self._idle.put(worker)
