"""The job table's operations (blocking, per session): schedule, claim, finish, retry.

Claiming uses `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so several backend processes
can take jobs from one table without waiting on or double-taking each other. On SQLite the
clause is dropped by SQLAlchemy and not needed: every transaction there begins with
BEGIN IMMEDIATE, so claims are serialised anyway.

A claim is a lease: the job stays invisible to other workers until `locked_until`. A worker
that dies leaves the lease to run out, and the job is taken again; handlers are idempotent.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.models_jobs import Job

DEFAULT_MAX_ATTEMPTS = 8
# A handler that runs longer than this is presumed dead and its job is given to another worker.
DEFAULT_LEASE = timedelta(minutes=5)
# Retry back-off: 30 s, 1 min, 2 min ... capped at an hour, so a long SMSC outage is ridden out
# in a day of attempts without hammering it.
_BACKOFF_BASE = timedelta(seconds=30)
_BACKOFF_CAP = timedelta(hours=1)
ERROR_TEXT_LIMIT = 1000


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    due_at: datetime


@dataclass(frozen=True)
class NewJob:
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


def schedule(session: Session, jobs: Iterable[NewJob], now: datetime) -> None:
    """Add jobs whose keys are not in the table yet (a known key is left as it is)."""
    jobs = list(jobs)
    if not jobs:
        return
    known = set(session.scalars(sa.select(Job.key).where(Job.key.in_([j.key for j in jobs]))))
    for job in jobs:
        if job.key in known:
            continue
        known.add(job.key)
        session.add(Job(
            kind=job.kind, key=job.key, payload=job.payload, state="pending", due_at=job.due_at,
            attempts=0, max_attempts=job.max_attempts, locked_until=None, locked_by=None,
            last_error=None, created_at=now, finished_at=None,
        ))


def reschedule(session: Session, key: str, due_at: datetime) -> None:
    """Make a (recurring) job pending again at `due_at`."""
    session.execute(
        sa.update(Job).where(Job.key == key).values(
            state="pending", due_at=due_at, attempts=0, locked_until=None, locked_by=None,
            finished_at=None,
        )
    )


def claim_due(
    session: Session, now: datetime, worker: str, limit: int, lease: timedelta = DEFAULT_LEASE,
    kinds: Collection[str] | None = None,
) -> list[ClaimedJob]:
    """Take up to `limit` due jobs whose lease (if any) has run out; oldest due first.
    `kinds`: only jobs of these kinds (a process that runs only some handlers)."""
    query = (
        sa.select(Job)
        .where(Job.state == "pending", Job.due_at <= now,
               sa.or_(Job.locked_until.is_(None), Job.locked_until <= now))
        .order_by(Job.due_at, Job.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if kinds is not None:
        query = query.where(Job.kind.in_(list(kinds)))
    rows = list(session.scalars(query))
    claimed = []
    for row in rows:
        row.attempts += 1
        row.locked_until = now + lease
        row.locked_by = worker
        claimed.append(ClaimedJob(row.id, row.kind, row.key, dict(row.payload), row.attempts,
                                  row.max_attempts, row.due_at))
    session.flush()
    return claimed


def finish(session: Session, job_id: int, now: datetime) -> None:
    session.execute(
        sa.update(Job).where(Job.id == job_id, Job.state == "pending").values(
            state="done", finished_at=now, locked_until=None, last_error=None,
        )
    )


def retry_or_fail(session: Session, job_id: int, error: str, now: datetime) -> str:
    """After a failed attempt: back off and try again, or give up after max_attempts."""
    row = session.get(Job, job_id, with_for_update=True)
    if row is None or row.state != "pending":
        return "gone"
    row.last_error = error[:ERROR_TEXT_LIMIT]
    row.locked_until = None
    if row.attempts >= row.max_attempts:
        row.state = "failed"
        row.finished_at = now
        return "failed"
    row.due_at = now + backoff(row.attempts)
    return "retry"


def backoff(attempts: int) -> timedelta:
    return min(_BACKOFF_BASE * 2 ** max(attempts - 1, 0), _BACKOFF_CAP)


def job_counts(session: Session) -> dict[tuple[str, str], int]:
    rows = session.execute(sa.select(Job.kind, Job.state, sa.func.count()).group_by(
        Job.kind, Job.state))
    return {(kind, state): count for kind, state, count in rows}
