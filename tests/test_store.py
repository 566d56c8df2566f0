"""The score stores: upserts, filters, stats, persistence and concurrent writers, on real SQLite files
and a real PostgreSQL server; every test that does not say otherwise runs against both."""

from __future__ import annotations

import math
import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_scoring import store as store_module
from otel_scoring.store import ScoreStore
from otel_scoring.stores import open_store
from otel_scoring.translate import Translation
from support.postgres import postgres_cluster, postgres_url  # noqa: F401  (fixtures)
from support.record_builders import T0, TRACE_A, TRACE_B, score, update

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
FAR_FUTURE = datetime(9000, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request, tmp_path):
    """What ``--db`` names: a SQLite file in a temp dir, or an empty database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return str(tmp_path / "scores.db")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_target):
    with open_store(store_target) as opened:
        yield opened


def _closed_store_error(target):
    if target.startswith("postgresql://"):
        import psycopg

        return psycopg.OperationalError
    return sqlite3.ProgrammingError


def test_add_records_takes_the_same_arguments_in_both_stores(store):
    """Scores, metadata and a translation's resources by keyword, as a caller that does not know the store passes them: both write and count the same rows."""
    records = [score("with-resources")]
    resources = {TRACE_A: ({"service.name": "eval-job"}, True)}
    assert store.add_records(scores=records, metadata=[update("memo-1", trace_id=TRACE_A)], resources=resources) == 2
    assert [stored.id for stored in store.scores()] == ["with-resources"]


def test_every_field_of_a_score_survives_the_round_trip(store):
    """A stored score reads back equal, field for field: JSON metadata, microseconds, nulls and all."""
    full = score(
        "s1",
        value=0.875,
        string_value="good",
        data_type="CATEGORICAL",
        scope="span",
        observation_id="00f067aa0ba902b7",
        session_id="session-9",
        dataset_run_id="run-3",
        source="EVAL",
        comment="über gut",
        config_id="cfg-1",
        metadata={"reviewer": "ana", "tags": ["a", 1, 2.5, None, True]},
        service_name="support-bot",
        span_name="call-model",
    )
    sparse = score("s2", value=None, trace_id=None, scope="session", session_id="session-9")
    assert store.add(Translation(scores=[full, sparse])) == 2
    assert store.scores() == [full, sparse]


def test_a_newer_write_of_a_score_id_replaces_the_older_one(store):
    """Writing a score id again with a later timestamp updates it; the count of rows written says so."""
    store.add(Translation(scores=[score("s1", value=0.2)]))
    written = store.add(Translation(scores=[score("s1", value=0.9, at=T0 + timedelta(seconds=5), comment="re-graded")]))
    assert written == 1
    [stored] = store.scores()
    assert (stored.value, stored.comment) == (0.9, "re-graded")


def test_an_older_write_arriving_late_does_not_undo_an_update(store):
    """A retried export carrying an earlier version of a score leaves the newer version in place."""
    store.add(Translation(scores=[score("s1", value=0.9, at=T0 + timedelta(seconds=5))]))
    assert store.add(Translation(scores=[score("s1", value=0.2)])) == 0
    assert [s.value for s in store.scores()] == [0.9]


def test_one_export_carrying_a_score_id_twice_stores_its_newest_version(store):
    """Within one add, the newest write of a score id wins, and of two equally new ones the later."""
    store.add(Translation(scores=[score("s1", value=0.9, at=T0 + timedelta(seconds=5)), score("s1", value=0.1, at=T0), score("s2", value=0.3), score("s2", value=0.4)]))
    assert [(s.id, s.value) for s in store.scores()] == [("s2", 0.4), ("s1", 0.9)]


