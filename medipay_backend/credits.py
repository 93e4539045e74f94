"""Credits on orders, full or partial, from EPJs and the clinic portal (blocking, per session).

`credit_order` is the one entry point. It runs inside the caller's transaction and either
stores the credit with everything that goes with it, or raises a `CreditError` subclass and
changes nothing. Run it with `Database.run_check_then_insert`: two requests that race on the
same idempotency key (or on issuing a claim) are settled by a unique index, and the loser's
retry then sees the winner's row.

What can be credited, and where the money goes, follows how the order was paid:
  * card or Vipps (`paid`): what was captured minus earlier credits. The credit is booked at
    once as a refund in settlement stream checkout (the clinic's next settlement deducts it)
    and a durable `refund_credit` job sends the money back to the card or Vipps afterwards
    (`credit_refunds`), so no provider call happens inside the transaction.
  * an invoice (`invoice_chosen`, `invoiced`): what is left of the principal on its claim.
    The claim gets a credit note (`invoicing.claims.credit`); a credit that takes the
    principal to zero also credits the invoice fee left, so the claim closes as `credited`.
    A bought invoice also debits the clinic's checkout stream: the provider paid the clinic
    for the claim and the clinic gives that part back. An invoice not issued yet is issued
    first, so the credit note has an invoice to refer to.
  * an open order is refused (`order-not-paid`: cancel it instead); one rejected for manual
    handling has nothing to credit (`order-not-creditable`); a claim that is paid in full,
    stopped or deleted can no longer take a credit note (`claim-not-open`).

Two credits at once on one order cannot both pass the check: the order's row is locked
(`FOR UPDATE` on PostgreSQL; SQLite serialises writers) before what is creditable is read.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend import ledger_store, order_events
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.invoicing import claims
from medipay_backend.invoicing.balance import principal_left
from medipay_backend.invoicing.issuing import issue_invoice
from medipay_backend.invoicing.ledger_posts import credit_bought
from medipay_backend.jobs import NewJob, schedule
from medipay_backend.ledger import postings
from medipay_backend.ledger.chart import Channel
from medipay_backend.ledger_store import Meta
from medipay_backend.localtime import oslo_date
from medipay_backend.models_credits import OrderCredit
from medipay_backend.models_invoicing import Claim, ClaimEvent
from medipay_backend.models_ledger import LedgerTransfer
from medipay_backend.models_orders import OPEN_STATUSES, Invoice, Order, Payment
from medipay_backend.pos import fingerprint
from medipay_backend.settlement import sources

REFUND_JOB = "refund_credit"
# Back-off doubles from 30 s and is capped at an hour (jobs.backoff): 16 attempts ride out
# about ten hours of acquirer or Vipps trouble before the refund is marked failed.
REFUND_MAX_ATTEMPTS = 16
REASON_MAX = 500
ACTOR_MAX = 120
_KEY = re.compile(r"^[!-~]{3,200}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CreditError(Exception):
    """A credit was refused and nothing was changed. `problem_type` is the API's problem
    slug (after https://medipay.example/problems/), `status` its HTTP status."""

    problem_type = "credit-refused"
    title = "Credit refused"
    status = 409

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class CreditOrderNotFound(CreditError):
    problem_type, title, status = "not-found", "Not found", 404


class CreditAmountInvalid(CreditError):
    problem_type, title, status = "credit-amount-invalid", "Credit amount is not valid", 422


class CreditReasonInvalid(CreditError):
    problem_type, title, status = "credit-reason-invalid", "Credit reason is not valid", 422


class CreditRequestInvalid(CreditError):
    """An idempotency key or actor of the wrong shape (a caller's bug, not the user's)."""

    problem_type, title, status = "credit-request-invalid", "Credit request is not valid", 422


class CreditIdempotencyConflict(CreditError):
    problem_type = "idempotency-conflict"
    title, status = "Idempotency key reused with different content", 409


class OrderNotPaid(CreditError):
    problem_type, title, status = "order-not-paid", "Order is not paid yet", 409


class OrderNotCreditable(CreditError):
    problem_type, title, status = "order-not-creditable", "Order has nothing to credit", 409


class ClaimNotOpen(CreditError):
    problem_type, title, status = "claim-not-open", "Invoice can take no credit note", 409


class CreditExceedsCreditable(CreditError):
    problem_type = "credit-exceeds-creditable"
    title, status = "Credit exceeds what can be credited", 409


@dataclass(frozen=True)
class CreditView:
    id: str
    order_id: str
    amount: int
    currency: str
    reason: str
    actor: str
    target: str  # card, vipps, bought_invoice, fakturaservice
    refund_status: str | None  # card/Vipps: pending, refunded, failed
    refund_reference: str | None
    credit_note_amount: int | None  # on the claim, invoice fee included when it closes it
    invoice_number: int | None
    created_at: datetime
    refunded_at: datetime | None = None  # when the provider took the refund


@dataclass(frozen=True)
class CreditResult:
    credit: CreditView
    created: bool  # False: an exact repeat of an earlier request, answered from storage
    credited_total: int  # credited on the order so far, this credit included
    creditable: int  # what can still be credited

    @property
    def credit_id(self) -> str:
        return self.credit.id

    @property
    def order_id(self) -> str:
        return self.credit.order_id

    @property
    def amount(self) -> int:
        return self.credit.amount


@dataclass(frozen=True)
class _Basis:
    """How an order was paid and how much of it can still be credited."""

    target: str
    creditable: int
    payment: Payment | None = None
    invoice: Invoice | None = None
    claim: Claim | None = None


def _check_input(amount: int, reason: str, idempotency_key: str, actor: str) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise CreditAmountInvalid(f"amount must be a whole number of øre above 0, not {amount!r}")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > REASON_MAX:
        raise CreditReasonInvalid(f"reason must be 1 to {REASON_MAX} characters of text")
    if _CONTROL.search(reason):
        raise CreditReasonInvalid("reason must not contain control characters (line breaks)")
    if not isinstance(idempotency_key, str) or not _KEY.match(idempotency_key):
        raise CreditRequestInvalid("the idempotency key must be 3-200 visible ASCII characters")
    if not isinstance(actor, str) or not 1 <= len(actor) <= ACTOR_MAX:
        raise CreditRequestInvalid(f"actor must be 1 to {ACTOR_MAX} characters")


def credited_total(session: Session, order_id: str) -> int:
    total = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(OrderCredit.amount), 0))
        .where(OrderCredit.order_id == order_id))
    return int(total or 0)


