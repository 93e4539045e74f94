"""The daily invoicing job: issue new invoices, run dunning, send the dunning SMS.

One recurring durable job (`invoicing_daily`, key `invoicing:daily`). Each chunk of claims
is its own transaction, so a crash redoes at most one chunk, and rerunning a day is harmless
(a done step is never done again). SMS are queued by the run as `sms_pending` events and sent
afterwards; a sent one becomes `sms` with the SMSC's message id. An SMS that fails stays
pending and is tried at the next run. The job then asks to run again at `RUN_AT` the next
Oslo day.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from functools import partial

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay.clock import Clock
from medipay.logs import get_logger
from medipay_backend.db import Database
from medipay_backend.domain.dunning import OSLO, oslo_date
from medipay_backend.invoicing.dunning_runner import RunSummary, run_chunk
from medipay_backend.invoicing.issuing import issue_pending
from medipay_backend.jobs import ClaimedJob, NewJob
from medipay_backend.models_invoicing import ClaimEvent
from medipay_backend.runtime import Runtime
from medipay_backend.scheduler import Handler
from medipay_backend.sms.sender import SmsError

log = get_logger(__name__)
DAILY_KEY = "invoicing:daily"
RUN_AT = time(6, 0)  # Oslo time
SMS_BATCH = 500


def daily_job(now: datetime) -> NewJob:
    return NewJob("invoicing_daily", DAILY_KEY, now, {}, max_attempts=1_000_000)


def next_run(now: datetime) -> datetime:
    tomorrow = oslo_date(now) + timedelta(days=1)
    return datetime.combine(tomorrow, RUN_AT, tzinfo=OSLO)


def pending_sms(session: Session, limit: int = SMS_BATCH) -> list[tuple[int, str, str]]:
    events = session.scalars(sa.select(ClaimEvent).where(ClaimEvent.kind == "sms_pending")
                             .order_by(ClaimEvent.seq).limit(limit)).all()
    return [(e.seq, e.detail.get("to") or "", e.detail["text"]) for e in events]


def mark_sent(session: Session, *, seq: int, message_id: str, now: datetime) -> None:
    event = session.get(ClaimEvent, seq)
    if event is not None and event.kind == "sms_pending":
        event.kind = "sms"
        event.detail = {**event.detail, "message_id": message_id, "sent_at": now.isoformat()}


async def send_pending_sms(db: Database, clock: Clock, runtime: Runtime) -> int:
    sent = 0
    for seq, to, text in await db.run(pending_sms):
        if not to:
            log.warning("dunning sms without a number left pending", event=seq)
            continue
        try:
            message_id = await runtime.sms.send(to, text)
        except SmsError as exc:
            log.warning("dunning sms failed; retried next run", event=seq, error=str(exc))
            continue
        await db.run(partial(mark_sent, seq=seq, message_id=message_id, now=clock.now()))
        sent += 1
    return sent


async def run_day(db: Database, clock: Clock, runtime: Runtime) -> RunSummary:
    now = clock.now()
    while await db.run(lambda s: issue_pending(s, now)):
        pass
    summary = RunSummary()
    today = oslo_date(now)
    lookup = runtime.bureau.registered_address
    while await db.run(lambda s: run_chunk(s, today, now, summary, lookup=lookup)):
        pass
    await send_pending_sms(db, clock, runtime)
    return summary


def make_invoicing_handlers(db: Database, clock: Clock,
                            runtime: Runtime) -> Mapping[str, Handler]:
    async def invoicing_daily(job: ClaimedJob) -> datetime:
        summary = await run_day(db, clock, runtime)
        log.info("dunning run done", claims=summary.claims, actions=dict(summary.actions),
                 fees=summary.fees)
        return next_run(clock.now())

    return {"invoicing_daily": invoicing_daily}
