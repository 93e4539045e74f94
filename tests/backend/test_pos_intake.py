"""Signed intake of POS transactions: storage, idempotency, validation, atomic batches."""

from __future__ import annotations

from typing import Any

import httpx

from medipay_backend.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

from .conftest import EnrolGateway
from .payloads import transaction

PATH = "/v1/pos-transactions"


async def _all_transactions(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> list[Any]:
    response = await client.get(PATH, params={"limit": 1000}, headers=admin_headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def test_signed_batch_is_stored_and_listed(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    txs = [transaction("gw-1", 1), transaction("gw-1", 2, status="declined", result_code=5)]

    response = await gateway.post(client, PATH, {"transactions": txs})

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["idempotency_key"] for r in results] == [tx["idempotency_key"] for tx in txs]
    assert [r["outcome"] for r in results] == ["created", "created"]
    stored = await _all_transactions(client, admin_headers)
    assert [item["id"] for item in stored] == [results[1]["id"], results[0]["id"]]
    newest = stored[0]
    assert newest["gateway_id"] == "gw-1"
    assert newest["status"] == "declined"
    assert newest["amount"] == 45002
    assert newest["occurred_at"] == "2026-01-05T08:15:00Z"
    assert newest["received_at"] == "2026-01-05T08:00:00Z"


async def test_exact_repeat_is_a_duplicate_with_the_same_id(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    first = await gateway.post(client, PATH, {"transactions": [transaction("gw-1", 1)]})
    # The same record again, in a batch with a new one; the offset is spelled differently.
    again = transaction("gw-1", 1, occurred_at="2026-01-05T08:15:00Z")
    second = await gateway.post(
        client, PATH, {"transactions": [again, transaction("gw-1", 2)]}
    )

    assert second.status_code == 200, second.text
    (created,) = first.json()["results"]
    duplicate, new = second.json()["results"]
    assert duplicate == {**created, "outcome": "duplicate"}
    assert new["outcome"] == "created"
    assert len(await _all_transactions(client, admin_headers)) == 2


async def test_repeat_within_one_batch_is_a_duplicate(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway
) -> None:
    gateway = await enrol_gateway("gw-1")
    tx = transaction("gw-1", 1)
    response = await gateway.post(client, PATH, {"transactions": [tx, tx]})

    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert (first["outcome"], second["outcome"]) == ("created", "duplicate")
    assert first["id"] == second["id"]


async def test_conflicting_repeat_rejects_the_whole_batch(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    original = transaction("gw-1", 1)
    await gateway.post(client, PATH, {"transactions": [original]})
    changed = {**original, "amount": original["amount"] + 100}

    response = await gateway.post(
        client, PATH, {"transactions": [transaction("gw-1", 2), changed, transaction("gw-1", 3)]}
    )

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = response.json()
    assert problem["type"] == PROBLEM_BASE + "idempotency-conflict"
    assert problem["idempotency_key"] == original["idempotency_key"]
    assert original["idempotency_key"] in problem["detail"]
    stored = await _all_transactions(client, admin_headers)
    assert [item["idempotency_key"] for item in stored] == [original["idempotency_key"]]
    assert stored[0]["amount"] == original["amount"]


async def test_conflict_inside_one_batch_stores_nothing(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    tx = transaction("gw-1", 1)
    response = await gateway.post(
        client, PATH, {"transactions": [tx, {**tx, "status": "declined"}]}
    )

    assert response.status_code == 409
    assert await _all_transactions(client, admin_headers) == []


async def test_full_pan_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    pan = "5471031234561234"
    batch = [transaction("gw-1", 1), transaction("gw-1", 2, masked_pan=pan)]

    response = await gateway.post(client, PATH, {"transactions": batch})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = response.json()
    assert problem["type"] == PROBLEM_BASE + "validation-failed"
    assert problem["errors"][0]["loc"] == ["body", "transactions", "1", "masked_pan"]
    assert pan not in response.text  # the rejected value is never echoed
    assert await _all_transactions(client, admin_headers) == []


async def test_invalid_fields_are_422_problems(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    bad_variants: list[dict[str, Any]] = [
        {"amount": "450.00"},
        {"amount": 450.5},
        {"amount": -1},
        {"currency": "nok"},
        {"kind": "purchase"},
        {"status": "ok"},
        {"occurred_at": "2026-01-05T09:15:00"},  # no offset
        {"unexpected": 1},
        {"masked_pan": "5471 03** **** 1234 5"},
        {"terminal_id": ""},
    ]
    for n, bad in enumerate(bad_variants, start=1):
        payload = {"transactions": [transaction("gw-1", n, **bad)]}
        response = await gateway.post(client, PATH, payload)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["type"] == PROBLEM_BASE + "validation-failed"
    for batch in ([], [transaction("gw-1", n) for n in range(501)]):
        response = await gateway.post(client, PATH, {"transactions": batch})
        assert response.status_code == 422, len(batch)
    assert await _all_transactions(client, admin_headers) == []


async def test_idempotency_keys_must_belong_to_the_signer(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    await enrol_gateway("gw-2")
    batch = [transaction("gw-1", 1), transaction("gw-2", 2)]

    response = await gateway.post(client, PATH, {"transactions": batch})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "transactions", "1", "idempotency_key"]
    assert await _all_transactions(client, admin_headers) == []


async def test_largest_batch_is_accepted(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    batch = [transaction("gw-1", n) for n in range(500)]

    response = await gateway.post(client, PATH, {"transactions": batch})

    assert response.status_code == 200, response.text
    assert {r["outcome"] for r in response.json()["results"]} == {"created"}
    assert len(await _all_transactions(client, admin_headers)) == 500
