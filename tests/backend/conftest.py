"""Fixtures for the backend tests: every database test runs on SQLite and, when
MEDIPAY_TEST_PG_URL is set, on PostgreSQL too, each test in a schema of its own."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import structlog
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from medipay.clock import SimulatedClock
from medipay.logs import configure_logging
from medipay_backend.app import create_app
from medipay_backend.db import Database, make_engine, migrate

from .signer import GatewaySigner

PG_URL_ENV = "MEDIPAY_TEST_PG_URL"
ADMIN_TOKEN = "test-operator-token-5f1c0a"
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)

_DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(not os.environ.get(PG_URL_ENV), reason=f"{PG_URL_ENV} not set"),
    ),
]


def _with_search_path(url: str, schema: str) -> str:
    parsed = sa.make_url(url)
    options = parsed.query.get("options", "")
    if isinstance(options, tuple):
        options = " ".join(options)
    options = f"{options} -csearch_path={schema}".strip()
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


@pytest.fixture(autouse=True)
def production_logging() -> Iterator[None]:
    """Log as the deployed service does (plain tracebacks, redaction), not structlog's
    unconfigured default (rich tracebacks with local variables); undone afterwards."""
    configure_logging(SimulatedClock(START), "info", stream=sys.stderr)
    yield
    structlog.reset_defaults()


@pytest.fixture(params=_DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: an SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+pysqlite:///{tmp_path / 'backend.sqlite3'}"
        return
    base_url = os.environ[PG_URL_ENV]
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(base_url, poolclass=NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield _with_search_path(base_url, schema)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START)


@pytest.fixture
def database(engine: Engine) -> Database:
    return Database(engine)


@pytest.fixture
def app(database: Database, clock: SimulatedClock) -> FastAPI:
    return create_app(database=database, clock=clock, admin_token=ADMIN_TOKEN)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://backend.test") as client:
        yield client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


EnrolGateway = Callable[..., Awaitable[GatewaySigner]]


@pytest.fixture
def enrol_gateway(
    client: httpx.AsyncClient, clock: SimulatedClock, admin_headers: dict[str, str]
) -> EnrolGateway:
    """Enrol a gateway with a fresh key through the API; returns its signer."""

    async def enrol(gateway_id: str = "gw-oslo-1", name: str | None = None) -> GatewaySigner:
        signer = GatewaySigner(gateway_id, clock)
        response = await client.post(
            "/v1/gateways",
            json={"gateway_id": gateway_id, "public_key": signer.public_key, "name": name},
            headers=admin_headers,
        )
        assert response.status_code == 201, response.text
        return signer

    return enrol
