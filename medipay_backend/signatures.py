"""Checking a gateway's Ed25519 request signature: header parsing and verification, no I/O.

The signed message is `medipay.signing.canonical_request(method, target, timestamp, nonce,
body)`, where `target` is the request-target as sent (percent-encoded path, plus `?query` when
there is a query) and `body` the raw body bytes. Timestamp and nonce are signed as the exact
header strings. The database side (gateway keys, nonces) lives in `medipay_backend.auth`.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from medipay.signing import (
    HEADER_GATEWAY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MAX_CLOCK_SKEW_SECONDS,
    canonical_request,
)
from medipay_backend.schemas import GATEWAY_ID_PATTERN

SIGNED_HEADERS = (HEADER_GATEWAY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)
MAX_CLOCK_SKEW = timedelta(seconds=MAX_CLOCK_SKEW_SECONDS)
# Unix seconds, optionally with up to 6 decimals; 11 digits reach past the year 5000.
_TIMESTAMP_RE = re.compile(r"^(?P<whole>[0-9]{1,11})(?:\.(?P<frac>[0-9]{1,6}))?$")
# At least 16 random bytes as hex; 64 bytes is more than any client needs.
_NONCE_RE = re.compile(r"^[0-9a-fA-F]{32,128}$")
_GATEWAY_RE = re.compile(GATEWAY_ID_PATTERN)
_ED25519_SIGNATURE_BYTES = 64


class HeaderSource(Protocol):
    def getlist(self, key: str) -> list[str]: ...


class MissingSignatureHeaders(Exception):
    """One or more of the signature headers is absent."""


class MalformedSignatureHeaders(Exception):
    """A signature header is present but not in the documented form."""


@dataclass(frozen=True)
class SignedHeaders:
    gateway_id: str
    timestamp: str  # exactly as sent: it is part of the signed message
    signed_at: datetime
    nonce: str  # exactly as sent
    signature: bytes

    @property
    def nonce_key(self) -> str:
        """The nonce as remembered for replay checks: hex is case-insensitive."""
        return self.nonce.lower()


def parse_signed_headers(headers: HeaderSource) -> SignedHeaders:
    values: dict[str, str] = {}
    missing = []
    for name in SIGNED_HEADERS:
        found = headers.getlist(name)
        if not found:
            missing.append(name)
        elif len(found) > 1:
            raise MalformedSignatureHeaders(f"{name} given more than once")
        else:
            values[name] = found[0]
    if missing:
        raise MissingSignatureHeaders("missing header(s): " + ", ".join(missing))
    gateway_id = values[HEADER_GATEWAY]
    if not _GATEWAY_RE.match(gateway_id):
        raise MalformedSignatureHeaders(f"{HEADER_GATEWAY} is not a valid gateway id")
    timestamp = values[HEADER_TIMESTAMP]
    signed_at = parse_timestamp(timestamp)
    nonce = values[HEADER_NONCE]
    if not _NONCE_RE.match(nonce):
        raise MalformedSignatureHeaders(
            f"{HEADER_NONCE} must be 32 to 128 hexadecimal digits (16 to 64 random bytes)"
        )
    signature = _strict_b64decode(values[HEADER_SIGNATURE])
    if signature is None:
        raise MalformedSignatureHeaders(f"{HEADER_SIGNATURE} is not canonical base64")
    if len(signature) != _ED25519_SIGNATURE_BYTES:
        raise MalformedSignatureHeaders(f"{HEADER_SIGNATURE} must decode to 64 bytes")
    return SignedHeaders(gateway_id, timestamp, signed_at, nonce, signature)


def _strict_b64decode(value: str) -> bytes | None:
    """Standard base64 with padding, in its one canonical spelling (unused bits zero), so a
    signature header cannot be re-spelt into a different but equally valid header."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == value else None


def parse_timestamp(value: str) -> datetime:
    match = _TIMESTAMP_RE.match(value)
    if match is None:
        raise MalformedSignatureHeaders(f"{HEADER_TIMESTAMP} must be unix seconds in decimal")
    micros = int((match["frac"] or "").ljust(6, "0"))
    seconds = int(match["whole"])
    try:
        return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=micros)
    except (OverflowError, OSError, ValueError) as exc:
        raise MalformedSignatureHeaders(f"{HEADER_TIMESTAMP} is out of range") from exc


def request_target(raw_path: bytes, query_string: bytes) -> str:
    """The signed request-target; MalformedSignatureHeaders if it is not plain ASCII."""
    target = raw_path + (b"?" + query_string if query_string else b"")
    try:
        return target.decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedSignatureHeaders("request path is not ASCII (percent-encode it)") from exc


def signature_valid(
    public_key: bytes, signed: SignedHeaders, method: str, target: str, body: bytes
) -> bool:
    message = canonical_request(method, target, signed.timestamp, signed.nonce, body)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signed.signature, message)
    except InvalidSignature:
        return False
    return True


def within_skew(signed_at: datetime, now: datetime) -> bool:
    return abs(signed_at - now) <= MAX_CLOCK_SKEW


def nonce_expiry_cutoff(now: datetime) -> datetime:
    """Nonces signed before this can never pass the timestamp check again."""
    return now - MAX_CLOCK_SKEW
