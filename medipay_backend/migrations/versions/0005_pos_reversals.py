"""POS reversals name the payment they reverse; end-of-day totals say where they come from.

Revision: 0005
Parent: 0004
Written: 2026-11-22

A migration is a frozen snapshot: use plain SQLAlchemy types here, never the model classes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pos_transactions") as batch:
        batch.add_column(sa.Column("reverses_gateway_transaction_id", sa.String(100),
                                   nullable=True))
        batch.add_column(sa.Column("reverses_receipt_number", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("reversed_by", sa.String(36), nullable=True))
        batch.create_index("ix_pos_transactions_gateway_transaction_id",
                           ["gateway_transaction_id"])
        batch.create_index("ix_pos_transactions_reverses", ["reverses_gateway_transaction_id"])
    with op.batch_alter_table("pos_end_of_day") as batch:
        # Totals received before this revision all came from the terminals.
        batch.add_column(sa.Column("totals_source", sa.String(16), nullable=False,
                                   server_default="terminal"))
        batch.create_check_constraint(op.f("ck_pos_end_of_day_totals_source_known"),
                                      "totals_source IN ('terminal', 'reconstructed')")


def downgrade() -> None:
    with op.batch_alter_table("pos_end_of_day") as batch:
        batch.drop_constraint(op.f("ck_pos_end_of_day_totals_source_known"), type_="check")
        batch.drop_column("totals_source")
    with op.batch_alter_table("pos_transactions") as batch:
        batch.drop_index("ix_pos_transactions_reverses")
        batch.drop_index("ix_pos_transactions_gateway_transaction_id")
        batch.drop_column("reversed_by")
        batch.drop_column("reverses_receipt_number")
        batch.drop_column("reverses_gateway_transaction_id")
