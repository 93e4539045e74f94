"""Tables for orders (bill cards from EPJs), their history, checkout links, payments,
SMS messages and invoices.

An accepted order never changes its content; only its status moves on, and every move is an
`OrderEvent`, which is the history an EPJ shows. Personal data sits in its own columns so it
can be found (scoring looks people up by national ID) and later erased.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from medipay_backend.models import SEQ_TYPE, Base, UTCDateTime

ORDER_STATUSES = (
    "accepted",  # stored; the payment link is not sent yet
    "awaiting_payment",  # the SMS with the link went out
    "paid",  # by card or Vipps, captured
    "invoice_chosen",  # the patient chose invoice in checkout (the provider buys the claim)
    "invoiced",  # the deadline passed (or direct to invoice): an invoice record exists
    "manual_handling",  # no invoice possible; the clinic must handle it (see status_reason)
)
OPEN_STATUSES = ("accepted", "awaiting_payment")
PAYMENT_METHODS = ("card", "vipps", "invoice")
PAYMENT_STATUSES = ("pending", "authorized", "captured", "declined", "cancelled", "failed")
INVOICE_ROUTES = ("bought", "fakturaservice")
INVOICE_ORIGINS = ("checkout", "fallback", "direct")
SMS_KINDS = ("checkout", "reminder")
SMS_STATUSES = ("sending", "submitted", "failed")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        sa.UniqueConstraint("clinic_id", "idempotency_key", name="uq_orders_clinic_key"),
        sa.UniqueConstraint("clinic_id", "kid", name="uq_orders_clinic_kid"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("invoice_fee >= 0", name="invoice_fee_not_negative"),
        sa.CheckConstraint(f"status IN {ORDER_STATUSES!r}", name="status_known"),
        sa.Index("ix_orders_clinic_seq", "clinic_id", "seq"),
        sa.Index("ix_orders_status_deadline", "status", "deadline_at"),
    )

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    clinic_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("clinics.clinic_id"))
    account_id: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("clinic_accounts.account_id")
    )
    idempotency_key: Mapped[str] = mapped_column(sa.String(200))
    content_sha256: Mapped[str] = mapped_column(sa.String(64))
    external_reference: Mapped[str | None] = mapped_column(sa.String(100))
    status: Mapped[str] = mapped_column(sa.String(24))
    status_reason: Mapped[str | None] = mapped_column(sa.String(64))
    payment_method: Mapped[str | None] = mapped_column(sa.String(16))
    amount: Mapped[int] = mapped_column(sa.BigInteger())
    # Fixed when the order is accepted, from the agreement of that day (0 if switched off).
    invoice_fee: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    kid: Mapped[str] = mapped_column(sa.String(25))
    kid_generated: Mapped[bool] = mapped_column(sa.Boolean())
    description: Mapped[str] = mapped_column(sa.String(100))
    payer: Mapped[str] = mapped_column(sa.String(16))
    direct_to_invoice: Mapped[bool] = mapped_column(sa.Boolean())
    always_fakturaservice: Mapped[bool] = mapped_column(sa.Boolean())
    patient_national_id: Mapped[str | None] = mapped_column(sa.String(11), index=True)
    patient_birth_date: Mapped[date | None] = mapped_column(sa.Date())
    # name, mobile, email, address of the patient; the guardian, other payer or company.
    patient: Mapped[dict[str, Any]] = mapped_column(sa.JSON())
    guardian: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON())
    other_payer: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON())
    company: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON())
    sms_to: Mapped[str | None] = mapped_column(sa.String(16))
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OrderEvent(Base):
    """One step in an order's history, in the order they happened."""

    __tablename__ = "order_events"
    __table_args__ = (sa.Index("ix_order_events_order_seq", "order_id", "seq"),)

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("orders.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    event: Mapped[str] = mapped_column(sa.String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON())


class CheckoutLink(Base):
    """A checkout link sent by SMS. Only the SHA-256 of its token is kept, so the database
    alone cannot be used to open anyone's payment page."""

    __tablename__ = "checkout_links"

    token_sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("orders.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Payment(Base):
    """One attempt to pay an order in checkout, with the provider's reference."""

    __tablename__ = "payments"
    __table_args__ = (
        sa.CheckConstraint(f"method IN {PAYMENT_METHODS!r}", name="method_known"),
        sa.CheckConstraint(f"status IN {PAYMENT_STATUSES!r}", name="status_known"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    order_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("orders.id"), index=True)
    method: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    provider_reference: Mapped[str | None] = mapped_column(sa.String(100))
    amount: Mapped[int] = mapped_column(sa.BigInteger())
    masked_pan: Mapped[str | None] = mapped_column(sa.String(32))
    card_name: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SmsMessage(Base):
    """An SMS to a patient. The text is kept with the link's token masked."""

    __tablename__ = "sms_messages"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN {SMS_KINDS!r}", name="kind_known"),
        sa.CheckConstraint(f"status IN {SMS_STATUSES!r}", name="status_known"),
        sa.Index("ix_sms_messages_order_kind", "order_id", "kind"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    order_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("orders.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    to_number: Mapped[str] = mapped_column(sa.String(16))
    text: Mapped[str] = mapped_column(sa.String(1000))
    status: Mapped[str] = mapped_column(sa.String(16))
    smsc_message_id: Mapped[str | None] = mapped_column(sa.String(65), index=True)
    error: Mapped[str | None] = mapped_column(sa.String(500))
    receipt_status: Mapped[str | None] = mapped_column(sa.String(16))
    receipt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Invoice(Base):
    """An invoice made for an order and where it was routed. Documents, delivery and dunning
    build on this record."""

    __tablename__ = "invoices"
    __table_args__ = (
        sa.CheckConstraint(f"route IN {INVOICE_ROUTES!r}", name="route_known"),
        sa.CheckConstraint(f"origin IN {INVOICE_ORIGINS!r}", name="origin_known"),
        sa.CheckConstraint("total = amount + invoice_fee", name="total_adds_up"),
        sa.Index("ix_invoices_clinic_seq", "clinic_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    order_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("orders.id"), unique=True
    )
    clinic_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("clinics.clinic_id"))
    account_id: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("clinic_accounts.account_id")
    )
    route: Mapped[str] = mapped_column(sa.String(16))
    origin: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.String(64))
    # {"kind": patient|guardian|company|other_payer, "name", "address", "email", ...}
    recipient: Mapped[dict[str, Any]] = mapped_column(sa.JSON())
    amount: Mapped[int] = mapped_column(sa.BigInteger())
    invoice_fee: Mapped[int] = mapped_column(sa.BigInteger())
    total: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    kid: Mapped[str] = mapped_column(sa.String(25))
    score_points: Mapped[int | None] = mapped_column(sa.Integer())
    status: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
