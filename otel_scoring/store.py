"""A SQLite file of score and metadata records: what the receiver writes and the CLI reads.

One file in WAL mode, so the CLI can read while ``otel-scoring serve`` writes. Scores are keyed by
score id and the newest write of a score wins (by the score's own timestamp, so a retried old
export arriving late cannot undo an update). Since the record's own time decides, a record dated
more than :data:`MAX_FUTURE_SECONDS` ahead of this clock is refused (one warning, not counted as
written): a score from year 9999 would otherwise win over every later update of its id and never
be old enough for retention. Stores written before this rule are repaired once when opened
(:data:`SCHEMA_VERSION`). Metadata updates are keyed by (trace, memo id, index):
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
import operator
import os
import sqlite3
import threading
import time
import urllib.parse
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from itertools import chain
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from otel_scoring.records import MetadataRecord, ScoreRecord

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DELETE_BATCH_ROWS",
    "MAX_FUTURE_SECONDS",
    "SCHEMA_VERSION",
    "ScoreStore",
    "from_microseconds",
    "to_microseconds",
]

_logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_BUSY_TIMEOUT_SECONDS = 10.0  # another process (the CLI, a second writer) holding the write lock
# How far ahead of this clock a record may be dated: clocks drift by seconds; a day ahead is not a
# clock, it is an attack (or a bug) that would pin a score id and dodge retention.
MAX_FUTURE_SECONDS = 24 * 3600
# PRAGMA user_version of a store this version has brought up to date. 1: records dated past
# MAX_FUTURE_SECONDS when the store was opened are re-dated to that moment (_repair_future_dates).
SCHEMA_VERSION = 1
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

# What cohorts and the dashboard read without a join over raw spans, kept up to date by every add:
# one row per run (trace), the run's resource (deduplicated: a service exports from few
# resources), and the latest value of each metadata key of the run (``metadata.<kind>.<key>``).
# Created, and filled from the records already stored, the first time a store is opened by a
# version that has them (see ScoreStore._add_cohort_tables).
_COHORT_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    id INTEGER PRIMARY KEY,
    attributes_json TEXT NOT NULL UNIQUE  -- scalar attributes, keys sorted
);
CREATE TABLE IF NOT EXISTS runs (
    trace_key TEXT PRIMARY KEY,
    name TEXT,                  -- the span the run's trace scores and run metadata are on
    service_name TEXT,
    resource_id INTEGER,        -- the run's own spans' resource, a carrier's until one is known
    resource_from_run INTEGER NOT NULL DEFAULT 0,
    first_us INTEGER NOT NULL,
    last_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_last ON runs (last_us);
CREATE INDEX IF NOT EXISTS runs_by_resource ON runs (resource_id);
CREATE TABLE IF NOT EXISTS run_keys (
    trace_key TEXT NOT NULL,
    key TEXT NOT NULL,          -- metadata.<kind>.<key>
    value TEXT NOT NULL,        -- text as is, true/false, numbers as JSON writes them
    timestamp_us INTEGER NOT NULL,
    PRIMARY KEY (trace_key, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS run_keys_by_value ON run_keys (key, value);
"""
# Longest resource attribute or metadata value kept for cohorts: a cohort is named by a short value.
MAX_COHORT_VALUE_CHARS = 256
METADATA_KEY_PREFIX = "metadata."

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
_PROGRESS_STEPS = 200_000  # SQLite VM instructions between progress calls of a long query (a few ms)


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
    row by row, in order, exactly as ``executemany`` would (a later row of the same key updates
    the one before it).
    """

    def __init__(self, table: str, columns: Sequence[str], on_conflict: str) -> None:
        # Built from the constant column lists and clauses below only: no caller input reaches the SQL text.
        self._head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        self._row = f"({', '.join('?' for _ in columns)})"
        self._tail = " " + on_conflict
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


def _newest_wins(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """The conflict clause of a row keyed by ``key`` whose newest write (by timestamp_us) wins."""
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns if column not in key)
    return f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} WHERE excluded.timestamp_us >= {table}.timestamp_us"


_UPSERT_SCORES = _Upsert("scores", _SCORE_COLUMNS, _newest_wins("scores", _SCORE_COLUMNS, ("id",)))
_UPSERT_METADATA = _Upsert("metadata", _METADATA_COLUMNS, _newest_wins("metadata", _METADATA_COLUMNS, ("trace_key", "memo_id", "update_index")))
# Where each row keeps its record's time, and what _run_rows reads of it.
_SCORE_TIME = _SCORE_COLUMNS.index("timestamp_us")
_METADATA_TIME = _METADATA_COLUMNS.index("timestamp_us")
_RUN_FIELDS = ("trace_id", "scope", "span_name", "service_name", "timestamp_us")
_score_run_fields = operator.itemgetter(*(_SCORE_COLUMNS.index(column) for column in _RUN_FIELDS))
# The metadata row's trace key is "" without a trace: the run takes the record's own trace id.
_metadata_run_fields = operator.itemgetter(*(_METADATA_COLUMNS.index(column) for column in _RUN_FIELDS[1:]))


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
        self._resource_ids: Dict[str, int] = {}  # resource attributes JSON -> its row id, see _resource_id
        try:
            if self.path != ":memory:":
                _use_wal(self._connection)
                self._connection.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; WAL keeps it consistent
            self._connection.executescript(_SCHEMA)
            self._add_cohort_tables()
            self._repair_future_dates()
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
        return self.add_records(getattr(translation, "scores", ()), getattr(translation, "metadata", ()), getattr(translation, "resources", None))

    def add_records(
        self,
        scores: Iterable[ScoreRecord] = (),
        metadata: Iterable[MetadataRecord] = (),
        resources: Optional[Mapping[str, Tuple[Mapping[str, Any], bool]]] = None,
    ) -> int:
        """Upsert score and metadata records; ``resources`` as :class:`Translation` has them.

        Returns the score and metadata rows written (the run rows kept beside them not counted).
        """
        # Each record's time is converted once: its row keeps it, and the refusal of future
        # records and the run rows read it there.
        latest = _latest_accepted_micros()
        scores, metadata = list(scores), list(metadata)
        given = len(scores) + len(metadata)
        scores, score_rows = _refuse_future_rows(scores, [_score_row(record) for record in scores], _SCORE_TIME, latest)
        metadata, metadata_rows = _refuse_future_rows(metadata, [_metadata_row(record) for record in metadata], _METADATA_TIME, latest)
        if len(score_rows) + len(metadata_rows) < given:
            _warn_future_records_refused()
        if not score_rows and not metadata_rows:
            return 0
        runs = _run_rows(score_rows, metadata, metadata_rows, resources or {})
        run_keys = _run_key_rows(metadata, metadata_rows)
        written = 0
        with self._lock:
            connection = self._connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                # Each statement's rowcount is the rows it changed; a skipped upsert adds 0.
                written += _UPSERT_SCORES.run(connection, score_rows)
                written += _UPSERT_METADATA.run(connection, metadata_rows)
                self._write_runs(runs, run_keys)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        return written

    def delete_before(self, moment: datetime, on_progress: Optional[Callable[[int, int], None]] = None) -> Tuple[int, int]:
        """Delete the scores and metadata updates timestamped before ``moment``: a retention policy.

        Returns (scores, metadata updates) deleted. Deletes a few thousand rows per transaction,
        so a writer (the receiver) waits for one short transaction at most, never for the whole
        prune. The file does not shrink: SQLite reuses the freed pages for new records.
        ``on_progress(scores, updates)``, when given, hears the totals so far after each transaction.
        """
        cutoff = to_microseconds(moment)
        scores = self._delete_older(_SCORES.name, cutoff, None if on_progress is None else lambda count: on_progress(count, 0))
        updates = self._delete_older(_METADATA.name, cutoff, None if on_progress is None else lambda count: on_progress(scores, count))
        self._delete_runs_before(cutoff)
        return scores, updates

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

    def stats(
        self, name: Optional[str] = None, bucket_seconds: float = 3600, since: Optional[datetime] = None, on_progress: Optional[Callable[[], None]] = None
    ) -> List[Dict[str, Any]]:
        """Per score name per time bucket: ``count``, ``mean``, ``min``, ``max``, ``p50``, ``p90``.

        ``count`` counts every score in the bucket; the other figures are over the scores that
        have a numeric value (None when none has, e.g. categorical scores without a config).
        Buckets start at multiples of ``bucket_seconds`` since the epoch; rows come sorted by name
        then bucket, each with ``name``, ``bucket_start`` (a UTC datetime) and the figures. SQLite
        does the grouping and ranking, so memory grows with the number of buckets, not of scores.
        ``on_progress()``, when given, is called every so often while SQLite works (to show it does).
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
        with self._snapshot(), self._progress_calls(on_progress):
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

    # --- Cohorts, trends and runs: what the dashboard and `compare` read ----------------------------

    def score_names(self) -> List[str]:
        """Every score name, sorted: one index step per name, however many scores."""
        return self._distinct("SELECT name FROM scores WHERE name > ? ORDER BY name LIMIT 1")

    def services(self) -> List[str]:
        return [row[0] for row in self._query("SELECT DISTINCT service_name FROM runs WHERE service_name IS NOT NULL ORDER BY 1 LIMIT 1000", [])]

    def cohort_keys(self) -> List[str]:
        """Keys scores can be split by: resource attributes of the runs, then ``metadata.<kind>.<key>``."""
        resource_keys = [
            row[0] for row in self._query("SELECT DISTINCT j.key FROM resources, json_each(resources.attributes_json) AS j ORDER BY 1 LIMIT 500", [])
        ]
        return resource_keys + self._distinct("SELECT key FROM run_keys WHERE key > ? ORDER BY key LIMIT 1")

    def trends(
        self,
        bucket_seconds: float,
        name: Optional[str] = None,
        service: Optional[str] = None,
        since: Optional[datetime] = None,
        until: Optional[datetime] = None,
    ) -> Tuple[List[Dict[str, Any]], List[Tuple[str, datetime, str, int]]]:
        """Per score name per bucket: count, mean, p50, p90 and data type; and label counts.

        The second list holds (name, bucket start, label, count) of every score with a label
        (categorical and boolean ones). Like :meth:`stats`, SQLite groups and ranks.
        """
        bucket_micros = _bucket_micros(bucket_seconds)
        where, parameters = _where(
            *_score_conditions(name, None, None, since),
            ("timestamp_us < ?", None if until is None else to_microseconds(until)),
            ("service_name = ?", service),
        )
        bucketed = f"WITH bucketed AS (SELECT name, {_BUCKET_OF_TIMESTAMP} AS bucket, value, string_value, data_type FROM scores{where})"
        arguments = [bucket_micros, *parameters]
        summaries = self._query(
            f"{bucketed} SELECT name, bucket, COUNT(*), COUNT(value), SUM(value), MAX(data_type)"
            " FROM bucketed GROUP BY name, bucket ORDER BY name, bucket",
            arguments,
        )
        ranked: Dict[Tuple[str, int], Dict[int, float]] = {}
        for score_name, bucket, rank, value in self._query(f"{bucketed} {_PERCENTILE_RANKS}", arguments):
            ranked.setdefault((score_name, bucket), {})[rank] = float(value)
        figures = []
        for score_name, bucket, count, numeric_count, total, data_type in summaries:
            ranks = ranked.get((score_name, bucket), {})
            numeric = numeric_count > 0
            figures.append(
                {
                    "name": score_name,
                    "data_type": data_type,
                    "bucket_start": from_microseconds(bucket * bucket_micros),
                    "count": count,
                    "mean": total / numeric_count if numeric else None,
                    "p50": _percentile_of_ranks(ranks, numeric_count, 0.5) if numeric else None,
                    "p90": _percentile_of_ranks(ranks, numeric_count, 0.9) if numeric else None,
                }
            )
        labels = [
            (score_name, from_microseconds(bucket * bucket_micros), label, count)
            for score_name, bucket, label, count in self._query(
                f"{bucketed} SELECT name, bucket, string_value, COUNT(*) FROM bucketed WHERE string_value IS NOT NULL"
                " GROUP BY name, bucket, string_value ORDER BY name, bucket, string_value",
                arguments,
            )
        ]
        return figures, labels

    def runs(self, search: Optional[str] = None, limit: int = 50, offset: int = 0) -> Tuple[int, List[Dict[str, Any]]]:
        """(how many runs match, a page of them newest first). ``search`` matches a trace id
        prefix, or part of the run's name, service or a metadata value, or a score name exactly."""
        conditions: List[Tuple[str, Any]] = []
        text = (search or "").strip()
        if text:
            escaped = text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
            like = f"%{escaped}%"
            # A trace id is matched from its start (lowercase, as stored); the rest anywhere.
            trace_like = f"{escaped.lower()}%" if _HEX.issuperset(text) else like
            conditions.append(
                (
                    "(trace_key LIKE ? ESCAPE '!' OR name LIKE ? ESCAPE '!' OR service_name LIKE ? ESCAPE '!'"
                    " OR EXISTS (SELECT 1 FROM run_keys k WHERE k.trace_key = runs.trace_key AND k.value LIKE ? ESCAPE '!')"
                    " OR EXISTS (SELECT 1 FROM scores s WHERE s.trace_id = runs.trace_key AND s.name = ?))",
                    (trace_like, like, like, like, text),
                )
            )
        where, parameters = _where(*conditions)
        total = int(self._query(f"SELECT COUNT(*) FROM runs{where}", parameters)[0][0])
        rows = self._query(
            f"SELECT trace_key, name, service_name, first_us, last_us FROM runs{where} ORDER BY last_us DESC, trace_key LIMIT ? OFFSET ?",
            [*parameters, int(limit), int(offset)],
        )
        page = [
            {"trace_id": trace, "name": run_name, "service_name": service, "first": from_microseconds(first), "last": from_microseconds(last), "scores": []}
            for trace, run_name, service, first, last in rows
        ]
        if page:
            by_trace = {run["trace_id"]: run for run in page}
            placeholders = ", ".join("?" * len(by_trace))
            for trace, score_name, value, label, data_type, scope, span_name in self._query(
                f"SELECT trace_id, name, value, string_value, data_type, scope, span_name FROM scores WHERE trace_id IN ({placeholders})"
                " ORDER BY timestamp_us, id",
                list(by_trace),
            ):
                by_trace[trace]["scores"].append(
                    {"name": score_name, "value": value, "label": label, "data_type": data_type, "scope": scope, "late": span_name is None}
                )
        return total, page

    def run(self, trace_id: str) -> Optional[Dict[str, Any]]:
        """One run: its name, service, times and resource attributes (None when unknown)."""
        rows = self._query(
            "SELECT r.trace_key, r.name, r.service_name, r.first_us, r.last_us, res.attributes_json"
            " FROM runs r LEFT JOIN resources res ON res.id = r.resource_id WHERE r.trace_key = ?",
            [trace_id.lower()],
        )
        if not rows:
            return None
        trace, run_name, service, first, last, resource_json = rows[0]
        return {
            "trace_id": trace,
            "name": run_name,
            "service_name": service,
            "first": from_microseconds(first),
            "last": from_microseconds(last),
            "resource": json.loads(resource_json) if resource_json else {},
        }

    def cohort_values(self, key: str, name: str, limit: int = 100) -> List[Tuple[str, int, datetime]]:
        """The values ``key`` takes among the runs scored ``name``: (value, scores, first score time)."""
        value, join, conditions = _cohort_value_sql(key)
        where, parameters = _where(("s.name = ?", name), *conditions)
        rows = self._query(
            f"SELECT {value} AS cohort, COUNT(*), MIN(s.timestamp_us) FROM scores s {join}{where} AND cohort IS NOT NULL"
            " GROUP BY cohort ORDER BY MIN(s.timestamp_us) LIMIT ?",
            [*_cohort_value_parameters(key), *parameters, int(limit)],
        )
        return [(str(cohort), int(count), from_microseconds(first)) for cohort, count, first in rows]

    def cohort_summary(self, name: str, key: str, value: Any) -> Dict[str, Any]:
        """Scores named ``name`` in one cohort: ``count`` (all), ``n`` (with a numeric value),
        ``mean``, ``min``, ``max``, ``first`` (oldest score time or None) and ``labels``.

        ``key`` is ``time`` (``value`` a (start, end) pair of datetimes, end excluded),
        ``dataset_run``, ``service.name``, another resource attribute, or ``metadata.<kind>.<key>``.
        """
        source, parameters = self._cohort_source(name, key, value)
        count, n, mean, smallest, largest, first = self._query(
            f"SELECT COUNT(*), COUNT(s.value), AVG(s.value), MIN(s.value), MAX(s.value), MIN(s.timestamp_us) {source}", parameters
        )[0]
        labels = self._query(f"SELECT s.string_value, COUNT(*) {source} AND s.string_value IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50", parameters)
        return {
            "count": int(count),
            "n": int(n),
            "mean": None if mean is None else float(mean),
            "min": None if smallest is None else float(smallest),
            "max": None if largest is None else float(largest),
            "first": None if first is None else from_microseconds(first),
            "labels": {label: int(label_count) for label, label_count in labels},
        }

    def cohort_spread(self, name: str, key: str, value: Any, mean: float, low: float, width: float, bins: int) -> Tuple[float, List[int]]:
        """(sum of squared deviations from ``mean``, counts of ``bins`` bins from ``low`` of ``width``)
        of a cohort's numeric values: one scan, so the variance needs no second pass over scores."""
        source, parameters = self._cohort_source(name, key, value)
        counts = [0] * bins
        squares = 0.0
        for index, bin_count, bin_squares in self._query(
            f"SELECT MAX(0, MIN(CAST((s.value - ?) / ? AS INTEGER), ?)) AS bin, COUNT(*), SUM((s.value - ?) * (s.value - ?))"
            f" {source} AND s.value IS NOT NULL GROUP BY bin",
            [low, width if width > 0 else 1.0, bins - 1, mean, mean, *parameters],
        ):
            counts[int(index)] += int(bin_count)
            squares += float(bin_squares)
        return squares, counts

    def _cohort_source(self, name: str, key: str, value: Any) -> Tuple[str, List[Any]]:
        """``FROM ... WHERE ...`` of the scores named ``name`` in a cohort, and its parameters."""
        if key == "time":
            start, end = value
            return "FROM scores s WHERE s.name = ? AND s.timestamp_us >= ? AND s.timestamp_us < ?", [name, to_microseconds(start), to_microseconds(end)]
        if key == "dataset_run":
            return "FROM scores s WHERE s.name = ? AND s.dataset_run_id = ?", [name, str(value)]
        if key == "service.name":
            return "FROM scores s JOIN runs r ON r.trace_key = s.trace_id WHERE s.name = ? AND r.service_name = ?", [name, str(value)]
        if key.startswith(METADATA_KEY_PREFIX):
            return (
                "FROM run_keys k JOIN scores s ON s.trace_id = k.trace_key WHERE s.name = ? AND k.key = ? AND k.value = ?",
                [name, key, str(value)],
            )
        # A resource attribute: the few resources holding the value, then their runs' scores.
        path = _json_path(key)
        resource_ids = [
            row[0]
            for row in self._query(
                f"SELECT id FROM resources WHERE {_JSON_TEXT.format(column='attributes_json')} = ?", [path, path, str(value)]
            )
        ]
        placeholders = ", ".join("?" * len(resource_ids)) or "NULL"
        return (
            f"FROM scores s JOIN runs r ON r.trace_key = s.trace_id WHERE s.name = ? AND r.resource_id IN ({placeholders})",
            [name, *resource_ids],
        )

    def _distinct(self, next_after: str) -> List[str]:
        """Distinct values of an indexed column, one index seek each (``next_after`` takes the previous)."""
        found: List[str] = []
        previous = ""
        while len(found) < 10_000:
            rows = self._query(next_after, [previous])
            if not rows:
                break
            previous = rows[0][0]
            found.append(previous)
        return found

    def _write_runs(self, runs: Sequence[tuple], run_keys: Sequence[tuple]) -> None:
        """Inside add_records' transaction: the run rows and metadata keys of what was added."""
        connection = self._connection
        _UPSERT_RUNS.run(
            connection,
            [
                (trace, run_name, service, None if resource is None else self._resource_id(resource), 1 if from_run else 0, first, last)
                for trace, run_name, service, resource, from_run, first, last in runs
            ],
        )
        _UPSERT_RUN_KEYS.run(connection, run_keys)

    def _resource_id(self, attributes_json: str) -> int:
        cache = self._resource_ids
        found = cache.get(attributes_json)
        if found is None:
            self._connection.execute("INSERT OR IGNORE INTO resources (attributes_json) VALUES (?)", (attributes_json,))
            found = int(self._connection.execute("SELECT id FROM resources WHERE attributes_json = ?", (attributes_json,)).fetchone()[0])
            if len(cache) >= _RESOURCE_CACHE_SIZE:
                cache.clear()  # a store fed by very many resources: re-read them as they come
            cache[attributes_json] = found
        return found

    def _add_cohort_tables(self) -> None:
        """Create the cohort tables; in a store made before them, fill them from its records.

        One transaction, so a store is either migrated whole or not at all. Resources are not
        known for records stored before (the translator did not keep them): their runs have
        ``service.name`` and metadata keys, and no other resource attribute.
        """
        connection = self._connection
        has_runs = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'"
        if connection.execute(has_runs).fetchone():
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Asked again under the write lock: a store opened at the same moment (a second
            # receiver, the CLI) may have migrated while this one waited, and a second backfill
            # would insert every run twice.
            if connection.execute(has_runs).fetchone():
                connection.execute("COMMIT")
                return
            for statement in _COHORT_SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(_BACKFILL_RUNS)
            connection.execute(_BACKFILL_RUN_KEYS)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _repair_future_dates(self) -> None:
        """Bring a store written before records were refused for future dates up to date: re-date
        every record (and run) dated past :data:`MAX_FUTURE_SECONDS` from now to now, so its id
        takes updates again and retention reaches it. Once per store (``PRAGMA user_version``),
        in one transaction, asked again under the write lock like the cohort migration."""
        connection = self._connection
        if connection.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            if connection.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                now = to_microseconds(datetime.now(timezone.utc))
                latest = now + MAX_FUTURE_SECONDS * 1_000_000
                for table, column in _DATED_COLUMNS:
                    # Constant names only: no caller input reaches the SQL text.
                    connection.execute(f"UPDATE {table} SET {column} = ? WHERE {column} > ?", (now, latest))
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _delete_runs_before(self, cutoff_micros: int) -> None:
        """Runs whose last record is older than the retention cutoff, with their metadata keys."""
        while True:
            with self._lock:
                connection = self._connection
                connection.execute("BEGIN IMMEDIATE")
                try:
                    traces = [row[0] for row in connection.execute("SELECT trace_key FROM runs WHERE last_us < ? LIMIT ?", (cutoff_micros, DELETE_BATCH_ROWS))]
                    for start in range(0, len(traces), _MAX_PARAMETERS):
                        chunk = traces[start : start + _MAX_PARAMETERS]
                        placeholders = ", ".join("?" * len(chunk))
                        connection.execute(f"DELETE FROM run_keys WHERE trace_key IN ({placeholders})", chunk)
                        connection.execute(f"DELETE FROM runs WHERE trace_key IN ({placeholders})", chunk)
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
            if len(traces) < DELETE_BATCH_ROWS:
                return

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

    def _delete_older(self, table: str, cutoff_micros: int, on_progress: Optional[Callable[[int], None]] = None) -> int:
        sql = f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE timestamp_us < ? LIMIT ?)"
        deleted = 0
        while True:
            with self._lock:  # autocommit: each DELETE is its own transaction
                count = self._connection.execute(sql, (cutoff_micros, DELETE_BATCH_ROWS)).rowcount
            deleted += count
            if on_progress is not None:
                on_progress(deleted)
            if count < DELETE_BATCH_ROWS:
                return deleted

    @contextmanager
    def _progress_calls(self, on_progress: Optional[Callable[[], None]]) -> Iterator[None]:
        """``on_progress()`` every :data:`_PROGRESS_STEPS` SQLite instructions of the queries inside."""
        if on_progress is None:
            yield
            return

        def handler() -> int:
            on_progress()
            return 0  # anything else would interrupt the query

        with self._lock:
            self._connection.set_progress_handler(handler, _PROGRESS_STEPS)
            try:
                yield
            finally:
                self._connection.set_progress_handler(None, 0)

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


