"""What the store keeps for cohorts and the dashboard: runs, their resources and metadata keys."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from otel_scoring import store as store_module
from otel_scoring.store import ScoreStore
from support.dashboard_workload import fill
from support.record_builders import T0, TRACE_A, TRACE_B, score, update

# The tables a store had before the cohort tables existed, verbatim.
_OLD_SCHEMA = """
CREATE TABLE scores (id TEXT PRIMARY KEY, name TEXT NOT NULL, value REAL, string_value TEXT, data_type TEXT NOT NULL,
    scope TEXT NOT NULL, trace_id TEXT, observation_id TEXT, session_id TEXT, dataset_run_id TEXT, source TEXT NOT NULL,
    comment TEXT, config_id TEXT, metadata_json TEXT, timestamp_us INTEGER NOT NULL, service_name TEXT, span_name TEXT);
CREATE TABLE metadata (trace_key TEXT NOT NULL, memo_id TEXT NOT NULL, update_index INTEGER NOT NULL, kind TEXT NOT NULL,
    scope TEXT NOT NULL, values_json TEXT NOT NULL, span_id TEXT, timestamp_us INTEGER NOT NULL, service_name TEXT,
    span_name TEXT, PRIMARY KEY (trace_key, memo_id, update_index));
"""


def test_scores_exported_by_two_releases_split_by_their_resource_and_metadata(tmp_path):
    """Scores sent over OTLP by two service versions split into those versions, by resource attribute and by run metadata."""
    path = str(tmp_path / "scores.db")
    workload = fill(path, runs_per_release=6)
    with ScoreStore(path) as store:
        assert [value for value, _, _ in store.cohort_values("service.version", "helpfulness")] == ["1.0.0", "1.1.0"]
        assert [count for _, count, _ in store.cohort_values("metadata.prompt.version", "helpfulness")] == [6, 6]
        # A late score (carried by the scorer's carrier span) still belongs to its run's release.
        assert [count for _, count, _ in store.cohort_values("service.version", "user-rating")] == [6, 6]
        assert store.cohort_summary("helpfulness", "deployment.environment", "staging")["n"] == 12
        assert store.cohort_summary("helpfulness", "service.version", "2.0.0")["n"] == 0
        run = store.run(workload.trace_ids[0])
        assert run["name"] == "answer-question" and run["service_name"] == "qa-bot"
        assert run["resource"]["service.version"] == "1.0.0"
        assert {"service.version", "deployment.environment", "metadata.prompt.version", "metadata.llm.model"} <= set(store.cohort_keys())


def test_a_store_made_before_the_cohort_tables_is_migrated_in_place(tmp_path):
    """Opening an older store fills runs and metadata keys from the records it already holds."""
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path)
    connection.executescript(_OLD_SCHEMA)
    for record in (score("s1", value=0.9), score("s2", value=0.4, trace_id=TRACE_B, at=T0 + timedelta(minutes=1))):
        connection.execute(f"INSERT INTO scores VALUES ({', '.join('?' * 17)})", store_module._score_row(record))
    for record in (update("m1", values={"plan": "pro"}), update("m2", trace_id=TRACE_B, values={"plan": "free", "seats": 3})):
        connection.execute(f"INSERT INTO metadata VALUES ({', '.join('?' * 10)})", store_module._metadata_row(record))
    connection.commit()
    connection.close()
    with ScoreStore(path) as store:
        assert store.cohort_values("metadata.billing.plan", "helpfulness") == [("pro", 1, T0), ("free", 1, T0 + timedelta(minutes=1))]
        assert store.cohort_values("metadata.billing.seats", "helpfulness")[0][0] == "3"
        assert store.cohort_summary("helpfulness", "metadata.billing.plan", "free")["mean"] == pytest.approx(0.4)
        total, runs = store.runs()
        assert total == 2 and [run["trace_id"] for run in runs] == [TRACE_B, TRACE_A]


def test_the_newest_metadata_value_names_the_cohort_and_retention_drops_old_runs(tmp_path):
    """A key updated later moves its run to the new value; pruning removes runs with nothing left."""
    with ScoreStore(tmp_path / "scores.db") as store:
        store.add_records([score("s1")], [update("m1", values={"plan": "free"})])
        store.add_records([], [update("m1", 1, values={"plan": "pro"}, at=T0 + timedelta(seconds=5))])
        store.add_records([], [update("m1", 2, values={"plan": "stale"}, at=T0 - timedelta(seconds=5))])
        assert [value for value, _, _ in store.cohort_values("metadata.billing.plan", "helpfulness")] == ["pro"]
        store.delete_before(T0 + timedelta(days=1))
        assert store.runs() == (0, [])
        assert store.cohort_values("metadata.billing.plan", "helpfulness") == []


def test_one_add_of_many_runs_keeps_each_runs_newest_key_whatever_the_order_of_its_updates(tmp_path):
    """An export of 400 runs (more than one statement's worth of run and key rows) with a key
    updated twice in the same export: each run holds its newest value, written first or last."""
    traces = [f"{index:032x}" for index in range(1, 401)]
    later = T0 + timedelta(seconds=5)
    scores = [score(f"s{index}", trace_id=trace, at=T0 + timedelta(microseconds=index)) for index, trace in enumerate(traces)]
    updates = []
    for index, trace in enumerate(traces):
        older, newer = update(f"m{index}", 0, trace_id=trace, values={"plan": "free"}), update(f"m{index}", 1, trace_id=trace, values={"plan": "pro"}, at=later)
        updates += [older, newer] if index % 2 else [newer, older]
    with ScoreStore(tmp_path / "scores.db") as store:
        assert store.add_records(scores, updates) == 400 + 800
        assert store.cohort_values("metadata.billing.plan", "helpfulness") == [("pro", 400, T0)]
        total, runs = store.runs(limit=400)
        assert total == 400 and {run["trace_id"] for run in runs} == set(traces)
        run = store.run(traces[7])  # its score at T0 + 7 us, its updates at T0 and 5 s later
        assert run is not None and (run["first"], run["last"]) == (T0, later)


def test_runs_are_found_by_trace_id_prefix_metadata_value_or_score_name(tmp_path):
    """The run search matches what a person types: the start of a trace id, a metadata value, a score name."""
    with ScoreStore(tmp_path / "scores.db") as store:
        store.add_records([score("s1"), score("s2", name="toxicity", trace_id=TRACE_B)], [update("m1", values={"paymentId": "pi_100%"})])
        assert [run["trace_id"] for run in store.runs(TRACE_A[:6].upper())[1]] == [TRACE_A]
        assert [run["trace_id"] for run in store.runs("pi_100%")[1]] == [TRACE_A]
        assert store.runs("pi_1000")[0] == 0  # % and _ are matched literally
        assert [run["trace_id"] for run in store.runs("toxicity")[1]] == [TRACE_B]
