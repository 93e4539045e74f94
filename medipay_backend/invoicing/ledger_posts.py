"""Incoming money in the ledger (blocking, in the caller's transaction).

Every recorded payment is posted from the row that records it, with ids derived from its
`source_ref` (`fs:<source_ref>:<part>`, see `settlement.sources.fs_payment`), so posting it
again changes nothing:

* a Fakturaservice claim: principal + invoice fee to the clinic's fakturaservice payable
  (paid out by a settlement of stream 2), fees and interest to the provider's revenue;
* a bought claim: the provider's alone: principal pays down claims:purchased (its purchase
  is posted first), the invoice fee goes to `revenue:invoice-fees`, fees and interest to
  their revenue accounts; no clinic posting;
* the memo of a Fakturaservice claim (`fs:<invoice>:claim`, principal + invoice fee on
  `clinic:<id>:fakturaservice:claims`) shrinks with each payment of principal or invoice
  fee, each credit note and when the claim is stopped or deleted, so it always holds what
  the outstanding-claims report shows for the clinic;
* a credit note on a bought claim (`credit_bought`, the one rule for the operator's
  credit notes and for credits on the order): its principal part lowers claims:purchased
  and is taken back from the clinic's checkout payable, which the provider paid for it;
* whatever was not placed on a claim (unknown KID, overpayment, closed claim) is credited to
  the provider's suspense account until an operator applies, refunds or books it out by hand
  (`book_out_suspense`).

The money comes from the clearing account of its channel (giro for OCR files, card, Vipps),
or from suspense when an operator applies a suspense item.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend import ledger_store
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.invoicing.balance import principal_left
from medipay_backend.ledger import chart, postings
from medipay_backend.ledger.chart import Channel
from medipay_backend.ledger_store import Meta
from medipay_backend.models_invoicing import Claim, IncomingPayment
from medipay_backend.models_ledger import LedgerTransfer
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


def memo_left(claim: Claim) -> int:
    """What the memo of a claim should still hold: principal and invoice fee neither paid
    nor credited (fees and interest are the provider's and never in the memo)."""
    return principal_left(claim) + (
        claim.invoice_fee - claim.paid_invoice_fee - claim.credited_invoice_fee)


def release_credited(session: Session, claim: Claim, event_seq: int, amount: int,
                     now: datetime) -> bool:
    """A credit note took `amount` off a Fakturaservice claim: its memo shrinks by as much.
    Id `fs:<invoice>:credit:<claim event>`, one per credit note; False for a repeat."""
    if claim.route != "fakturaservice" or not amount:
        return False
    register_claim(session, claim, now)  # never release what was not registered
    return sources.fs_claim_released(
        session, f"fs:{claim.invoice_id}:credit:{event_seq}", claim.clinic_id, amount, now, now,
        withdrawn=False, reference=f"credit note on invoice {claim.invoice_number}")


def release_withdrawn(session: Session, claim: Claim, now: datetime) -> bool:
    """The clinic stopped or deleted a Fakturaservice claim: what was left of it leaves the
    memo. Id `fs:<invoice>:withdrawn` (a claim is closed once); False for a repeat or when
    nothing was left (a claim that owed only dunning fees and interest)."""
    left = memo_left(claim)
    if claim.route != "fakturaservice" or not left:
        return False
    register_claim(session, claim, now)
    return sources.fs_claim_released(
        session, f"fs:{claim.invoice_id}:withdrawn", claim.clinic_id, left, now, now,
        withdrawn=True, reference=f"invoice {claim.invoice_number} {claim.state}")


def credit_bought(session: Session, invoice: Invoice, transfer_id: str, principal: int,
                  now: datetime, reference: str) -> bool:
    """A credit note took `principal` øre of principal off a claim the provider bought (its
    invoice fee is not part of the purchase and moves nothing). The provider paid the clinic
    for that principal, so the clinic gives it back: claims:purchased shrinks and the clinic's
    checkout payable is debited (a REFUND, deducted at its next checkout settlement). The
    purchase is posted first. The caller derives `transfer_id` from what it books
    (`credit:<credit id>` for a credit on the order, `fs:<invoice>:credit:<claim event>` for
    an operator's credit note), so a repeat posts nothing; False for a repeat or 0 øre."""
    if not principal:
        return False
    sources.post_purchase(session, invoice, now)  # the purchase before its credit
    transfer = postings.bought_claim_credit(
        transfer_id, invoice.clinic_id, principal, now, reference=reference,
        currency=invoice.currency)
    meta = Meta("bought_invoice", invoice.clinic_id, SettlementStream.CHECKOUT.value,
                invoice.kid)
    return ledger_store.append(session, transfer, meta, now)


def release_bought_credit(session: Session, claim: Claim, event_seq: int, principal: int,
                          now: datetime) -> bool:
    """An operator's credit note (`claims.credit`) on a bought claim: `credit_bought` with
    the id `fs:<invoice>:credit:<claim event>`, one per credit note."""
    if claim.route != "bought":
        return False
    invoice = _invoice_of(session, claim)
    return credit_bought(session, invoice, f"fs:{claim.invoice_id}:credit:{event_seq}",
                         principal, now, reference=f"credit note on invoice {claim.invoice_number}")


def suspense_booked_out_id(item_seq: int) -> str:
    """The id of the transfer that books a suspense item handled by hand out of suspense."""
    return f"fs:suspense-{item_seq}:booked-out"


def book_out_suspense(session: Session, item_seq: int, to_account_id: str, amount: int,
                      now: datetime, reference: str) -> bool:
    """A suspense item handled by hand leaves suspense for `to_account_id`; one transfer per
    item (`suspense_booked_out_id`), so a repeat posts nothing (False)."""
    ledger_store.open_accounts(session, chart.provider_accounts())
    transfer = postings.suspense_booked_out(suspense_booked_out_id(item_seq), to_account_id,
                                            amount, now, reference=reference)
    return ledger_store.append(session, transfer, Meta("other"), now)


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
    invoice = _invoice_of(session, claim)
    sources.post_purchase(session, invoice, now)  # the purchase before it is paid down
    fee_with_fees = _invoice_fee_booked_with_fees(session, payment)
    posted = sources.fs_payment(
        session, ref, claim.clinic_id, payment.principal, claim.kid, at, now,
        fees=payment.fees + (payment.invoice_fee if fee_with_fees else 0),
        interest=payment.interest, overpayment=unplaced, clinic_owned=False, channel=channel)
    if payment.invoice_fee and not fee_with_fees:
        posted += sources.fs_invoice_fee(session, ref, claim.clinic_id, payment.invoice_fee,
                                         claim.kid, at, now, channel=channel)
    return posted


def _invoice_of(session: Session, claim: Claim) -> Invoice:
    return session.scalars(sa.select(Invoice).where(Invoice.id == claim.invoice_id)).one()


def _invoice_fee_booked_with_fees(session: Session, payment: IncomingPayment) -> bool:
    """Whether this bought-claim payment was posted before invoice fees had a revenue account
    of their own: then its `:fees` transfer holds the invoice fee too, and posting it again
    (a suspense item's source payment is re-posted) must repeat that, not conflict with it."""
    if not payment.invoice_fee:
        return False
    stored = session.scalar(sa.select(LedgerTransfer.amount).where(
        LedgerTransfer.id == f"fs:{payment.source_ref}:fees"))
    return stored is not None and stored == payment.fees + payment.invoice_fee