def _find_order(session: Session, clinic_id: str, order_id: str, lock: bool) -> Order:
    query = sa.select(Order).where(Order.id == order_id, Order.clinic_id == clinic_id)
    order = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if order is None:
        raise CreditOrderNotFound(f"no order {order_id!r} for this clinic")
    return order


def _basis(session: Session, order: Order, credited: int, now: datetime | None) -> _Basis:
    """What the order's credits draw on. With `now` (crediting) the claim is locked and an
    unissued invoice is issued; without it (reading) nothing is changed."""
    if order.status in OPEN_STATUSES:
        raise OrderNotPaid(
            f"order {order.id} is not paid yet (status {order.status}); an unpaid order is "
            "cancelled, not credited")
    if order.status == "paid":
        payment = session.scalars(
            sa.select(Payment).where(Payment.order_id == order.id,
                                     Payment.status == "captured",
                                     Payment.method.in_(("card", "vipps")))
        ).first()
        if payment is None:
            raise OrderNotCreditable(f"order {order.id} has no captured card or Vipps payment")
        return _Basis(payment.method, max(payment.amount - credited, 0), payment=payment)
    invoice = session.scalars(sa.select(Invoice).where(Invoice.order_id == order.id)).first()
    if order.status not in ("invoice_chosen", "invoiced") or invoice is None:
        raise OrderNotCreditable(
            f"order {order.id} was neither paid nor invoiced (status {order.status}); "
            "there is nothing to credit")
    target = "bought_invoice" if invoice.route == "bought" else "fakturaservice"
    query = sa.select(Claim).where(Claim.invoice_id == invoice.id)
    claim = session.scalars(query.with_for_update() if now else query).one_or_none()
    if claim is None and now is not None:
        claim = issue_invoice(session, invoice, now)
    left = order.amount - credited
    if claim is not None:
        if claim.state not in ("open", "credited"):
            raise ClaimNotOpen(
                f"invoice {claim.invoice_number} is {claim.state}; a credit note can only "
                "lower an open invoice", invoice_number=claim.invoice_number)
        left = min(left, principal_left(claim)) if claim.state == "open" else 0
    return _Basis(target, max(left, 0), invoice=invoice, claim=claim)


