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

Handled by hand: an item that holds money must say where the money went (`to`, for now only
`bank`: paid out of the provider's bank account by hand) with the reference of that booking,
and it is booked out of suspense at once (`fs:suspense-<item>:booked-out`, one per item), so
the suspense account keeps holding exactly what the open items hold. A reversal holds no
money and takes a note only. Items marked handled before this rule kept their money in
suspense (`not_booked_out` lists them); marking one handled again with a destination books
it out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from stdnum.no import kontonr

from medipay_backend.invoicing.ledger_posts import (
    book_out_suspense,
    post_incoming,
    suspense_booked_out_id,
)
from medipay_backend.invoicing.payments_in import pay_claim
from medipay_backend.ledger import chart
from medipay_backend.models_invoicing import Claim, IncomingPayment, SuspenseItem
from medipay_backend.models_ledger import LedgerTransfer
from medipay_backend.settlement import sources

# Where the money of an item handled by hand can be booked out to: name -> ledger account.
BOOK_OUT_TO: dict[str, Callable[[], str]] = {"bank": chart.bank_id}
REFERENCE_MAX = 120  # it goes into the transfer's reference (200 characters) with a prefix
NOTE_MAX = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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


class DestinationRequired(SuspenseError):
    """An item that holds money was marked handled without saying where the money went."""


class InvalidDestination(SuspenseError):
    """An unknown destination, or a reference that is empty, too long or has line breaks."""


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


def mark_handled(session: Session, item_id: int, note: str, now: datetime, *,
                 to: str | None = None, reference: str | None = None) -> SuspenseItem:
    """Handled outside the system. An item holding money needs `to` (a key of `BOOK_OUT_TO`)
    and the `reference` of the booking there, and leaves suspense for that account; a
    reversal takes a note only. An item handled earlier without a destination is booked out
    now (its note gets this one appended). An exact repeat (same destination and reference)
    changes nothing; anything else on a resolved item raises `SuspenseItemResolved`."""
    item = session.get(SuspenseItem, item_id, with_for_update=True)
    if item is None:
        raise SuspenseItemNotFound(f"no suspense item {item_id}")
    reversal = item.reason == "reversal"
    # Only an item handled by hand earlier (a money item) can be taken up again.
    if item.resolved_at is not None and (item.resolution != "handled" or reversal):
        raise SuspenseItemResolved(
            f"suspense item {item_id} was already {item.resolution or 'resolved'}")
    if reversal:
        if to is not None:
            raise SuspenseItemIsReversal(
                f"suspense item {item_id} is a reversal: the bank took money back, so there "
                "is nothing to book out; mark it handled with a note only")
        item.resolved_at, item.resolution, item.note = now, "handled", note
        return item
    booked = session.scalar(sa.select(LedgerTransfer).where(
        LedgerTransfer.id == suspense_booked_out_id(item.seq)))
    if booked is not None and to is None:
        raise SuspenseItemResolved(
            f"suspense item {item_id} was already handled and booked out to "
            f"{booked.credit_account_id}")
    if to is None:
        raise DestinationRequired(
            f"suspense item {item_id} holds {item.amount} øre: say where the money went "
            f"(to: {', '.join(BOOK_OUT_TO)}) and the reference of that booking")
    account, booked_reference = _destination(item, to, reference)
    if booked is not None:
        if (booked.credit_account_id, booked.reference) == (account, booked_reference):
            return item  # a repeat: booked out already, exactly so
        raise SuspenseItemResolved(
            f"suspense item {item_id} was already booked out to {booked.credit_account_id} "
            f"({booked.reference})")
    if item.resolved_at is None:
        item.resolved_at, item.resolution, item.note = now, "handled", note
    else:  # handled before money had to be booked out
        item.note = f"{item.note or ''}; {note}".lstrip("; ")[:NOTE_MAX]
    _source(session, item, now)
    book_out_suspense(session, item.seq, account, item.amount, now, booked_reference)
    session.flush()
    return item


def _destination(item: SuspenseItem, to: str, reference: str | None) -> tuple[str, str]:
    """(the ledger account, the transfer's reference) for booking `item` out to `to`."""
    if to not in BOOK_OUT_TO:
        raise InvalidDestination(
            f"cannot book suspense money out to {to!r}; choose one of: {', '.join(BOOK_OUT_TO)}")
    if (not isinstance(reference, str) or not reference.strip()
            or len(reference) > REFERENCE_MAX or _CONTROL.search(reference)):
        raise InvalidDestination(
            f"the reference of the booking must be 1 to {REFERENCE_MAX} characters on one line")
    return BOOK_OUT_TO[to](), f"suspense item {item.seq} handled by hand, {to}: {reference}"


def booked_out_to(session: Session, item: SuspenseItem) -> str | None:
    """The ledger account a handled item's money was booked out to (None: not booked out)."""
    return session.scalar(sa.select(LedgerTransfer.credit_account_id).where(
        LedgerTransfer.id == suspense_booked_out_id(item.seq)))


def not_booked_out(session: Session) -> list[SuspenseItem]:
    """Items marked handled by hand (before a destination was required) whose money is
    still in suspense, oldest first."""
    booked = sa.select(LedgerTransfer.seq).where(
        LedgerTransfer.id == sa.literal("fs:suspense-")
        + sa.cast(SuspenseItem.seq, sa.String) + sa.literal(":booked-out")).exists()
    return list(session.scalars(
        sa.select(SuspenseItem).where(SuspenseItem.resolution == "handled",
                                      SuspenseItem.reason != "reversal", ~booked)
        .order_by(SuspenseItem.seq)))