_RESOURCE_CACHE_SIZE = 1024
# Every column holding a record's time, which _repair_future_dates re-dates.
_DATED_COLUMNS = (("scores", "timestamp_us"), ("metadata", "timestamp_us"), ("runs", "first_us"), ("runs", "last_us"), ("run_keys", "timestamp_us"))
_HEX = frozenset("0123456789abcdefABCDEF")
# A run's newest name, service and resource win, but never a carrier's over the run's own.
_UPSERT_RUNS = _Upsert(
    "runs",
    ("trace_key", "name", "service_name", "resource_id", "resource_from_run", "first_us", "last_us"),
    """ON CONFLICT (trace_key) DO UPDATE SET
    name = COALESCE(runs.name, excluded.name),
    service_name = CASE WHEN runs.resource_from_run > excluded.resource_from_run OR excluded.service_name IS NULL
                        THEN COALESCE(runs.service_name, excluded.service_name) ELSE excluded.service_name END,
    resource_id = CASE WHEN runs.resource_from_run > excluded.resource_from_run OR excluded.resource_id IS NULL
                       THEN COALESCE(runs.resource_id, excluded.resource_id) ELSE excluded.resource_id END,
    resource_from_run = MAX(runs.resource_from_run, excluded.resource_from_run),
    first_us = MIN(runs.first_us, excluded.first_us),
    last_us = MAX(runs.last_us, excluded.last_us)""",
)
_RUN_KEY_COLUMNS = ("trace_key", "key", "value", "timestamp_us")
_UPSERT_RUN_KEYS = _Upsert("run_keys", _RUN_KEY_COLUMNS, _newest_wins("run_keys", _RUN_KEY_COLUMNS, ("trace_key", "key")))
# Migration of a store made before the cohort tables: one run per trace of its records, with the
# service of its own spans' records when it has any (a carrier span has no span name).
_BACKFILL_RUNS = """INSERT INTO runs (trace_key, name, service_name, resource_id, resource_from_run, first_us, last_us)
SELECT trace_key,
       MAX(CASE WHEN scope IN ('trace', 'run') THEN span_name END),
       COALESCE(MAX(CASE WHEN span_name IS NOT NULL THEN service_name END), MAX(service_name)),
       NULL, MAX(span_name IS NOT NULL), MIN(timestamp_us), MAX(timestamp_us)
FROM (SELECT trace_id AS trace_key, span_name, service_name, scope, timestamp_us FROM scores WHERE trace_id IS NOT NULL
      UNION ALL
      SELECT trace_key, span_name, service_name, scope, timestamp_us FROM metadata WHERE trace_key != '')
GROUP BY trace_key"""
# The same text values _cohort_text gives, from JSON: text as is, true/false, numbers as written.
_BACKFILL_RUN_KEYS = f"""INSERT INTO run_keys (trace_key, key, value, timestamp_us)
SELECT m.trace_key, '{METADATA_KEY_PREFIX}' || m.kind || '.' || j.key,
       CASE j.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(j.value AS TEXT) END, m.timestamp_us
FROM metadata AS m, json_each(m.values_json) AS j
WHERE m.trace_key != '' AND j.type IN ('text', 'integer', 'real', 'true', 'false') AND length(CAST(j.value AS TEXT)) <= {MAX_COHORT_VALUE_CHARS}
ORDER BY m.timestamp_us
ON CONFLICT (trace_key, key) DO UPDATE SET value = excluded.value, timestamp_us = excluded.timestamp_us
WHERE excluded.timestamp_us >= run_keys.timestamp_us"""
# A resource attribute as cohort text; parameters: the JSON path twice.
_JSON_TEXT = "(CASE json_type({column}, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract({column}, ?) AS TEXT) END)"


