"""The PostgreSQL store's own promises, on a real server: migrations on open, several processes'
connections writing one database, and every CLI command that opens a store taking a postgresql:// URL.
(tests/test_store.py runs the store's whole suite against SQLite and PostgreSQL alike.)"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from otel_scoring.cli import main
from otel_scoring import store_postgres
from otel_scoring.store_postgres import PostgresScoreStore, redacted_url
from otel_scoring.stores import open_store
from otel_scoring.translate import Translation
from support.record_builders import T0, score, update
from support.postgres import free_port, postgres_cluster, postgres_url  # noqa: F401  (fixtures)


def _schema_version(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as connection:
        return int(connection.execute("SELECT version FROM otel_scoring_schema").fetchone()[0])


def test_a_postgresql_url_opens_the_postgresql_store_and_a_path_the_sqlite_one(postgres_url, tmp_path):
    """`--db postgresql://…` picks PostgreSQL; anything else stays a SQLite file."""
    with open_store(postgres_url) as pg, open_store(str(tmp_path / "s.db")) as lite:
        assert isinstance(pg, PostgresScoreStore)
        assert type(lite).__name__ == "ScoreStore" and (tmp_path / "s.db").exists()


def test_opening_creates_the_schema_once_even_when_receivers_start_together(postgres_url):
    """Six stores opening a fresh database at the same moment all succeed and migrate it once."""
    errors = []

    def open_and_write(n: int) -> None:
        try:
            with open_store(postgres_url) as store:
                store.add(Translation(scores=[score(f"s{n}")]))
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=open_and_write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert _schema_version(postgres_url) == len(store_postgres._MIGRATIONS)
    with open_store(postgres_url) as store:  # reopening applies nothing twice
        assert store.count_scores() == 6
    assert _schema_version(postgres_url) == len(store_postgres._MIGRATIONS)


def test_a_database_of_a_newer_otel_scoring_is_refused_with_the_fix(postgres_url):
    """A schema version this release does not know is not written to: opening says to upgrade."""
    import psycopg

    open_store(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("UPDATE otel_scoring_schema SET version = 99")
    with pytest.raises(RuntimeError, match="upgrade otel-scoring"):
        open_store(postgres_url)


def test_writers_on_separate_connections_keep_the_newest_version_of_each_score(postgres_url):
    """Three stores (three receivers' connections) writing the same score ids in any order end
    with each id's newest write, and every id once."""
    stores = [open_store(postgres_url) for _ in range(3)]
    try:

        def write(worker: int) -> None:
            # Worker w writes version w of every score; interleaved with the others at random.
            for n in range(40):
                stores[worker].add(Translation(scores=[score(f"shared-{n}", value=float(worker), at=T0 + timedelta(seconds=worker))]))

        threads = [threading.Thread(target=write, args=(w,)) for w in (2, 0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        found = stores[0].scores()
        assert len(found) == 40
        assert {s.value for s in found} == {2.0}  # the newest timestamp won, whoever wrote last
    finally:
        for store in stores:
            store.close()


def test_every_store_command_of_the_cli_takes_a_postgresql_url(postgres_url, capsys):
    """scores, stats and prune read and change the PostgreSQL store named by --db."""
    with open_store(postgres_url) as store:
        store.add(Translation(scores=[score("old", value=0.5, at=T0 - timedelta(days=400)), score("new", value=1.0, at=T0)], metadata=[update("m", at=T0 - timedelta(days=400))]))
    assert main(["scores", "--db", postgres_url, "--format", "json"]) == 0
    assert [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()] == ["old", "new"]
    assert main(["stats", "--db", postgres_url, "--bucket", "1d", "--format", "json"]) == 0
    assert [json.loads(line)["count"] for line in capsys.readouterr().out.splitlines()] == [1, 1]
    cutoff = (T0 - timedelta(days=399)).isoformat()
    assert main(["prune", "--db", postgres_url, "--older-than", cutoff]) == 0
    assert "deleted 1 score(s) and 1 metadata update(s)" in capsys.readouterr().out
    with open_store(postgres_url) as store:
        assert [s.id for s in store.scores()] == ["new"]


def test_compare_and_ui_on_a_postgresql_store_say_they_need_sqlite(postgres_url, capsys):
    """The dashboard's cohorts are kept only by the SQLite store: compare and ui say so in one line (exit 1), no traceback."""
    with open_store(postgres_url) as store:
        store.add(Translation(scores=[score("one", at=T0)]))
    assert main(["compare", "--db", postgres_url, "--name", "helpfulness", "--by", "service.version"]) == 1
    assert "read a SQLite store for now" in capsys.readouterr().err
    assert main(["ui", "--db", postgres_url, "--port", "0"]) == 1
    assert "read a SQLite store for now" in capsys.readouterr().err


def test_an_unreachable_database_is_one_line_without_the_password(capsys):
    """A server that is not there fails the command with exit 1 and a message that hides the password."""
    url = f"postgresql://scorer:s3cret@127.0.0.1:{free_port()}/scores"
    assert main(["scores", "--db", url]) == 1
    err = capsys.readouterr().err
    assert "cannot open the score store postgresql://scorer@127.0.0.1" in err and "s3cret" not in err
    assert redacted_url(url) == url.replace(":s3cret", "")


def test_a_store_whose_connection_was_cut_reconnects_and_loses_no_write(postgres_url):
    """When the server drops the store's connection (a restart, a proxy), the next add reconnects and stores its scores."""
    import psycopg

    with open_store(postgres_url) as store:
        store.add(Translation(scores=[score("before")]))
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            cut = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'otel-scoring' AND datname = current_database()"
            ).fetchall()
        assert cut == [(True,)]
        assert store.add(Translation(scores=[score("after")])) == 1
        assert sorted(s.id for s in store.scores()) == ["after", "before"]
