"""The deployable over real sockets: serve_backend on port 0, talked to with httpx."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import trio

from medipay.clock import SimulatedClock
from medipay_backend.config import ADMIN_TOKEN_FILE_NAME, BackendConfig, HttpConfig
from medipay_backend.server import BackendHandle, serve_backend

from .conftest import START
from .payloads import transaction
from .signer import GatewaySigner


async def _enrol(client: httpx.AsyncClient, token: str, signer: GatewaySigner) -> None:
    response = await client.post(
        "/v1/gateways",
        json={"gateway_id": signer.gateway_id, "public_key": signer.public_key},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code in (200, 201), response.text


async def test_serve_over_http(database_url: str, tmp_path: Path) -> None:
    clock = SimulatedClock(START)
    config = BackendConfig(
        data_dir=tmp_path / "data",
        database_url=database_url,
        http=HttpConfig(host="127.0.0.1", port=0),
        admin_token="configured-operator-token",
    )
    async with trio.open_nursery() as nursery:
        handle: BackendHandle = await nursery.start(serve_backend, config, clock)
        assert handle.admin_token == "configured-operator-token"
        assert handle.base_url.startswith("http://127.0.0.1:")
        signer = GatewaySigner("gw-real", clock)
        async with httpx.AsyncClient(base_url=handle.base_url) as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            await _enrol(client, handle.admin_token, signer)
            payload = {"transactions": [transaction("gw-real", 1), transaction("gw-real", 2)]}
            posted = await signer.post(client, "/v1/pos-transactions", payload)
            assert posted.status_code == 200, posted.text
            repeated = await signer.post(client, "/v1/pos-transactions", payload)
            assert [r["outcome"] for r in repeated.json()["results"]] == ["duplicate"] * 2
            listing = await client.get(
                "/v1/pos-transactions",
                headers={"Authorization": f"Bearer {handle.admin_token}"},
            )
            assert len(listing.json()["items"]) == 2
        nursery.cancel_scope.cancel()


async def test_embedded_defaults_generate_and_keep_the_operator_token(tmp_path: Path) -> None:
    """No database URL and no token configured: SQLite in data_dir, token written there."""
    clock = SimulatedClock(START)
    config = BackendConfig(data_dir=tmp_path / "data", http=HttpConfig(port=0))
    signer = GatewaySigner("gw-1", clock)

    async with trio.open_nursery() as nursery:
        first: BackendHandle = await nursery.start(serve_backend, config, clock)
        async with httpx.AsyncClient(base_url=first.base_url) as client:
            await _enrol(client, first.admin_token, signer)
            payload = {"transactions": [transaction("gw-1")]}
            await signer.post(client, "/v1/pos-transactions", payload)
        nursery.cancel_scope.cancel()

    token_file = config.data_dir / ADMIN_TOKEN_FILE_NAME
    assert token_file.read_text().strip() == first.admin_token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert (config.data_dir / "backend.sqlite3").exists()

    async with trio.open_nursery() as nursery:
        second: BackendHandle = await nursery.start(serve_backend, config, clock)
        assert second.admin_token == first.admin_token
        async with httpx.AsyncClient(base_url=second.base_url) as client:
            listing = await client.get(
                "/v1/pos-transactions",
                headers={"Authorization": f"Bearer {second.admin_token}"},
            )
            assert len(listing.json()["items"]) == 1
        nursery.cancel_scope.cancel()
