"""The gateway's Ed25519 identity: key file handling and request signatures.

The private key lives in the gateway's data dir (PEM, mode 0600) and never leaves the box; the
backend knows the public key from enrolment (`medipay gateway enrol`).
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medipay.clock import Clock
from medipay.signing import (
    HEADER_GATEWAY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    canonical_request,
)

KEY_FILE_NAME = "gateway_ed25519.pem"


def load_or_create_key(data_dir: Path) -> Ed25519PrivateKey:
    path = data_dir / KEY_FILE_NAME
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return key
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Create with 0600 from the start rather than chmod after: no window where others can read.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(raw).decode("ascii")


class RequestSigner:
    def __init__(self, gateway_id: str, key: Ed25519PrivateKey, clock: Clock) -> None:
        self._gateway_id = gateway_id
        self._key = key
        self._clock = clock

    def headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        timestamp = str(int(self._clock.now().timestamp()))
        nonce = secrets.token_hex(16)
        signature = self._key.sign(canonical_request(method, path, timestamp, nonce, body))
        return {
            HEADER_GATEWAY: self._gateway_id,
            HEADER_TIMESTAMP: timestamp,
            HEADER_NONCE: nonce,
            HEADER_SIGNATURE: base64.b64encode(signature).decode("ascii"),
        }
