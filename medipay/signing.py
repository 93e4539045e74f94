"""The canonical form of a gateway -> backend request that the gateway signs with Ed25519.

Both sides import this one definition, so what is signed and what is verified cannot drift.
"""

from __future__ import annotations

import hashlib

HEADER_GATEWAY = "X-MediPay-Gateway"
HEADER_TIMESTAMP = "X-MediPay-Timestamp"
HEADER_NONCE = "X-MediPay-Nonce"
HEADER_SIGNATURE = "X-MediPay-Signature"

# A request older or newer than this is refused; nonces are remembered at least this long.
MAX_CLOCK_SKEW_SECONDS = 300


def canonical_request(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """Method, path (with query), timestamp, nonce and the body's SHA-256, one per line."""
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join([method.upper(), path, timestamp, nonce, digest]).encode("ascii")