def _view(session: Session, row: OrderCredit) -> CreditView:
    number = None
    if row.claim_event_seq is not None:
        number = session.scalar(
            sa.select(Claim.invoice_number).join(ClaimEvent, ClaimEvent.claim_seq == Claim.seq)
            .where(ClaimEvent.seq == row.claim_event_seq))
    return CreditView(
        id=row.id, order_id=row.order_id, amount=row.amount, currency=row.currency,
        reason=row.reason, actor=row.actor, target=row.target,
        refund_status=row.refund_status, refund_reference=row.refund_reference,
        credit_note_amount=row.credit_note_amount, invoice_number=number,
        created_at=row.created_at, refunded_at=row.refunded_at,
    )


def _creditable(session: Session, order: Order, credited: int) -> int:
    """What can still be credited on the order; 0 when it cannot take a credit at all."""
    try:
        return _basis(session, order, credited, None).creditable
    except CreditError:
        return 0


def _answer(session: Session, order: Order, row: OrderCredit, created: bool) -> CreditResult:
    credited = credited_total(session, order.id)
    return CreditResult(_view(session, row), created, credited,
                        _creditable(session, order, credited))


def credit_order(
    session: Session,
    *,
    clinic_id: str,
    order_id: str,
    amount: int,
    reason: str,
    idempotency_key: str,
    actor: str,
    now: datetime,
) -> CreditResult:
    """Credit `amount` øre of the clinic's order; see the module's docstring for the rules.

    The idempotency key is per clinic: the same key with the same order, amount and reason
    answers the stored credit (`created=False`); with anything else `CreditIdempotencyConflict`.
    """
    _check_input(amount, reason, idempotency_key, actor)
    digest = fingerprint({"order_id": order_id, "amount": amount, "reason": reason})
    order = _find_order(session, clinic_id, order_id, lock=True)
    # Looked up after the order's lock: a concurrent twin of this request has committed by now.
    stored = session.scalars(
        sa.select(OrderCredit).where(OrderCredit.clinic_id == clinic_id,
                                     OrderCredit.idempotency_key == idempotency_key)
    ).one_or_none()
    if stored is not None:
        if stored.content_sha256 != digest:
            raise CreditIdempotencyConflict(
                f"idempotency key {idempotency_key!r} was already used for another credit; "
                "nothing was changed", idempotency_key=idempotency_key)
        return _answer(session, order, stored, created=False)
    credited = credited_total(session, order.id)
    basis = _basis(session, order, credited, now)
    if amount > basis.creditable:
        raise CreditExceedsCreditable(
            f"at most {basis.creditable} øre of order {order.id} can be credited "
            f"({credited} øre credited so far)", creditable=basis.creditable, credited=credited)
    row = OrderCredit(
        id=str(uuid.uuid4()), clinic_id=clinic_id, order_id=order.id,
        idempotency_key=idempotency_key, content_sha256=digest, amount=amount,
        currency=order.currency, reason=reason, actor=actor, target=basis.target,
        ledger_transfer_id=None, claim_event_seq=None, credit_note_amount=None,
        refund_status=None, refund_reference=None, refund_attempts=0, refund_error=None,
        refunded_at=None, created_at=now, updated_at=now,
    )
    session.add(row)
    session.flush()  # the unique (clinic, key) decides a race with a twin on another order
    if basis.payment is not None:
        _refund(session, order, row, basis.payment, now)
    else:
        _credit_note(session, order, row, basis, now)
    order_events.record(session, order, "credited", now, amount=amount, credit_id=row.id,
                        target=row.target)
    order.updated_at = now
    session.flush()
    return _answer(session, order, row, created=True)


