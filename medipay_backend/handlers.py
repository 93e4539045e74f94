"""The scheduler's job handlers, bound to a database, a clock and a runtime.

- `send_sms`: the payment link SMS, or the reminder (idempotent: a message already
  submitted for that order and kind is not sent again; an order no longer open gets none).
- `sweep_deadlines`: recurring; routes every order whose deadline has passed, then asks to
  run again after `SWEEP_INTERVAL`.
- `refund_credit`: sends a card/Vipps credit back to the patient (`credit_refunds`).
- `mail_settlement_reports`: e-mails a settlement's reports to its clinic
  (`settlement.mailing`).
- `settlement_daily`: one a day; settles the clinic streams due that day (`settlement.jobs`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from medipay.clock import Clock
from medipay.logs import get_logger
from medipay_backend.credit_refunds import make_credit_handlers
from medipay_backend.db import Database
from medipay_backend.fallback import Routed, summarise, sweep_chunk
from medipay_backend.invoicing.jobs import make_invoicing_handlers
from medipay_backend.jobs import ClaimedJob, NewJob
from medipay_backend.runtime import Runtime
from medipay_backend.scheduler import Handler
from medipay_backend.settlement.jobs import make_settlement_handlers
from medipay_backend.settlement.mailing import make_mail_handlers
from medipay_backend.sms.sender import Receipt, SmsError
from medipay_backend.sms_flow import mark_failed, mark_submitted, prepare_sms, record_receipt

log = get_logger(__name__)
# How often the deadline sweep looks for expired orders; a deadline is met within this.
SWEEP_INTERVAL = timedelta(minutes=1)
SWEEP_KEY = "sweep:deadlines"


def sweep_job(now: datetime) -> NewJob:
    return NewJob("sweep_deadlines", SWEEP_KEY, now, {}, max_attempts=1_000_000)


def make_handlers(db: Database, clock: Clock, runtime: Runtime) -> Mapping[str, Handler]:
    async def send_sms(job: ClaimedJob) -> None:
        order_id, kind = job.payload["order_id"], job.payload["kind"]
        now = clock.now()
        base_url = runtime.base_url
        prepared = await db.run(lambda s: prepare_sms(s, order_id, kind, base_url, now))
        if prepared is None:
            return
        try:
            message_id = await runtime.sms.send(prepared.to, prepared.text)
        except SmsError as exc:
            final = job.attempts >= job.max_attempts
            failed_at, error = clock.now(), str(exc)
            await db.run(lambda s: mark_failed(s, prepared.sms_id, error, final, failed_at))
            raise
        sent_at = clock.now()
        await db.run(lambda s: mark_submitted(s, prepared.sms_id, message_id, sent_at))

    def sweep(session: Session) -> list[Routed]:
        return sweep_chunk(session, runtime.bureau, clock.now())

    async def sweep_deadlines(job: ClaimedJob) -> datetime:
        while True:
            routed = await db.run(sweep)
            if not routed:
                break
            log.info("orders past deadline routed", count=len(routed),
                     routes=dict(summarise(routed)))
        return clock.now() + SWEEP_INTERVAL

    return {"send_sms": send_sms, "sweep_deadlines": sweep_deadlines,
            **make_invoicing_handlers(db, clock, runtime),
            **make_credit_handlers(db, clock, runtime),
            **make_mail_handlers(db, clock, lambda: runtime.smtp),
            **make_settlement_handlers(db, clock, lambda: runtime.settlement)}


def receipt_recorder(db: Database, clock: Clock) -> Callable[[Receipt], bool]:
    """A callback for the SMPP sender's thread: store a delivery receipt (blocking); False
    if the message is not known (yet)."""

    def on_receipt(receipt: Receipt) -> bool:
        now = clock.now()
        return db.transaction(lambda s: record_receipt(s, receipt.message_id, receipt.stat, now))

    return on_receipt
