"""Operator queries: filters, paging (cursor and offset), single records."""

from __future__ import annotations

import httpx

from medipay.clock import SimulatedClock
from medipay_backend.problems import PROBLEM_BASE

from .conftest import EnrolGateway
from .payloads import transaction

PATH = "/v1/pos-transactions"


async def _seed(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, clock: SimulatedClock
) -> list[str]:
    """Ten transactions from two gateways and two terminals; returns ids, oldest first."""
    one = await enrol_gateway("gw-1")
    two = await enrol_gateway("gw-2")
    ids: list[str] = []
    for n in range(10):
        gateway = one if n % 2 == 0 else two
        tx = transaction(
            gateway.gateway_id,
            n,
            terminal_id="T1" if n < 6 else "T2",
            status="declined" if n % 3 == 0 else "approved",
        )
        clock.advance(1)
        response = await gateway.post(client, PATH, {"transactions": [tx]})
        ids.append(response.json()["results"][0]["id"])
    return ids


async def _ids(
    client: httpx.AsyncClient, headers: dict[str, str], **params: str | int
) -> list[str]:
    response = await client.get(PATH, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_filters(
    client: httpx.AsyncClient,
    enrol_gateway: EnrolGateway,
    clock: SimulatedClock,
    admin_headers: dict[str, str],
) -> None:
    ids = await _seed(client, enrol_gateway, clock)
    newest_first = ids[::-1]
    assert await _ids(client, admin_headers) == newest_first
    assert await _ids(client, admin_headers, gateway_id="gw-2") == newest_first[0::2]
    assert await _ids(client, admin_headers, terminal_id="T2") == newest_first[:4]
    assert await _ids(client, admin_headers, status="declined") == [ids[9], ids[6], ids[3], ids[0]]
    assert await _ids(client, admin_headers, gateway_id="gw-1", terminal_id="T1",
                      status="declined") == [ids[0]]
    assert await _ids(client, admin_headers, kind="refund") == []
    assert await _ids(client, admin_headers, gateway_id="nobody") == []


async def test_cursor_paging_is_stable_while_rows_arrive(
    client: httpx.AsyncClient,
    enrol_gateway: EnrolGateway,
    clock: SimulatedClock,
    admin_headers: dict[str, str],
) -> None:
    ids = await _seed(client, enrol_gateway, clock)
    first = (await client.get(PATH, params={"limit": 4}, headers=admin_headers)).json()
    assert [item["id"] for item in first["items"]] == ids[::-1][:4]
    assert first["next"]

    # A new arrival does not shift the pages still to come.
    gateway = await enrol_gateway("gw-3")
    await gateway.post(client, PATH, {"transactions": [transaction("gw-3", 99)]})

    second = (
        await client.get(PATH, params={"limit": 4, "cursor": first["next"]}, headers=admin_headers)
    ).json()
    assert [item["id"] for item in second["items"]] == ids[::-1][4:8]
    third = (
        await client.get(PATH, params={"limit": 4, "cursor": second["next"]}, headers=admin_headers)
    ).json()
    assert [item["id"] for item in third["items"]] == ids[::-1][8:]
    assert third["next"] is None


async def test_offset_paging(
    client: httpx.AsyncClient,
    enrol_gateway: EnrolGateway,
    clock: SimulatedClock,
    admin_headers: dict[str, str],
) -> None:
    ids = await _seed(client, enrol_gateway, clock)
    assert await _ids(client, admin_headers, offset=7) == ids[::-1][7:]
    assert await _ids(client, admin_headers, offset=2, limit=3) == ids[::-1][2:5]
    assert await _ids(client, admin_headers, offset=50) == []


async def test_bad_query_parameters_are_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for params in (
        {"limit": 0},
        {"limit": 1001},
        {"offset": -1},
        {"status": "nope"},
        {"cursor": "garbage!"},
        {"cursor": "djI6MTA"},  # well-formed base64, unknown version
    ):
        response = await client.get(PATH, params=params, headers=admin_headers)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["type"] == PROBLEM_BASE + "validation-failed"


async def test_get_one_transaction(
    client: httpx.AsyncClient,
    enrol_gateway: EnrolGateway,
    admin_headers: dict[str, str],
) -> None:
    gateway = await enrol_gateway("gw-1")
    tx = transaction("gw-1", 7)
    posted = await gateway.post(client, PATH, {"transactions": [tx]})
    tx_id = posted.json()["results"][0]["id"]

    response = await client.get(f"{PATH}/{tx_id}", headers=admin_headers)

    assert response.status_code == 200
    expected = {
        **tx,
        "id": tx_id,
        "gateway_id": "gw-1",
        "occurred_at": "2026-01-05T08:15:00Z",
        "received_at": "2026-01-05T08:00:00Z",
        "reverses": None,
        "reversed_by": None,
    }
    assert response.json() == expected
    missing = await client.get(f"{PATH}/no-such-id", headers=admin_headers)
    assert missing.status_code == 404
    assert missing.json()["type"] == PROBLEM_BASE + "not-found"