def _refund(session: Session, order: Order, row: OrderCredit, payment: Payment,
            now: datetime) -> None:
    """Card/Vipps: book the refund in stream checkout now; the job sends it to the provider."""
    sources.post_payment(session, payment, order, now)  # the payment before its refund
    channel = Channel.CARD if payment.method == "card" else Channel.VIPPS
    transfer = postings.refund(
        f"credit:{row.id}", order.clinic_id, SettlementStream.CHECKOUT, channel, row.amount,
        now, reference=f"credit of order {order.id}", currency=order.currency)
    meta = Meta(payment.method, order.clinic_id, SettlementStream.CHECKOUT.value, order.kid)
    ledger_store.append(session, transfer, meta, now)
    row.ledger_transfer_id = transfer.id
    row.refund_status = "pending"
    schedule(session, [NewJob(REFUND_JOB, f"refund:{row.id}", now, {"credit_id": row.id},
                              max_attempts=REFUND_MAX_ATTEMPTS)], now)


def _credit_note(session: Session, order: Order, row: OrderCredit, basis: _Basis,
                 now: datetime) -> None:
    claim, invoice = basis.claim, basis.invoice
    assert claim is not None and invoice is not None  # _basis issues a missing claim
    fee_left = claim.invoice_fee - claim.paid_invoice_fee - claim.credited_invoice_fee
    closing = row.amount == principal_left(claim)
    note_amount = row.amount + (fee_left if closing else 0)
    event = claims.credit(session, claim, oslo_date(now), now, amount=note_amount,
                          reason=row.reason, release_memo=False)  # released below
    session.flush()
    row.claim_event_seq = event.seq
    row.credit_note_amount = note_amount
    if basis.target == "bought_invoice":
        # The same rule as an operator's credit note on a bought claim (`claims.credit`).
        credit_bought(session, invoice, f"credit:{row.id}", row.amount, now,
                      reference=f"credit of order {order.id}")
        row.ledger_transfer_id = f"credit:{row.id}"
    elif _memo_registered(session, invoice.id):
        # The clinic's claim memo (if the invoicing module registered it) shrinks too.
        memo = postings.claim_memo_credited(
            f"credit:{row.id}:memo", order.clinic_id, note_amount, now,
            reference=f"credit of order {order.id}", currency=order.currency)
        ledger_store.append(session, memo, Meta("other", order.clinic_id), now)
        row.ledger_transfer_id = memo.id


def _memo_registered(session: Session, invoice_id: str) -> bool:
    found = session.scalar(
        sa.select(LedgerTransfer.seq).where(LedgerTransfer.id == f"fs:{invoice_id}:claim"))
    return found is not None


@dataclass(frozen=True)
class OrderCredits:
    order_id: str
    currency: str
    credits: list[CreditView]
    credited_total: int
    creditable: int


def list_credits(session: Session, *, clinic_id: str, order_id: str) -> OrderCredits:
    """The order's credits, oldest first, with what can still be credited (0 when the order
    cannot take a credit at all). Another clinic's order raises `CreditOrderNotFound`."""
    order = _find_order(session, clinic_id, order_id, lock=False)
    rows = session.scalars(
        sa.select(OrderCredit).where(OrderCredit.order_id == order.id).order_by(OrderCredit.seq))
    credits = [_view(session, row) for row in rows]
    credited = sum(c.amount for c in credits)
    return OrderCredits(order.id, order.currency, credits, credited,
                        _creditable(session, order, credited))
