"""What an operator does with a suspense item (blocking, in the caller's transaction): apply
it to a named claim, refund it to the payer, or mark it handled by hand.

Applying is a payment of the item's money to the claim (`pay_claim`, source `suspense`,
reference `suspense:<item>`), dated the day the bank received the money, so interest stops
where it would have stopped had the KID been right. It is allocated as any payment: costs,
interest, invoice fee, principal; more than the claim owes becomes a new overpayment item.
Part of an item can be applied; the rest stays in suspense as a new `remainder` item.

A refund is recorded only (the transfer to the payer's account is made in the bank): the
account number is checked (MOD11, python-stdnum) and the money leaves the ledger's suspense
account. Every check is made before anything is written, and any error leaves the item and
the claim as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from stdnum.no import kontonr

from medipay_backend.invoicing.ledger_posts import post_incoming
from medipay_backend.invoicing.payments_in import pay_claim
from medipay_backend.models_invoicing import Claim, IncomingPayment, SuspenseItem
from medipay_backend.settlement import sources


class SuspenseError(Exception):
    """Base of the errors of this module (the message is for the operator)."""


class SuspenseItemNotFound(SuspenseError):
    pass


class SuspenseItemResolved(SuspenseError):
    """The item was applied, refunded or handled already."""


class SuspenseItemIsReversal(SuspenseError):
    """The bank took money back: there is nothing to apply or refund (resolve it by hand)."""


class ClaimNotFound(SuspenseError):
    pass


class ClaimNotOpen(SuspenseError):
    """The claim is paid, stopped, deleted or credited: it cannot take money."""


class AmountNotAvailable(SuspenseError):
    """More than the item holds (or not a positive amount)."""


class InvalidAccount(SuspenseError):
    """Not a Norwegian bank account number (11 digits, MOD11)."""


@dataclass(frozen=True)
class Applied:
    item: SuspenseItem
    claim: Claim
    payment: IncomingPayment
    remainder: SuspenseItem | None


def _open_item(session: Session, item_id: int) -> SuspenseItem:
    item = session.get(SuspenseItem, item_id, with_for_update=True)
    if item is None:
        raise SuspenseItemNotFound(f"no suspense item {item_id}")
    if item.resolved_at is not None:
        raise SuspenseItemResolved(
            f"suspense item {item_id} was already {item.resolution or 'resolved'}")
    return item


def _money_item(session: Session, item_id: int) -> SuspenseItem:
    item = _open_item(session, item_id)
    if item.reason == "reversal":
        raise SuspenseItemIsReversal(
            f"suspense item {item_id} is a reversal: the bank took money back, so there is "
            "nothing to apply or refund; resolve it with a note once handled")
    return item


def _source(session: Session, item: SuspenseItem, now: datetime) -> IncomingPayment:
    """The payment the item's money came with, in the ledger (items older than the ledger
    wiring are posted now; a repeat posts nothing)."""
    payment = session.get(IncomingPayment, item.payment_seq)
    if payment is None:  # pragma: no cover - a foreign key guarantees it
        raise SuspenseItemNotFound(f"suspense item {item.seq} has no payment")
    claim = None if payment.claim_seq is None else session.get(Claim, payment.claim_seq)
    post_incoming(session, payment, claim, now)
    return payment


def apply_item(session: Session, item_id: int, invoice_number: int, amount: int | None,
               note: str | None, now: datetime) -> Applied:
    item = _money_item(session, item_id)
    claim = session.scalars(sa.select(Claim).where(Claim.invoice_number == invoice_number)
                            .with_for_update()).one_or_none()
    if claim is None:
        raise ClaimNotFound(f"no invoice number {invoice_number}")
    if claim.state != "open":
        raise ClaimNotOpen(f"invoice {invoice_number} is {claim.state}; it cannot take money")
    applied = item.amount if amount is None else amount
    if not 0 < applied <= item.amount:
        raise AmountNotAvailable(
            f"suspense item {item_id} holds {item.amount} øre; {applied} øre cannot be applied")
    source = _source(session, item, now)
    payment, _ = pay_claim(session, claim, source="suspense", source_ref=f"suspense:{item.seq}",
                           amount=applied, paid_on=source.paid_on, now=now)
    item.resolved_at, item.resolution, item.claim_seq = now, "applied", claim.seq
    item.note = note or f"applied to invoice {invoice_number}"
    remainder = None
    if applied < item.amount:
        remainder = SuspenseItem(payment_seq=item.payment_seq, reason="remainder", kid=item.kid,
                                 amount=item.amount - applied, resolved_at=None, note=None,
                                 created_at=now)
        session.add(remainder)
    session.flush()
    return Applied(item, claim, payment, remainder)


def refund_item(session: Session, item_id: int, account: str, note: str | None,
                now: datetime) -> SuspenseItem:
    item = _money_item(session, item_id)
    number = kontonr.compact(account)
    if not kontonr.is_valid(number):
        raise InvalidAccount("the account number is not a valid Norwegian bank account")
    _source(session, item, now)
    sources.fs_suspense_return(session, f"suspense-{item.seq}", item.amount, now, now,
                               reference=f"suspense item {item.seq} refunded")
    item.resolved_at, item.resolution, item.refund_account = now, "refunded", number
    item.note = note or f"refunded to {kontonr.format(number)}"
    session.flush()
    return item


def mark_handled(session: Session, item_id: int, note: str, now: datetime) -> SuspenseItem:
    """Handled outside the system (booked elsewhere); the money stays in the ledger's
    suspense account until it is booked out by hand."""
    item = _open_item(session, item_id)
    item.resolved_at, item.resolution, item.note = now, "handled", note
    return item
