"""Incoming money in the ledger (blocking, in the caller's transaction).

Every recorded payment is posted from the row that records it, with ids derived from its
`source_ref` (`fs:<source_ref>:<part>`, see `settlement.sources.fs_payment`), so posting it
again changes nothing:

* a Fakturaservice claim: principal + invoice fee to the clinic's fakturaservice payable
  (paid out by a settlement of stream 2), fees and interest to the provider's revenue;
* a bought claim: the provider's alone: principal pays down claims:purchased (its purchase
  is posted first), the invoice fee, fees and interest are revenue; no clinic posting;
* whatever was not placed on a claim (unknown KID, overpayment, closed claim) is credited to
  the provider's suspense account until an operator applies or refunds it.

The money comes from the clearing account of its channel (giro for OCR files, card, Vipps),
or from suspense when an operator applies a suspense item.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.ledger.chart import Channel
from medipay_backend.models_invoicing import Claim, IncomingPayment
from medipay_backend.models_orders import Invoice
from medipay_backend.settlement import sources

CHANNEL_OF: dict[str, Channel | None] = {
    "ocr": Channel.GIRO, "card": Channel.CARD, "vipps": Channel.VIPPS, "suspense": None,
}


def register_claim(session: Session, claim: Claim, now: datetime) -> None:
    """The memo of a Fakturaservice claim (principal + invoice fee); idempotent."""
    if claim.route == "fakturaservice":
        sources.fs_claim(session, claim.invoice_id, claim.clinic_id,
                         claim.principal + claim.invoice_fee, claim.created_at, now)


def post_incoming(session: Session, payment: IncomingPayment, claim: Claim | None,
                  now: datetime) -> int:
    """Post `payment` as it was allocated; the number of new transfers."""
    channel = CHANNEL_OF[payment.source]
    covered = payment.fees + payment.interest + payment.invoice_fee + payment.principal
    unplaced = payment.amount - covered
    ref, at = payment.source_ref, payment.created_at
    if claim is None or covered == 0:
        if channel is None or not unplaced:
            return 0  # suspense money that stays in suspense
        return sources.fs_payment(session, ref, None, 0, None, at, now, overpayment=unplaced,
                                  channel=channel)
    if claim.route == "fakturaservice":
        register_claim(session, claim, now)
        return sources.fs_payment(
            session, ref, claim.clinic_id, payment.principal + payment.invoice_fee, claim.kid,
            at, now, fees=payment.fees, interest=payment.interest, overpayment=unplaced,
            channel=channel)
    invoice = session.scalars(sa.select(Invoice).where(Invoice.id == claim.invoice_id)).one()
    sources.post_purchase(session, invoice, now)  # the purchase before it is paid down
    return sources.fs_payment(
        session, ref, claim.clinic_id, payment.principal, claim.kid, at, now,
        fees=payment.fees + payment.invoice_fee, interest=payment.interest,
        overpayment=unplaced, clinic_owned=False, channel=channel)
