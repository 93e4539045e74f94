"""Tables of invoicing: issued claims, their dunning history, incoming payments, the suspense
list and document deliveries (revision 0003); payment links and card/Vipps payments of claims
(revision 0006).

A `Claim` is an issued invoice (number, KID, dates) and the running state of its dunning:
the steps done (`done`, step id -> ISO date), the day the next step can fall due
(`next_action_on`, so a daily run only reads claims with something to do) and sums of what
was charged, paid and credited. Every change is also a `ClaimEvent`, the claim's history, from
which a report can restate the claim at an earlier date. Money is in øre.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from medipay_backend.models import SEQ_TYPE, Base, UTCDateTime

CLAIM_STATES = ("open", "paid", "stopped", "deleted", "credited")
CLAIM_ROUTES = ("bought", "fakturaservice")


class Claim(Base):
    __tablename__ = "claims"
    __table_args__ = (
        sa.CheckConstraint(f"state IN {CLAIM_STATES!r}", name="state_known"),
        sa.CheckConstraint(f"route IN {CLAIM_ROUTES!r}", name="route_known"),
        sa.CheckConstraint("principal >= 0", name="principal_not_negative"),
        sa.Index("ix_claims_kid", "kid"),
        sa.Index("ix_claims_state_next", "state", "next_action_on"),
        sa.Index("ix_claims_clinic_issue", "clinic_id", "issue_date"),
    )

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    invoice_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("invoices.id"), unique=True
    )
    invoice_number: Mapped[int] = mapped_column(sa.BigInteger(), unique=True)
    clinic_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("clinics.clinic_id"))
    route: Mapped[str] = mapped_column(sa.String(16))
    kid: Mapped[str] = mapped_column(sa.String(25))
    issue_date: Mapped[date] = mapped_column(sa.Date())
    due_date: Mapped[date] = mapped_column(sa.Date())
    state: Mapped[str] = mapped_column(sa.String(16))
    paused: Mapped[bool] = mapped_column(sa.Boolean())
    stage: Mapped[str] = mapped_column(sa.String(24))
    done: Mapped[dict[str, Any]] = mapped_column(sa.JSON())
    next_action_on: Mapped[date | None] = mapped_column(sa.Date())
    principal: Mapped[int] = mapped_column(sa.BigInteger())
    invoice_fee: Mapped[int] = mapped_column(sa.BigInteger())
    fees_charged: Mapped[int] = mapped_column(sa.BigInteger())
    paid_fees: Mapped[int] = mapped_column(sa.BigInteger())
    paid_interest: Mapped[int] = mapped_column(sa.BigInteger())
    paid_invoice_fee: Mapped[int] = mapped_column(sa.BigInteger())
    paid_principal: Mapped[int] = mapped_column(sa.BigInteger())
    credited_invoice_fee: Mapped[int] = mapped_column(sa.BigInteger())
    credited_principal: Mapped[int] = mapped_column(sa.BigInteger())
    closed_on: Mapped[date | None] = mapped_column(sa.Date())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ClaimEvent(Base):
    """One thing that happened to a claim: a dunning step (letter, SMS, fee, call task, ...),
    a payment, a credit note, a stop, a complaint. `step_id` is set for dunning steps only
    and is unique per claim, so a step can never be recorded twice."""

    __tablename__ = "claim_events"
    __table_args__ = (
        sa.UniqueConstraint("claim_seq", "step_id"),
        sa.Index("ix_claim_events_claim_seq_seq", "claim_seq", "seq"),
    )

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    claim_seq: Mapped[int] = mapped_column(sa.BigInteger(), sa.ForeignKey("claims.seq"))
    kind: Mapped[str] = mapped_column(sa.String(24))
    step_id: Mapped[str | None] = mapped_column(sa.String(40))
    on_date: Mapped[date] = mapped_column(sa.Date())
    amount: Mapped[int] = mapped_column(sa.BigInteger())  # fee charged, payment, credit
    interest: Mapped[int] = mapped_column(sa.BigInteger())  # interest accrued on that day
    principal_delta: Mapped[int] = mapped_column(sa.BigInteger())  # <= 0: paid or credited
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IncomingPayment(Base):
    """A payment received (OCR giro, card, Vipps) and how it was allocated."""

    __tablename__ = "incoming_payments"

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(sa.String(16))
    source_ref: Mapped[str] = mapped_column(sa.String(120), unique=True)
    kid: Mapped[str | None] = mapped_column(sa.String(25))
    claim_seq: Mapped[int | None] = mapped_column(sa.BigInteger(), sa.ForeignKey("claims.seq"))
    paid_on: Mapped[date] = mapped_column(sa.Date())
    amount: Mapped[int] = mapped_column(sa.BigInteger())
    fees: Mapped[int] = mapped_column(sa.BigInteger())
    interest: Mapped[int] = mapped_column(sa.BigInteger())
    invoice_fee: Mapped[int] = mapped_column(sa.BigInteger())
    principal: Mapped[int] = mapped_column(sa.BigInteger())
    overpayment: Mapped[int] = mapped_column(sa.BigInteger())
    to_provider: Mapped[int] = mapped_column(sa.BigInteger())
    to_clinic: Mapped[int] = mapped_column(sa.BigInteger())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SuspenseItem(Base):
    """Money that could not be matched to a claim (or was more than owed): manual handling."""

    __tablename__ = "suspense_items"

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    payment_seq: Mapped[int] = mapped_column(
        sa.BigInteger(), sa.ForeignKey("incoming_payments.seq")
    )
    reason: Mapped[str] = mapped_column(sa.String(24))
    kid: Mapped[str | None] = mapped_column(sa.String(25))
    amount: Mapped[int] = mapped_column(sa.BigInteger())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # How it was resolved (revision 0006): "handled" (by hand, a note only), "applied" to a
    # claim (`claim_seq`), or "refunded" to the payer's account (`refund_account`).
    resolution: Mapped[str | None] = mapped_column(sa.String(16))
    claim_seq: Mapped[int | None] = mapped_column(sa.BigInteger(), sa.ForeignKey("claims.seq"))
    refund_account: Mapped[str | None] = mapped_column(sa.String(11))


class Delivery(Base):
    """How one document of a claim went out (eFaktura, e-mail, paper batch, EHF)."""

    __tablename__ = "deliveries"
    __table_args__ = (sa.UniqueConstraint("claim_seq", "document"),)

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    claim_seq: Mapped[int] = mapped_column(sa.BigInteger(), sa.ForeignKey("claims.seq"))
    document: Mapped[str] = mapped_column(sa.String(40))
    channel: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


CLAIM_PAYMENT_METHODS = ("card", "vipps")
CLAIM_PAYMENT_STATUSES = ("pending", "captured", "declined", "cancelled")


class ClaimLink(Base):
    """A payment link sent in a dunning SMS. Only the SHA-256 of its token is kept, so the
    database alone cannot be used to open anyone's payment page."""

    __tablename__ = "claim_links"

    token_sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    claim_seq: Mapped[int] = mapped_column(
        sa.BigInteger(), sa.ForeignKey("claims.seq"), index=True
    )
    step_id: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ClaimPayment(Base):
    """One attempt to pay a claim by card or Vipps from its link: the amount owed on the day
    it was started (`quoted_on`), and the provider's reference."""

    __tablename__ = "claim_payments"
    __table_args__ = (
        sa.CheckConstraint(f"method IN {CLAIM_PAYMENT_METHODS!r}", name="method_known"),
        sa.CheckConstraint(f"status IN {CLAIM_PAYMENT_STATUSES!r}", name="status_known"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    claim_seq: Mapped[int] = mapped_column(
        sa.BigInteger(), sa.ForeignKey("claims.seq"), index=True
    )
    method: Mapped[str] = mapped_column(sa.String(8))
    status: Mapped[str] = mapped_column(sa.String(16))
    amount: Mapped[int] = mapped_column(sa.BigInteger())
    quoted_on: Mapped[date] = mapped_column(sa.Date())
    provider_reference: Mapped[str | None] = mapped_column(sa.String(64))
    masked_pan: Mapped[str | None] = mapped_column(sa.String(32))
    card_name: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
