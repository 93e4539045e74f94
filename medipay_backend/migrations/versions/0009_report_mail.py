"""Clinic e-mail for reports; report deliveries.

Revision: 0009
Parent: 0008
Written: 2026-11-22

`clinics.report_email` is where a clinic's settlement reports are e-mailed (NULL: none, the
reports are only downloadable). `settlement_mailings` records the one e-mail of each
settlement (or why none was sent); its primary key is the settlement id.

A migration is a frozen snapshot: use plain SQLAlchemy types here, never the model classes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

_TIME = sa.DateTime(timezone=True)
_STATUSES = ("sent", "skipped", "failed")

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clinics", sa.Column("report_email", sa.String(254), nullable=True))
    op.create_table(
        "settlement_mailings",
        sa.Column("settlement_id", sa.String(64), nullable=False),
        sa.Column("clinic_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=True),
        sa.Column("message_id", sa.String(200), nullable=True),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("detail", sa.String(1000), nullable=True),
        sa.Column("recorded_at", _TIME, nullable=False),
        sa.CheckConstraint(f"status IN {_STATUSES!r}",
                           name="ck_settlement_mailings_status_known"),
        sa.ForeignKeyConstraint(
            ["settlement_id"], ["settlements.id"],
            name="fk_settlement_mailings_settlement_id_settlements",
        ),
        sa.PrimaryKeyConstraint("settlement_id", name="pk_settlement_mailings"),
    )


def downgrade() -> None:
    op.drop_table("settlement_mailings")
    op.drop_column("clinics", "report_email")
