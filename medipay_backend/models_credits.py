"""Credits on orders (revision 0007): an EPJ or a clinic administrator gives back all or part
of an order.

A credit is stored once per (clinic, idempotency key) with a fingerprint of what was asked,
so a repeat answers the stored credit and a different request under the same key is refused.
Where the money goes depends on how the order was paid (`target`):
  * card / vipps: booked at once as a refund in settlement stream checkout, and sent back
    to the patient's card or Vipps afterwards by the `refund_credit` job (`refund_status`);
  * bought_invoice: a credit note on the claim, and the clinic's checkout stream is debited;
  * fakturaservice: a credit note on the claim (the clinic has not been paid that money).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from medipay_backend.models import SEQ_TYPE, Base, UTCDateTime

CREDIT_TARGETS = ("card", "vipps", "bought_invoice", "fakturaservice")
REFUND_STATUSES = ("pending", "refunded", "failed")


class OrderCredit(Base):
    __tablename__ = "order_credits"
    __table_args__ = (
        sa.UniqueConstraint("clinic_id", "idempotency_key", name="uq_order_credits_clinic_key"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint(f"target IN {CREDIT_TARGETS!r}", name="target_known"),
        sa.CheckConstraint(
            f"refund_status IS NULL OR refund_status IN {REFUND_STATUSES!r}",
            name="refund_status_known",
        ),
        sa.Index("ix_order_credits_order_seq", "order_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    clinic_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("clinics.clinic_id"))
    order_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("orders.id"))
    idempotency_key: Mapped[str] = mapped_column(sa.String(200))
    content_sha256: Mapped[str] = mapped_column(sa.String(64))
    amount: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    reason: Mapped[str] = mapped_column(sa.String(500))
    # Who asked: "epj:<client id>" or "admin:<user>" (the portal).
    actor: Mapped[str] = mapped_column(sa.String(120))
    target: Mapped[str] = mapped_column(sa.String(16))
    # The credit's ledger transfer (none for Fakturaservice: no money has moved yet).
    ledger_transfer_id: Mapped[str | None] = mapped_column(sa.String(128))
    # The credit note on the invoice's claim, and its amount (the invoice fee left is added
    # when a credit takes the principal to zero).
    claim_event_seq: Mapped[int | None] = mapped_column(
        sa.BigInteger(), sa.ForeignKey("claim_events.seq")
    )
    credit_note_amount: Mapped[int | None] = mapped_column(sa.BigInteger())
    # Card and Vipps only: the refund to the patient, sent by the `refund_credit` job.
    refund_status: Mapped[str | None] = mapped_column(sa.String(16))
    refund_reference: Mapped[str | None] = mapped_column(sa.String(100))
    refund_attempts: Mapped[int] = mapped_column(sa.Integer())
    refund_error: Mapped[str | None] = mapped_column(sa.String(500))
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
