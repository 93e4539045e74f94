"""Tables of the backend (SQLAlchemy 2.x declarative). The schema itself is made by Alembic.

Money is an integer amount of minor units beside a currency code; times are timezone-aware
UTC on both databases (see `UTCDateTime`). Each received record keeps a SHA-256 fingerprint of
its normalised content, so a repeat of its idempotency key can be told apart from a conflict.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Constraint names are fixed so migrations can refer to them on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TX_KINDS = ("payment", "refund", "reversal")
TX_STATUSES = ("approved", "declined", "aborted", "failed", "reversed")
# Where an end-of-day's totals come from: the terminal's report, or the gateway's journal when
# the terminal closed its batch but its answer was lost (docs/gateway.md).
TOTALS_SOURCES = ("terminal", "reconstructed")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; returns aware UTC datetimes (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
SEQ_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class Gateway(Base):
    """A clinic gateway allowed to post signed requests, identified by its Ed25519 key."""

    __tablename__ = "gateways"

    gateway_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime())


class GatewayNonce(Base):
    """A nonce seen on a signed request; kept until its timestamp leaves the skew window."""

    __tablename__ = "gateway_nonces"

    gateway_id: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("gateways.gateway_id"), primary_key=True
    )
    nonce: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PosTransaction(Base):
    """One card terminal transaction as journalled by a gateway."""

    __tablename__ = "pos_transactions"
    __table_args__ = (
        sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
        sa.CheckConstraint(f"kind IN {TX_KINDS!r}", name="kind_known"),
        sa.CheckConstraint(f"status IN {TX_STATUSES!r}", name="status_known"),
        sa.Index("ix_pos_transactions_gateway_seq", "gateway_id", "seq"),
        sa.Index("ix_pos_transactions_terminal_seq", "terminal_id", "seq"),
        sa.Index("ix_pos_transactions_gateway_transaction_id", "gateway_transaction_id"),
        sa.Index("ix_pos_transactions_reverses", "reverses_gateway_transaction_id"),
        sa.Index("ix_pos_transactions_reverses_receipt", "terminal_id",
                 "reverses_receipt_number"),
        sa.Index("ix_pos_transactions_reversed_by", "reversed_by"),
    )

    # Insertion order; the listing pages on it, newest first.
    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    content_sha256: Mapped[str] = mapped_column(sa.String(64))
    gateway_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("gateways.gateway_id"))
    gateway_transaction_id: Mapped[str] = mapped_column(sa.String(100))
    terminal_id: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    amount: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    masked_pan: Mapped[str | None] = mapped_column(sa.String(32))
    card_name: Mapped[str | None] = mapped_column(sa.String(64))
    receipt_number: Mapped[int | None] = mapped_column(sa.BigInteger())
    trace_number: Mapped[int | None] = mapped_column(sa.BigInteger())
    result_code: Mapped[int | None] = mapped_column(sa.Integer())
    reference: Mapped[str | None] = mapped_column(sa.String(200))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A reversal: the payment it names (the gateway's id for it, its receipt number).
    reverses_gateway_transaction_id: Mapped[str | None] = mapped_column(sa.String(100))
    reverses_receipt_number: Mapped[int | None] = mapped_column(sa.BigInteger())
    # A payment: the id of the approved reversal that reversed it (its status is then
    # `reversed`). A payment that arrived `reversed` has none: the terminal took it back
    # before it was charged. See medipay_backend.pos_reversals.
    reversed_by: Mapped[str | None] = mapped_column(sa.String(36))

    @property
    def reverses(self) -> dict[str, Any] | None:
        if self.reverses_gateway_transaction_id is None and self.reverses_receipt_number is None:
            return None
        return {"gateway_transaction_id": self.reverses_gateway_transaction_id,
                "receipt_number": self.reverses_receipt_number}


class PosEndOfDay(Base):
    """A terminal's end-of-day totals (the closing of its batch), as relayed by a gateway."""

    __tablename__ = "pos_end_of_day"
    __table_args__ = (
        sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
        sa.CheckConstraint("count >= 0", name="count_not_negative"),
        sa.CheckConstraint(f"totals_source IN {TOTALS_SOURCES!r}", name="totals_source_known"),
        sa.Index("ix_pos_end_of_day_gateway_seq", "gateway_id", "seq"),
        sa.Index("ix_pos_end_of_day_terminal_seq", "terminal_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    content_sha256: Mapped[str] = mapped_column(sa.String(64))
    gateway_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("gateways.gateway_id"))
    terminal_id: Mapped[str] = mapped_column(sa.String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(sa.BigInteger())
    amount: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    # [{"card_name": str, "count": int, "amount": int}, ...] in the order the terminal gave.
    per_scheme: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    totals_source: Mapped[str] = mapped_column(sa.String(16), server_default="terminal")


# The other tables live in modules of their own; importing them here puts them on
# Base.metadata, which Alembic and the tests compare with the migrations.
from medipay_backend import (  # noqa: E402, F401
    models_clinics,
    models_credits,
    models_invoicing,
    models_jobs,
    models_ledger,
    models_orders,
    models_portal,
    models_reports,
)
