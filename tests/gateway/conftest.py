from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gateway.journal import Journal, create_journal_engine, migrate
from medipay.clock import SimulatedClock
from tests.conftest import PG_URL, database_params


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock()


@pytest.fixture(params=database_params())
def journal(request, tmp_path: Path, clock: SimulatedClock) -> Iterator[Journal]:
    if request.param == "sqlite":
        engine = create_journal_engine(f"sqlite:///{tmp_path / 'journal.sqlite3'}")
        migrate(engine)
        yield Journal(engine, clock)
        engine.dispose()
        return
    # PostgreSQL: a schema of our own, so parallel runs and other tests never collide.
    assert PG_URL is not None
    schema = f"gw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    migrate(engine)
    try:
        yield Journal(engine, clock)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
