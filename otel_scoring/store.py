"""A SQLite file of score and metadata records: what the receiver writes and the CLI reads.

One file in WAL mode, so the CLI can read while ``otel-scoring serve`` writes. Scores are keyed by
score id and the newest write of a score wins (by the score's own timestamp, so a retried old
export arriving late cannot undo an update). Metadata updates are keyed by (trace, memo id, index):
a memo id is unique within its run, not across runs.

Each ``add`` is one transaction: every row of a translation goes in with as few multi-row
upserts as SQLite allows (see :class:`_Upsert`), committed together. With WAL and
``synchronous=NORMAL`` a committed ``add`` survives the process crashing; a power loss or OS
crash may lose the adds made since the last checkpoint (SQLite syncs the log at each checkpoint,
by default every 1000 pages), but never corrupts the file. Syncing at every commit (``FULL``)
would cost a disk flush per export request.

Times are stored as integer microseconds since the epoch (UTC): exact, sortable and cheap to
bucket. Every statement is parameterised. One connection behind a lock serves every thread (the
receiver's request threads included), which also keeps ``ScoreStore(":memory:")`` one database.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import threading
import urllib.parse
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from itertools import chain
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

from otel_scoring.records import MetadataRecord, ScoreRecord

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DELETE_BATCH_ROWS",
    "ScoreStore",
    "from_microseconds",
    "to_microseconds",
]

_logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_BUSY_TIMEOUT_SECONDS = 10.0  # another process (the CLI, a second writer) holding the write lock
# Compact JSON, as json.dumps(value, separators=(",", ":"), ensure_ascii=False) writes it, without
# building a new encoder for every row.
_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    value REAL,
    string_value TEXT,
    data_type TEXT NOT NULL,
    scope TEXT NOT NULL,
    trace_id TEXT,
    observation_id TEXT,
    session_id TEXT,
    dataset_run_id TEXT,
    source TEXT NOT NULL,
    comment TEXT,
    config_id TEXT,
    metadata_json TEXT,
    timestamp_us INTEGER NOT NULL,
    service_name TEXT,
    span_name TEXT
);
CREATE INDEX IF NOT EXISTS scores_by_name_time ON scores (name, timestamp_us);
CREATE INDEX IF NOT EXISTS scores_by_time ON scores (timestamp_us);
CREATE INDEX IF NOT EXISTS scores_by_trace ON scores (trace_id);
CREATE INDEX IF NOT EXISTS scores_by_session ON scores (session_id);

CREATE TABLE IF NOT EXISTS metadata (
    trace_key TEXT NOT NULL,  -- the trace id, or '' when the update names none
    memo_id TEXT NOT NULL,
    update_index INTEGER NOT NULL,
    kind TEXT NOT NULL,
    scope TEXT NOT NULL,
    values_json TEXT NOT NULL,
    span_id TEXT,
    timestamp_us INTEGER NOT NULL,
    service_name TEXT,
    span_name TEXT,
    PRIMARY KEY (trace_key, memo_id, update_index)
);
CREATE INDEX IF NOT EXISTS metadata_by_time ON metadata (timestamp_us);
"""

_SCORE_COLUMNS = (
    "id",
    "name",
    "value",
    "string_value",
    "data_type",
    "scope",
    "trace_id",
    "observation_id",
    "session_id",
    "dataset_run_id",
    "source",
    "comment",
    "config_id",
    "metadata_json",
    "timestamp_us",
    "service_name",
    "span_name",
)
_METADATA_COLUMNS = (
    "trace_key",
    "memo_id",
    "update_index",
    "kind",
    "scope",
    "values_json",
    "span_id",
    "timestamp_us",
    "service_name",
    "span_name",
)


DEFAULT_PAGE_SIZE = 1000  # records per page when reading in pages: bounded memory, few queries
DELETE_BATCH_ROWS = 5000  # rows one pruning transaction deletes: how long a writer may wait on it


class _Table(NamedTuple):
    name: str
    columns: Tuple[str, ...]
    order: Tuple[str, ...]  # unique per row, so a page can resume exactly after the previous one


_SCORES = _Table("scores", _SCORE_COLUMNS, ("timestamp_us", "id"))
# The primary key after the timestamp: a memo id is unique within its run, not across runs.
_METADATA = _Table("metadata", _METADATA_COLUMNS, ("timestamp_us", "memo_id", "update_index", "trace_key"))

