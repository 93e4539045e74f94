"""Cursor and offset paging shared by the listing endpoints.

A cursor is opaque to clients: URL-safe base64 of "v1:<seq>", where seq is the arrival order
of the last row returned. Paging by cursor is stable while new rows arrive; `offset` is there
for quick looks and skips rows counted from the newest (or from the cursor, if both are given).
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Query

from medipay_backend.pos import PageRequest
from medipay_backend.problems import VALIDATION_FAILED, ProblemError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# An offset deeper than this is a full scan; cursors serve deep paging.
MAX_OFFSET = 100_000
_CURSOR_PREFIX = "v1:"
_CURSOR_ERROR = {"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "cursor_invalid"}


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{seq}".encode("ascii")).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError("unknown cursor version")
        seq = int(text[len(_CURSOR_PREFIX) :])
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise ProblemError(
            VALIDATION_FAILED,
            "cursor is not one this service returned",
            extensions={"errors": [_CURSOR_ERROR]},
        ) from exc
    return seq


def page_request(
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page."),
    cursor: str | None = Query(None, max_length=100, description="`next` of the previous page."),
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="Items to skip."),
) -> PageRequest:
    """Dependency: the paging parameters of a listing request."""
    before = decode_cursor(cursor) if cursor else None
    return PageRequest(limit=limit, before_seq=before, offset=offset)


def next_cursor(last_seq: int | None) -> str | None:
    return None if last_seq is None else encode_cursor(last_seq)
