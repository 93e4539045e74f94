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
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gateway.journal_schema import outbox, terminal_state, transactions
from gateway.standalone import ImportedTransaction
from medipay.clock import Clock

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

IN_FLIGHT = "in_flight"
# unknown: the conversation broke off after the command went out; recovery resolves it.
UNKNOWN = "unknown"
UNRESOLVED_STATES = frozenset({IN_FLIGHT, UNKNOWN})
FINAL_STATES = frozenset({"approved", "declined", "aborted", "failed", "reversed"})


# Builds (outbox kind, uplink payload) from a finished record, or None if not for the backend.
Relay = Callable[["TransactionRecord"], tuple[str, dict[str, Any]] | None]


def no_relay(_record: TransactionRecord) -> None:
    return None


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
    original_transaction_id: str | None = None
    # The reversed payment's receipt number, copied from its record: not part of the request's
    # content (original_transaction_id already names the payment), so not in the hash.
    original_receipt_number: int | None = None

    def content_hash(self) -> str:
        content = [self.terminal_id, self.kind, self.amount, self.currency, self.reference,
                   self.original_transaction_id]
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
    details: dict[str, Any] | None = None
    # ZVT 1F1F of the Status Information acknowledged in this conversation, if any.
    receipt_sync_id: bytes | None = None


@dataclass(frozen=True)
class TransactionRecord:
    id: str
    idempotency_key: str
    terminal_id: str
    kind: str
    amount: int
    currency: str
    reference: str | None
    original_transaction_id: str | None
    original_receipt_number: int | None
    status: str
    result_code: int | None
    result_text: str | None
    masked_pan: str | None
    card_name: str | None
    receipt_number: int | None
    trace_number: int | None
    receipt_lines: list[str]
    details: dict[str, Any] | None
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
            "original_transaction_id": self.original_transaction_id,
            "original_receipt_number": self.original_receipt_number,
            "masked_pan": self.masked_pan,
            "card_name": self.card_name,
            "receipt_number": self.receipt_number,
            "trace_number": self.trace_number,
            "terminal_id": self.terminal_id,
            "result_code": self.result_code,
            "result_text": self.result_text,
            "receipt_lines": list(self.receipt_lines),
            "details": self.details,
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


