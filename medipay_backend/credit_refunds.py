"""Sending a card or Vipps credit back to the patient: the `refund_credit` job.

`credits.credit_order` stores the credit, books it in the ledger and schedules one durable
job per credit (key `refund:<credit id>`). The job asks the acquirer or Vipps to refund and
records the answer. Provider calls never run inside a database transaction.

Retries: a failed call (provider unreachable, 5xx, refused) raises, and the scheduler tries
again with back-off (30 s doubling to an hour) up to `credits.REFUND_MAX_ATTEMPTS` times;
each failure is kept on the credit (`refund_attempts`, `refund_error`). The call is
idempotent at the provider (the acquirer's refund reference and Vipps' Idempotency-Key are
both the credit id), so a job that dies after the provider refunded but before the answer
was stored refunds nothing twice when it runs again. After the last attempt the credit's
refund is `failed`; `retry_refund` (CLI: `medipay backend credits retry-refund ID`) queues
it again from the start.

The ledger follows the refund's state. The credit's `REFUND` transfer took the amount from
the clinic's payable into the provider's card/Vipps clearing account (the provider nets the
refund against what it pays us). When the refund fails for good the provider will not, so
the amount moves from clearing to `provider:refunds-owed` (`credit:<id>:owed:<n>`): money
the provider holds and owes the patient, visible in the ledger rather than lost in a
clearing difference. A retry moves it back (`credit:<id>:resent:<n>`); `n` counts the
failures, so each round has ids of its own and a repeat of one is idempotent.

An operator who pays a failed refund to the patient outside MediPay (a bank transfer made by
hand) records it with `record_paid_by_hand` (CLI: `medipay backend credits paid-by-hand ID
--reference TEXT`): the amount moves from `provider:refunds-owed` to `provider:bank`
(`credit:<id>:by-hand`, once per credit) and the credit's refund is `refunded`, its
reference `by hand: <TEXT>`. It is final: a refund paid by hand is never sent again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay.clock import Clock
from medipay.logs import get_logger
from medipay_backend import ledger_store
from medipay_backend.adapters.acquirer import AcquirerError
from medipay_backend.adapters.vipps import VippsError
from medipay_backend.credits import REFUND_JOB, REFUND_MAX_ATTEMPTS
from medipay_backend.db import Database
from medipay_backend.jobs import ClaimedJob, NewJob, reschedule, schedule
from medipay_backend.ledger import chart, postings
from medipay_backend.ledger.chart import Channel
from medipay_backend.ledger_store import Meta
from medipay_backend.models_credits import OrderCredit
from medipay_backend.models_jobs import Job
from medipay_backend.models_ledger import LedgerTransfer
from medipay_backend.models_orders import Payment
from medipay_backend.runtime import Runtime
from medipay_backend.scheduler import Handler

log = get_logger(__name__)
ERROR_LIMIT = 500
BY_HAND_PREFIX = "by hand: "  # on `refund_reference` of a refund paid outside MediPay
BY_HAND_REFERENCE_MAX = 80  # the prefix and this fit `refund_reference` (100)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RefundNotRetryable(Exception):
    """`retry_refund` was asked for a credit whose refund has not failed."""


class PaidByHandRefused(Exception):
    """`record_paid_by_hand` was refused and nothing was changed."""


class PaidByHandReferenceInvalid(PaidByHandRefused):
    """The operator's reference is empty, too long or has control characters."""


class RefundNotFailed(PaidByHandRefused):
    """No such credit, or its refund is not `failed` (pending, refunded, or not a card/Vipps
    credit): only a refund the provider never took is owed, so only it can be paid by hand."""


class AlreadyPaidByHand(PaidByHandRefused):
    """The refund was recorded as paid by hand before, with another reference."""


@dataclass(frozen=True)
class RefundRequest:
    credit_id: str
    method: str  # card or vipps
    provider_reference: str
    amount: int


def pending_refund(session: Session, credit_id: str) -> RefundRequest | None:
    """What to send for a credit; None when there is nothing (left) to send."""
    credit = session.scalars(sa.select(OrderCredit).where(OrderCredit.id == credit_id)
                             ).one_or_none()
    if credit is None or credit.refund_status != "pending":
        return None
    payment = session.scalars(
        sa.select(Payment).where(Payment.order_id == credit.order_id,
                                 Payment.status == "captured",
                                 Payment.method == credit.target)
    ).first()
    if payment is None or payment.provider_reference is None:
        raise LookupError(f"credit {credit_id}: the captured {credit.target} payment is missing")
    return RefundRequest(credit.id, credit.target, payment.provider_reference, credit.amount)


