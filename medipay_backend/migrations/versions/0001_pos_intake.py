"""POS intake: enrolled gateways, their request nonces, POS transactions, end-of-day totals.

Revision: 0001_pos_intake
Parent: none
Written: 2026-01-05

A migration is a frozen snapshot: use plain SQLAlchemy types here, never the model classes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_pos_intake"
down_revision = None
branch_labels = None
depends_on = None

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gateways",
        sa.Column("gateway_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("enrolled_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("gateway_id", name="pk_gateways"),
    )
    op.create_table(
        "gateway_nonces",
        sa.Column("gateway_id", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("signed_at", _TIME, nullable=False),
        sa.Column("seen_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["gateways.gateway_id"],
            name="fk_gateway_nonces_gateway_id_gateways",
        ),
        sa.PrimaryKeyConstraint("gateway_id", "nonce", name="pk_gateway_nonces"),
    )
    op.create_index("ix_gateway_nonces_signed_at", "gateway_nonces", ["signed_at"])

    op.create_table(
        "pos_transactions",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("gateway_id", sa.String(64), nullable=False),
        sa.Column("gateway_transaction_id", sa.String(100), nullable=False),
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("masked_pan", sa.String(32), nullable=True),
        sa.Column("card_name", sa.String(64), nullable=True),
        sa.Column("receipt_number", sa.BigInteger(), nullable=True),
        sa.Column("trace_number", sa.BigInteger(), nullable=True),
        sa.Column("result_code", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("occurred_at", _TIME, nullable=False),
        sa.Column("received_at", _TIME, nullable=False),
        sa.CheckConstraint("amount >= 0", name="ck_pos_transactions_amount_not_negative"),
        sa.CheckConstraint(
            "kind IN ('payment', 'refund', 'reversal')", name="ck_pos_transactions_kind_known"
        ),
        sa.CheckConstraint(
            "status IN ('approved', 'declined', 'aborted', 'failed', 'reversed')",
            name="ck_pos_transactions_status_known",
        ),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["gateways.gateway_id"],
            name="fk_pos_transactions_gateway_id_gateways",
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_pos_transactions"),
        sa.UniqueConstraint("id", name="uq_pos_transactions_id"),
        sa.UniqueConstraint("idempotency_key", name="uq_pos_transactions_idempotency_key"),
    )
    op.create_index(
        "ix_pos_transactions_gateway_seq", "pos_transactions", ["gateway_id", "seq"]
    )
    op.create_index(
        "ix_pos_transactions_terminal_seq", "pos_transactions", ["terminal_id", "seq"]
    )

    op.create_table(
        "pos_end_of_day",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("gateway_id", sa.String(64), nullable=False),
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("occurred_at", _TIME, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("per_scheme", sa.JSON(), nullable=False),
        sa.Column("received_at", _TIME, nullable=False),
        sa.CheckConstraint("amount >= 0", name="ck_pos_end_of_day_amount_not_negative"),
        sa.CheckConstraint("count >= 0", name="ck_pos_end_of_day_count_not_negative"),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["gateways.gateway_id"],
            name="fk_pos_end_of_day_gateway_id_gateways",
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_pos_end_of_day"),
        sa.UniqueConstraint("id", name="uq_pos_end_of_day_id"),
        sa.UniqueConstraint("idempotency_key", name="uq_pos_end_of_day_idempotency_key"),
    )
    op.create_index("ix_pos_end_of_day_gateway_seq", "pos_end_of_day", ["gateway_id", "seq"])
    op.create_index(
        "ix_pos_end_of_day_terminal_seq", "pos_end_of_day", ["terminal_id", "seq"]
    )


def downgrade() -> None:
    op.drop_table("pos_end_of_day")
    op.drop_table("pos_transactions")
    op.drop_table("gateway_nonces")
    op.drop_table("gateways")