def migrate(engine: Engine) -> None:
    """Create or upgrade the journal schema with Alembic (blocking; at start-up)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


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
        migrate(engine)
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
                "original_transaction_id": request.original_transaction_id,
                "original_receipt_number": request.original_receipt_number,
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
        relay: Relay = no_relay,
        *,
        reverses: str | None = None,
    ) -> TransactionRecord:
        """Journal the terminal's outcome and, in the same commit, its outbox entry.

        `relay` builds (outbox kind, uplink payload) from the updated record, or returns None
        when this outcome is not for the backend. The terminal's 1F1F receipt id, if the
        outcome carries one, is remembered in the same commit; so is, for an approved
        reversal, the status `reversed` of the payment it `reverses`.
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
                    details=outcome.details,
                    updated_at=now,
                )
            )
            record = _read(conn, tx_id)
            if reverses is not None and outcome.status == "approved":
                conn.execute(update(transactions).where(transactions.c.id == reverses)
                             .values(status="reversed", updated_at=now))
            if outcome.receipt_sync_id is not None:
                _store_receipt_id(conn, record.terminal_id, outcome.receipt_sync_id, now)
            _enqueue(conn, relay(record), now)
            return record

        return await self._run(work)

    async def import_standalone(
        self, terminal_id: str, items: Sequence[ImportedTransaction], relay: Relay
    ) -> tuple[int, int]:
        """Journal a standalone terminal's transactions, all or none; (imported, duplicates).

        Each item's idempotency key is its export id, so a repeated or overlapping import
        adds nothing; the same id with other content is an IdempotencyConflict. Reversals go
        in after everything else, so each finds its payment wherever the list has it.
        """
        now = self._clock.now()
        in_order = [i for i in items if i.kind != "reversal"] + \
            [i for i in items if i.kind == "reversal"]

        def work(conn: Connection) -> tuple[int, int]:
            imported = duplicates = 0
            for item in in_order:
                key = f"standalone:{terminal_id}:{item.import_id}"
                existing = conn.execute(
                    select(transactions.c.id, transactions.c.request_hash)
                    .where(transactions.c.idempotency_key == key)
                ).first()
                if existing is not None:
                    if existing.request_hash != item.content_hash():
                        raise IdempotencyConflict(key, existing.id)
                    duplicates += 1
                    continue
                _insert_imported(conn, terminal_id, key, item, relay, now)
                imported += 1
            return imported, duplicates

        return await self._run(work)

    async def unresolved(self, terminal_id: str) -> list[TransactionRecord]:
        """Transactions of a terminal whose outcome is not known yet, oldest first."""

        def work(conn: Connection) -> list[TransactionRecord]:
            query = (
                select(transactions)
                .where(transactions.c.terminal_id == terminal_id,
                       transactions.c.status.in_(sorted(UNRESOLVED_STATES)))
                .order_by(transactions.c.created_at)
            )
            return [_record(row) for row in conn.execute(query)]

        return await self._run(work)

    async def end_of_day_batch(
        self, record: TransactionRecord
    ) -> tuple[TransactionRecord | None, list[TransactionRecord]]:
        """For the end-of-day `record`: the terminal's approved end-of-day before it, and the
        payments, refunds and reversals journalled between the two, oldest first.

        By time: nothing is admitted to a terminal while an end-of-day runs or is unresolved,
        and imported transactions carry the terminal's own time.
        """
        def work(conn: Connection) -> tuple[TransactionRecord | None, list[TransactionRecord]]:
            previous = conn.execute(
                select(transactions).where(
                    transactions.c.terminal_id == record.terminal_id,
                    transactions.c.kind == "end_of_day", transactions.c.status == "approved",
                    transactions.c.id != record.id,
                    transactions.c.created_at < record.created_at,
                ).order_by(transactions.c.created_at.desc())
            ).first()
            query = select(transactions).where(
                transactions.c.terminal_id == record.terminal_id,
                transactions.c.kind != "end_of_day",
                transactions.c.created_at < record.created_at,
            )
            if previous is not None:
                query = query.where(transactions.c.created_at > previous.created_at)
            batch = [_record(row) for row in conn.execute(query.order_by(
                transactions.c.created_at, transactions.c.id))]
            return (None if previous is None else _record(previous)), batch

        return await self._run(work)

    async def find_by_receipt(
        self, terminal_id: str, receipt_number: int, kind: str | None = None
    ) -> TransactionRecord | None:
        """The newest transaction with this receipt number (of `kind`, or of any kind)."""
        def work(conn: Connection) -> TransactionRecord | None:
            query = select(transactions).where(
                transactions.c.terminal_id == terminal_id,
                transactions.c.receipt_number == receipt_number)
            if kind is not None:
                query = query.where(transactions.c.kind == kind)
            row = conn.execute(query.order_by(transactions.c.created_at.desc())).first()
            return None if row is None else _record(row)

        return await self._run(work)

    async def last_receipt_id(self, terminal_id: str) -> bytes | None:
        def work(conn: Connection) -> bytes | None:
            row = conn.execute(
                select(terminal_state.c.last_receipt_id)
                .where(terminal_state.c.terminal_id == terminal_id)
            ).first()
            return None if row is None else row.last_receipt_id

        return await self._run(work)

    async def lookup(self, idempotency_key: str) -> TransactionRecord | None:
        def work(conn: Connection) -> TransactionRecord | None:
            row = conn.execute(select(transactions).where(
                transactions.c.idempotency_key == idempotency_key)).first()
            return None if row is None else _record(row)

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

    async def due_outbox(self, limit: int, kind: str) -> list[OutboxEntry]:
        now = self._clock.now()

        def work(conn: Connection) -> list[OutboxEntry]:
            rows = conn.execute(
                select(outbox)
                .where(outbox.c.delivered_at.is_(None), outbox.c.rejected_at.is_(None),
                       outbox.c.next_attempt_at <= now, outbox.c.kind == kind)
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

    async def mark_rejected(self, seq: int, error: str) -> None:
        now = self._clock.now()

        def work(conn: Connection) -> None:
            conn.execute(update(outbox).where(outbox.c.seq == seq)
                         .values(rejected_at=now, last_error=error[:2000]))

        await self._run(work)

    async def requeue_rejected(self, seq: int) -> bool:
        """Put a refused entry back in line (after the cause was fixed); False if none."""
        now = self._clock.now()

        def work(conn: Connection) -> bool:
            done = conn.execute(
                update(outbox).where(outbox.c.seq == seq, outbox.c.rejected_at.is_not(None))
                .values(rejected_at=None, next_attempt_at=now, attempts=0)
            )
            return bool(done.rowcount)

        return await self._run(work)

    async def outbox_status(self) -> dict[str, Any]:
        """Backlog, refused entries and the oldest undelivered entry, for operators."""

        def work(conn: Connection) -> dict[str, Any]:
            pending = outbox.c.delivered_at.is_(None) & outbox.c.rejected_at.is_(None)
            backlog = conn.execute(select(func.count()).select_from(outbox).where(pending))
            oldest = conn.execute(select(func.min(outbox.c.created_at)).where(pending))
            rejected = conn.execute(
                select(outbox.c.seq, outbox.c.idempotency_key, outbox.c.kind,
                       outbox.c.last_error, outbox.c.rejected_at)
                .where(outbox.c.rejected_at.is_not(None)).order_by(outbox.c.seq)
            )
            oldest_at = oldest.scalar_one()
            return {
                "backlog": int(backlog.scalar_one()),
                "oldest_pending_at": _aware(oldest_at).isoformat() if oldest_at else None,
                "rejected": [
                    {"seq": r.seq, "idempotency_key": r.idempotency_key, "kind": r.kind,
                     "error": r.last_error, "rejected_at": _aware(r.rejected_at).isoformat()}
                    for r in rejected
                ],
            }

        return await self._run(work)

    async def outbox_backlog(self) -> int:
        def work(conn: Connection) -> int:
            query = select(func.count()).select_from(outbox).where(
                outbox.c.delivered_at.is_(None), outbox.c.rejected_at.is_(None))
            return int(conn.execute(query).scalar_one())

        return await self._run(work)


def _insert_imported(
    conn: Connection, terminal_id: str, key: str, item: ImportedTransaction, relay: Relay,
    now: datetime,
) -> None:
    original_id = None
    if item.kind == "reversal" and item.original_receipt_number is not None:
        original = conn.execute(
            select(transactions.c.id).where(
                transactions.c.terminal_id == terminal_id,
                transactions.c.kind == "payment",
                transactions.c.receipt_number == item.original_receipt_number,
            ).order_by(transactions.c.created_at.desc())
        ).first()
        original_id = original.id if original is not None else None
    tx_id = str(uuid.uuid4())
    conn.execute(insert(transactions).values(
        id=tx_id, idempotency_key=key, request_hash=item.content_hash(),
        terminal_id=terminal_id, kind=item.kind, amount=item.amount, currency=item.currency,
        reference=None, original_transaction_id=original_id,
        original_receipt_number=item.original_receipt_number, status=item.status,
        result_code=item.result_code, result_text=item.result_text,
        masked_pan=item.masked_pan, card_name=item.card_name,
        receipt_number=item.receipt_number, trace_number=item.trace_number, receipt_lines=[],
        details={"source": "standalone", "import_id": item.import_id,
                 "terminal_reported_id": item.terminal_id, "imported_at": now.isoformat()},
        # The terminal's own time: when the money moved, not when the list was imported.
        created_at=item.at, updated_at=item.at,
    ))
    if original_id is not None and item.status == "approved":
        conn.execute(update(transactions).where(transactions.c.id == original_id)
                     .values(status="reversed", updated_at=now))
    _enqueue(conn, relay(_read(conn, tx_id)), now)


def _read(conn: Connection, tx_id: str) -> TransactionRecord:
    return _record(conn.execute(select(transactions).where(transactions.c.id == tx_id)).one())


def _enqueue(conn: Connection, relayed: tuple[str, dict[str, Any]] | None, now: datetime) -> None:
    """Add an outbox entry in the caller's database transaction."""
    if relayed is None:
        return
    kind, payload = relayed
    conn.execute(insert(outbox).values(
        idempotency_key=payload["idempotency_key"], kind=kind, payload=payload,
        attempts=0, next_attempt_at=now, created_at=now))


def _store_receipt_id(conn: Connection, terminal_id: str, receipt_id: bytes, now: datetime) -> None:
    updated = conn.execute(
        update(terminal_state)
        .where(terminal_state.c.terminal_id == terminal_id)
        .values(last_receipt_id=receipt_id, updated_at=now)
    )
    if updated.rowcount == 0:
        conn.execute(
            insert(terminal_state).values(
                terminal_id=terminal_id, last_receipt_id=receipt_id, updated_at=now
            )
        )
