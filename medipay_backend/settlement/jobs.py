"""The scheduled daily settlement: one durable job per Oslo date, run at `[settlement] run_at`.

Each day has a job of its own (`settlement_daily`, key `settlement:<YYYY-MM-DD>`, due at
`run_at` Oslo time that day), so a day is settled once however often the service restarts
and however many backend processes share the database: the key is unique, and a claimed job
is leased to one worker (`jobs`). The job for day D:

1. posts every record not in the ledger yet (`service.post_new`);
2. settles every clinic stream whose settlement frequency falls on D (daily: every day;
   weekly: Mondays; monthly: the 1st), each with `service.run_in_order`, which also writes
   the settlement's files under `files_root` and queues its report e-mail;
3. schedules the job for D + 1, also when step 1 or 2 failed (a problem at one clinic must
   not hold up the other clinics' next settlements);
4. finishes, or, if any clinic stream failed, raises `ScheduledSettlementError` naming them.

A clinic stream that fails (`SettlementRunError`, `MissingBankAccountError`, a refused item,
a database error) is logged at error level with its clinic, stream and error, and the others
go on. The job's `last_error` then names every failed stream, and the scheduler retries the
day with back-off (`MAX_ATTEMPTS`); the streams settled already are not made again. Once a
later settlement of the same stream exists, it has taken the failed day's payments (its
cutoff is later), and the retry leaves that day alone ("superseded").

Catch-up: the job for D + 1 is due at `run_at` on D + 1. After the service was down for some
days, that time has passed when it starts, so the day runs at once, schedules the next,
which is also due, and so on until today: every missed day is settled, oldest first, one
after the other. Every day, not only the latest, because settlements are keyed by date:
a weekly clinic whose Monday was missed gets its Monday settlement, and each day's report
covers the payments up to that day. On the very first start `plan` schedules today.

`[settlement] enabled = false`: the service schedules nothing. A day job left pending from
when it was enabled settles nothing and waits (`PARKED_FOR`); when the setting is turned on
again, `plan` makes it due at that day's `run_at` and the days since are caught up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay.clock import Clock
from medipay.logs import get_logger
from medipay_backend import jobs
from medipay_backend.db import Database
from medipay_backend.domain.ocr import OcrError
from medipay_backend.domain.settlement import SettlementError
from medipay_backend.jobs import ClaimedJob, NewJob
from medipay_backend.ledger.errors import LedgerError
from medipay_backend.localtime import OSLO, oslo_date
from medipay_backend.models_jobs import Job
from medipay_backend.scheduler import Handler
from medipay_backend.settlement import service
from medipay_backend.settlement.files import OcrMismatchError
from medipay_backend.settlement.runner import SettlementRunError

log = get_logger(__name__)
JOB_KIND = "settlement_daily"
# What one clinic stream's run can fail with and the others must not be stopped by: its data
# (a refused item, a fee too large, no bank account, ledger rules, an OCR file that does not
# recount), its files (disk) or the database (a lost connection, a lock timeout). Anything
# else is a bug and fails the day's job as a whole.
STREAM_FAILURES: tuple[type[Exception], ...] = (
    SettlementError, SettlementRunError, service.MissingBankAccountError, LedgerError,
    OcrError, OcrMismatchError, OSError, sa.exc.SQLAlchemyError,
)
KEY_PREFIX = "settlement:"
# Back-off doubles from 30 s and is capped at an hour (jobs.backoff): 30 attempts retry a
# failed day for about a day; by then the next day's run has taken a daily clinic's payments.
MAX_ATTEMPTS = 30
# How long a day job waits before looking again while `[settlement] enabled = false`.
PARKED_FOR = timedelta(hours=1)


@dataclass(frozen=True)
class SettlementSettings:
    """From `[settlement]` (`config.SettlementConfig`)."""

    run_at: time  # Oslo local time
    files_root: Path  # the settlements' files, `<root>/<clinic>/<settlement id>/`


@dataclass(frozen=True)
class StreamFailure:
    clinic_id: str
    stream: str
    error: str

    def __str__(self) -> str:
        return f"{self.clinic_id}/{self.stream}: {self.error}"


class ScheduledSettlementError(Exception):
    """Some clinic streams of a day could not be settled (the others were)."""

    def __init__(self, day: date, failures: list[StreamFailure], settled: int) -> None:
        self.day, self.failures = day, failures
        super().__init__(
            f"settlement {day.isoformat()}: {len(failures)} clinic stream(s) failed, "
            f"{settled} settled; " + "; ".join(str(f) for f in failures)
        )


def job_key(day: date) -> str:
    return f"{KEY_PREFIX}{day.isoformat()}"


def run_time(day: date, run_at: time) -> datetime:
    """`run_at` on `day`, Oslo time (a time that a DST change skips is read as summer time)."""
    return datetime.combine(day, run_at, tzinfo=OSLO)


def day_job(day: date, run_at: time) -> NewJob:
    return NewJob(JOB_KIND, job_key(day), run_time(day, run_at), {"date": day.isoformat()},
                  max_attempts=MAX_ATTEMPTS)


def plan(session: Session, settings: SettlementSettings, now: datetime) -> date:
    """At start: make sure the chain of day jobs goes on; the day whose job is next.

    - No day job yet (first start): today's.
    - The latest day's job is waiting (not running, not retrying): its due time is set to
      its day's `run_at` again, which may have changed, or it was parked while disabled.
    - The latest day's job is being run or retried: left as it is.
    - The latest day's job is finished: the next day's (its handler normally added it)."""
    latest = session.scalars(
        sa.select(Job).where(Job.kind == JOB_KIND).order_by(Job.key.desc()).limit(1)
        .with_for_update()
    ).first()
    if latest is None:
        day = oslo_date(now)
        jobs.schedule(session, [day_job(day, settings.run_at)], now)
        return day
    day = date.fromisoformat(latest.key.removeprefix(KEY_PREFIX))
    if latest.state == "pending":
        if latest.attempts == 0:
            latest.due_at = run_time(day, settings.run_at)
        return day
    jobs.schedule(session, [day_job(day + timedelta(days=1), settings.run_at)], now)
    return day + timedelta(days=1)


async def start(database: Database, clock: Clock, settings: SettlementSettings) -> date:
    """`plan`, from the service's start (two processes starting at once agree)."""
    now = clock.now()
    day = await database.run_check_then_insert(lambda s: plan(s, settings, now))
    log.info("scheduled settlement planned", next_day=day.isoformat(),
             run_at=settings.run_at.isoformat("minutes"), files_root=str(settings.files_root))
    return day


