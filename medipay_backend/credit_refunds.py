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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay.clock import Clock
from medipay.logs import get_logger
from medipay_backend.adapters.acquirer import AcquirerError
from medipay_backend.adapters.vipps import VippsError
from medipay_backend.credits import REFUND_JOB, REFUND_MAX_ATTEMPTS
from medipay_backend.db import Database
from medipay_backend.jobs import ClaimedJob, NewJob, reschedule, schedule
from medipay_backend.models_credits import OrderCredit
from medipay_backend.models_jobs import Job
from medipay_backend.models_orders import Payment
from medipay_backend.runtime import Runtime
from medipay_backend.scheduler import Handler

log = get_logger(__name__)
ERROR_LIMIT = 500


class RefundNotRetryable(Exception):
    """`retry_refund` was asked for a credit whose refund has not failed."""


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


def mark_refunded(session: Session, credit_id: str, reference: str, now: datetime) -> None:
    credit = session.scalars(sa.select(OrderCredit).where(OrderCredit.id == credit_id)
                             .with_for_update()).one()
    if credit.refund_status == "refunded":
        return
    credit.refund_status, credit.refund_reference = "refunded", reference[:100]
    credit.refunded_at = credit.updated_at = now
    credit.refund_attempts += 1
    credit.refund_error = None


def mark_failed_attempt(session: Session, credit_id: str, error: str, final: bool,
                        now: datetime) -> None:
    credit = session.scalars(sa.select(OrderCredit).where(OrderCredit.id == credit_id)
                             .with_for_update()).one()
    if credit.refund_status != "pending":
        return
    credit.refund_attempts += 1
    credit.refund_error = error[:ERROR_LIMIT]
    credit.updated_at = now
    if final:
        credit.refund_status = "failed"


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
    credit = session.scalars(sa.select(OrderCredit).where(OrderCredit.id == credit_id)
                             .with_for_update()).one_or_none()
    if credit is None or credit.refund_status != "failed":
        raise RefundNotRetryable(f"credit {credit_id!r} has no failed refund")
    credit.refund_status, credit.updated_at = "pending", now
    key = f"refund:{credit_id}"
    if session.scalar(sa.select(Job.id).where(Job.key == key)) is None:
        schedule(session, [NewJob(REFUND_JOB, key, now, {"credit_id": credit_id},
                                  max_attempts=REFUND_MAX_ATTEMPTS)], now)
    else:
        reschedule(session, key, now)
