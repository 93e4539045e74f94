"""Registering the gateway's public key with the backend (`medipay gateway enrol`)."""

from __future__ import annotations

from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.uplink.signing import public_key_b64


class EnrolmentError(Exception):
    """The backend refused the enrolment; the message says why."""


async def enrol_gateway(
    backend_url: str, admin_token: str, gateway_id: str, key: Ed25519PrivateKey,
    *, name: str | None = None,
) -> dict[str, Any]:
    body = {"gateway_id": gateway_id, "public_key": public_key_b64(key), "name": name}
    async with httpx.AsyncClient(base_url=backend_url, timeout=30.0) as client:
        try:
            response = await client.post(
                "/v1/gateways", json=body, headers={"Authorization": f"Bearer {admin_token}"}
            )
        except httpx.HTTPError as exc:
            raise EnrolmentError(f"cannot reach the backend at {backend_url}: {exc!r}") from exc
    if response.status_code not in (200, 201):
        raise EnrolmentError(
            f"backend refused enrolment ({response.status_code}): {response.text[:500]}"
        )
    result: dict[str, Any] = response.json()
    return result
