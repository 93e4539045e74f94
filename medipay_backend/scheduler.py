"""Workers that run due jobs from the job table.

`Scheduler.run_due()` claims due jobs in small batches and runs their handlers, a few at a
time, until nothing is due; `Scheduler.run()` does that forever, sleeping `poll_interval`
between rounds. Several processes may run schedulers on one PostgreSQL database: claims use
SKIP LOCKED and leases (see `jobs`). "Due" is always judged by the injected clock, so a test or
the simulation moves the clock and calls `run_due()`.

A handler returns None when its job is done, or a time at which the job should run again
(recurring jobs such as the deadline sweep). An exception is logged and the job is retried
with back-off until its attempts are used up.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

import trio
from sqlalchemy.orm import Session

from medipay.clock import Clock
from medipay.logs import get_logger
from medipay_backend import jobs
from medipay_backend.db import Database
from medipay_backend.jobs import ClaimedJob, NewJob

log = get_logger(__name__)

Handler = Callable[[ClaimedJob], Awaitable[datetime | None]]
# Jobs claimed per round trip: small enough that a lease is not held long before its turn.
CLAIM_BATCH = 20
# Handlers of one round running at once; each holds at most one database thread at a time.
CONCURRENCY = 4


class Scheduler:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        handlers: Mapping[str, Handler],
        *,
        worker_id: str | None = None,
        poll_interval: float = 1.0,
        lease: timedelta = jobs.DEFAULT_LEASE,
        only_kinds: bool = False,
    ) -> None:
        """`only_kinds`: claim only jobs that `handlers` can run (a command that runs some
        jobs beside the service), instead of every due job."""
        self.db = db
        self.clock = clock
        self.handlers = dict(handlers)
        self.worker_id = worker_id or f"worker-{secrets.token_hex(4)}"
        self.poll_interval = poll_interval
        self.lease = lease
        self.kinds = frozenset(self.handlers) if only_kinds else None

    async def add(self, *new_jobs: NewJob) -> None:
        now = self.clock.now()
        await self.db.run_check_then_insert(lambda s: jobs.schedule(s, new_jobs, now))

    async def run_due(self, max_rounds: int = 10_000) -> int:
        """Run every job that is due now; the number of handler runs."""
        ran = 0
        for _ in range(max_rounds):
            claimed = await self.db.run(self._claim)
            if not claimed:
                break
            limiter = trio.CapacityLimiter(CONCURRENCY)
            async with trio.open_nursery() as nursery:
                for job in claimed:
                    nursery.start_soon(self._run_one, job, limiter)
            ran += len(claimed)
        return ran

    def _claim(self, session: Session) -> list[ClaimedJob]:
        now = self.clock.now()
        return jobs.claim_due(session, now, self.worker_id, CLAIM_BATCH, self.lease,
                              kinds=self.kinds)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        log.info("scheduler started", worker_id=self.worker_id, kinds=sorted(self.handlers))
        task_status.started()
        while True:
            await self.run_due()
            await trio.sleep(self.poll_interval)

    async def _run_one(self, job: ClaimedJob, limiter: trio.CapacityLimiter) -> None:
        async with limiter:
            handler = self.handlers.get(job.kind)
            try:
                if handler is None:
                    raise LookupError(f"no handler for job kind {job.kind!r}")
                again = await handler(job)
            except Exception as exc:  # noqa: BLE001 - logged and retried, never fatal
                await self._failed(job, exc)
                return
            now = self.clock.now()
            if again is not None:
                due = max(again, now + timedelta(microseconds=1))
                await self.db.run(lambda s: jobs.reschedule(s, job.key, due))
            else:
                await self.db.run(lambda s: jobs.finish(s, job.id, now))

    async def _failed(self, job: ClaimedJob, exc: Exception) -> None:
        now = self.clock.now()
        error = f"{type(exc).__name__}: {exc}"
        outcome = await self.db.run(lambda s: jobs.retry_or_fail(s, job.id, error, now))
        level = log.error if outcome == "failed" else log.warning
        level("job failed", kind=job.kind, key=job.key, attempt=job.attempts, outcome=outcome,
              exc_info=exc)
