"""An index for finding the reversals that name a payment by its receipt number.

Revision: 0010
Parent: 0009
Written: 2026-12-02

Every new POS payment looks for reversals stored before it that name it
(`pos_reversals._reversals_naming`): by the gateway's transaction id (indexed since 0005) or,
for a standalone terminal's reversal, by terminal and receipt number. Without this index the
second lookup read every record of the gateway for every payment, so intake slowed as the
table grew (a 2,000-transaction backlog drained at a quarter of its earlier rate).
`reverses_receipt_number` is set on reversals only, so the index stays small. `reversed_by`
is indexed too: that lookup asks whether a candidate reversal already reversed another
payment.

A migration is a frozen snapshot: use plain SQLAlchemy types here, never the model classes.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_pos_transactions_reverses_receipt", "pos_transactions",
                    ["terminal_id", "reverses_receipt_number"])
    op.create_index("ix_pos_transactions_reversed_by", "pos_transactions", ["reversed_by"])


def downgrade() -> None:
    op.drop_index("ix_pos_transactions_reversed_by", table_name="pos_transactions")
    op.drop_index("ix_pos_transactions_reverses_receipt", table_name="pos_transactions")
