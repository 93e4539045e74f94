"""Alembic migrations build exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from medipay_backend.db import (
    DatabaseError,
    alembic_config,
    current_revision,
    downgrade,
    make_engine,
    migrate,
)
from medipay_backend.models import Base

TABLES = {"gateways", "gateway_nonces", "pos_transactions", "pos_end_of_day"}


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_upgrade_matches_models_and_downgrade_undoes_it(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) is None
        migrate(engine)
        assert current_revision(engine) == _head()
        assert set(sa.inspect(engine).get_table_names()) >= TABLES
        assert _differences(engine) == []

        migrate(engine)  # already at head: nothing to do
        assert current_revision(engine) == _head()

        downgrade(engine, "base")
        assert current_revision(engine) is None
        assert not TABLES & set(sa.inspect(engine).get_table_names())

        migrate(engine)
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_revisions_form_one_line() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    assert [rev.revision for rev in script.walk_revisions()][-1] == "0001_pos_intake"


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/wal.sqlite3")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "mysql://x@y/z", "not a url"]
)
def test_unsupported_databases_are_refused(url: str) -> None:
    with pytest.raises(DatabaseError):
        make_engine(url)