async def settle_due(database: Database, clock: Clock, day: date,
                     root: Path) -> tuple[int, list[StreamFailure]]:
    """Post what is new, then settle every clinic stream due on `day`, each on its own;
    the number settled (superseded ones not counted) and the failures."""
    await service.post_new(database, clock)
    settled = 0
    failures: list[StreamFailure] = []
    for key in await service.keys_due(database, day):
        try:
            row = await service.run_in_order(database, clock, key, root)
        except STREAM_FAILURES as exc:  # logged, named in the job's error, retried later
            failure = StreamFailure(key.clinic_id, key.stream.value,
                                    f"{type(exc).__name__}: {exc}")
            failures.append(failure)
            log.error("scheduled settlement failed", clinic_id=key.clinic_id,
                      stream=key.stream.value, settlement_date=day.isoformat(),
                      error=failure.error, exc_info=exc)
            continue
        if row is not None:
            settled += 1
    return settled, failures


def make_settlement_handlers(
    database: Database, clock: Clock, settings: Callable[[], SettlementSettings | None]
) -> Mapping[str, Handler]:
    """The job handler; `settings` is read at each run (the runtime's; None: disabled)."""

    async def schedule_next(day: date, run_at: time) -> None:
        following = day_job(day + timedelta(days=1), run_at)
        now = clock.now()
        await database.run_check_then_insert(lambda s: jobs.schedule(s, [following], now))

    async def settlement_daily(job: ClaimedJob) -> datetime | None:
        day = date.fromisoformat(job.payload["date"])
        current = settings()
        if current is None:
            log.info("scheduled settlement disabled; day left waiting",
                     settlement_date=day.isoformat())
            return clock.now() + PARKED_FOR
        try:
            settled, failures = await settle_due(database, clock, day, current.files_root)
        finally:  # tomorrow is planned even when today fails (the scheduler retries today)
            await schedule_next(day, current.run_at)
        log.info("scheduled settlement done", settlement_date=day.isoformat(),
                 settled=settled, failed=len(failures), attempt=job.attempts)
        if failures:
            raise ScheduledSettlementError(day, failures, settled)
        return None

    return {JOB_KIND: settlement_daily}
