"""Fixtures for the portal tests: the app with cheap password hashing, a scheduler, browsers
(each its own cookie jar) and clinics with orders in every state the portal shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from medipay.clock import SimulatedClock
from medipay_backend.app import create_app
from medipay_backend.db import Database
from medipay_backend.portal.passwords import ScryptParams
from medipay_backend.portal.settings import PortalSettings

from ..conftest import ADMIN_TOKEN, MakeEpj
from ..flow import Flow
from .helpers import Portal

# The production cost is a quarter of a second per hash; these tests hash dozens of times.
# `test_passwords.py` checks the production parameters and that hashes are upgraded to them.
FAST = PortalSettings(scrypt=ScryptParams(n=2**10, r=8, p=1), page_size=3)


@pytest.fixture
def app(database: Database, clock: SimulatedClock, runtime: Any) -> FastAPI:
    """The backend app with the simulated providers (base URL https) and FAST settings."""
    app = create_app(database=database, clock=clock, admin_token=ADMIN_TOKEN, runtime=runtime)
    app.state.portal_settings = FAST
    return app


@pytest.fixture
async def portal(app: FastAPI, client: httpx.AsyncClient,
                 admin_headers: dict[str, str]) -> AsyncIterator[Portal]:
    async with Portal(app, client, admin_headers) as portal:
        yield portal


@pytest.fixture
async def shop(database: Database, clock: SimulatedClock, runtime: Any, make_epj: MakeEpj,
               client: httpx.AsyncClient) -> Flow:
    """A clinic with an EPJ and a scheduler on the test clock (orders, SMS, checkout)."""
    from medipay_backend.handlers import make_handlers, sweep_job
    from medipay_backend.scheduler import Scheduler

    epj = await make_epj()
    scheduler = Scheduler(database, clock, make_handlers(database, clock, runtime))
    await scheduler.add(sweep_job(clock.now()))
    return Flow(client, epj, scheduler, runtime, clock)
