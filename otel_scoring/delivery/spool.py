"""A bounded on-disk spool of OTLP requests that could not be delivered, resent oldest first.

Each file holds one serialized ``ExportTraceServiceRequest`` (the bytes the SDK's
``encode_spans`` produces), so resending needs no decoding and any OTLP receiver accepts it.
Files are written to a temporary name, fsynced and renamed into place, so a crash leaves either
the whole request or nothing. Names sort in write order::

    <nanoseconds, 20 digits>-<pid>-<counter>-<span count>.otlp

Several processes may share one directory: writing needs no coordination, and resending takes an
exclusive ``flock`` on the directory's lock file, so one process resends at a time and a killed
one never leaves a stale lock (the kernel drops it).
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, List, NamedTuple, Optional, Set, Union

from otel_scoring._settings import resolve_int
from otel_scoring.delivery.sender import SendOutcome
from otel_scoring.environment_variables import OTEL_SCORING_SPOOL_MAX_BYTES

try:
    import fcntl
except ImportError:  # Windows: one process per spool directory
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_SPOOL_MAX_BYTES",
    "SUFFIX",
    "PathLike",
    "ResendResult",
    "SpanSpool",
    "SpoolEntry",
]

_logger = logging.getLogger(__name__)

DEFAULT_SPOOL_MAX_BYTES = 64 * 1024 * 1024
SUFFIX = ".otlp"
_TEMP_SUFFIX = ".tmp"
_LOCK_NAME = ".lock"
_QUARANTINE_NAME = ".quarantine"  # where entries that are not our regular files are moved
# A temporary file this old was left by a process killed mid-write: its request never counted.
_STALE_TEMP_SECONDS = 60.0

PathLike = Union[str, "os.PathLike[str]"]


class SpoolEntry(NamedTuple):
    """One spooled request: its file, how many spans it holds, and its size in bytes."""

    path: str
    span_count: int
    size: int


@dataclass(frozen=True)
class ResendResult:
    """What one resend pass did."""

    sent_requests: int = 0
    sent_spans: int = 0
    rejected_spans: int = 0
    complete: bool = True
    """False when files remain: the collector did not take one, time ran out, or another process
    is resending this directory right now."""
    collector_down: bool = False
    """True when the collector did not take a request (unreachable, busy or failing)."""


class SpanSpool:
    """A directory of OTLP requests waiting to be resent, at most ``max_bytes`` in total.

    Args:
        directory: created if missing. Give each application its own, or share one between
            processes of the same application.
        max_bytes: once the files reach this size, new requests are refused (and counted as
            dropped by the processor) so the oldest, already waiting, keep their order
            (``OTEL_SCORING_SPOOL_MAX_BYTES``, default 64 MiB).
    """

    def __init__(self, directory: PathLike, *, max_bytes: Optional[int] = None) -> None:
        self.directory = os.fspath(directory)
        self.max_bytes = resolve_int(max_bytes, OTEL_SCORING_SPOOL_MAX_BYTES, DEFAULT_SPOOL_MAX_BYTES)
        os.makedirs(self.directory, exist_ok=True)
        self._write_lock = threading.Lock()
        self._resend_lock = threading.Lock()
        self._quarantined: Set[str] = set()
        self._remove_stale_temp_files()
        if hasattr(os, "register_at_fork"):
            reinit = weakref.WeakMethod(self._reinit_after_fork)
            os.register_at_fork(after_in_child=lambda: (reinit() or _noop)())

    def _reinit_after_fork(self) -> None:
        # A lock held by a parent thread at fork time would stay held in the child forever.
        self._write_lock = threading.Lock()
        self._resend_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SpanSpool({self.directory!r}, max_bytes={self.max_bytes})"

    # --- Writing ----------------------------------------------------------------------------------

    def write(self, request: bytes, span_count: int) -> bool:
        """Store one serialized request durably. False (nothing written) when it would not fit."""
        with self._write_lock:
            used = self.used_bytes()
            if used + len(request) > self.max_bytes:
                return False
            name = f"{_next_name_stem()}-{span_count}{SUFFIX}"
            os.makedirs(self.directory, exist_ok=True)  # recreated if someone removed it
            final_path = os.path.join(self.directory, name)
            temp_path = os.path.join(self.directory, f".{name}{_TEMP_SUFFIX}")
            try:
                with open(temp_path, "wb") as handle:
                    handle.write(request)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp_path, final_path)
            except BaseException:
                _remove_quietly(temp_path)
                raise
            self._fsync_directory()
            return True

    # --- Reading and resending --------------------------------------------------------------------

    def entries(self) -> List[SpoolEntry]:
        """The spooled requests, oldest first.

        An entry named like a request that is not a regular file this user owns (a directory, a
        FIFO, a symlink, another user's file) is never read: it is moved to ``.quarantine/``
        with one warning, so it cannot stop delivery here or in a later process.
        """
        found = []
        try:
            with os.scandir(self.directory) as listing:
                for item in listing:
                    name = item.name
                    if name.startswith(".") or not name.endswith(SUFFIX):
                        continue
                    parts = name[: -len(SUFFIX)].split("-")
                    if len(parts) != 4 or not all(part.isdigit() for part in parts):
                        continue  # not ours
                    try:
                        info = item.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # resent by another process meanwhile
                    if not stat.S_ISREG(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
                        self._quarantine(item.path, "it is not a regular file this user owns")
                        continue
                    found.append((name, SpoolEntry(item.path, int(parts[3]), info.st_size)))
        except FileNotFoundError:
            return []
        found.sort()
        return [entry for _, entry in found]

    def _quarantine(self, path: str, reason: str) -> None:
        """Move a spool entry aside, once, with one warning; never raises."""
        if path in self._quarantined:
            return
        self._quarantined.add(path)
        target = os.path.join(self.directory, _QUARANTINE_NAME, os.path.basename(path))
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(path, target)
            where = f"moved to {target}"
        except OSError as error:
            where = f"left in place and skipped ({error.strerror or error})"
        _logger.warning("Spool entry %s is not resent: %s; %s.", path, reason, where)

    def _read(self, entry: SpoolEntry) -> Optional[bytes]:
        """The request in ``entry``, read without following links or blocking, at most its
        recorded size; None (quarantined) when it is not what it was when listed."""
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            descriptor = os.open(entry.path, flags)
        except FileNotFoundError:
            return None
        except OSError as error:
            self._quarantine(entry.path, f"it cannot be opened ({error.strerror or error})")
            return None
        try:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode) or info.st_size != entry.size:
                self._quarantine(entry.path, "it changed since it was listed")
                return None
            with os.fdopen(descriptor, "rb", closefd=False) as handle:
                request = handle.read(entry.size + 1)
        except OSError as error:
            self._quarantine(entry.path, f"it cannot be read ({error.strerror or error})")
            return None
        finally:
            os.close(descriptor)
        if len(request) != entry.size:
            self._quarantine(entry.path, f"it holds {len(request)} bytes, not the {entry.size} recorded")
            return None
        return request

    def used_bytes(self) -> int:
        return sum(entry.size for entry in self.entries())

    def pending_spans(self) -> int:
        """How many spans the spooled requests hold."""
        return sum(entry.span_count for entry in self.entries())

    def __len__(self) -> int:
        return len(self.entries())

    def resend(self, send: Callable[[bytes, float], SendOutcome], deadline: float) -> ResendResult:
        """Send the spooled requests oldest first with ``send(request, timeout_seconds)``.

        Stops at the first request the collector does not take, so order holds; a request it
        rejects as malformed is removed (and reported) rather than blocking the rest forever.
        ``deadline`` is a ``time.monotonic()`` value. When another process is resending this
        directory right now, returns at once, incomplete.
        """
        sent_requests = sent_spans = rejected_spans = 0
        with self._exclusive() as acquired:
            if not acquired:
                return ResendResult(complete=False)
            for entry in self.entries():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return ResendResult(sent_requests, sent_spans, rejected_spans, complete=False)
                request = self._read(entry)
                if request is None:
                    continue  # gone, or quarantined: the rest is still resent
                outcome = send(request, remaining)
                if outcome is SendOutcome.RETRY:
                    return ResendResult(sent_requests, sent_spans, rejected_spans, complete=False, collector_down=True)
                _remove_quietly(entry.path)
                if outcome is SendOutcome.DELIVERED:
                    sent_requests += 1
                    sent_spans += entry.span_count
                else:
                    rejected_spans += entry.span_count
                    _logger.error("The collector rejected spooled request %s (%d spans) as malformed; it was removed.", entry.path, entry.span_count)
        return ResendResult(sent_requests, sent_spans, rejected_spans, complete=True)

    # --- Internals --------------------------------------------------------------------------------

    @contextmanager
    def _exclusive(self) -> Iterator[bool]:
        with self._resend_lock:
            if fcntl is None:
                yield True
                return
            handle = open(os.path.join(self.directory, _LOCK_NAME), "a+b")
            try:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    yield False
                    return
                try:
                    yield True
                finally:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            finally:
                handle.close()

    def _fsync_directory(self) -> None:
        # The rename is durable only once the directory entry is on disk (POSIX).
        if not hasattr(os, "O_DIRECTORY"):
            return
        descriptor = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def _remove_stale_temp_files(self) -> None:
        cutoff = time.time() - _STALE_TEMP_SECONDS
        with os.scandir(self.directory) as listing:
            for item in listing:
                if item.name.startswith(".") and item.name.endswith(_TEMP_SUFFIX):
                    try:
                        info = item.stat(follow_symlinks=False)
                        if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                            _remove_quietly(item.path)
                    except OSError:
                        pass  # not ours to remove, or gone: it is never read either way


_name_lock = threading.Lock()
_last_stamp = 0
_counter = 0


def _next_name_stem() -> str:
    """``<ns>-<pid>-<counter>``: unique and increasing across every spool in this process."""
    global _last_stamp, _counter
    with _name_lock:
        _last_stamp = max(time.time_ns(), _last_stamp + 1)
        _counter += 1
        return f"{_last_stamp:020d}-{os.getpid()}-{_counter}"


def _reset_name_lock() -> None:
    global _name_lock
    _name_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_name_lock)


def _noop() -> None:
    pass


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
