"""Tables of the persisted ledger and of settlements.

`ledger_transfers` is append-only: a row is never updated or deleted. Running sums per account
(`ledger_accounts`) are derived state, kept beside the history so that limits can be checked
without replaying it; `ledger_store.replay` rebuilds them from the transfers for checking.
A pending transfer is resolved by at most one post or void: `pending_id` is unique.
`settlement_items` holds each settled transfer id once (primary key), which is what keeps two
concurrent settlement runs from paying a transaction twice.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from medipay_backend.models import SEQ_TYPE, Base, UTCDateTime

SOURCES = ("card", "vipps", "bought_invoice", "fakturaservice", "pos", "fee", "payout", "other")
STREAMS = ("checkout", "fakturaservice", "pos")


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"

    id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    currency: Mapped[str] = mapped_column(sa.String(3))
    code: Mapped[int] = mapped_column(sa.Integer())
    flags: Mapped[int] = mapped_column(sa.Integer())
    debits_posted: Mapped[int] = mapped_column(sa.BigInteger())
    credits_posted: Mapped[int] = mapped_column(sa.BigInteger())
    debits_pending: Mapped[int] = mapped_column(sa.BigInteger())
    credits_pending: Mapped[int] = mapped_column(sa.BigInteger())


class LedgerTransfer(Base):
    __tablename__ = "ledger_transfers"
    __table_args__ = (
        sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
        sa.CheckConstraint(f"source IN {SOURCES!r}", name="source_known"),
        sa.Index("ix_ledger_transfers_credit_seq", "credit_account_id", "seq"),
        sa.Index("ix_ledger_transfers_debit_seq", "debit_account_id", "seq"),
        sa.Index("ix_ledger_transfers_clinic_stream", "clinic_id", "stream", "seq"),
    )

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(sa.String(128), unique=True)
    debit_account_id: Mapped[str] = mapped_column(sa.String(128))
    credit_account_id: Mapped[str] = mapped_column(sa.String(128))
    amount: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    code: Mapped[int] = mapped_column(sa.Integer())
    flags: Mapped[int] = mapped_column(sa.Integer())
    pending_id: Mapped[str | None] = mapped_column(sa.String(128), unique=True)
    reference: Mapped[str] = mapped_column(sa.String(200))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    # What the settlement runner needs, denormalised from the business record.
    clinic_id: Mapped[str | None] = mapped_column(sa.String(64))
    stream: Mapped[str | None] = mapped_column(sa.String(16))
    source: Mapped[str] = mapped_column(sa.String(16))
    kid: Mapped[str | None] = mapped_column(sa.String(25))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class GatewayClinic(Base):
    """Which clinic a gateway's POS transactions are settled to."""

    __tablename__ = "gateway_clinics"

    gateway_id: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("gateways.gateway_id"), primary_key=True
    )
    clinic_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("clinics.clinic_id"))


class Settlement(Base):
    __tablename__ = "settlements"
    __table_args__ = (
        sa.UniqueConstraint("clinic_id", "stream", "settlement_date", name="uq_settlements_run"),
        sa.CheckConstraint(f"stream IN {STREAMS!r}", name="stream_known"),
        sa.CheckConstraint("total >= 0", name="total_not_negative"),
        sa.CheckConstraint("carried_forward <= 0", name="carried_not_positive"),
    )

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    clinic_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("clinics.clinic_id"))
    stream: Mapped[str] = mapped_column(sa.String(16))
    settlement_date: Mapped[date] = mapped_column(sa.Date())
    cutoff: Mapped[datetime] = mapped_column(UTCDateTime())
    currency: Mapped[str] = mapped_column(sa.String(3))
    count: Mapped[int] = mapped_column(sa.Integer())
    gross: Mapped[int] = mapped_column(sa.BigInteger())
    fees: Mapped[int] = mapped_column(sa.BigInteger())
    credits: Mapped[int] = mapped_column(sa.BigInteger())
    carried_in: Mapped[int] = mapped_column(sa.BigInteger())
    total: Mapped[int] = mapped_column(sa.BigInteger())
    carried_forward: Mapped[int] = mapped_column(sa.BigInteger())
    bank_account: Mapped[str | None] = mapped_column(sa.String(11))
    # {"json": {"path", "sha256"}, "csv": ..., "pdf": ..., "transactions": ..., "ocr": ...}
    files: Mapped[dict[str, Any]] = mapped_column(sa.JSON())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SettlementItem(Base):
    __tablename__ = "settlement_items"
    __table_args__ = (sa.Index("ix_settlement_items_settlement", "settlement_id", "position"),)

    transfer_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    settlement_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("settlements.id"))
    position: Mapped[int] = mapped_column(sa.Integer())
    fee: Mapped[int] = mapped_column(sa.BigInteger())
    net: Mapped[int] = mapped_column(sa.BigInteger())
