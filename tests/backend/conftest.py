"""Fixtures for the backend tests: every database test runs on SQLite and, when
MEDIPAY_TEST_PG_URL is set, on PostgreSQL too, each test in a schema of its own."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head once per session; each test starts from a copy."""
    path = tmp_path_factory.mktemp("template") / "backend.sqlite3"
    template = make_engine(f"sqlite+pysqlite:///{path}")
    migrate(template)
    template.dispose()  # the last connection to close checkpoints the WAL into the file
    return path


@pytest.fixture
def engine(database_url: str, sqlite_template: Path) -> Iterator[Engine]:
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        shutil.copyfile(sqlite_template, url.database)
    engine = make_engine(database_url)
    migrate(engine)  # at head already for a copy: a quick check
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


@dataclass(frozen=True)
class Epj:
    """An EPJ's view of the backend: a clinic, an account, and its credential."""

    clinic_id: str
    account_id: str
    client_id: str
    secret: str

    @property
    def auth(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(self.client_id, self.secret)


MakeEpj = Callable[..., Awaitable[Epj]]


@pytest.fixture
def make_epj(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> MakeEpj:
    """Create a clinic (with an optional agreement), an account and a credential by API."""

    async def make(
        clinic_id: str = "oslo-legesenter", account_id: str | None = None,
        agreement: dict[str, Any] | None = None,
    ) -> Epj:
        account_id = account_id or f"{clinic_id}-dr-1"
        clinic = {"clinic_id": clinic_id, "name": f"Klinikk {clinic_id}",
                  "org_number": "974760673"}
        if agreement is not None:
            clinic["agreement"] = agreement
        response = await client.post("/v1/clinics", json=clinic, headers=admin_headers)
        assert response.status_code in (200, 201), response.text
        response = await client.post(
            f"/v1/clinics/{clinic_id}/accounts",
            json={"account_id": account_id, "name": "Dr. Hansen", "bank_account": "86011117947"},
            headers=admin_headers,
        )
        assert response.status_code in (200, 201), response.text
        response = await client.post(
            f"/v1/clinics/{clinic_id}/accounts/{account_id}/credentials",
            json={"idempotency_key": f"cred-{account_id}"}, headers=admin_headers,
        )
        assert response.status_code in (200, 201), response.text
        body = response.json()
        return Epj(clinic_id, account_id, body["client_id"], body["secret"])

    return make


@pytest.fixture
def bureau() -> Any:
    from medipay_backend.adapters.bureau import SimulatedBureau

    return SimulatedBureau()


@pytest.fixture
def runtime(clock: SimulatedClock, bureau: Any) -> Any:
    from medipay_backend.runtime import Runtime

    return Runtime.simulated(clock, bureau=bureau, base_url="https://pay.medipay.test")


@pytest.fixture
async def flow(
    database: Database, clock: SimulatedClock, runtime: Any, make_epj: MakeEpj,
    client: httpx.AsyncClient,
) -> Any:
    """A clinic with an EPJ, the app wired to `runtime`, and a scheduler on the same clock."""
    from medipay_backend.handlers import make_handlers, sweep_job
    from medipay_backend.scheduler import Scheduler

    from .flow import Flow

    client._transport = httpx.ASGITransport(  # the same client, now on the runtime's app
        app=create_app(database=database, clock=clock, admin_token=ADMIN_TOKEN, runtime=runtime)
    )
    epj = await make_epj()
    scheduler = Scheduler(database, clock, make_handlers(database, clock, runtime))
    await scheduler.add(sweep_job(clock.now()))
    return Flow(client, epj, scheduler, runtime, clock)
