"""The daily invoicing job through the durable scheduler: it issues, dunns, sends the SMS and
asks to run again the next morning."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from medipay.clock import SimulatedClock
from medipay_backend.db import Database
from medipay_backend.handlers import make_handlers
from medipay_backend.invoicing.jobs import daily_job, next_run
from medipay_backend.models_invoicing import ClaimEvent
from medipay_backend.runtime import Runtime
from medipay_backend.scheduler import Scheduler
from medipay_backend.sms.sender import RecordingSender

from .seed import make_claim


async def test_the_daily_job_runs_dunning_and_sends_the_friendly_sms(
    database: Database, clock: SimulatedClock
) -> None:
    claim = database.transaction(lambda s: make_claim(s, clock.now()))
    runtime = Runtime.simulated(clock)
    scheduler = Scheduler(database, clock, make_handlers(database, clock, runtime))
    await scheduler.add(daily_job(clock.now()))
    for _ in range(20):
        await scheduler.run_due()
        clock.advance(timedelta(days=1))
    sender = runtime.sms
    assert isinstance(sender, RecordingSender)
    assert len(sender.messages) == 1
    message = sender.messages[0]
    assert message.to == "+4791234567" and claim.kid in message.text
    kinds = database.transaction(lambda s: sorted(s.scalars(
        sa.select(ClaimEvent.kind).where(ClaimEvent.claim_seq == claim.seq))))
    assert kinds == ["deadline", "sms"]
    assert next_run(clock.now()) > clock.now()
