"""Enrolling gateways, and the operator token that guards every admin endpoint."""

from __future__ import annotations

import base64

import httpx
import pytest

from medipay.clock import SimulatedClock
from medipay_backend.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

from .conftest import EnrolGateway
from .payloads import transaction
from .signer import GatewaySigner


async def _enrol(
    client: httpx.AsyncClient, headers: dict[str, str], **body: object
) -> httpx.Response:
    return await client.post("/v1/gateways", json=body, headers=headers)


async def test_enrol_then_repeat_is_idempotent(
    client: httpx.AsyncClient, clock: SimulatedClock, admin_headers: dict[str, str]
) -> None:
    signer = GatewaySigner("gw-bergen-2", clock)
    first = await _enrol(client, admin_headers, gateway_id="gw-bergen-2",
                         public_key=signer.public_key, name="Bergen legesenter")
    assert first.status_code == 201, first.text
    assert first.json() == {
        "gateway_id": "gw-bergen-2",
        "name": "Bergen legesenter",
        "public_key": signer.public_key,
        "enrolled_at": "2026-01-05T08:00:00Z",
    }
    clock.advance(60)
    again = await _enrol(client, admin_headers, gateway_id="gw-bergen-2",
                         public_key=signer.public_key)
    assert again.status_code == 200
    assert again.json() == first.json()


async def test_other_key_conflicts_unless_replace(
    client: httpx.AsyncClient, clock: SimulatedClock, admin_headers: dict[str, str]
) -> None:
    old = GatewaySigner("gw-1", clock)
    new = GatewaySigner("gw-1", clock)
    await _enrol(client, admin_headers, gateway_id="gw-1", public_key=old.public_key)

    conflict = await _enrol(client, admin_headers, gateway_id="gw-1", public_key=new.public_key)
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert conflict.json()["type"] == PROBLEM_BASE + "gateway-key-conflict"
    assert conflict.json()["gateway_id"] == "gw-1"

    clock.advance(3600)
    replaced = await _enrol(
        client, admin_headers, gateway_id="gw-1", public_key=new.public_key, replace=True
    )
    assert replaced.status_code == 200
    assert replaced.json()["public_key"] == new.public_key
    assert replaced.json()["enrolled_at"] == "2026-01-05T09:00:00Z"

    payload = {"transactions": [transaction("gw-1")]}
    assert (await old.post(client, "/v1/pos-transactions", payload)).status_code == 401
    assert (await new.post(client, "/v1/pos-transactions", payload)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"gateway_id": "gw-1", "public_key": base64.b64encode(bytes(31)).decode()},
        {"gateway_id": "gw-1", "public_key": "not base64"},
        {"gateway_id": "gw:1", "public_key": base64.b64encode(bytes(32)).decode()},
        {"gateway_id": "", "public_key": base64.b64encode(bytes(32)).decode()},
        {"gateway_id": "gw-1"},
        {"gateway_id": "gw-1", "public_key": base64.b64encode(bytes(32)).decode(), "x": 1},
    ],
)
async def test_invalid_enrolment_is_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str], body: dict[str, object]
) -> None:
    response = await client.post("/v1/gateways", json=body, headers=admin_headers)
    assert response.status_code == 422, response.text
    assert response.json()["type"] == PROBLEM_BASE + "validation-failed"


async def test_list_and_get_gateways(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    second = await enrol_gateway("gw-2", name="Two")
    await enrol_gateway("gw-1")
    listing = await client.get("/v1/gateways", headers=admin_headers)
    assert [g["gateway_id"] for g in listing.json()["items"]] == ["gw-1", "gw-2"]
    one = await client.get("/v1/gateways/gw-2", headers=admin_headers)
    assert one.json()["public_key"] == second.public_key
    assert one.json()["name"] == "Two"
    missing = await client.get("/v1/gateways/gw-3", headers=admin_headers)
    assert missing.status_code == 404
    assert missing.json()["type"] == PROBLEM_BASE + "not-found"


ADMIN_REQUESTS = [
    ("POST", "/v1/gateways"),
    ("GET", "/v1/gateways"),
    ("GET", "/v1/gateways/gw-1"),
    ("GET", "/v1/pos-transactions"),
    ("GET", "/v1/pos-transactions/00000000-0000-0000-0000-000000000000"),
    ("GET", "/v1/pos-end-of-day"),
    ("GET", "/v1/pos-end-of-day/00000000-0000-0000-0000-000000000000"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_REQUESTS)
async def test_admin_endpoints_need_the_operator_token(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    cases = [
        ({}, "admin-auth-required"),
        ({"Authorization": "Bearer wrong-token-0000000000"}, "invalid-admin-token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "admin-auth-required"),
    ]
    for headers, slug in cases:
        response = await client.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert response.json()["type"] == PROBLEM_BASE + slug
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_gateway_signature_is_not_an_operator_credential(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway
) -> None:
    gateway = await enrol_gateway("gw-1")
    headers = gateway.headers("GET", "/v1/pos-transactions", b"")
    response = await client.get("/v1/pos-transactions", headers=headers)
    assert response.status_code == 401
