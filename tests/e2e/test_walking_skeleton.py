"""EPJ -> gateway -> simulated terminal -> journal -> uplink -> backend, over real TCP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio

from medipay.clock import SimulatedClock
from medipay.up import UpPorts, start_stack

PAYMENT = {"amount": 12345, "currency": "NOK", "reference": "bill-1"}


async def wait_for_backend_items(client: httpx.AsyncClient, admin_token: str, count: int):
    with trio.fail_after(10):
        while True:
            response = await client.get(
                "/v1/pos-transactions", headers={"Authorization": f"Bearer {admin_token}"}
            )
            assert response.status_code == 200, response.text
            items = response.json()["items"]
            if len(items) >= count:
                return items
            await trio.sleep(0.05)


@pytest.fixture
async def stack(nursery, tmp_path: Path):
    stack = await start_stack(nursery, tmp_path, SimulatedClock(), UpPorts(0, 0, 0))
    supervisor = stack.gateway.service.supervisor("T1")
    with trio.fail_after(10):
        while supervisor.state != "ready":  # registered, nothing to recover
            await trio.sleep(0.01)
    return stack


async def test_payment_travels_from_epj_to_backend(stack):
    headers = {"Authorization": f"Bearer {stack.gateway.token}", "Idempotency-Key": "key-1"}
    async with httpx.AsyncClient(base_url=stack.gateway.base_url) as epj:
        response = await epj.post("/v1/terminals/T1/payments", json=PAYMENT, headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "approved"
    assert body["amount"] == 12345 and body["currency"] == "NOK"
    assert body["terminal_id"] == "T1"
    assert body["result_code"] == 0
    assert body["masked_pan"] == "411111******1111"
    assert body["receipt_number"] == 1 and body["trace_number"] == 1
    assert any("BELØP NOK 123,45" in line for line in body["receipt_lines"])

    # Journalled before the answer: the gateway's own record says the same.
    journalled = await stack.gateway.journal.get(body["id"])
    assert journalled is not None and journalled.to_api() == body

    async with httpx.AsyncClient(base_url=stack.backend_url) as operator:
        items = await wait_for_backend_items(operator, stack.admin_token, 1)
    assert len(items) == 1
    item = items[0]
    assert item["gateway_id"] == "gw-demo"
    assert item["gateway_transaction_id"] == body["id"]
    assert item["status"] == "approved" and item["amount"] == 12345
    assert item["idempotency_key"] == "gw-demo:T1:1:1"
    assert await stack.gateway.journal.outbox_backlog() == 0


async def test_repeated_request_is_answered_from_the_journal(stack):
    headers = {"Authorization": f"Bearer {stack.gateway.token}", "Idempotency-Key": "key-2"}
    async with httpx.AsyncClient(base_url=stack.gateway.base_url) as epj:
        first = await epj.post("/v1/terminals/T1/payments", json=PAYMENT, headers=headers)
        handled = stack.terminal.commands_handled
        second = await epj.post("/v1/terminals/T1/payments", json=PAYMENT, headers=headers)
        conflicting = await epj.post(
            "/v1/terminals/T1/payments", json={**PAYMENT, "amount": 1}, headers=headers
        )
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert stack.terminal.commands_handled == handled, "the repeat reached the terminal"
    assert conflicting.status_code == 409
    assert conflicting.headers["content-type"] == "application/problem+json"
    assert conflicting.json()["type"].endswith("/idempotency-key-reused")
    assert stack.terminal.commands_handled == handled

    async with httpx.AsyncClient(base_url=stack.backend_url) as operator:
        items = await wait_for_backend_items(operator, stack.admin_token, 1)
        await trio.sleep(0.2)  # give a (wrong) second delivery the chance to show up
        items = await wait_for_backend_items(operator, stack.admin_token, 1)
    assert len(items) == 1


async def test_declined_payment_is_journalled_and_relayed(stack):
    from firmware_sim.cards import DEFAULT_DECK

    stack.terminal.engine.present([DEFAULT_DECK[2]])  # a card with NOK 50 available
    headers = {"Authorization": f"Bearer {stack.gateway.token}", "Idempotency-Key": "key-3"}
    async with httpx.AsyncClient(base_url=stack.gateway.base_url) as epj:
        response = await epj.post("/v1/terminals/T1/payments", json=PAYMENT, headers=headers)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "declined"
    assert body["result_code"] == 0x33
    assert body["receipt_number"] is None
    async with httpx.AsyncClient(base_url=stack.backend_url) as operator:
        items = await wait_for_backend_items(operator, stack.admin_token, 1)
    assert items[0]["status"] == "declined"


async def test_epj_api_refuses_missing_token_and_bad_input(stack):
    handled = stack.terminal.commands_handled
    async with httpx.AsyncClient(base_url=stack.gateway.base_url) as epj:
        no_token = await epj.post("/v1/terminals/T1/payments", json=PAYMENT,
                                  headers={"Idempotency-Key": "k"})
        auth = {"Authorization": f"Bearer {stack.gateway.token}"}
        no_key = await epj.post("/v1/terminals/T1/payments", json=PAYMENT, headers=auth)
        negative = await epj.post("/v1/terminals/T1/payments", json={**PAYMENT, "amount": -5},
                                  headers={**auth, "Idempotency-Key": "k"})
        unknown = await epj.post("/v1/terminals/T9/payments", json=PAYMENT,
                                 headers={**auth, "Idempotency-Key": "k2"})
    assert no_token.status_code == 401
    assert no_key.status_code == 422 and negative.status_code == 422
    assert negative.json()["errors"][0]["field"] == "amount"
    assert unknown.status_code == 404
    assert stack.terminal.commands_handled == handled
