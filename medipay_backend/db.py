"""Engines, migrations and the bridge from trio tasks to blocking SQLAlchemy sessions.

SQLite (the embedded default) runs in WAL mode with full fsync, and every transaction starts
with BEGIN IMMEDIATE: writers queue on SQLite's lock (with a busy timeout) instead of failing
when a read transaction tries to become a write one. PostgreSQL is selected by URL.

Sessions are blocking, so `Database.run` executes a unit of work in a worker thread, bounded by
a trio CapacityLimiter, inside one transaction that commits on success and rolls back on error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
import trio
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from medipay.logs import get_logger

T = TypeVar("T")
log = get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# How long an SQLite writer waits for the lock before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Worker threads doing database work at once; also bounds the connections a process opens.
DEFAULT_DB_THREADS = 8
# A unit of work that lost an insert race is re-run this often (it then sees the winner's row).
UNIQUE_RACE_ATTEMPTS = 3
# Any constant works; it only has to be the same for every backend process on a database.
_PG_MIGRATION_LOCK_ID = 0x4D505942  # "MPYB"


class DatabaseError(Exception):
    """The database is unusable (bad URL, unsupported dialect, failed migration)."""


def make_engine(url: str) -> Engine:
    """An engine for an SQLite or PostgreSQL URL, configured for this service."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise DatabaseError(f"not a database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _make_sqlite_engine(parsed)
    if backend == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=DEFAULT_DB_THREADS)
    raise DatabaseError(f"unsupported database {backend!r}: use sqlite or postgresql")


def _make_sqlite_engine(url: sa.URL) -> Engine:
    if url.database in (None, "", ":memory:"):
        # Each pooled connection would get its own empty in-memory database.
        raise DatabaseError("the backend needs an SQLite file, not an in-memory database")
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=DEFAULT_DB_THREADS,
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module; `_on_begin` emits BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            # Acknowledged transactions must survive a power cut, not just a process crash.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` with Alembic, in one transaction (blocking)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two processes starting together must not both create the version table.
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_ID}
            )
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Step the schema back to `revision` (for tests and operators; blocking)."""
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def alembic_config(connection: sa.Connection | None = None) -> AlembicConfig:
    """An Alembic configuration pointing at our migrations; env.py uses `connection`."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


class Database:
    """An engine, a session factory and a limiter on the worker threads that use them."""

    def __init__(self, engine: Engine, *, max_threads: int = DEFAULT_DB_THREADS) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._limiter = trio.CapacityLimiter(max_threads)

    def transaction(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one transaction, blocking; commit on return, roll back on error."""
        with self._sessions() as session, session.begin():
            return work(session)

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)` in a worker thread inside one transaction."""
        return await trio.to_thread.run_sync(self.transaction, work, limiter=self._limiter)

    async def run_check_then_insert(self, work: Callable[[Session], T]) -> T:
        """Like `run`, for work that looks rows up and inserts the missing ones.

        Under PostgreSQL's READ COMMITTED two such transactions can both miss a row and both
        insert it; the loser gets an IntegrityError (or, rarely, is chosen as a deadlock
        victim). Re-running it then finds the winner's row.
        """
        for attempt in range(1, UNIQUE_RACE_ATTEMPTS + 1):
            try:
                return await self.run(work)
            except sa.exc.DBAPIError as exc:
                if attempt == UNIQUE_RACE_ATTEMPTS or not _lost_a_race(exc):
                    raise
                log.info("database race lost; retrying", attempt=attempt, error=type(exc).__name__)
        raise AssertionError("unreachable")


# PostgreSQL: serialization_failure, deadlock_detected.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


def _lost_a_race(exc: sa.exc.DBAPIError) -> bool:
    if isinstance(exc, sa.exc.IntegrityError):
        return True
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES
