"""Concurrent deliveries of the same records: one is created, every answer agrees."""

from __future__ import annotations

import httpx
import trio

from .conftest import EnrolGateway
from .payloads import transaction

PATH = "/v1/pos-transactions"


async def test_parallel_repeats_store_each_record_once(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    payload = {"transactions": [transaction("gw-1", n) for n in range(20)]}
    answers: list[httpx.Response] = []

    async def deliver() -> None:
        answers.append(await gateway.post(client, PATH, payload))

    async with trio.open_nursery() as nursery:
        for _ in range(6):
            nursery.start_soon(deliver)

    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    ids = {tuple(r["id"] for r in a.json()["results"]) for a in answers}
    assert len(ids) == 1
    created = sum(r["outcome"] == "created" for a in answers for r in a.json()["results"])
    assert created == 20
    listing = await client.get(PATH, params={"limit": 1000}, headers=admin_headers)
    assert len(listing.json()["items"]) == 20


async def test_parallel_conflicting_deliveries_keep_one_version(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    versions = [transaction("gw-1", 1, amount=100 * (v + 1)) for v in range(4)]
    statuses: list[int] = []

    async def deliver(tx: dict[str, object]) -> None:
        response = await gateway.post(client, PATH, {"transactions": [tx]})
        statuses.append(response.status_code)

    async with trio.open_nursery() as nursery:
        for tx in versions:
            nursery.start_soon(deliver, tx)

    assert sorted(statuses) == [200, 409, 409, 409]
    listing = await client.get(PATH, headers=admin_headers)
    assert len(listing.json()["items"]) == 1


async def test_parallel_batches_in_opposite_orders_both_succeed(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    """On PostgreSQL these can deadlock on the unique index; the loser is re-run."""
    gateway = await enrol_gateway("gw-1")
    txs = [transaction("gw-1", n) for n in range(50)]
    answers: list[httpx.Response] = []

    async def deliver(batch: list[dict[str, object]]) -> None:
        answers.append(await gateway.post(client, PATH, {"transactions": batch}))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(deliver, txs)
        nursery.start_soon(deliver, txs[::-1])

    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    by_key = [{r["idempotency_key"]: r["id"] for r in a.json()["results"]} for a in answers]
    assert by_key[0] == by_key[1]
    listing = await client.get(PATH, params={"limit": 1000}, headers=admin_headers)
    assert len(listing.json()["items"]) == 50