# SQLite's oldest default limit on parameters in one statement (3.32 raised it to 32 766).
_MAX_PARAMETERS = 999


class _Upsert:
    """Upserts of many rows into one table, as few multi-row statements as SQLite allows.

    ``executemany`` runs one statement per row, and the ``sqlite3`` module releases the GIL
    around every step: with the receiver's request threads busy translating, each of those
    hand-overs can wait for another thread's turn, hundreds of times per export while the
    store's lock is held. A ``VALUES`` list of many rows is one step; the upsert still applies
    row by row, in order, exactly as ``executemany`` would.
    """

    def __init__(self, table: str, columns: Sequence[str], key: Sequence[str]) -> None:
        # Built from the constant column lists above only: no caller input reaches the SQL text.
        updates = ", ".join(f"{column} = excluded.{column}" for column in columns if column not in key)
        self._head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        self._row = f"({', '.join('?' for _ in columns)})"
        self._tail = f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} WHERE excluded.timestamp_us >= {table}.timestamp_us"
        self.rows_per_statement = _MAX_PARAMETERS // len(columns)
        self._statements: Dict[int, str] = {}  # at most rows_per_statement of them

    def statement(self, rows: int) -> str:
        sql = self._statements.get(rows)
        if sql is None:
            sql = self._statements[rows] = self._head + ", ".join([self._row] * rows) + self._tail
        return sql

    def run(self, connection: sqlite3.Connection, rows: Sequence[tuple]) -> int:
        """Rows changed: inserted, or updated because the write is at least as new."""
        written = 0
        step = self.rows_per_statement
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            written += connection.execute(self.statement(len(chunk)), list(chain.from_iterable(chunk))).rowcount
        return written


_UPSERT_SCORES = _Upsert("scores", _SCORE_COLUMNS, ("id",))
_UPSERT_METADATA = _Upsert("metadata", _METADATA_COLUMNS, ("trace_key", "memo_id", "update_index"))


