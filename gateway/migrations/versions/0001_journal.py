"""The journal: transactions, outbox, terminal state.

Revision: 0001
Parent: none

A migration is a frozen snapshot: plain SQLAlchemy types, never the table objects of the code.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transactions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("terminal_id", sa.String(64), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reference", sa.String(200)),
        sa.Column("original_transaction_id", sa.String(36)),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("result_code", sa.Integer),
        sa.Column("result_text", sa.Text),
        sa.Column("masked_pan", sa.String(32)),
        sa.Column("card_name", sa.String(64)),
        sa.Column("receipt_number", sa.Integer),
        sa.Column("trace_number", sa.Integer),
        sa.Column("receipt_lines", sa.JSON, nullable=False),
        sa.Column("details", sa.JSON),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", sa.DateTime(timezone=True), index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "terminal_state",
        sa.Column("terminal_id", sa.String(64), primary_key=True),
        sa.Column("last_receipt_id", sa.LargeBinary),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("terminal_state")
    op.drop_table("outbox")
    op.drop_table("transactions")
