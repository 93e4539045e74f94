"""A minimal gateway-side signer for the backend's tests (the gateway has its own).

It builds the X-MediPay-* headers for a request exactly as docs/backend.md describes.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from medipay.clock import Clock
from medipay.signing import (
    HEADER_GATEWAY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    canonical_request,
)


def public_key_b64(private_key: Ed25519PrivateKey) -> str:
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def encode_body(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


@dataclass
class GatewaySigner:
    gateway_id: str
    clock: Clock
    private_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def public_key(self) -> str:
        return public_key_b64(self.private_key)

    def headers(
        self,
        method: str,
        target: str,
        body: bytes,
        *,
        timestamp: str | None = None,
        nonce: str | None = None,
    ) -> dict[str, str]:
        timestamp = timestamp or str(int(self.clock.now().timestamp()))
        nonce = nonce or secrets.token_hex(16)
        message = canonical_request(method, target, timestamp, nonce, body)
        signature = base64.b64encode(self.private_key.sign(message)).decode("ascii")
        return {
            HEADER_GATEWAY: self.gateway_id,
            HEADER_TIMESTAMP: timestamp,
            HEADER_NONCE: nonce,
            HEADER_SIGNATURE: signature,
            "Content-Type": "application/json",
        }

    async def post(
        self, client: httpx.AsyncClient, path: str, payload: Any, **header_options: Any
    ) -> httpx.Response:
        body = encode_body(payload)
        headers = self.headers("POST", path, body, **header_options)
        return await client.post(path, content=body, headers=headers)
