"""Opening a score store by its ``--db`` value: a ``postgresql://`` URL, else a SQLite file path.

Both stores have the same methods and semantics (:class:`otel_scoring.store.ScoreStore`, SQLite, the
default; :class:`otel_scoring.store_postgres.PostgresScoreStore`, for several receivers sharing one
database). Everything that opens a store (``serve``, ``scores``, ``stats``, ``prune``,
``forward``) goes through :func:`open_store`.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any, Tuple, Type, Union

from otel_scoring.store_postgres import is_postgres_url

__all__ = ["open_store", "store_errors"]


def open_store(target: Union[str, "os.PathLike[str]"]) -> Any:
    """The store ``target`` names: PostgreSQL for a ``postgresql://`` URL, else a SQLite file."""
    if isinstance(target, str) and is_postgres_url(target):
        from otel_scoring.store_postgres import PostgresScoreStore

        return PostgresScoreStore(target)
    from otel_scoring.store import ScoreStore

    return ScoreStore(target)


def store_errors() -> Tuple[Type[BaseException], ...]:
    """The exceptions a store raises for database trouble (unreachable, locked, not a database)."""
    try:
        import psycopg
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)
