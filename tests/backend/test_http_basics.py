"""Health, OpenAPI, and problem+json for errors that are not about payments."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from medipay_backend.app import MAX_BODY_BYTES
from medipay_backend.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

from .conftest import EnrolGateway


async def test_healthz_needs_no_auth(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_openapi_lists_the_api(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    assert {"post", "get"} <= set(paths["/v1/pos-transactions"])
    assert {"post", "get"} <= set(paths["/v1/pos-end-of-day"])
    assert "/v1/pos-transactions/{transaction_id}" in paths
    assert "post" in paths["/v1/gateways"]
    assert "409" in paths["/v1/pos-transactions"]["post"]["responses"]
    assert (await client.get("/docs")).status_code == 200


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert missing.json()["type"] == PROBLEM_BASE + "not-found"
    wrong = await client.delete("/healthz")
    assert wrong.status_code == 405
    assert wrong.json()["type"] == PROBLEM_BASE + "method-not-allowed"


async def test_oversized_body_is_413(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    body = b" " * (MAX_BODY_BYTES + 1)
    headers = gateway.headers("POST", "/v1/pos-transactions", body)
    declared = await client.post("/v1/pos-transactions", content=body, headers=headers)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b" " * (MAX_BODY_BYTES // 4)

    streamed = await client.post(
        "/v1/pos-transactions", content=chunks(), headers=headers
    )
    admin = await client.post("/v1/gateways", content=chunks(), headers=admin_headers)

    for response in (declared, streamed, admin):
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert response.json()["type"] == PROBLEM_BASE + "payload-too-large"
    assert "content-length" not in streamed.request.headers


async def test_unexpected_failure_is_a_500_problem_without_details(
    app: FastAPI, engine: Engine, admin_headers: dict[str, str]
) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE gateway_nonces")
        connection.exec_driver_sql("DROP TABLE pos_end_of_day")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://backend.test") as client:
        response = await client.get("/v1/pos-end-of-day", headers=admin_headers)
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["type"] == PROBLEM_BASE + "internal-error"
    assert "pos_end_of_day" not in response.text
