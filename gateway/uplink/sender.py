"""Drains the outbox to the backend: batches, retries with backoff and jitter, exactly once.

Exactly once *in effect*: an entry may be sent more than once (a crash after the backend
stored it but before we marked it delivered), but its idempotency key makes the backend keep
one copy and answer "duplicate", which we treat as delivered.

Two kinds of failure: the backend is unreachable or failing (network errors, 5xx, 401 while
enrolment is pending, 429) -> the batch waits and is retried with backoff; the backend
refuses the content for good (other 4xx) -> the batch is split until the refused entry is
alone, and that entry is set aside for an operator instead of blocking everything after it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import timedelta

import httpx
import trio

from gateway.config import BackendLinkConfig
from gateway.journal import Journal, OutboxEntry
from gateway.uplink.signing import RequestSigner
from medipay.clock import Clock
from medipay.logs import get_logger

log = get_logger(__name__)

# Outbox kind -> (backend path, the key of the list in the request body).
ENDPOINTS = {
    "pos-transaction": ("/v1/pos-transactions", "transactions"),
    "pos-end-of-day": ("/v1/pos-end-of-day", "totals"),
}
# Client errors that can heal by themselves: auth until enrolment is done, rate limiting,
# request timeout. Any other 4xx means the content itself is refused.
TRANSIENT_CLIENT_ERRORS = frozenset({401, 403, 408, 425, 429})


class DeliveryError(Exception):
    """The backend did not accept a batch now; it will be retried later."""


class Refused(Exception):
    """The backend refused the batch's content; retrying the same bytes cannot help."""


def backoff_seconds(attempts: int, config: BackendLinkConfig, rng: random.Random) -> float:
    """Exponential backoff with full jitter, so many gateways do not retry in lockstep."""
    ceiling = min(config.retry_max, config.retry_min * (2 ** min(attempts, 30)))
    return config.retry_min + rng.random() * max(0.0, ceiling - config.retry_min)


class UplinkSender:
    def __init__(
        self,
        journal: Journal,
        signer: RequestSigner,
        config: BackendLinkConfig,
        clock: Clock,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._journal = journal
        self._signer = signer
        self._config = config
        self._clock = clock
        self._rng = rng or random.Random()
        self._wakeup = trio.Event()
        self.delivered = 0

    def wake(self) -> None:
        """Called when a new outbox entry is committed."""
        self._wakeup.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with httpx.AsyncClient(base_url=self._config.url, timeout=30.0) as client:
            task_status.started()
            while True:
                self._wakeup = trio.Event()
                await self.deliver_due(client)
                with trio.move_on_after(self._config.poll_interval):
                    await self._wakeup.wait()

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """Send what is due, batch by batch; returns how many entries were delivered."""
        total = 0
        for kind in ENDPOINTS:
            total += await self._deliver_kind(client, kind)
        return total

    async def _deliver_kind(self, client: httpx.AsyncClient, kind: str) -> int:
        total = 0
        while True:
            entries = await self._journal.due_outbox(self._config.batch_size, kind)
            if not entries:
                return total
            try:
                total += await self._deliver_batch(client, kind, entries)
            except DeliveryError as exc:
                attempts = max(entry.attempts for entry in entries) + 1
                delay = backoff_seconds(attempts, self._config, self._rng)
                retry_at = self._clock.now() + timedelta(seconds=delay)
                await self._journal.mark_failed([e.seq for e in entries], retry_at, str(exc))
                log.warning("uplink.retry_later", entries=len(entries), error=str(exc),
                            retry_in_s=round(delay, 1))
                return total

    async def _deliver_batch(
        self, client: httpx.AsyncClient, kind: str, entries: Sequence[OutboxEntry]
    ) -> int:
        """Deliver `entries`, halving on refusal to isolate the refused ones."""
        try:
            await self._post(client, kind, entries)
        except Refused as exc:
            if len(entries) == 1:
                await self._journal.mark_rejected(entries[0].seq, str(exc))
                log.error("uplink.entry_refused", key=entries[0].idempotency_key,
                          error=str(exc))
                return 0
            middle = len(entries) // 2
            return (await self._deliver_batch(client, kind, entries[:middle])
                    + await self._deliver_batch(client, kind, entries[middle:]))
        await self._journal.mark_delivered([entry.seq for entry in entries])
        self.delivered += len(entries)
        log.info("uplink.delivered", kind=kind, entries=len(entries))
        return len(entries)

    async def _post(
        self, client: httpx.AsyncClient, kind: str, entries: Sequence[OutboxEntry]
    ) -> None:
        path, list_key = ENDPOINTS[kind]
        body = json.dumps({list_key: [entry.payload for entry in entries]}).encode()
        headers = self._signer.headers("POST", path, body)
        headers["Content-Type"] = "application/json"
        try:
            response = await client.post(path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"backend unreachable: {exc!r}") from exc
        if response.status_code == 200:
            return
        why = f"backend answered {response.status_code}: {response.text[:500]}"
        if 400 <= response.status_code < 500 and response.status_code not in (
            TRANSIENT_CLIENT_ERRORS
        ):
            raise Refused(why)
        raise DeliveryError(why)