def test_metadata_is_kept_per_run_even_when_runs_share_a_memo_id(store):
    """The same memo id in two runs is two updates; re-sending one update keeps one copy of it."""
    first = update("record-payment-info", trace_id=TRACE_A, values={"paymentId": "pi_1"})
    second = update("record-payment-info", trace_id=TRACE_B, values={"paymentId": "pi_2"})
    assert store.add(Translation(metadata=[first, second])) == 2
    store.add(Translation(metadata=[first]))
    assert store.metadata() == [first, second]
    assert store.metadata(trace_id=TRACE_B) == [second]


def test_batched_updates_are_told_apart_by_index(store):
    """Updates of one batch share a memo id and are all stored, in index order."""
    batch = [update("run-status", 0, values={"phase": "started"}), update("run-status", 1, values={"region": "eu"})]
    store.add(Translation(metadata=batch))
    assert [(m.id, dict(m.values)) for m in store.metadata()] == [("run-status/0", {"phase": "started"}), ("run-status/1", {"region": "eu"})]


def test_scores_filter_by_name_trace_session_and_time(store):
    """Each filter narrows the list and filters combine; results come oldest first."""
    records = [
        score("a", "helpfulness", at=T0),
        score("b", "helpfulness", at=T0 + timedelta(hours=2), trace_id=TRACE_B),
        score("c", "toxicity", at=T0 + timedelta(hours=1), session_id="s-1"),
        score("d", "toxicity", at=T0 + timedelta(hours=3), trace_id=TRACE_B, session_id="s-1"),
    ]
    store.add(Translation(scores=list(reversed(records))))
    ids = lambda found: [s.id for s in found]  # noqa: E731
    assert ids(store.scores()) == ["a", "c", "b", "d"]
    assert ids(store.scores(name="toxicity")) == ["c", "d"]
    assert ids(store.scores(trace_id=TRACE_B.upper())) == ["b", "d"]
    assert ids(store.scores(session_id="s-1")) == ["c", "d"]
    assert ids(store.scores(since=T0 + timedelta(hours=1, minutes=30))) == ["b", "d"]
    assert ids(store.scores(name="toxicity", trace_id=TRACE_B)) == ["d"]
    assert ids(store.scores(limit=2)) == ["a", "c"]
    assert store.scores(name="no-such-score") == []


