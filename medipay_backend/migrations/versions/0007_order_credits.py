"""Credits on orders (full or partial) from EPJs and the clinic portal.

Revision: 0007
Parent: 0006
Written: 2026-11-22

A migration is a frozen snapshot: use plain SQLAlchemy types here, never the model classes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)
_TARGETS = ("card", "vipps", "bought_invoice", "fakturaservice")
_REFUND_STATUSES = ("pending", "refunded", "failed")

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_credits",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("clinic_id", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("ledger_transfer_id", sa.String(128), nullable=True),
        sa.Column("claim_event_seq", sa.BigInteger(), nullable=True),
        sa.Column("credit_note_amount", sa.BigInteger(), nullable=True),
        sa.Column("refund_status", sa.String(16), nullable=True),
        sa.Column("refund_reference", sa.String(100), nullable=True),
        sa.Column("refund_attempts", sa.Integer(), nullable=False),
        sa.Column("refund_error", sa.String(500), nullable=True),
        sa.Column("refunded_at", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_order_credits_amount_positive"),
        sa.CheckConstraint(f"target IN {_TARGETS!r}", name="ck_order_credits_target_known"),
        sa.CheckConstraint(
            f"refund_status IS NULL OR refund_status IN {_REFUND_STATUSES!r}",
            name="ck_order_credits_refund_status_known",
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.clinic_id"], name="fk_order_credits_clinic_id_clinics"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_credits_order_id_orders"
        ),
        sa.ForeignKeyConstraint(
            ["claim_event_seq"], ["claim_events.seq"],
            name="fk_order_credits_claim_event_seq_claim_events",
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_order_credits"),
        sa.UniqueConstraint("id", name="uq_order_credits_id"),
        sa.UniqueConstraint("clinic_id", "idempotency_key", name="uq_order_credits_clinic_key"),
    )
    op.create_index("ix_order_credits_order_seq", "order_credits", ["order_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_order_credits_order_seq", table_name="order_credits")
    op.drop_table("order_credits")
