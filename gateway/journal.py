"""The gateway's durable journal: every EPJ request and its outcome, and the uplink outbox.

A request is written (status `in_flight`) before the first byte goes to the terminal, and its
outcome together with its outbox entry in one database transaction before the EPJ is answered.
SQLite runs in WAL mode with `synchronous=FULL`, so a committed outcome survives a power cut.
All database calls run in worker threads; the trio side awaits them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import trio
from sqlalchemy import Engine, create_engine, event, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gateway.journal_schema import metadata, outbox, transactions
from medipay.clock import Clock

T = TypeVar("T")

IN_FLIGHT = "in_flight"
FINAL_STATES = frozenset({"approved", "declined", "aborted", "failed", "unknown"})


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before for a request with other content."""

    def __init__(self, key: str, existing_id: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was already used for another request")
        self.key = key
        self.existing_id = existing_id


@dataclass(frozen=True)
class PaymentRequest:
    idempotency_key: str
    terminal_id: str
    kind: str
    amount: int
    currency: str
    reference: str | None

    def content_hash(self) -> str:
        content = [self.terminal_id, self.kind, self.amount, self.currency, self.reference]
        return hashlib.sha256(json.dumps(content).encode()).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """What the terminal said about a transaction, as the journal keeps it."""

    status: str
    result_code: int | None = None
    result_text: str | None = None
    masked_pan: str | None = None
    card_name: str | None = None
    receipt_number: int | None = None
    trace_number: int | None = None
    receipt_lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TransactionRecord:
    id: str
    idempotency_key: str
    terminal_id: str
    kind: str
    amount: int
    currency: str
    reference: str | None
    status: str
    result_code: int | None
    result_text: str | None
    masked_pan: str | None
    card_name: str | None
    receipt_number: int | None
    trace_number: int | None
    receipt_lines: list[str]
    created_at: datetime
    updated_at: datetime

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "kind": self.kind,
            "amount": self.amount,
            "currency": self.currency,
            "reference": self.reference,
            "masked_pan": self.masked_pan,
            "card_name": self.card_name,
            "receipt_number": self.receipt_number,
            "trace_number": self.trace_number,
            "terminal_id": self.terminal_id,
            "result_code": self.result_code,
            "result_text": self.result_text,
            "receipt_lines": list(self.receipt_lines),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class OutboxEntry:
    seq: int
    idempotency_key: str
    kind: str
    payload: dict[str, Any]
    attempts: int


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _record(row: Any) -> TransactionRecord:
    data = dict(row._mapping)
    data.pop("request_hash")
    data["created_at"] = _aware(data["created_at"])
    data["updated_at"] = _aware(data["updated_at"])
    data["receipt_lines"] = list(data["receipt_lines"] or [])
    return TransactionRecord(**data)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before it returns, so a journalled outcome survives power loss.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_journal_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Journal:
    """Async façade over the journal tables; each method is one database transaction."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        # SQLite allows one writer at a time; more threads would only queue on its lock.
        self._limiter = trio.CapacityLimiter(4)

    @classmethod
    def open(cls, url: str, clock: Clock) -> Journal:
        engine = create_journal_engine(url)
        metadata.create_all(engine)
        return cls(engine, clock)

    def close(self) -> None:
        self._engine.dispose()

    async def _run(self, work: Callable[[Connection], T]) -> T:
        def in_thread() -> T:
            with self._engine.begin() as conn:
                return work(conn)

        return await trio.to_thread.run_sync(in_thread, limiter=self._limiter)

    async def begin(self, request: PaymentRequest) -> tuple[TransactionRecord, bool]:
        """Journal a new request as in flight; or return the earlier one with the same key.

        Returns (record, created). Raises IdempotencyConflict for a key reused with other content.
        """
        now = self._clock.now()
        request_hash = request.content_hash()

        def work(conn: Connection) -> tuple[TransactionRecord, bool]:
            existing = conn.execute(
                select(transactions).where(
                    transactions.c.idempotency_key == request.idempotency_key
                )
            ).first()
            if existing is not None:
                if existing.request_hash != request_hash:
                    raise IdempotencyConflict(request.idempotency_key, existing.id)
                return _record(existing), False
            values = {
                "id": str(uuid.uuid4()),
                "idempotency_key": request.idempotency_key,
                "request_hash": request_hash,
                "terminal_id": request.terminal_id,
                "kind": request.kind,
                "amount": request.amount,
                "currency": request.currency,
                "reference": request.reference,
                "status": IN_FLIGHT,
                "receipt_lines": [],
                "created_at": now,
                "updated_at": now,
            }
            conn.execute(insert(transactions).values(**values))
            row = conn.execute(
                select(transactions).where(transactions.c.id == values["id"])
            ).one()
            return _record(row), True

        try:
            return await self._run(work)
        except IntegrityError:
            # Two identical requests raced; the loser reads what the winner wrote.
            return await self._run(work)

    async def complete(
        self,
        tx_id: str,
        outcome: Outcome,
        relay: Callable[[TransactionRecord], dict[str, Any] | None] = lambda _record: None,
    ) -> TransactionRecord:
        """Journal the terminal's outcome and, in the same commit, its outbox entry.

        `relay` builds the uplink payload from the updated record, or returns None when this
        outcome is not for the backend.
        """
        now = self._clock.now()

        def work(conn: Connection) -> TransactionRecord:
            conn.execute(
                update(transactions)
                .where(transactions.c.id == tx_id)
                .values(
                    status=outcome.status,
                    result_code=outcome.result_code,
                    result_text=outcome.result_text,
                    masked_pan=outcome.masked_pan,
                    card_name=outcome.card_name,
                    receipt_number=outcome.receipt_number,
                    trace_number=outcome.trace_number,
                    receipt_lines=list(outcome.receipt_lines),
                    updated_at=now,
                )
            )
            record = _record(
                conn.execute(select(transactions).where(transactions.c.id == tx_id)).one()
            )
            uplink_payload = relay(record)
            if uplink_payload is not None:
                conn.execute(
                    insert(outbox).values(
                        idempotency_key=uplink_payload["idempotency_key"],
                        kind="pos-transaction",
                        payload=uplink_payload,
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
            return record

        return await self._run(work)

    async def get(self, tx_id: str) -> TransactionRecord | None:
        def work(conn: Connection) -> TransactionRecord | None:
            row = conn.execute(select(transactions).where(transactions.c.id == tx_id)).first()
            return None if row is None else _record(row)

        return await self._run(work)

    async def recent(
        self, *, terminal_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[TransactionRecord]:
        def work(conn: Connection) -> list[TransactionRecord]:
            query = select(transactions).order_by(transactions.c.created_at.desc()).limit(limit)
            if terminal_id is not None:
                query = query.where(transactions.c.terminal_id == terminal_id)
            if status is not None:
                query = query.where(transactions.c.status == status)
            return [_record(row) for row in conn.execute(query)]

        return await self._run(work)

    async def due_outbox(self, limit: int) -> list[OutboxEntry]:
        now = self._clock.now()

        def work(conn: Connection) -> list[OutboxEntry]:
            rows = conn.execute(
                select(outbox)
                .where(outbox.c.delivered_at.is_(None), outbox.c.next_attempt_at <= now)
                .order_by(outbox.c.seq)
                .limit(limit)
            )
            return [
                OutboxEntry(r.seq, r.idempotency_key, r.kind, dict(r.payload), r.attempts)
                for r in rows
            ]

        return await self._run(work)

    async def mark_delivered(self, seqs: Sequence[int]) -> None:
        now = self._clock.now()

        def work(conn: Connection) -> None:
            conn.execute(
                update(outbox).where(outbox.c.seq.in_(list(seqs))).values(delivered_at=now)
            )

        await self._run(work)

    async def mark_failed(self, seqs: Sequence[int], next_attempt_at: datetime, error: str) -> None:
        def work(conn: Connection) -> None:
            conn.execute(
                update(outbox)
                .where(outbox.c.seq.in_(list(seqs)))
                .values(
                    attempts=outbox.c.attempts + 1,
                    next_attempt_at=next_attempt_at,
                    last_error=error[:2000],
                )
            )

        await self._run(work)

    async def outbox_backlog(self) -> int:
        def work(conn: Connection) -> int:
            query = select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
            return int(conn.execute(query).scalar_one())

        return await self._run(work)
