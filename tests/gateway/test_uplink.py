"""The uplink against a real backend: batching, refusals set aside, outages retried."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import trio

from gateway.config import BackendLinkConfig
from gateway.journal import Outcome, PaymentRequest
from gateway.transactions import make_relay
from gateway.uplink.enrol import enrol_gateway
from gateway.uplink.sender import UplinkSender
from gateway.uplink.signing import RequestSigner, load_or_create_key
from medipay_backend.config import BackendConfig, HttpConfig
from medipay_backend.server import serve_backend


@pytest.fixture
async def backend(nursery, tmp_path: Path, clock):
    config = replace(BackendConfig(), data_dir=tmp_path / "backend", http=HttpConfig(port=0))
    return await nursery.start(serve_backend, config, clock)


async def journal_payments(journal, count: int, *, bad: set[int] = frozenset()):
    relay = make_relay("gw-t")
    for n in range(count):
        record, _ = await journal.begin(PaymentRequest(f"k{n}", "T1", "payment", 100 + n,
                                                       "NOK", f"bill-{n}"))
        pan = "4111111111111111" if n in bad else "411111******1111"
        await journal.complete(record.id, Outcome("approved", result_code=0, masked_pan=pan,
                                                  trace_number=n + 1, receipt_number=n + 1),
                               relay)


def sender_for(journal, clock, url: str, tmp_path: Path, **config) -> UplinkSender:
    signer = RequestSigner("gw-t", load_or_create_key(tmp_path / "gw"), clock)
    link = BackendLinkConfig(url=url, retry_min=1.0, retry_max=10.0, **config)
    return UplinkSender(journal, signer, link, clock)


async def listed(backend) -> list[dict]:
    async with httpx.AsyncClient(base_url=backend.base_url) as client:
        response = await client.get("/v1/pos-transactions", params={"limit": 1000},
                                    headers={"Authorization": f"Bearer {backend.admin_token}"})
    return response.json()["items"]


async def test_backlog_is_delivered_in_batches_exactly_once(backend, journal, clock, tmp_path):
    await journal_payments(journal, 25)
    sender = sender_for(journal, clock, backend.base_url, tmp_path, batch_size=10)
    await enrol_gateway(backend.base_url, backend.admin_token, "gw-t",
                        load_or_create_key(tmp_path / "gw"))
    async with httpx.AsyncClient(base_url=backend.base_url) as client:
        assert await sender.deliver_due(client) == 25
        assert await sender.deliver_due(client) == 0
    assert await journal.outbox_backlog() == 0
    items = await listed(backend)
    assert sorted(item["amount"] for item in items) == list(range(100, 125))


async def test_refused_entry_is_set_aside_and_the_rest_delivered(backend, journal, clock,
                                                                 tmp_path):
    await journal_payments(journal, 8, bad={5})
    sender = sender_for(journal, clock, backend.base_url, tmp_path)
    await enrol_gateway(backend.base_url, backend.admin_token, "gw-t",
                        load_or_create_key(tmp_path / "gw"))
    async with httpx.AsyncClient(base_url=backend.base_url) as client:
        assert await sender.deliver_due(client) == 7
    status = await journal.outbox_status()
    assert status["backlog"] == 0
    assert [entry["idempotency_key"] for entry in status["rejected"]] == ["gw-t:T1:6:6"]
    assert "422" in status["rejected"][0]["error"]
    assert len(await listed(backend)) == 7


async def test_outage_is_retried_with_backoff_until_the_backend_answers(
    backend, journal, clock, tmp_path
):
    await journal_payments(journal, 3)
    # Not enrolled yet: the backend answers 401, which is retried, not set aside.
    sender = sender_for(journal, clock, backend.base_url, tmp_path)
    async with httpx.AsyncClient(base_url=backend.base_url) as client:
        assert await sender.deliver_due(client) == 0
        assert await journal.due_outbox(10, "pos-transaction") == []  # waiting for backoff
        await enrol_gateway(backend.base_url, backend.admin_token, "gw-t",
                            load_or_create_key(tmp_path / "gw"))
        clock.advance(timedelta(seconds=10))
        assert await sender.deliver_due(client) == 3
    assert (await journal.outbox_status())["rejected"] == []


async def test_unreachable_backend_keeps_everything(journal, clock, tmp_path):
    await journal_payments(journal, 2)
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sender = sender_for(journal, clock, f"http://127.0.0.1:{port}", tmp_path)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert await sender.deliver_due(client) == 0
    assert await journal.outbox_backlog() == 2
    (entry, *_) = await journal.due_outbox(10, "pos-transaction") or [None]
    assert entry is None  # scheduled for later, not lost
