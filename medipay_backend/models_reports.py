"""The record of settlement report e-mails: one row per settlement, at most.

The primary key is the settlement id, so each send of a settlement's reports is recorded as
sent (or skipped, or failed for good) once; the mail job checks it before sending and inserts
it after. The row holds the latest send's outcome: an operator's resend
(`mailing.queue_resend`) moves the earlier outcome into the new send's job payload.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from medipay_backend.models import Base, UTCDateTime

MAILING_STATUSES = ("sent", "skipped", "failed")


class SettlementMailing(Base):
    __tablename__ = "settlement_mailings"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {MAILING_STATUSES!r}", name="status_known"),
    )

    settlement_id: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("settlements.id"), primary_key=True
    )
    clinic_id: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    recipient: Mapped[str | None] = mapped_column(sa.String(254))
    # Stable per send (`<settlement-ID@domain>`, `<settlement-ID.N@domain>` for resend N), so a
    # retry after a crash between sending and recording carries the same id and the
    # receiving side can drop the copy.
    message_id: Mapped[str | None] = mapped_column(sa.String(200))
    attachments: Mapped[list[str]] = mapped_column(sa.JSON())
    # Why it was skipped or failed (no SMTP, no address, nothing settled, the SMTP answer).
    detail: Mapped[str | None] = mapped_column(sa.String(1000))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