def _json_path(key: str) -> str:
    return '$."' + key.replace('"', '""') + '"'


def _cohort_value_sql(key: str) -> Tuple[str, str, List[Tuple[str, Any]]]:
    """(value expression, joins, conditions) listing the values ``key`` takes, over ``scores s``."""
    if key == "dataset_run":
        return "s.dataset_run_id", "", []
    if key == "service.name":
        return "r.service_name", "JOIN runs r ON r.trace_key = s.trace_id", []
    if key.startswith(METADATA_KEY_PREFIX):
        return "k.value", "JOIN run_keys k ON k.trace_key = s.trace_id", [("k.key = ?", key)]
    return _JSON_TEXT.format(column="res.attributes_json"), "JOIN runs r ON r.trace_key = s.trace_id JOIN resources res ON res.id = r.resource_id", []


def _cohort_value_parameters(key: str) -> List[Any]:
    if key in ("dataset_run", "service.name") or key.startswith(METADATA_KEY_PREFIX):
        return []
    path = _json_path(key)
    return [path, path]


def _cohort_text(value: Any) -> Optional[str]:
    """A resource attribute or metadata value as the text a cohort is named by; None when it
    cannot name one (a list, a mapping, null, or longer than MAX_COHORT_VALUE_CHARS)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)) and not (isinstance(value, float) and not math.isfinite(value)):
        text = _encode_json(value)
    elif isinstance(value, str):
        text = value
    else:
        return None
    return text if len(text) <= MAX_COHORT_VALUE_CHARS else None


def _resource_json(attributes: Mapping[str, Any]) -> str:
    kept = {key: value for key, value in attributes.items() if isinstance(key, str) and _cohort_text(value) is not None}
    return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode(kept)


def _run_rows(
    score_rows: Sequence[tuple], metadata: Sequence[MetadataRecord], metadata_rows: Sequence[tuple], resources: Mapping[str, Tuple[Mapping[str, Any], bool]]
) -> List[tuple]:
    """One (trace, name, service, resource json, from run, first, last) per trace of the records,
    read from their rows (the score row holds the score's own trace, scope, span and service)."""
    runs: Dict[str, List[Any]] = {}
    for trace, scope, span_name, service, micros in chain(
        map(_score_run_fields, score_rows),
        ((record.trace_id, *_metadata_run_fields(row)) for record, row in zip(metadata, metadata_rows)),
    ):
        if trace is None:
            continue
        run = runs.get(trace)
        if run is None:
            run = runs[trace] = [None, None, False, micros, micros]
        elif micros < run[3]:
            run[3] = micros
        elif micros > run[4]:
            run[4] = micros
        if span_name is not None and run[0] is None and scope in ("trace", "run"):
            run[0] = span_name
        if service is not None and (run[1] is None or (span_name is not None and not run[2])):
            run[1], run[2] = service, span_name is not None
    rows = []
    # A request's traces mostly share the resource that exported them: its JSON is made once.
    resource_json: Dict[int, str] = {}
    for trace, (run_name, service, service_from_run, first, last) in runs.items():
        resource, from_run = resources.get(trace, (None, service_from_run))
        if resource is None:
            text = None
        else:
            text = resource_json.get(id(resource))
            if text is None:
                text = resource_json[id(resource)] = _resource_json(resource)
        rows.append((trace, run_name, service, text, from_run, first, last))
    return rows


def _run_key_rows(metadata: Sequence[MetadataRecord], metadata_rows: Sequence[tuple]) -> List[tuple]:
    rows = []
    for record, row in zip(metadata, metadata_rows):
        if not record.trace_id:
            continue
        micros = row[_METADATA_TIME]
        prefix = f"{METADATA_KEY_PREFIX}{record.kind}."
        for key, value in record.values.items():
            text = _cohort_text(value)
            if text is not None:
                rows.append((record.trace_id, prefix + key, text, micros))
    return rows


def _bucket_micros(bucket_seconds: float) -> int:
    if isinstance(bucket_seconds, bool) or not isinstance(bucket_seconds, (int, float)) or not bucket_seconds > 0:
        raise ValueError(f"bucket_seconds must be a positive number, got {bucket_seconds!r}")
    return max(1, int(bucket_seconds * 1_000_000))


def _read_only_error(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "readonly" in text or "read-only" in text or "unable to open" in text


def _use_wal(connection: sqlite3.Connection) -> None:
    """Switch a database to WAL. The switch takes the file's exclusive lock, and SQLite answers
    "database is locked" at once, without its busy timeout, when another connection opening the
    same new file switches it at that moment: wait for that one instead. WAL persists in the file,
    so a store opened before is already in it and returns at the first try."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_SECONDS
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


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


def _latest_accepted_micros() -> int:
    """The latest record time accepted now: :data:`MAX_FUTURE_SECONDS` ahead of this clock."""
    return to_microseconds(datetime.now(timezone.utc)) + MAX_FUTURE_SECONDS * 1_000_000


def _warn_future_records_refused() -> None:
    # The package's logger repeats it at most once a minute.
    _logger.warning(
        "Refused score or metadata records dated more than %d hours ahead of this clock: the newest write of a score wins"
        " and retention goes by age, so such a record could never be updated or pruned",
        MAX_FUTURE_SECONDS // 3600,
    )


def refuse_future_records(scores: Iterable[ScoreRecord], metadata: Iterable[MetadataRecord]) -> Tuple[List[ScoreRecord], List[MetadataRecord]]:
    """The records dated at most :data:`MAX_FUTURE_SECONDS` ahead of this clock; one warning
    (the package's logger repeats it at most once a minute) when any were left out."""
    latest = _latest_accepted_micros()
    scores, metadata = list(scores), list(metadata)
    kept_scores = [record for record in scores if to_microseconds(record.timestamp) <= latest]
    kept_metadata = [record for record in metadata if to_microseconds(record.timestamp) <= latest]
    if len(kept_scores) < len(scores) or len(kept_metadata) < len(metadata):
        _warn_future_records_refused()
    return kept_scores, kept_metadata


def _refuse_future_rows(records: List[Any], rows: List[tuple], time_index: int, latest: int) -> Tuple[List[Any], List[tuple]]:
    """:func:`refuse_future_records` on records whose rows are made: those whose row's time
    (at ``time_index``) is at most ``latest``, with their rows; the lists as they are when all are."""
    if not rows or max(row[time_index] for row in rows) <= latest:
        return records, rows
    kept = [(record, row) for record, row in zip(records, rows) if row[time_index] <= latest]
    return [record for record, _ in kept], [row for _, row in kept]


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
