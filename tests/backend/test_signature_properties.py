"""Properties of request signing: any change to what was signed makes the request fail."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from starlette.datastructures import Headers

from medipay.clock import SimulatedClock
from medipay.signing import HEADER_GATEWAY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP
from medipay_backend.signatures import (
    MalformedSignatureHeaders,
    parse_signed_headers,
    signature_valid,
)

from .conftest import START, EnrolGateway
from .payloads import transaction
from .signer import GatewaySigner, encode_body

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
PATH = "/v1/pos-transactions"


def _signed(body: bytes, target: str = PATH) -> dict[str, str]:
    signer = GatewaySigner("gw-1", SimulatedClock(START), KEY)
    return signer.headers("POST", target, body)


def _valid(headers: dict[str, str], body: bytes, method: str = "POST", target: str = PATH) -> bool:
    try:
        parsed = parse_signed_headers(Headers(headers=headers))
    except MalformedSignatureHeaders:
        return False
    return signature_valid(PUBLIC, parsed, method, target, body)


@given(body=st.binary(max_size=2000))
def test_untouched_request_verifies(body: bytes) -> None:
    assert _valid(_signed(body), body)


@given(body=st.binary(min_size=1, max_size=2000), data=st.data())
def test_any_changed_body_byte_fails(body: bytes, data: st.DataObject) -> None:
    headers = _signed(body)
    index = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
    assert not _valid(headers, tampered)


@given(body=st.binary(max_size=200), extra=st.binary(min_size=1, max_size=20))
def test_appended_or_truncated_body_fails(body: bytes, extra: bytes) -> None:
    assert not _valid(_signed(body), body + extra)
    assert not _valid(_signed(body + extra), body)


@given(data=st.data())
def test_any_changed_signature_bit_fails(data: st.DataObject) -> None:
    body = b'{"transactions":[]}'
    headers = _signed(body)
    raw = bytearray(base64.b64decode(headers[HEADER_SIGNATURE]))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    headers[HEADER_SIGNATURE] = base64.b64encode(bytes(raw)).decode()
    assert not _valid(headers, body)


@given(
    timestamp=st.integers(0, 99_999_999_999).map(str),
    nonce=st.binary(min_size=16, max_size=64).map(bytes.hex),
)
def test_changed_timestamp_or_nonce_fails(timestamp: str, nonce: str) -> None:
    body = b"{}"
    headers = _signed(body)
    if timestamp != headers[HEADER_TIMESTAMP]:
        assert not _valid({**headers, HEADER_TIMESTAMP: timestamp}, body)
    if nonce != headers[HEADER_NONCE]:
        assert not _valid({**headers, HEADER_NONCE: nonce}, body)


@given(
    method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE"]),
    target=st.sampled_from(
        ["/v1/pos-end-of-day", PATH + "?a=1", PATH + "/", "/V1/pos-transactions"]
    ),
)
def test_changed_method_or_target_fails(method: str, target: str) -> None:
    body = b"{}"
    headers = _signed(body)
    assert not _valid(headers, body, method=method)
    assert not _valid(headers, body, target=target)


def test_timestamp_header_parses_to_utc() -> None:
    headers = _signed(b"")
    parsed = parse_signed_headers(Headers(headers={**headers, HEADER_TIMESTAMP: "1767600000.25"}))
    assert parsed.signed_at == datetime(2026, 1, 5, 8, 0, 0, 250000, tzinfo=UTC)


_TAMPERABLE = ["body", HEADER_GATEWAY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE]


async def test_tampered_requests_over_http_are_refused_and_store_nothing(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, engine: Engine
) -> None:
    gateway = await enrol_gateway("gw-1")

    async def send(body: bytes, headers: dict[str, str]) -> int:
        response = await client.post(PATH, content=body, headers=headers)
        return response.status_code

    # Hypothesis runs in a worker thread (draws must happen there); requests run in trio.
    @settings(max_examples=40, deadline=None, database=None)
    @given(
        n=st.integers(0, 999),
        nonce=st.binary(min_size=16, max_size=16).map(bytes.hex),
        part=st.sampled_from(_TAMPERABLE),
        data=st.data(),
    )
    def property_holds(n: int, nonce: str, part: str, data: st.DataObject) -> None:
        # Everything signed is drawn (Ed25519 is deterministic), so examples replay exactly.
        # A repeated nonce is fine here: refused requests never use up their nonce.
        body = encode_body({"transactions": [transaction("gw-1", n)]})
        headers = gateway.headers("POST", PATH, body, nonce=nonce)
        if part == "body":
            body = _change_one_byte(body, data)
        else:
            headers[part] = _change_one_char(headers[part], data)
        assert trio.from_thread.run(send, body, headers) == 401

    await trio.to_thread.run_sync(property_holds)
    with engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT count(*) FROM pos_transactions").scalar()
    assert stored == 0


def _change_one_byte(body: bytes, data: st.DataObject) -> bytes:
    index = data.draw(st.integers(0, len(body) - 1), label="index")
    flip = data.draw(st.integers(1, 255), label="xor")
    return body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]


def _change_one_char(value: str, data: st.DataObject) -> str:
    index = data.draw(st.integers(0, len(value) - 1), label="index")
    choices = [c for c in "0123456789abcdefgwABCDEF+/=-" if c != value[index]]
    return value[:index] + data.draw(st.sampled_from(choices), label="char") + value[index + 1 :]
