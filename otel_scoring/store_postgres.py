"""The score store in PostgreSQL: what several receivers behind a load balancer write together.

The same records and semantics as the SQLite store (:mod:`otel_scoring.store`), whose row layout,
filters and record conversions this module reuses: scores upserted by score id with the newest
timestamp winning (so a retried or replayed export is harmless, whichever receiver it reaches)
and records dated more than a day ahead refused,
metadata updates keyed by (trace, memo id, index), keyset paging in (timestamp, key) order,
``stats`` grouped and ranked in the database (``percentile_cont``, the same linear interpolation
as the SQLite store's), retention in short transactions.

Opened by a ``postgresql://`` (or ``postgres://``) URL, a libpq connection string, through
:func:`otel_scoring.stores.open_store`. Needs psycopg 3: ``pip install 'otel-scoring[postgres]'``.
Opening creates the tables when missing and applies the migrations the database has not seen yet,
under an advisory lock, so receivers starting together migrate once. Text columns use the ``"C"``
collation: names and ids sort byte-wise, as in SQLite, whatever the database's locale.

Each ``add`` is one transaction, committed before the receiver acknowledges the export: an
acknowledged score is durable as PostgreSQL's ``synchronous_commit`` makes it. One connection
behind a lock serves a process's threads, and is opened again when it breaks (the server
restarted): the call that found it broken is repeated once on the new one. Processes (receivers,
the CLI) each have their own connection, and PostgreSQL's row locks order their writes of the same
score id.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, TypeVar

from otel_scoring import store as _sqlite_store
from otel_scoring.records import MetadataRecord, ScoreRecord
from otel_scoring.store import (
    _METADATA,
    _SCORES,
    DEFAULT_PAGE_SIZE,
    _metadata_conditions,
    _metadata_record,
    _metadata_row,
    _score_conditions,
    _score_record,
    _score_row,
    _Table,
    _where,
    from_microseconds,
    refuse_future_records,
    to_microseconds,
)

__all__ = ["URL_SCHEMES", "PostgresScoreStore", "is_postgres_url", "redacted_url"]

T = TypeVar("T")
URL_SCHEMES = ("postgresql://", "postgres://")
_CONNECT_TIMEOUT_SECONDS = 10
_MIGRATION_LOCK = 0x6F74_7363  # pg_advisory_xact_lock key: one migrating process at a time ("otsc")

# Migrations in order; a database records in otel_scoring_schema how many it has applied. Append
# only: a released step never changes, a new column is a new step.
_MIGRATIONS: Tuple[str, ...] = (
    """
    CREATE TABLE scores (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL,
        value DOUBLE PRECISION,
        string_value TEXT COLLATE "C",
        data_type TEXT COLLATE "C" NOT NULL,
        scope TEXT COLLATE "C" NOT NULL,
        trace_id TEXT COLLATE "C",
        observation_id TEXT COLLATE "C",
        session_id TEXT COLLATE "C",
        dataset_run_id TEXT COLLATE "C",
        source TEXT COLLATE "C" NOT NULL,
        comment TEXT COLLATE "C",
        config_id TEXT COLLATE "C",
        metadata_json TEXT COLLATE "C",
        timestamp_us BIGINT NOT NULL,
        service_name TEXT COLLATE "C",
        span_name TEXT COLLATE "C"
    );
    CREATE INDEX scores_by_name_time ON scores (name, timestamp_us);
    CREATE INDEX scores_by_time ON scores (timestamp_us, id);
    CREATE INDEX scores_by_trace ON scores (trace_id);
    CREATE INDEX scores_by_session ON scores (session_id);
    CREATE TABLE metadata (
        trace_key TEXT COLLATE "C" NOT NULL,
        memo_id TEXT COLLATE "C" NOT NULL,
        update_index INTEGER NOT NULL,
        kind TEXT COLLATE "C" NOT NULL,
        scope TEXT COLLATE "C" NOT NULL,
        values_json TEXT COLLATE "C" NOT NULL,
        span_id TEXT COLLATE "C",
        timestamp_us BIGINT NOT NULL,
        service_name TEXT COLLATE "C",
        span_name TEXT COLLATE "C",
        PRIMARY KEY (trace_key, memo_id, update_index)
    );
    CREATE INDEX metadata_by_time ON metadata (timestamp_us);
    """,
    # Records dated more than a day ahead (the SQLite store's MAX_FUTURE_SECONDS, refused since) are
    # re-dated to now: they pinned their score id (the newest timestamp wins) and dodged retention.
    """
    UPDATE scores SET timestamp_us = (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
    WHERE timestamp_us > (extract(epoch FROM clock_timestamp()) * 1000000)::bigint + 86400000000;
    UPDATE metadata SET timestamp_us = (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
    WHERE timestamp_us > (extract(epoch FROM clock_timestamp()) * 1000000)::bigint + 86400000000;
    """,
)

_KEYS: Dict[str, Tuple[str, ...]] = {"scores": ("id",), "metadata": ("trace_key", "memo_id", "update_index")}


def is_postgres_url(target: str) -> bool:
    return target.startswith(URL_SCHEMES)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise ImportError("a postgresql:// store needs psycopg 3: pip install 'otel-scoring[postgres]'") from None
    return psycopg


def _pg(sql: str) -> str:
    """The SQLite store's ``?`` placeholders as psycopg's ``%s`` (the SQL holds no other ``?`` or ``%``)."""
    return sql.replace("?", "%s")


def _upsert_sql(table: _Table) -> str:
    # Built from the constant column lists only: no caller input reaches the SQL text.
    key = _KEYS[table.name]
    updates = ", ".join(f"{column} = excluded.{column}" for column in table.columns if column not in key)
    return (
        f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES ({', '.join('%s' for _ in table.columns)})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} WHERE excluded.timestamp_us >= {table.name}.timestamp_us"
    )


# One statement per row, run by executemany: psycopg pipelines them (one round trip per batch) and
# prepares the statement once. Measured against multi-row VALUES statements of up to 500 rows (as
# the SQLite store uses), those were 1.5x slower per request: each is a new, unprepared statement
# of thousands of parameters for the server to parse and plan.
_UPSERT = {table.name: _upsert_sql(table) for table in (_SCORES, _METADATA)}


class PostgresScoreStore:
    """Scores and metadata updates in a PostgreSQL database; the methods of :class:`~otel_scoring.store.ScoreStore`.

    Args:
        url: a ``postgresql://`` URL or libpq connection string. Its password, if any, is never
            printed (``self.path`` is the URL without it).

    Thread-safe. ``close()`` is idempotent; calls after it raise ``psycopg.OperationalError``.
    """

    def __init__(self, url: str) -> None:
        psycopg = _psycopg()
        self.url = url
        self.path = redacted_url(url)
        self._lock = threading.RLock()
        self._closed = False
        # ScoreStore's attribute: this store is never opened read-only; the role's grants decide what it may write.
        self.read_only = False
        self._psycopg = psycopg
        self._connection = self._connect()
        try:
            self._migrate()
        except BaseException:
            self._connection.close()
            raise

    def _connect(self) -> Any:
        # Autocommit: each add() opens its own transaction (``transaction()``); reads see what is committed.
        return self._psycopg.connect(self.url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_SECONDS, application_name="otel-scoring")

    def _run(self, work: Callable[[Any], T]) -> T:
        """``work(connection)`` under the lock; once more on a new connection when the old one
        broke (the server restarted, a proxy dropped it). Safe to repeat: every write here is an
        upsert or a delete by age, and a transaction that broke was rolled back."""
        with self._lock:
            if self._closed:
                return work(self._connection)  # raises: the connection is closed
            try:
                return work(self._connection)
            except self._psycopg.OperationalError:
                if not self._connection.broken:
                    raise
            self._connection.close()
            self._connection = self._connect()
            return work(self._connection)

    def _migrate(self) -> None:
        with self._connection.transaction():
            self._connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            self._connection.execute("CREATE TABLE IF NOT EXISTS otel_scoring_schema (version INTEGER NOT NULL)")
            row = self._connection.execute("SELECT version FROM otel_scoring_schema").fetchone()
            applied = 0 if row is None else int(row[0])
            if applied > len(_MIGRATIONS):
                raise RuntimeError(f"the score store {self.path} has schema version {applied}, newer than this otel-scoring ({len(_MIGRATIONS)}): upgrade otel-scoring")
            for step in _MIGRATIONS[applied:]:
                self._connection.execute(step)
            if row is None:
                self._connection.execute("INSERT INTO otel_scoring_schema (version) VALUES (%s)", (len(_MIGRATIONS),))
            elif applied < len(_MIGRATIONS):
                self._connection.execute("UPDATE otel_scoring_schema SET version = %s", (len(_MIGRATIONS),))

    # --- Writing ------------------------------------------------------------------------------------

    def add(self, translation: Any) -> int:
        """Upsert the ``scores`` and ``metadata`` of a translation; returns the rows written."""
        return self.add_records(getattr(translation, "scores", ()), getattr(translation, "metadata", ()), getattr(translation, "resources", None))

    def add_records(
        self,
        scores: Iterable[ScoreRecord] = (),
        metadata: Iterable[MetadataRecord] = (),
        resources: Optional[Mapping[str, Tuple[Mapping[str, Any], bool]]] = None,
    ) -> int:
        """Upsert score and metadata records, refusing those dated far ahead as the SQLite store does.

        Takes what the SQLite store's ``add_records`` takes, so callers need not know which store
        they write; ``resources`` feed the SQLite store's run rows (the dashboard's cohorts), which
        this store does not keep yet, so they are not read here.
        """
        scores, metadata = refuse_future_records(scores, metadata)
        score_rows = [_score_row(record) for record in scores]
        metadata_rows = [_metadata_row(record) for record in metadata]
        if not score_rows and not metadata_rows:
            return 0

        def upsert(connection: Any) -> int:
            written = 0
            with connection.transaction(), connection.cursor() as cursor:
                # Applied row by row, in order (a score id twice in one export ends as in SQLite),
                # rowcount summed over the rows.
                for table, rows in ((_SCORES, score_rows), (_METADATA, metadata_rows)):
                    if rows:
                        cursor.executemany(_UPSERT[table.name], rows)
                        written += max(cursor.rowcount, 0)
            return written

        return self._run(upsert)

    def delete_before(self, moment: datetime, on_progress: Optional[Callable[[int, int], None]] = None) -> Tuple[int, int]:
        """Delete what is timestamped before ``moment``, a few thousand rows per transaction;
        ``on_progress(scores, updates)`` hears the totals so far after each, as in the SQLite store."""
        cutoff = to_microseconds(moment)
        scores = self._delete_older(_SCORES.name, cutoff, None if on_progress is None else lambda count: on_progress(count, 0))
        updates = self._delete_older(_METADATA.name, cutoff, None if on_progress is None else lambda count: on_progress(scores, count))
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
        conditions = _score_conditions(name, trace_id, session_id, since)
        for rows in self._pages(_SCORES, conditions, page_size, limit):
            yield [_score_record(row) for row in rows]

    def count_scores(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM scores", [])[0][0])

    def count_metadata(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM metadata", [])[0][0])

    def metadata(self, trace_id: Optional[str] = None, since: Optional[datetime] = None) -> List[MetadataRecord]:
        return [_metadata_record(row) for row in self._select(_METADATA, _metadata_conditions(trace_id, since))]

    def metadata_pages(
        self, trace_id: Optional[str] = None, since: Optional[datetime] = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[List[MetadataRecord]]:
        for rows in self._pages(_METADATA, _metadata_conditions(trace_id, since), page_size):
            yield [_metadata_record(row) for row in rows]

    def stats(
        self, name: Optional[str] = None, bucket_seconds: float = 3600, since: Optional[datetime] = None, on_progress: Optional[Callable[[], None]] = None
    ) -> List[Dict[str, Any]]:
        """Per score name per time bucket, as :meth:`otel_scoring.store.ScoreStore.stats` gives them;
        PostgreSQL groups and computes the percentiles in one statement (one snapshot), so memory
        grows with buckets, not scores. ``on_progress`` is accepted for the same signature: one
        statement gives nothing to report until it is done."""
        if isinstance(bucket_seconds, bool) or not isinstance(bucket_seconds, (int, float)) or not bucket_seconds > 0:
            raise ValueError(f"bucket_seconds must be a positive number, got {bucket_seconds!r}")
        bucket_micros = max(1, int(bucket_seconds * 1_000_000))
        where, parameters = _where(*_score_conditions(name, None, None, since))
        # floor(), not integer division (which truncates towards zero): buckets before 1970 too.
        sql = (
            "SELECT name, floor(timestamp_us::numeric / p.size)::bigint AS bucket, COUNT(*), COUNT(value), AVG(value), MIN(value), MAX(value),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY value), percentile_cont(0.9) WITHIN GROUP (ORDER BY value)"
            f" FROM scores CROSS JOIN (SELECT %s::bigint AS size) AS p{_pg(where)} GROUP BY name, bucket ORDER BY name, bucket"
        )
        result = []
        for score_name, bucket, count, numeric_count, mean, smallest, largest, p50, p90 in self._query(sql, [bucket_micros, *parameters]):
            numeric = numeric_count > 0
            result.append(
                {
                    "name": score_name,
                    "bucket_start": from_microseconds(int(bucket) * bucket_micros),
                    "count": int(count),
                    "mean": float(mean) if numeric else None,
                    "min": float(smallest) if numeric else None,
                    "max": float(largest) if numeric else None,
                    "p50": float(p50) if numeric else None,
                    "p90": float(p90) if numeric else None,
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

    def __enter__(self) -> "PostgresScoreStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _select(
        self, table: _Table, conditions: Sequence[Tuple[str, Any]], after: Optional[tuple] = None, limit: Optional[int] = None
    ) -> List[tuple]:
        if after is not None:
            placeholders = ", ".join("?" * len(table.order))
            conditions = (*conditions, (f"({', '.join(table.order)}) > ({placeholders})", after))
        where, parameters = _where(*conditions)
        sql = f"SELECT {', '.join(table.columns)} FROM {table.name}{where} ORDER BY {', '.join(table.order)}"
        if limit is not None:
            sql += " LIMIT ?"
            parameters.append(int(limit))
        return self._query(_pg(sql), parameters)

    def _pages(
        self, table: _Table, conditions: Sequence[Tuple[str, Any]], page_size: int, limit: Optional[int] = None
    ) -> Iterator[List[tuple]]:
        # The SQLite store's keyset paging, over this store's _select.
        return _sqlite_store.ScoreStore._pages(self, table, conditions, page_size, limit)  # type: ignore[arg-type]

    def _delete_older(self, table: str, cutoff_micros: int, on_progress: Optional[Callable[[int], None]] = None) -> int:
        key = ", ".join(_KEYS[table])
        sql = f"DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} WHERE timestamp_us < %s LIMIT %s)"
        deleted = 0
        while True:
            batch = _sqlite_store.DELETE_BATCH_ROWS  # read at each call: one setting for both stores
            # Autocommit: each DELETE is its own transaction.
            count = self._run(lambda connection: connection.execute(sql, (cutoff_micros, batch)).rowcount)
            deleted += count
            if on_progress is not None:
                on_progress(deleted)
            if count < batch:
                return deleted

    def _query(self, sql: str, parameters: Sequence[Any]) -> List[tuple]:
        return self._run(lambda connection: connection.execute(sql, parameters).fetchall())


def redacted_url(url: str) -> str:
    """The URL as it may be printed: ``postgresql://user@host/db``, never with its password."""
    try:
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        return urlunsplit(parts._replace(netloc=f"{user}@{netloc}" if user else netloc))
    except ValueError:
        return "postgresql://…"
