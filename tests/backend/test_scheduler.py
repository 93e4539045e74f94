"""The job table and its workers: due times on the injected clock, retries, leases, and
several workers sharing one table without running a job twice."""

from __future__ import annotations

from datetime import datetime, timedelta

import trio

from medipay.clock import SimulatedClock
from medipay_backend import jobs
from medipay_backend.db import Database
from medipay_backend.jobs import ClaimedJob, NewJob
from medipay_backend.scheduler import Scheduler


async def test_jobs_run_when_due_and_keys_deduplicate(
    database: Database, clock: SimulatedClock
) -> None:
    ran: list[str] = []

    async def handler(job: ClaimedJob) -> None:
        ran.append(job.key)

    scheduler = Scheduler(database, clock, {"note": handler})
    now = clock.now()
    await scheduler.add(NewJob("note", "a", now, {}), NewJob("note", "b", now + timedelta(hours=1),
                                                            {}))
    await scheduler.add(NewJob("note", "a", now, {"ignored": True}))
    assert await scheduler.run_due() == 1
    assert ran == ["a"]
    assert await scheduler.run_due() == 0
    clock.advance(timedelta(hours=1))
    assert await scheduler.run_due() == 1
    assert ran == ["a", "b"]
    counts = await database.run(jobs.job_counts)
    assert counts == {("note", "done"): 2}


async def test_failures_back_off_then_give_up(database: Database, clock: SimulatedClock) -> None:
    attempts: list[datetime] = []

    async def flaky(job: ClaimedJob) -> None:
        attempts.append(clock.now())
        raise RuntimeError("SMSC unavailable")

    scheduler = Scheduler(database, clock, {"flaky": flaky})
    await scheduler.add(NewJob("flaky", "x", clock.now(), {}, max_attempts=3))
    for _ in range(3):
        await scheduler.run_due()
        clock.advance(timedelta(minutes=10))
    await scheduler.run_due()
    assert len(attempts) == 3
    assert attempts[1] - attempts[0] == timedelta(minutes=10)  # due after 30 s, run at next tick
    counts = await database.run(jobs.job_counts)
    assert counts == {("flaky", "failed"): 1}


async def test_recurring_job_reschedules_itself(
    database: Database, clock: SimulatedClock
) -> None:
    runs: list[datetime] = []

    async def sweep(job: ClaimedJob) -> datetime:
        runs.append(clock.now())
        return clock.now() + timedelta(minutes=1)

    scheduler = Scheduler(database, clock, {"sweep": sweep})
    await scheduler.add(NewJob("sweep", "sweep", clock.now(), {}))
    for _ in range(3):
        await scheduler.run_due()
        clock.advance(timedelta(minutes=1))
    assert len(runs) == 3


async def test_an_expired_lease_lets_another_worker_take_the_job(
    database: Database, clock: SimulatedClock
) -> None:
    await database.run(lambda s: jobs.schedule(s, [NewJob("k", "j", clock.now(), {})],
                                               clock.now()))
    first = await database.run(lambda s: jobs.claim_due(s, clock.now(), "w1", 10))
    again = await database.run(lambda s: jobs.claim_due(s, clock.now(), "w2", 10))
    assert [j.key for j in first] == ["j"] and again == []
    clock.advance(jobs.DEFAULT_LEASE)
    taken = await database.run(lambda s: jobs.claim_due(s, clock.now(), "w2", 10))
    assert [(j.key, j.attempts) for j in taken] == [("j", 2)]


async def test_parallel_workers_run_each_job_once(
    database: Database, clock: SimulatedClock
) -> None:
    ran: list[str] = []

    async def handler(job: ClaimedJob) -> None:
        await trio.sleep(0.001)
        ran.append(job.key)

    now = clock.now()
    workers = [Scheduler(database, clock, {"k": handler}, worker_id=f"w{n}") for n in range(4)]
    await workers[0].add(*[NewJob("k", f"job-{n}", now, {}) for n in range(120)])
    async with trio.open_nursery() as nursery:
        for worker in workers:
            nursery.start_soon(worker.run_due)
    assert sorted(ran) == sorted(f"job-{n}" for n in range(120))
