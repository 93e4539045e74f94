"""Tables of the gateway's journal: EPJ requests with their terminal outcome, and the outbox.

The schema is created and upgraded by the Alembic migrations in `gateway/migrations/`; these
table objects are what the code queries with.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

transactions = Table(
    "transactions",
    metadata,
    Column("id", String(36), primary_key=True),
    # The EPJ's Idempotency-Key; an exact repeat returns the stored answer.
    Column("idempotency_key", String(200), nullable=False, unique=True),
    # SHA-256 of the request's meaningful content, to refuse a repeat with other content.
    Column("request_hash", String(64), nullable=False),
    Column("terminal_id", String(64), nullable=False, index=True),
    # payment, refund, reversal, end_of_day, or standalone (imported from a terminal's list).
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reference", String(200)),
    # For a reversal: the journalled payment it reverses.
    Column("original_transaction_id", String(36)),
    # ... and that payment's receipt number at the terminal (also for imported reversals whose
    # payment the journal does not hold); the backend gets both.
    Column("original_receipt_number", Integer),
    # in_flight until the terminal's outcome is journalled; see gateway.journal.FINAL_STATES.
    Column("status", String(16), nullable=False, index=True),
    Column("result_code", Integer),
    Column("result_text", Text),
    Column("masked_pan", String(32)),
    Column("card_name", String(64)),
    Column("receipt_number", Integer),
    Column("trace_number", Integer),
    Column("receipt_lines", JSON, nullable=False),
    # Kind-specific results, e.g. the turnover totals of an end-of-day.
    Column("details", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    # What the backend sees as its idempotency key: gateway id + terminal id + trace + receipt.
    Column("idempotency_key", String(200), nullable=False, unique=True),
    # pos-transaction or pos-end-of-day: which backend endpoint takes it.
    Column("kind", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("delivered_at", DateTime(timezone=True), index=True),
    # Set when the backend refused the entry for good (e.g. 422); an operator must look.
    Column("rejected_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

terminal_state = Table(
    "terminal_state",
    metadata,
    Column("terminal_id", String(64), primary_key=True),
    # ZVT tag 1F1F: the receipt id of the last Status Information we acknowledged and
    # journalled. Sent with the next transaction so the terminal can reverse one we lost.
    Column("last_receipt_id", LargeBinary),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
