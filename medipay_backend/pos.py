"""Storing and querying what gateways report from their card terminals (blocking, per session).

Intake is idempotent per record: the gateway chooses an idempotency key, and the backend keeps
a fingerprint (SHA-256 of the canonical JSON of the normalised record). A repeat with the same
fingerprint is a "duplicate" answered with the stored id; the same key with another fingerprint
raises `IdempotencyConflict`, and the caller's transaction is rolled back, batch and all.
A reversal that does not fit the payment it names raises `ReversalMismatch` likewise
(`medipay_backend.pos_reversals`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.models import PosEndOfDay, PosTransaction
from medipay_backend.pos_reversals import link_new
from medipay_backend.schemas import EndOfDayIn, PosTransactionIn

Outcome = Literal["created", "duplicate"]
Row = TypeVar("Row", PosTransaction, PosEndOfDay)


class IdempotencyConflict(Exception):
    """An idempotency key was used before (or earlier in the batch) for different content."""

    def __init__(self, idempotency_key: str) -> None:
        super().__init__(f"idempotency key {idempotency_key!r} reused with different content")
        self.idempotency_key = idempotency_key


@dataclass(frozen=True)
class IntakeResult:
    idempotency_key: str
    id: str
    outcome: Outcome


# Fields added after records were first stored, with the value that means "not given". They
# are left out of the fingerprint at that value, so a record stored before they existed still
# matches its repeat.
_LATER_FIELDS = {"reverses": None, "totals_source": "terminal"}


def fingerprint(content: dict[str, Any]) -> str:
    content = {key: value for key, value in content.items()
               if key not in _LATER_FIELDS or value != _LATER_FIELDS[key]}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class _Entry:
    key: str
    fingerprint: str
    build: Callable[[str], Any]  # new id -> ORM row


def _intake(session: Session, model: type[Row], entries: Sequence[_Entry]) -> list[IntakeResult]:
    keys = {entry.key for entry in entries}
    known: dict[str, tuple[str, str]] = {
        key: (row_id, digest)
        for key, row_id, digest in session.execute(
            sa.select(model.idempotency_key, model.id, model.content_sha256).where(
                model.idempotency_key.in_(keys)
            )
        )
    }
    results = []
    new_rows: dict[str, Any] = {}
    for entry in entries:
        found = known.get(entry.key)
        if found is not None:
            row_id, digest = found
            if digest != entry.fingerprint:
                raise IdempotencyConflict(entry.key)
            results.append(IntakeResult(entry.key, row_id, "duplicate"))
            continue
        row_id = str(uuid.uuid4())
        new_rows[entry.key] = entry.build(row_id)
        known[entry.key] = (row_id, entry.fingerprint)
        results.append(IntakeResult(entry.key, row_id, "created"))
    # Request order becomes `seq` order, so listings show a batch as the gateway sent it.
    # (Two concurrent batches sharing keys in opposite orders can deadlock on PostgreSQL;
    # the loser is retried by Database.run_check_then_insert.)
    session.add_all(new_rows.values())
    session.flush()
    return results


def store_transactions(
    session: Session, gateway_id: str, transactions: Sequence[PosTransactionIn], now: datetime
) -> list[IntakeResult]:
    created: list[PosTransaction] = []

    def entry(tx: PosTransactionIn) -> _Entry:
        digest = fingerprint(tx.model_dump(mode="json"))
        fields = tx.model_dump(exclude={"reverses"})
        reverses = tx.reverses

        def build(row_id: str) -> PosTransaction:
            row = PosTransaction(
                id=row_id, gateway_id=gateway_id, received_at=now, content_sha256=digest,
                reverses_gateway_transaction_id=None if reverses is None
                else reverses.gateway_transaction_id,
                reverses_receipt_number=None if reverses is None else reverses.receipt_number,
                **fields,
            )
            created.append(row)
            return row

        return _Entry(key=tx.idempotency_key, fingerprint=digest, build=build)

    results = _intake(session, PosTransaction, [entry(tx) for tx in transactions])
    # In request order, after all were flushed: a reversal finds a payment sent before it in
    # the same request, a payment a reversal stored before it.
    link_new(session, created)
    session.flush()
    return results


def store_end_of_day(
    session: Session, gateway_id: str, totals: Sequence[EndOfDayIn], now: datetime
) -> list[IntakeResult]:
    def entry(total: EndOfDayIn) -> _Entry:
        digest = fingerprint(total.model_dump(mode="json"))
        fields = total.model_dump()
        return _Entry(
            key=total.idempotency_key,
            fingerprint=digest,
            build=lambda row_id: PosEndOfDay(
                id=row_id, gateway_id=gateway_id, received_at=now, content_sha256=digest, **fields
            ),
        )

    return _intake(session, PosEndOfDay, [entry(total) for total in totals])


@dataclass(frozen=True)
class PageRequest:
    limit: int
    before_seq: int | None = None  # from a cursor: only rows older than this
    offset: int = 0


def list_page(
    session: Session, model: type[Row], filters: dict[str, str | None], page: PageRequest
) -> tuple[list[Row], int | None]:
    """Rows newest first (by arrival), and the seq to continue after if there are more."""
    query = sa.select(model).order_by(model.seq.desc())
    for column, value in filters.items():
        if value is not None:
            query = query.where(getattr(model, column) == value)
    if page.before_seq is not None:
        query = query.where(model.seq < page.before_seq)
    rows = list(session.scalars(query.offset(page.offset).limit(page.limit + 1)))
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        return rows, rows[-1].seq
    return rows, None


def get_by_id(session: Session, model: type[Row], row_id: str) -> Row | None:
    return session.scalars(sa.select(model).where(model.id == row_id)).one_or_none()