def _credit_for_update(credit_id: str) -> sa.Select[OrderCredit]:
    """The credit's row, locked: its refund state changes one step at a time."""
    return sa.select(OrderCredit).where(OrderCredit.id == credit_id).with_for_update()


def _owed_rounds(session: Session, credit_id: str) -> int:
    """How many times this credit's refund has failed for good (its `owed` transfers)."""
    count = session.scalar(sa.select(sa.func.count()).select_from(LedgerTransfer)
                           .where(LedgerTransfer.id.startswith(f"credit:{credit_id}:owed:")))
    return int(count or 0)


def _book_owed(session: Session, credit: OrderCredit, now: datetime) -> None:
    """The refund failed for good: from the provider's clearing account to refunds owed."""
    if credit.ledger_transfer_id is None:  # pragma: no cover - card/Vipps credits have one
        return
    ledger_store.open_accounts(session, [chart.refunds_owed_account(credit.currency)])
    n = _owed_rounds(session, credit.id) + 1
    transfer = postings.refund_owed(
        f"credit:{credit.id}:owed:{n}", Channel(credit.target), credit.amount, now,
        reference=f"refund of credit {credit.id} failed", currency=credit.currency)
    ledger_store.append(session, transfer, Meta(credit.target, credit.clinic_id), now)


def _book_resent(session: Session, credit: OrderCredit, now: datetime) -> None:
    """The refund goes to the provider again: back from refunds owed to clearing."""
    n = _owed_rounds(session, credit.id)
    if n == 0:  # failed before refunds were booked as owed: nothing to move back
        return
    transfer = postings.refund_resent(
        f"credit:{credit.id}:resent:{n}", Channel(credit.target), credit.amount, now,
        reference=f"refund of credit {credit.id} sent again", currency=credit.currency)
    ledger_store.append(session, transfer, Meta(credit.target, credit.clinic_id), now)


def mark_refunded(session: Session, credit_id: str, reference: str, now: datetime) -> None:
    credit = session.scalars(_credit_for_update(credit_id)).one()
    if credit.refund_status == "refunded":
        return
    if credit.refund_status == "failed":  # the provider took it after all
        _book_resent(session, credit, now)
    credit.refund_status, credit.refund_reference = "refunded", reference[:100]
    credit.refunded_at = credit.updated_at = now
    credit.refund_attempts += 1
    credit.refund_error = None


def mark_failed_attempt(session: Session, credit_id: str, error: str, final: bool,
                        now: datetime) -> None:
    credit = session.scalars(_credit_for_update(credit_id)).one()
    if credit.refund_status != "pending":
        return
    credit.refund_attempts += 1
    credit.refund_error = error[:ERROR_LIMIT]
    credit.updated_at = now
    if final:
        credit.refund_status = "failed"
        _book_owed(session, credit, now)


async def _send(runtime: Runtime, request: RefundRequest) -> str:
    """Ask the provider to refund; the provider's reference of the refund."""
    if request.method == "card":
        done = await runtime.acquirer.refund(request.provider_reference, request.amount,
                                             reference=request.credit_id)
        return done.refund_id
    await runtime.vipps.refund(request.provider_reference, request.amount,
                               idempotency_key=f"refund-{request.credit_id}")
    return f"vipps:{request.provider_reference}:refund-{request.credit_id}"


async def send_refund(db: Database, clock: Clock, runtime: Runtime, credit_id: str, *,
                      final: bool) -> bool:
    """One attempt; True when the provider took the refund. A failure is recorded on the
    credit (as `failed` when `final`) and raised, for the scheduler's back-off."""
    request = await db.run(lambda s: pending_refund(s, credit_id))
    if request is None:
        return False
    try:
        reference = await _send(runtime, request)
    except (AcquirerError, VippsError) as exc:
        error, at = f"{type(exc).__name__}: {exc}", clock.now()
        await db.run(lambda s: mark_failed_attempt(s, credit_id, error, final, at))
        log.warning("refund of a credit failed", credit_id=credit_id, method=request.method,
                    final=final, error=error)
        raise
    done_at = clock.now()
    await db.run(lambda s: mark_refunded(s, credit_id, reference, done_at))
    log.info("credit refunded", credit_id=credit_id, method=request.method,
             amount=request.amount)
    return True


