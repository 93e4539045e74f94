"""A harness for order flows in-process: EPJ posts, the scheduler runs, the patient clicks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from medipay.clock import SimulatedClock
from medipay_backend.handlers import SWEEP_INTERVAL
from medipay_backend.runtime import Runtime
from medipay_backend.scheduler import Scheduler
from medipay_backend.sms.sender import RecordingSender

from .conftest import Epj

LINK = re.compile(r"https?://\S+?(/c/[A-Za-z0-9_-]+)")


@dataclass
class Flow:
    client: httpx.AsyncClient
    epj: Epj
    scheduler: Scheduler
    runtime: Runtime
    clock: SimulatedClock

    async def post(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post("/v1/orders", json=body, auth=self.epj.auth)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def status(self, order_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/orders/{order_id}", auth=self.epj.auth)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def tick(self) -> int:
        return await self.scheduler.run_due()

    async def expire(self, hours: float = 48) -> None:
        """Move past the deadline and let the sweep run. On PostgreSQL the sweep skips rows
        another job holds locked (SKIP LOCKED) and takes them at its next run, a minute on;
        so the clock moves on once more, as it would in production."""
        self.clock.advance(timedelta(hours=hours))
        await self.tick()
        self.clock.advance(SWEEP_INTERVAL)
        await self.tick()

    @property
    def sms(self) -> list[Any]:
        sender = self.runtime.sms
        assert isinstance(sender, RecordingSender)
        return list(sender.messages)

    def link(self, index: int = -1) -> str:
        found = LINK.search(self.sms[index].text)
        assert found, self.sms[index].text
        return found.group(1)

    async def go(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """A browser-like request: follows 303s (and posts become gets)."""
        response = await self.client.request(method, url, **kwargs)
        while response.status_code in (302, 303):
            response = await self.client.get(response.headers["location"])
        return response

    async def payment_page(self, path: str, method: str) -> httpx.Response:
        """Post the payment choice; return the provider's page (not followed further)."""
        response = await self.client.post(f"{path}/{method}")
        assert response.status_code == 303, response.text
        return await self.client.get(response.headers["location"])
