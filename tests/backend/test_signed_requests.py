"""Gateway request signatures: every way a signed request can be wrong is its own 401."""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from medipay.clock import SimulatedClock
from medipay.signing import (
    HEADER_GATEWAY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MAX_CLOCK_SKEW_SECONDS,
)
from medipay_backend.models import GatewayNonce
from medipay_backend.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

from .conftest import EnrolGateway
from .payloads import transaction
from .signer import GatewaySigner, encode_body

PATH = "/v1/pos-transactions"


def _problem(response: httpx.Response, slug: str, status: int = 401) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"] == PROBLEM_BASE + slug, body
    assert body["status"] == status
    assert body["title"] and body["detail"]


async def _count_transactions(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT count(*) FROM pos_transactions")).scalar_one()


async def test_unknown_gateway(client: httpx.AsyncClient, clock: SimulatedClock) -> None:
    stranger = GatewaySigner("gw-unknown", clock)
    response = await stranger.post(client, PATH, {"transactions": [transaction("gw-unknown")]})
    _problem(response, "unknown-gateway")


async def test_key_of_another_gateway_is_a_bad_signature(
    client: httpx.AsyncClient, clock: SimulatedClock, enrol_gateway: EnrolGateway
) -> None:
    await enrol_gateway("gw-1")
    impostor = GatewaySigner("gw-1", clock)  # right id, wrong private key
    response = await impostor.post(client, PATH, {"transactions": [transaction("gw-1")]})
    _problem(response, "invalid-signature")


async def test_body_changed_after_signing(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, engine: Engine
) -> None:
    gateway = await enrol_gateway("gw-1")
    signed_body = encode_body({"transactions": [transaction("gw-1", amount=100)]})
    sent_body = encode_body({"transactions": [transaction("gw-1", amount=900)]})
    headers = gateway.headers("POST", PATH, signed_body)
    response = await client.post(PATH, content=sent_body, headers=headers)
    _problem(response, "invalid-signature")
    assert await _count_transactions(engine) == 0


async def test_signature_covers_path_and_method(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway
) -> None:
    gateway = await enrol_gateway("gw-1")
    body = encode_body({"totals": []})
    headers = gateway.headers("POST", "/v1/pos-transactions", body)
    response = await client.post("/v1/pos-end-of-day", content=body, headers=headers)
    _problem(response, "invalid-signature")
    headers = gateway.headers("PUT", "/v1/pos-end-of-day", body)
    response = await client.post("/v1/pos-end-of-day", content=body, headers=headers)
    _problem(response, "invalid-signature")
    # The query string is part of the signed target too.
    headers = gateway.headers("POST", "/v1/pos-end-of-day", body)
    response = await client.post("/v1/pos-end-of-day?x=1", content=body, headers=headers)
    _problem(response, "invalid-signature")


@pytest.mark.parametrize("offset", [-(MAX_CLOCK_SKEW_SECONDS + 1), MAX_CLOCK_SKEW_SECONDS + 1])
async def test_timestamp_outside_the_skew_window(
    client: httpx.AsyncClient, clock: SimulatedClock, enrol_gateway: EnrolGateway, offset: int
) -> None:
    gateway = await enrol_gateway("gw-1")
    stamp = str(int(clock.now().timestamp()) + offset)
    response = await gateway.post(
        client, PATH, {"transactions": [transaction("gw-1")]}, timestamp=stamp
    )
    _problem(response, "stale-timestamp")
    assert "server_time" in response.json()


@pytest.mark.parametrize("offset", [-MAX_CLOCK_SKEW_SECONDS, MAX_CLOCK_SKEW_SECONDS])
async def test_timestamp_at_the_edge_of_the_window_is_accepted(
    client: httpx.AsyncClient, clock: SimulatedClock, enrol_gateway: EnrolGateway, offset: int
) -> None:
    gateway = await enrol_gateway("gw-1")
    stamp = str(int(clock.now().timestamp()) + offset)
    response = await gateway.post(
        client, PATH, {"transactions": [transaction("gw-1")]}, timestamp=stamp
    )
    assert response.status_code == 200, response.text


async def test_fractional_timestamp_is_accepted(
    client: httpx.AsyncClient, clock: SimulatedClock, enrol_gateway: EnrolGateway
) -> None:
    gateway = await enrol_gateway("gw-1")
    stamp = f"{clock.now().timestamp():.3f}"
    response = await gateway.post(
        client, PATH, {"transactions": [transaction("gw-1")]}, timestamp=stamp
    )
    assert response.status_code == 200, response.text


async def test_replayed_request_is_refused(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, engine: Engine
) -> None:
    gateway = await enrol_gateway("gw-1")
    body = encode_body({"transactions": [transaction("gw-1")]})
    headers = gateway.headers("POST", PATH, body)
    first = await client.post(PATH, content=body, headers=headers)
    assert first.status_code == 200, first.text

    replay = await client.post(PATH, content=body, headers=headers)
    _problem(replay, "replayed-nonce")
    # Hex is case-insensitive: the same nonce in capitals is the same nonce.
    nonce = headers[HEADER_NONCE].upper()
    second = gateway.headers("POST", PATH, body, nonce=nonce)
    _problem(await client.post(PATH, content=body, headers=second), "replayed-nonce")
    assert await _count_transactions(engine) == 1


async def test_rejected_requests_do_not_use_up_the_nonce(
    client: httpx.AsyncClient, clock: SimulatedClock, enrol_gateway: EnrolGateway
) -> None:
    gateway = await enrol_gateway("gw-1")
    body = encode_body({"transactions": [transaction("gw-1")]})
    nonce = secrets.token_hex(16)
    forged = GatewaySigner("gw-1", clock).headers("POST", PATH, body, nonce=nonce)
    _problem(await client.post(PATH, content=body, headers=forged), "invalid-signature")
    genuine = gateway.headers("POST", PATH, body, nonce=nonce)
    assert (await client.post(PATH, content=body, headers=genuine)).status_code == 200


async def test_nonces_are_forgotten_once_their_timestamp_is_stale(
    client: httpx.AsyncClient, clock: SimulatedClock, enrol_gateway: EnrolGateway, engine: Engine
) -> None:
    gateway = await enrol_gateway("gw-1")
    for n in range(3):
        response = await gateway.post(client, PATH, {"transactions": [transaction("gw-1", n)]})
        assert response.status_code == 200
    clock.advance(timedelta(seconds=MAX_CLOCK_SKEW_SECONDS + 1))
    response = await gateway.post(client, PATH, {"transactions": [transaction("gw-1", 9)]})
    assert response.status_code == 200

    with engine.connect() as connection:
        remaining = connection.execute(sa.select(GatewayNonce.signed_at)).scalars().all()
    assert remaining == [clock.now()]


async def test_missing_headers(client: httpx.AsyncClient, enrol_gateway: EnrolGateway) -> None:
    gateway = await enrol_gateway("gw-1")
    body = encode_body({"transactions": [transaction("gw-1")]})
    for name in (HEADER_GATEWAY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE):
        headers = gateway.headers("POST", PATH, body)
        del headers[name]
        response = await client.post(PATH, content=body, headers=headers)
        _problem(response, "signature-required")
        assert name in response.json()["detail"]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (HEADER_GATEWAY, "gw 1"),
        (HEADER_TIMESTAMP, "-1767600000"),
        (HEADER_TIMESTAMP, "1767600000.1234567"),
        (HEADER_TIMESTAMP, "1e9"),
        (HEADER_NONCE, "abc123"),
        (HEADER_NONCE, "zz" * 16),
        (HEADER_SIGNATURE, "not base64!"),
        (HEADER_SIGNATURE, base64.b64encode(b"short").decode()),
        (HEADER_SIGNATURE, base64.b64encode(bytes(64)).decode().rstrip("=")),
        (HEADER_SIGNATURE, base64.urlsafe_b64encode(b"\xff" * 64).decode()),
    ],
)
async def test_malformed_headers(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, header: str, value: str
) -> None:
    gateway = await enrol_gateway("gw-1")
    body = encode_body({"transactions": [transaction("gw-1")]})
    headers = gateway.headers("POST", PATH, body)
    headers[header] = value
    response = await client.post(PATH, content=body, headers=headers)
    _problem(response, "malformed-signature-headers")


