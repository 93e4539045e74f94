"""A reversal keeps the receipt number of the payment it reverses, for the uplink.

Revision: 0003
Parent: 0002

Reversals journalled before this revision get it from their payment's row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("original_receipt_number", sa.Integer))
    transactions = sa.table(
        "transactions",
        sa.column("id", sa.String(36)),
        sa.column("original_transaction_id", sa.String(36)),
        sa.column("receipt_number", sa.Integer),
        sa.column("original_receipt_number", sa.Integer),
    )
    original = transactions.alias("original")
    op.execute(
        transactions.update()
        .where(transactions.c.original_transaction_id.is_not(None))
        .values(original_receipt_number=sa.select(original.c.receipt_number)
                .where(original.c.id == transactions.c.original_transaction_id)
                .scalar_subquery())
    )


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("original_receipt_number")
