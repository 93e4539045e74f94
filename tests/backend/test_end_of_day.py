"""End-of-day totals: signed intake with the same idempotency rules, operator listing."""

from __future__ import annotations

from typing import Any

import httpx

from medipay.clock import SimulatedClock
from medipay_backend.problems import PROBLEM_BASE

from .conftest import EnrolGateway
from .payloads import end_of_day
from .signer import GatewaySigner

PATH = "/v1/pos-end-of-day"


async def test_post_list_and_get(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    other = await enrol_gateway("gw-2")
    posted = await gateway.post(client, PATH, {"totals": [end_of_day("gw-1", 1)]})
    await other.post(client, PATH, {"totals": [end_of_day("gw-2", 1, terminal_id="T9")]})

    assert posted.status_code == 200, posted.text
    (result,) = posted.json()["results"]
    assert result["outcome"] == "created"
    listing = (await client.get(PATH, headers=admin_headers)).json()
    assert [item["gateway_id"] for item in listing["items"]] == ["gw-2", "gw-1"]
    assert listing["next"] is None
    filtered = (await client.get(PATH, params={"terminal_id": "T0000001"},
                                 headers=admin_headers)).json()
    assert [item["id"] for item in filtered["items"]] == [result["id"]]
    one = (await client.get(f"{PATH}/{result['id']}", headers=admin_headers)).json()
    assert one == {
        **end_of_day("gw-1", 1),
        "id": result["id"],
        "gateway_id": "gw-1",
        "occurred_at": "2026-01-05T16:00:00Z",
        "received_at": "2026-01-05T08:00:00Z",
        "totals_source": "terminal",
    }


async def test_duplicate_and_conflict(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    total = end_of_day("gw-1", 1)
    first = await gateway.post(client, PATH, {"totals": [total]})
    again = await gateway.post(client, PATH, {"totals": [total]})
    assert again.json()["results"][0] == {**first.json()["results"][0], "outcome": "duplicate"}

    reordered = {**total, "per_scheme": total["per_scheme"][::-1]}
    conflict = await gateway.post(client, PATH, {"totals": [end_of_day("gw-1", 2), reordered]})
    assert conflict.status_code == 409
    assert conflict.json()["type"] == PROBLEM_BASE + "idempotency-conflict"
    listing = (await client.get(PATH, headers=admin_headers)).json()
    assert len(listing["items"]) == 1


async def test_invalid_totals_are_refused(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    bad_variants: list[dict[str, Any]] = [
        {"count": -1},
        {"amount": "1350.00"},
        {"per_scheme": [{"card_name": "Visa", "count": 1}]},
        {"per_scheme": [{"card_name": "", "count": 1, "amount": 1}]},
        {"idempotency_key": "gw-2:T1:eod:1"},
    ]
    for n, bad in enumerate(bad_variants):
        response = await gateway.post(client, PATH, {"totals": [end_of_day("gw-1", n, **bad)]})
        assert response.status_code == 422, (bad, response.text)
    assert (await client.get(PATH, headers=admin_headers)).json()["items"] == []


async def test_end_of_day_needs_a_signature(
    client: httpx.AsyncClient, clock: SimulatedClock
) -> None:
    response = await client.post(PATH, json={"totals": [end_of_day("gw-1")]})
    assert response.status_code == 401
    assert response.json()["type"] == PROBLEM_BASE + "signature-required"
    stranger = GatewaySigner("gw-1", clock)
    response = await stranger.post(client, PATH, {"totals": [end_of_day("gw-1")]})
    assert response.json()["type"] == PROBLEM_BASE + "unknown-gateway"