async def test_signature_has_one_spelling(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway
) -> None:
    """Base64 of 64 bytes leaves 4 unused bits; setting them must not give a valid header."""
    gateway = await enrol_gateway("gw-1")
    body = encode_body({"transactions": [transaction("gw-1")]})
    headers = gateway.headers("POST", PATH, body)
    canonical = headers[HEADER_SIGNATURE]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(canonical[-3])
    respelt = canonical[:-3] + alphabet[last | 0b0001] + "=="
    if respelt == canonical:
        respelt = canonical[:-3] + alphabet[last & ~0b0001] + "=="
    assert base64.b64decode(respelt) == base64.b64decode(canonical)
    response = await client.post(PATH, content=body, headers={**headers, HEADER_SIGNATURE: respelt})
    _problem(response, "malformed-signature-headers")
    response = await client.post(PATH, content=body, headers=headers)
    assert response.status_code == 200


async def test_repeated_header_is_malformed(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway
) -> None:
    gateway = await enrol_gateway("gw-1")
    body = encode_body({"transactions": [transaction("gw-1")]})
    headers = list(gateway.headers("POST", PATH, body).items())
    headers.append((HEADER_NONCE, secrets.token_hex(16)))
    response = await client.post(PATH, content=body, headers=headers)
    _problem(response, "malformed-signature-headers")


async def test_authentication_comes_before_body_validation(
    client: httpx.AsyncClient, clock: SimulatedClock
) -> None:
    stranger = GatewaySigner("gw-unknown", clock)
    response = await stranger.post(client, PATH, {"transactions": "nonsense"})
    _problem(response, "unknown-gateway")


async def test_body_that_is_not_json_is_refused_after_authentication(
    client: httpx.AsyncClient, clock: SimulatedClock, enrol_gateway: EnrolGateway
) -> None:
    body = b'{"transactions": [tru'
    stranger = GatewaySigner("gw-unknown", clock)
    response = await client.post(PATH, content=body, headers=stranger.headers("POST", PATH, body))
    _problem(response, "unknown-gateway")
    gateway = await enrol_gateway("gw-1")
    response = await client.post(PATH, content=body, headers=gateway.headers("POST", PATH, body))
    _problem(response, "validation-failed", status=422)