def make_credit_handlers(db: Database, clock: Clock, runtime: Runtime) -> Mapping[str, Handler]:
    async def refund_credit(job: ClaimedJob) -> None:
        final = job.attempts >= job.max_attempts
        await send_refund(db, clock, runtime, str(job.payload["credit_id"]), final=final)

    return {REFUND_JOB: refund_credit}


def retry_refund(session: Session, credit_id: str, now: datetime) -> None:
    """Queue a `failed` refund again, with a fresh set of attempts."""
    credit = session.scalars(_credit_for_update(credit_id)).one_or_none()
    if credit is None or credit.refund_status != "failed":
        raise RefundNotRetryable(f"credit {credit_id!r} has no failed refund")
    credit.refund_status, credit.updated_at = "pending", now
    _book_resent(session, credit, now)
    key = f"refund:{credit_id}"
    if session.scalar(sa.select(Job.id).where(Job.key == key)) is None:
        schedule(session, [NewJob(REFUND_JOB, key, now, {"credit_id": credit_id},
                                  max_attempts=REFUND_MAX_ATTEMPTS)], now)
    else:
        reschedule(session, key, now)


@dataclass(frozen=True)
class PaidByHand:
    credit_id: str
    amount: int
    currency: str
    reference: str  # the operator's, without the prefix
    transfer_id: str
    created: bool  # False: an exact repeat, answered from what was recorded


def by_hand_transfer_id(credit_id: str) -> str:
    return f"credit:{credit_id}:by-hand"


def _check_by_hand_reference(reference: str) -> str:
    text = reference.strip() if isinstance(reference, str) else ""
    if not text or len(text) > BY_HAND_REFERENCE_MAX or _CONTROL.search(text):
        raise PaidByHandReferenceInvalid(
            f"the reference must be 1 to {BY_HAND_REFERENCE_MAX} characters of text on one "
            "line (e.g. the bank transfer's id)")
    return text


def record_paid_by_hand(session: Session, credit_id: str, reference: str,
                        now: datetime) -> PaidByHand:
    """Record that a `failed` refund was paid to the patient outside MediPay.

    Books `credit:<id>:by-hand` (refunds owed to bank) and marks the refund `refunded` with
    reference `by hand: <reference>`. Once per credit: a repeat with the same reference
    changes nothing (`created=False`); with another reference it raises `AlreadyPaidByHand`.
    Any other refusal (`RefundNotFailed`, `PaidByHandReferenceInvalid`) changes nothing."""
    text = _check_by_hand_reference(reference)
    credit = session.scalars(_credit_for_update(credit_id)).one_or_none()
    if credit is None:
        raise RefundNotFailed(f"no credit {credit_id!r}")
    transfer_id = by_hand_transfer_id(credit.id)
    done = PaidByHand(credit.id, credit.amount, credit.currency, text, transfer_id, False)
    booked = session.scalar(sa.select(LedgerTransfer.seq).where(LedgerTransfer.id == transfer_id))
    if booked is not None:  # the credit's row lock makes this check and the booking one step
        if credit.refund_reference == BY_HAND_PREFIX + text:
            return done
        raise AlreadyPaidByHand(
            f"the refund of credit {credit.id} was recorded as paid by hand already "
            f"({credit.refund_reference!r}); nothing was changed")
    if credit.refund_status != "failed":
        raise RefundNotFailed(
            f"the refund of credit {credit.id} is {credit.refund_status or 'not a refund'}, not "
            "failed: only a refund the provider never took can be paid by hand")
    if _owed_rounds(session, credit.id) == 0:  # pragma: no cover - `failed` books it as owed
        raise RefundNotFailed(f"credit {credit.id} has nothing booked as owed")
    ledger_store.open_accounts(session, [a for a in chart.provider_accounts(credit.currency)
                                         if a.id in (chart.bank_id(), chart.refunds_owed_id())])
    transfer = postings.refund_paid_by_hand(
        transfer_id, credit.amount, now, currency=credit.currency,
        reference=f"refund of credit {credit.id} paid by hand: {text}")
    ledger_store.append(session, transfer, Meta(credit.target, credit.clinic_id), now)
    credit.refund_status, credit.refund_reference = "refunded", BY_HAND_PREFIX + text
    credit.refunded_at = credit.updated_at = now
    credit.refund_error = None
    return PaidByHand(credit.id, credit.amount, credit.currency, text, transfer_id, True)