def to_microseconds(moment: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_microseconds(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


# The bucket of a timestamp, parameter ?1 being the bucket size: floor division, also before 1970.
_BUCKET_OF_TIMESTAMP = "CASE WHEN timestamp_us >= 0 THEN timestamp_us / ?1 ELSE (timestamp_us + 1) / ?1 - 1 END"
# The values at the ranks a percentile interpolates between, for p50 and p90 of each bucket.
_PERCENTILE_RANKS = """, ranked AS (
    SELECT name, bucket, value,
           ROW_NUMBER() OVER (PARTITION BY name, bucket ORDER BY value) - 1 AS rank,
           COUNT(*) OVER (PARTITION BY name, bucket) AS n
    FROM bucketed WHERE value IS NOT NULL
)
SELECT name, bucket, rank, value FROM ranked
WHERE rank IN (CAST((n - 1) * 0.5 AS INTEGER), CAST((n - 1) * 0.5 AS INTEGER) + 1,
               CAST((n - 1) * 0.9 AS INTEGER), CAST((n - 1) * 0.9 AS INTEGER) + 1)"""


def _percentile_of_ranks(ranked: Dict[int, float], count: int, fraction: float) -> float:
    """The percentile of ``count`` ascending values, by linear interpolation between the closest
    ranks (numpy's default), from only the values at the two ranks it reads."""
    position = (count - 1) * fraction
    lower = math.floor(position)
    upper = min(lower + 1, count - 1)
    return ranked[lower] + (ranked[upper] - ranked[lower]) * (position - lower)


class ScoreStore:
    """Scores and metadata updates in one SQLite file.

    Args:
        path: the database file (created with its directory's permissions if missing), or
            ``":memory:"``.

    Thread-safe. ``close()`` is idempotent; calls after it raise ``sqlite3.ProgrammingError``.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        # Autocommit mode (isolation_level=None): each add() opens and commits its own transaction.
        self._connection = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False)
        self._closed = False
        self.read_only = False
        try:
            if self.path != ":memory:":
                self._connection.execute("PRAGMA journal_mode=WAL")
                self._connection.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; WAL keeps it consistent
            self._connection.executescript(_SCHEMA)
        except sqlite3.OperationalError as error:
            self._connection.close()
            if not _read_only_error(error) or not os.path.isfile(self.path):
                raise
            # A store this user may only read (another user's, or a copy on read-only media) is
            # opened for reading: queries work, writes raise sqlite3.OperationalError.
            self._connection = _open_read_only(self.path)
            self.read_only = True
        except BaseException:
            self._connection.close()  # not a database, ...: fail without leaking the handle
            raise

    # --- Writing ------------------------------------------------------------------------------------

    def add(self, translation: Any) -> int:
        """Upsert the ``scores`` and ``metadata`` of a translation; returns the rows written.

        A score already stored with a newer timestamp is left alone (and not counted).
        """
        return self.add_records(getattr(translation, "scores", ()), getattr(translation, "metadata", ()))

    def add_records(self, scores: Iterable[ScoreRecord] = (), metadata: Iterable[MetadataRecord] = ()) -> int:
        score_rows = [_score_row(record) for record in scores]
        metadata_rows = [_metadata_row(record) for record in metadata]
        if not score_rows and not metadata_rows:
            return 0
        written = 0
        with self._lock:
            connection = self._connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                # Each statement's rowcount is the rows it changed; a skipped upsert adds 0.
                written += _UPSERT_SCORES.run(connection, score_rows)
                written += _UPSERT_METADATA.run(connection, metadata_rows)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        return written

    def delete_before(self, moment: datetime) -> Tuple[int, int]:
        """Delete the scores and metadata updates timestamped before ``moment``: a retention policy.

        Returns (scores, metadata updates) deleted. Deletes a few thousand rows per transaction,
        so a writer (the receiver) waits for one short transaction at most, never for the whole
        prune. The file does not shrink: SQLite reuses the freed pages for new records.
        """
        cutoff = to_microseconds(moment)
        return self._delete_older(_SCORES.name, cutoff), self._delete_older(_METADATA.name, cutoff)

    # --- Reading ------------------------------------------------------------------------------------

    def scores(
        self,
        name: Optional[str] = None,
        trace_id: Optional[str] = None,
        session_id: Optional[str] = None,
        since: Optional[datetime] = None,
        limit: Optional[int] = None,
    ) -> List[ScoreRecord]:
        """Scores matching every filter given, oldest first (ties by id)."""
        rows = self._select(_SCORES, _score_conditions(name, trace_id, session_id, since), limit=limit)
        return [_score_record(row) for row in rows]

    def score_pages(
        self,
        name: Optional[str] = None,
        trace_id: Optional[str] = None,
        session_id: Optional[str] = None,
        since: Optional[datetime] = None,
        limit: Optional[int] = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[List[ScoreRecord]]:
        """The scores :meth:`scores` returns, in the same order, as lists of at most ``page_size``.

        Each page is its own query that resumes after the last score of the previous page, so
        memory stays bounded however many scores match, and writers are not held up between
        pages. A score written meanwhile is included if it sorts after the pages already read.
        """
        conditions = _score_conditions(name, trace_id, session_id, since)
        for rows in self._pages(_SCORES, conditions, page_size, limit):
            yield [_score_record(row) for row in rows]

    def count_scores(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM scores", [])[0][0])

    def count_metadata(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM metadata", [])[0][0])

    def metadata(self, trace_id: Optional[str] = None, since: Optional[datetime] = None) -> List[MetadataRecord]:
        """Metadata updates, of one run when ``trace_id`` is given, from ``since`` on when given, oldest first."""
        return [_metadata_record(row) for row in self._select(_METADATA, _metadata_conditions(trace_id, since))]

    def metadata_pages(
        self, trace_id: Optional[str] = None, since: Optional[datetime] = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[List[MetadataRecord]]:
        """The updates :meth:`metadata` returns, in the same order, as lists of at most ``page_size``
        (paged like :meth:`score_pages`)."""
        for rows in self._pages(_METADATA, _metadata_conditions(trace_id, since), page_size):
            yield [_metadata_record(row) for row in rows]

    def stats(self, name: Optional[str] = None, bucket_seconds: float = 3600, since: Optional[datetime] = None) -> List[Dict[str, Any]]:
        """Per score name per time bucket: ``count``, ``mean``, ``min``, ``max``, ``p50``, ``p90``.

        ``count`` counts every score in the bucket; the other figures are over the scores that
        have a numeric value (None when none has, e.g. categorical scores without a config).
        Buckets start at multiples of ``bucket_seconds`` since the epoch; rows come sorted by name
        then bucket, each with ``name``, ``bucket_start`` (a UTC datetime) and the figures. SQLite
        does the grouping and ranking, so memory grows with the number of buckets, not of scores.
        """
        if isinstance(bucket_seconds, bool) or not isinstance(bucket_seconds, (int, float)) or not bucket_seconds > 0:
            raise ValueError(f"bucket_seconds must be a positive number, got {bucket_seconds!r}")
        bucket_micros = max(1, int(bucket_seconds * 1_000_000))
        where, parameters = _where(*_score_conditions(name, None, None, since))
        # SQLite groups, and ranks the values within each bucket, so memory holds a few numbers
        # per bucket, not every score: `stats` over a large store stays small.
        bucketed = f"WITH bucketed AS (SELECT name, {_BUCKET_OF_TIMESTAMP} AS bucket, value FROM scores{where})"
        arguments = [bucket_micros, *parameters]
        # Both queries read one snapshot (one read transaction), so a write landing between them
        # cannot make the counts and the ranks disagree.
        with self._snapshot():
            summaries = self._query(
                f"{bucketed} SELECT name, bucket, COUNT(*), COUNT(value), SUM(value), MIN(value), MAX(value)"
                " FROM bucketed GROUP BY name, bucket ORDER BY name, bucket",
                arguments,
            )
            ranked_rows = self._query(f"{bucketed} {_PERCENTILE_RANKS}", arguments)
        ranked: Dict[Tuple[str, int], Dict[int, float]] = {}
        for score_name, bucket, rank, value in ranked_rows:
            ranked.setdefault((score_name, bucket), {})[rank] = float(value)
        result = []
        for score_name, bucket, count, numeric_count, total, smallest, largest in summaries:
            ranks = ranked.get((score_name, bucket), {})
            numeric = numeric_count > 0
            result.append(
                {
                    "name": score_name,
                    "bucket_start": from_microseconds(bucket * bucket_micros),
                    "count": count,
                    "mean": total / numeric_count if numeric else None,
                    "min": float(smallest) if numeric else None,
                    "max": float(largest) if numeric else None,
                    "p50": _percentile_of_ranks(ranks, numeric_count, 0.5) if numeric else None,
                    "p90": _percentile_of_ranks(ranks, numeric_count, 0.9) if numeric else None,
                }
            )
        return result

    # --- Lifecycle ----------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._connection.close()

    def __enter__(self) -> "ScoreStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _select(
        self, table: _Table, conditions: Sequence[Tuple[str, Any]], after: Optional[tuple] = None, limit: Optional[int] = None
    ) -> List[tuple]:
        """Rows of ``table`` matching ``conditions`` in the table's order, those sorting after
        ``after`` (a value of the order's columns) only when it is given."""
        if after is not None:
            placeholders = ", ".join("?" * len(table.order))
            conditions = (*conditions, (f"({', '.join(table.order)}) > ({placeholders})", after))
        where, parameters = _where(*conditions)
        sql = f"SELECT {', '.join(table.columns)} FROM {table.name}{where} ORDER BY {', '.join(table.order)}"
        if limit is not None:
            sql += " LIMIT ?"
            parameters.append(int(limit))
        return self._query(sql, parameters)

    def _pages(
        self, table: _Table, conditions: Sequence[Tuple[str, Any]], page_size: int, limit: Optional[int] = None
    ) -> Iterator[List[tuple]]:
        """Keyset paging: each page resumes after the order key of the previous page's last row;
        at most ``limit`` rows in all when it is given."""
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size must be a positive int, got {page_size!r}")
        key_positions = [table.columns.index(column) for column in table.order]
        after: Optional[tuple] = None
        remaining = limit
        while remaining is None or remaining > 0:
            wanted = page_size if remaining is None else min(page_size, remaining)
            rows = self._select(table, conditions, after=after, limit=wanted)
            if rows:
                yield rows
            if len(rows) < wanted:
                return
            if remaining is not None:
                remaining -= len(rows)
            after = tuple(rows[-1][position] for position in key_positions)

    def _delete_older(self, table: str, cutoff_micros: int) -> int:
        sql = f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE timestamp_us < ? LIMIT ?)"
        deleted = 0
        while True:
            with self._lock:  # autocommit: each DELETE is its own transaction
                count = self._connection.execute(sql, (cutoff_micros, DELETE_BATCH_ROWS)).rowcount
            deleted += count
            if count < DELETE_BATCH_ROWS:
                return deleted

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """One read transaction: every query inside sees the same committed state."""
        with self._lock:
            self._connection.execute("BEGIN")
            try:
                yield
            finally:
                self._connection.execute("COMMIT")

    def _query(self, sql: str, parameters: Sequence[Any]) -> List[tuple]:
        with self._lock:
            return self._connection.execute(sql, parameters).fetchall()


def _read_only_error(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "readonly" in text or "read-only" in text or "unable to open" in text


def _open_read_only(path: str) -> sqlite3.Connection:
    """``path`` opened read-only; a WAL file's shared memory it cannot create is not needed
    when the file cannot change under it (no writer can have it open without write access)."""
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False)
    try:
        connection.execute("SELECT COUNT(*) FROM scores").fetchone()
    except sqlite3.OperationalError:
        connection.close()
        # No writable -shm beside a WAL database: read it as immutable instead.
        connection = sqlite3.connect(uri + "&immutable=1", uri=True, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False)
    return connection


def _where(*conditions: Tuple[str, Any]) -> Tuple[str, List[Any]]:
    """A WHERE clause of the conditions whose parameter is not None, and their parameters.

    A tuple parameter fills as many placeholders as it has items (a row-value comparison).
    """
    used = [(clause, value) for clause, value in conditions if value is not None]
    if not used:
        return "", []
    parameters: List[Any] = []
    for _, value in used:
        parameters.extend(value if isinstance(value, tuple) else (value,))
    return " WHERE " + " AND ".join(clause for clause, _ in used), parameters


def _score_conditions(
    name: Optional[str], trace_id: Optional[str], session_id: Optional[str], since: Optional[datetime]
) -> List[Tuple[str, Any]]:
    return [
        ("name = ?", name),
        ("trace_id = ?", None if trace_id is None else trace_id.lower()),
        ("session_id = ?", session_id),
        ("timestamp_us >= ?", None if since is None else to_microseconds(since)),
    ]


def _metadata_conditions(trace_id: Optional[str], since: Optional[datetime]) -> List[Tuple[str, Any]]:
    return [
        ("trace_key = ?", None if trace_id is None else trace_id.lower()),
        ("timestamp_us >= ?", None if since is None else to_microseconds(since)),
    ]


def _score_row(record: ScoreRecord) -> tuple:
    return (
        record.id,
        record.name,
        record.value,
        record.string_value,
        record.data_type,
        record.scope,
        record.trace_id,
        record.observation_id,
        record.session_id,
        record.dataset_run_id,
        record.source,
        record.comment,
        record.config_id,
        None if record.metadata is None else _encode_json(record.metadata),
        to_microseconds(record.timestamp),
        record.service_name,
        record.span_name,
    )


def _score_record(row: tuple) -> ScoreRecord:
    values = dict(zip(_SCORE_COLUMNS, row))
    metadata_json = values.pop("metadata_json")
    micros = values.pop("timestamp_us")
    return ScoreRecord(
        **values,
        metadata=None if metadata_json is None else json.loads(metadata_json),
        timestamp=from_microseconds(micros),
    )


def _metadata_row(record: MetadataRecord) -> tuple:
    return (
        record.trace_id or "",
        record.memo_id,
        record.index,
        record.kind,
        record.scope,
        _encode_json(dict(record.values)),
        record.span_id,
        to_microseconds(record.timestamp),
        record.service_name,
        record.span_name,
    )


def _metadata_record(row: tuple) -> MetadataRecord:
    values = dict(zip(_METADATA_COLUMNS, row))
    return MetadataRecord(
        memo_id=values["memo_id"],
        index=values["update_index"],
        kind=values["kind"],
        scope=values["scope"],
        values=json.loads(values["values_json"]),
        trace_id=values["trace_key"] or None,
        span_id=values["span_id"],
        timestamp=from_microseconds(values["timestamp_us"]),
        service_name=values["service_name"],
        span_name=values["span_name"],
    )