def test_score_pages_give_every_matching_score_once_in_order_even_across_equal_timestamps(store):
    """Paging resumes exactly after the previous page: scores sharing a timestamp at a page
    boundary are neither repeated nor skipped, and the filters apply to every page."""
    records = [score(f"s{i:02}", "toxicity" if i % 3 == 0 else "helpfulness", at=T0 + timedelta(seconds=i // 4)) for i in range(23)]
    store.add(Translation(scores=list(reversed(records))))

    pages = list(store.score_pages(page_size=5))
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    assert [s.id for page in pages for s in page] == [s.id for s in store.scores()] == [r.id for r in records]
    toxicity = [s.id for page in store.score_pages(name="toxicity", page_size=2) for s in page]
    assert toxicity == [s.id for s in store.scores(name="toxicity")] and len(toxicity) == 8
    assert list(store.score_pages(name="no-such-score")) == []
    assert [len(page) for page in store.score_pages(page_size=23)] == [23]  # an exact fit ends without an empty page
    assert [s.id for page in store.score_pages(page_size=5, limit=12) for s in page] == [r.id for r in records[:12]]
    with pytest.raises(ValueError):
        next(store.score_pages(page_size=0))


def test_metadata_pages_give_every_update_once_even_when_runs_share_memo_ids_and_times(store):
    """Updates of two runs with the same memo ids and timestamps are told apart across page boundaries."""
    updates = [update(f"memo-{i // 2}", i % 2, trace_id=trace, values={"i": i}) for i in range(6) for trace in (TRACE_A, TRACE_B)]
    store.add(Translation(metadata=updates))

    paged = [(m.trace_id, m.id) for page in store.metadata_pages(page_size=5) for m in page]
    assert paged == [(m.trace_id, m.id) for m in store.metadata()] and len(set(paged)) == 12
    assert [m.trace_id for page in store.metadata_pages(trace_id=TRACE_B, page_size=4) for m in page] == [TRACE_B] * 6
    later = update("memo-late", at=T0 + timedelta(hours=1))
    store.add(Translation(metadata=[later]))
    assert [m.id for page in store.metadata_pages(since=T0 + timedelta(minutes=1)) for m in page] == [later.id]


def test_delete_before_removes_older_scores_and_updates_in_small_transactions(store, monkeypatch):
    """Retention: everything timestamped before the cutoff goes, in as many short transactions as
    it takes; what is at or after it stays and the store keeps taking writes."""
    monkeypatch.setattr(store_module, "DELETE_BATCH_ROWS", 2)  # several transactions for five old scores
    old_scores = [score(f"old-{i}", at=T0 - timedelta(days=40, minutes=i)) for i in range(5)]
    kept = [score("at-cutoff", at=T0), score("recent", at=T0 + timedelta(days=1))]
    store.add(Translation(scores=old_scores + kept, metadata=[update("old", at=T0 - timedelta(days=31)), update("new", at=T0)]))

    assert store.delete_before(T0) == (5, 1)
    assert [s.id for s in store.scores()] == ["at-cutoff", "recent"]
    assert [m.memo_id for m in store.metadata()] == ["new"]
    assert store.delete_before(T0) == (0, 0)
    assert store.add(Translation(scores=[score("after-prune", at=T0 + timedelta(days=2))])) == 1


def test_a_score_dated_far_ahead_is_refused_so_its_id_stays_updatable_and_prunable(store, caplog):
    """``add_records`` called directly with a year-9999 score (and metadata update) writes nothing and
    warns; the same id written now is stored, updated by a later write, and pruned by retention.
    (It used to be kept: every later update of that id lost to it, and no cutoff ever reached it.)"""
    now = datetime.now(timezone.utc)
    with caplog.at_level("WARNING", logger="otel_scoring"):
        assert store.add_records([score("pinned", value=0.1, at=FAR_FUTURE)], [update("pinned-memo", at=FAR_FUTURE)]) == 0
    assert store.scores() == [] and store.metadata() == []
    assert "ahead of this clock" in caplog.text
    assert store.add_records([score("pinned", value=0.2, at=now)]) == 1
    assert store.add_records([score("pinned", value=0.3, at=now + timedelta(seconds=1))]) == 1
    assert [(s.id, s.value) for s in store.scores()] == [("pinned", 0.3)]
    # A clock a few hours fast is a clock, not an attack: kept.
    assert store.add_records([score("fast-clock", at=now + timedelta(hours=2))]) == 1
    assert store.delete_before(now + timedelta(hours=3)) == (2, 0)
    assert store.scores() == []


def _plant_future_records(store_target, at):
    """Make ``store_target`` what an older otel-scoring left behind: a score and an update dated
    ``at``, in a store whose schema version predates the refusal of such dates."""
    record, memo = store_module._score_row(score("pinned", value=0.1, at=at)), store_module._metadata_row(update("pinned-memo", at=at))
    if store_target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(store_target, autocommit=True) as connection:
            connection.execute(f"INSERT INTO scores VALUES ({', '.join(['%s'] * len(record))})", record)
            connection.execute(f"INSERT INTO metadata VALUES ({', '.join(['%s'] * len(memo))})", memo)
            connection.execute("UPDATE otel_scoring_schema SET version = 1")  # before the repair step
        return
    connection = sqlite3.connect(store_target)
    with connection:
        connection.execute(f"INSERT INTO scores VALUES ({', '.join('?' * len(record))})", record)
        connection.execute(f"INSERT INTO metadata VALUES ({', '.join('?' * len(memo))})", memo)
        connection.execute("INSERT INTO runs (trace_key, first_us, last_us) VALUES (?, ?, ?)", (TRACE_A, record[14], record[14]))
    connection.execute("PRAGMA user_version = 0")
    connection.close()


def test_a_store_holding_records_dated_far_ahead_is_repaired_in_place_when_opened(store_target):
    """A store an older version let a year-9999 score into is migrated when opened: the record is
    re-dated to the moment of opening, so the next update of its id wins and retention prunes it."""
    open_store(store_target).close()
    _plant_future_records(store_target, FAR_FUTURE)
    opened_at = datetime.now(timezone.utc)
    with open_store(store_target) as store:
        [pinned] = store.scores()
        assert opened_at <= pinned.timestamp <= datetime.now(timezone.utc)
        assert store.add_records([score("pinned", value=0.9, at=datetime.now(timezone.utc) + timedelta(seconds=1))]) == 1
        assert [(s.id, s.value) for s in store.scores()] == [("pinned", 0.9)]
        assert store.delete_before(datetime.now(timezone.utc) + timedelta(minutes=1)) == (1, 1)
        if isinstance(store, ScoreStore):
            assert store.runs() == (0, [])  # the run went with them: its dates were repaired too


def test_stats_summarise_each_name_per_time_bucket(store):
    """Count, mean, min, max, p50 and p90 are computed per name and hour, oldest bucket first."""
    hour = T0.replace(minute=0, second=0, microsecond=0)
    values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    store.add(Translation(scores=[score(f"h{i}", value=v, at=hour + timedelta(minutes=i)) for i, v in enumerate(values)]))
    store.add(Translation(scores=[score("next", value=2.0, at=hour + timedelta(hours=1, minutes=5))]))
    store.add(Translation(scores=[score("other", "toxicity", value=0.0, at=hour)]))
    rows = store.stats()
    assert [(r["name"], r["bucket_start"], r["count"]) for r in rows] == [
        ("helpfulness", hour, 10),
        ("helpfulness", hour + timedelta(hours=1), 1),
        ("toxicity", hour, 1),
    ]
    first = rows[0]
    assert first["mean"] == pytest.approx(0.55)
    assert (first["min"], first["max"]) == (0.1, 1.0)
    assert first["p50"] == pytest.approx(0.55)
    assert first["p90"] == pytest.approx(0.91)
    assert rows[1]["p50"] == rows[1]["p90"] == 2.0


def _reference_stats(records, bucket_micros):
    """The figures stats() gives, computed the plain way: every value in memory, sorted."""
    groups = {}
    for record in records:
        micros = round((record.timestamp - EPOCH) / timedelta(microseconds=1))
        groups.setdefault((record.name, micros // bucket_micros), []).append(record.value)
    expected = []
    for (name, bucket), values in sorted(groups.items()):
        ordered = sorted(v for v in values if v is not None)

        def percentile(fraction):
            position = (len(ordered) - 1) * fraction
            lower = math.floor(position)
            upper = min(lower + 1, len(ordered) - 1)
            return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)

        figures = (sum(ordered) / len(ordered), ordered[0], ordered[-1], percentile(0.5), percentile(0.9)) if ordered else (None,) * 5
        expected.append((name, bucket, len(values), *figures))
    return expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["helpfulness", "toxicity"]),
            st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)),
            st.integers(min_value=-3 * 86_400, max_value=3 * 86_400),  # seconds around T0; some before 1970 below
            st.booleans(),
        ),
        max_size=40,
    ),
    st.sampled_from([1, 60, 3600, 86_400]),
)
def test_stats_match_the_figures_computed_from_every_value(store, rows, bucket_seconds):
    """Counts, mean, min, max, p50 and p90 per name and bucket equal those of the sorted values themselves,
    for any mix of values, missing values, bucket sizes and times (before 1970 too)."""
    records = [
        score(f"s{i}", name, value, at=(EPOCH if before_1970 else T0) + timedelta(seconds=offset))
        for i, (name, value, offset, before_1970) in enumerate(rows)
    ]
    store.delete_before(FAR_FUTURE)  # one store for every example: empty it first
    store.add(Translation(scores=records))
    rows_out = store.stats(bucket_seconds=bucket_seconds)
    bucket_micros = bucket_seconds * 1_000_000
    got = [
        (r["name"], round((r["bucket_start"] - EPOCH) / timedelta(microseconds=1)) // bucket_micros, r["count"], r["mean"], r["min"], r["max"], r["p50"], r["p90"])
        for r in rows_out
    ]
    expected = _reference_stats(records, bucket_micros)
    assert [row[:3] for row in got] == [row[:3] for row in expected]
    for got_row, expected_row in zip(got, expected):
        if expected_row[3] is None:
            assert got_row[3:] == expected_row[3:]
        else:
            assert got_row[3:] == pytest.approx(expected_row[3:], rel=1e-9, abs=1e-6)


def test_stats_filter_by_name_and_take_any_bucket_size(store):
    """A day-sized bucket gathers a day's scores; a name filter leaves other names out."""
    store.add(Translation(scores=[score(f"s{i}", value=float(i), at=T0 + timedelta(hours=i)) for i in range(5)]))
    store.add(Translation(scores=[score("t", "toxicity", value=1.0)]))
    [row] = store.stats(name="helpfulness", bucket_seconds=86_400)
    assert (row["count"], row["min"], row["max"], row["bucket_start"]) == (5, 0.0, 4.0, T0.replace(hour=0, minute=0, second=0, microsecond=0))


def test_stats_of_scores_without_numbers_count_them_and_leave_figures_empty(store):
    """Categorical scores with no numeric value are counted; mean and percentiles are None."""
    store.add(Translation(scores=[score(f"c{i}", "tone", value=None, string_value="friendly", data_type="CATEGORICAL") for i in range(3)]))
    [row] = store.stats()
    assert row["count"] == 3
    assert [row[k] for k in ("mean", "min", "max", "p50", "p90")] == [None] * 5


def test_stats_reject_a_bucket_that_is_not_positive(store):
    """A zero or negative bucket is a programmer error and raises ValueError."""
    with pytest.raises(ValueError):
        store.stats(bucket_seconds=0)


def test_records_persist_in_the_file_and_another_connection_reads_them(store_target):
    """A second store on the same file or database (the CLI beside a running receiver) sees what the first wrote."""
    path = store_target
    writer = open_store(path)
    reader = open_store(path)
    try:
        writer.add(Translation(scores=[score("s1")], metadata=[update("m")]))
        assert [s.id for s in reader.scores()] == ["s1"]
    finally:
        writer.close()
        reader.close()
    with open_store(path) as reopened:
        assert [s.id for s in reopened.scores()] == ["s1"]
        assert [m.id for m in reopened.metadata()] == ["m/0"]


def test_concurrent_writers_lose_nothing(store_target):
    """Eight threads adding at once (as the receiver's request threads do) store every score."""
    with open_store(store_target) as store:

        def write(worker: int) -> None:
            for n in range(25):
                store.add(Translation(scores=[score(f"w{worker}-{n}", at=T0 + timedelta(microseconds=n))]))

        threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert store.count_scores() == 200


def test_close_is_idempotent_and_later_use_fails_loudly(store_target):
    """Closing twice is harmless; reading a closed store raises instead of returning nothing."""
    store = open_store(store_target)
    store.close()
    store.close()
    with pytest.raises(_closed_store_error(store_target)):
        store.scores()


def test_an_in_memory_store_is_one_database_across_threads():
    """(SQLite only) ScoreStore(':memory:') written from one thread is read from another."""
    with ScoreStore(":memory:") as store:
        thread = threading.Thread(target=store.add, args=(Translation(scores=[score("s1")]),))
        thread.start()
        thread.join(timeout=10)
        assert [s.id for s in store.scores()] == ["s1"]
