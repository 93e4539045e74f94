"""The durable job table the scheduler works from.

A job is due at `due_at`; a worker claims it by setting `locked_until` (a lease), runs its
handler, and marks it done, or schedules a retry with back-off. Handlers are idempotent, so a
job whose worker died is simply run again once its lease has run out. `key` is unique: it
makes scheduling the same job twice a no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from medipay_backend.models import SEQ_TYPE, Base, UTCDateTime

JOB_STATES = ("pending", "done", "failed")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        sa.CheckConstraint(f"state IN {JOB_STATES!r}", name="state_known"),
        sa.Index("ix_jobs_state_due", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON())
    state: Mapped[str] = mapped_column(sa.String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(sa.Integer())
    max_attempts: Mapped[int] = mapped_column(sa.Integer())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_by: Mapped[str | None] = mapped_column(sa.String(100))
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
