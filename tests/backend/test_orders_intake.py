"""POST /v1/orders: one order or a batch, idempotency, immutability, status and history."""

from __future__ import annotations

import httpx
import trio
from sqlalchemy.engine import Engine

from medipay_backend.domain.kid import kid_error
from medipay_backend.problems import PROBLEM_BASE

from .conftest import MakeEpj
from .people import ADULT, order


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


async def test_single_order_is_accepted_with_status_and_history(
    client: httpx.AsyncClient, make_epj: MakeEpj, engine: Engine
) -> None:
    epj = await make_epj()
    response = await client.post("/v1/orders", json=order(1), auth=epj.auth)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "accepted"
    assert body["amount"] == 45_001 and body["currency"] == "NOK"
    assert body["invoice_fee"] == 5900  # from the agreement, fixed on acceptance
    assert kid_error(body["kid"], "mod10") is None and len(body["kid"]) == 15
    assert body["deadline_at"] == "2026-01-07T08:00:00Z"
    assert [h["event"] for h in body["history"]] == ["received"]
    assert body["history"][0]["text"] == "Regningen er mottatt"
    assert ADULT not in response.text  # the national ID is never echoed
    fetched = await client.get(f"/v1/orders/{body['id']}", auth=epj.auth)
    assert fetched.json() == body
    # The SMS now and the reminder 8 hours before the deadline are scheduled.
    assert _count(engine, "jobs") == 2


async def test_exact_repeat_returns_the_stored_order(
    client: httpx.AsyncClient, make_epj: MakeEpj, engine: Engine
) -> None:
    epj = await make_epj()
    first = await client.post("/v1/orders", json=order(1), auth=epj.auth)
    again = await client.post("/v1/orders", json=order(1), auth=epj.auth)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert _count(engine, "orders") == 1


async def test_changed_repeat_is_a_conflict_and_the_order_is_immutable(
    client: httpx.AsyncClient, make_epj: MakeEpj
) -> None:
    epj = await make_epj()
    first = await client.post("/v1/orders", json=order(1), auth=epj.auth)
    changed = await client.post("/v1/orders", json=order(1, amount=1), auth=epj.auth)
    assert changed.status_code == 409
    problem = changed.json()
    assert problem["type"] == PROBLEM_BASE + "idempotency-conflict"
    assert problem["idempotency_key"] == "bill-000001"
    stored = await client.get(f"/v1/orders/{first.json()['id']}", auth=epj.auth)
    assert stored.json()["amount"] == 45_001


async def test_batch_reports_each_order_and_a_conflict_stores_nothing(
    client: httpx.AsyncClient, make_epj: MakeEpj, engine: Engine
) -> None:
    epj = await make_epj()
    await client.post("/v1/orders", json=order(1), auth=epj.auth)
    batch = [order(1), order(2), order(3, amount=0), {"amount": "x"}, order(2)]
    response = await client.post("/v1/orders", json={"orders": batch}, auth=epj.auth)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == [
        "duplicate", "created", "rejected", "rejected", "duplicate"
    ]
    assert results[1]["id"] == results[4]["id"]
    assert results[2]["errors"][0]["code"] == "amount_not_positive"
    assert results[3]["idempotency_key"] is None
    assert {e["field"] for e in results[3]["errors"]} >= {"idempotency_key", "patient",
                                                           "amount"}
    assert _count(engine, "orders") == 2

    conflict = await client.post(
        "/v1/orders", json={"orders": [order(4), order(2, amount=7)]}, auth=epj.auth
    )
    assert conflict.status_code == 409
    assert _count(engine, "orders") == 2
    for bad in ({"orders": []}, {"orders": [order(n) for n in range(501)]}, {"orders": 3}):
        refused = await client.post("/v1/orders", json=bad, auth=epj.auth)
        assert refused.status_code == 422


async def test_rejected_order_stores_nothing_and_can_be_resent_corrected(
    client: httpx.AsyncClient, make_epj: MakeEpj, engine: Engine
) -> None:
    epj = await make_epj()
    bad = order(1)
    bad["patient"] = {**bad["patient"], "mobile": "22 22 22 22"}
    rejected = await client.post("/v1/orders", json=bad, auth=epj.auth)
    assert rejected.status_code == 422
    problem = rejected.json()
    assert problem["type"] == PROBLEM_BASE + "order-rejected"
    assert [e["code"] for e in problem["errors"]] == ["mobile_invalid"]
    assert problem["errors"][0]["field"] == "patient.mobile"
    assert _count(engine, "orders") == 0 and _count(engine, "jobs") == 0
    corrected = await client.post("/v1/orders", json=order(1), auth=epj.auth)
    assert corrected.status_code == 201


async def test_given_kid_is_kept_and_must_be_unique_per_clinic(
    client: httpx.AsyncClient, make_epj: MakeEpj
) -> None:
    epj = await make_epj()
    kid = "1234567897"  # MOD10
    first = await client.post("/v1/orders", json=order(1, kid=kid), auth=epj.auth)
    assert first.json()["kid"] == kid
    second = await client.post("/v1/orders", json=order(2, kid=kid), auth=epj.auth)
    assert second.status_code == 422
    assert second.json()["errors"][0]["code"] == "kid_in_use"
    twice = await client.post(
        "/v1/orders", json={"orders": [order(3, kid="0000000018"), order(4, kid="0000000018")]},
        auth=epj.auth,
    )
    assert [r["outcome"] for r in twice.json()["results"]] == ["created", "rejected"]


async def test_mod11_clinic_generates_and_checks_mod11(
    client: httpx.AsyncClient, make_epj: MakeEpj
) -> None:
    epj = await make_epj(agreement={"kid_scheme": "mod11", "invoice_fee": 0})
    created = await client.post("/v1/orders", json=order(1), auth=epj.auth)
    assert kid_error(created.json()["kid"], "mod11") is None
    assert created.json()["invoice_fee"] == 0
    luhn_only = await client.post("/v1/orders", json=order(2, kid="1234567897"), auth=epj.auth)
    assert luhn_only.json()["errors"][0]["code"] == "kid_invalid"


async def test_concurrent_double_submits_store_one_order(
    client: httpx.AsyncClient, make_epj: MakeEpj, engine: Engine
) -> None:
    epj = await make_epj()
    answers: list[httpx.Response] = []

    async def send() -> None:
        answers.append(await client.post("/v1/orders", json=order(1), auth=epj.auth))

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(send)
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert _count(engine, "orders") == 1 and _count(engine, "jobs") == 2


async def test_listing_filters_and_pages(client: httpx.AsyncClient, make_epj: MakeEpj) -> None:
    epj = await make_epj()
    await client.post("/v1/orders", json={"orders": [order(n) for n in range(5)]},
                      auth=epj.auth)
    page = (await client.get("/v1/orders", params={"limit": 2}, auth=epj.auth)).json()
    assert [o["idempotency_key"] for o in page["items"]] == ["bill-000004", "bill-000003"]
    rest = await client.get("/v1/orders", params={"limit": 10, "cursor": page["next"]},
                            auth=epj.auth)
    assert len(rest.json()["items"]) == 3
    by_ref = await client.get("/v1/orders", params={"external_reference": "RK-2"},
                              auth=epj.auth)
    assert [o["idempotency_key"] for o in by_ref.json()["items"]] == ["bill-000002"]
    paid = await client.get("/v1/orders", params={"status": "paid"}, auth=epj.auth)
    assert paid.json()["items"] == []
