"""Invoicing: card and Vipps payments of claims, suspense applied to claims.

Revision: 0006
Parent: 0005
Written: 2026-11-22

A migration is a frozen snapshot: use plain SQLAlchemy types here, never the model classes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "claim_links",
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("claim_seq", sa.BigInteger(), nullable=False),
        sa.Column("step_id", sa.String(40), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_seq"], ["claims.seq"], name="fk_claim_links_claim_seq_claims"
        ),
        sa.PrimaryKeyConstraint("token_sha256", name="pk_claim_links"),
    )
    op.create_index("ix_claim_links_claim_seq", "claim_links", ["claim_seq"])
    op.create_table(
        "claim_payments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("claim_seq", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("quoted_on", sa.Date(), nullable=False),
        sa.Column("provider_reference", sa.String(64), nullable=True),
        sa.Column("masked_pan", sa.String(32), nullable=True),
        sa.Column("card_name", sa.String(64), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.CheckConstraint("method IN ('card', 'vipps')", name="ck_claim_payments_method_known"),
        sa.CheckConstraint(
            "status IN ('pending', 'captured', 'declined', 'cancelled')",
            name="ck_claim_payments_status_known",
        ),
        sa.CheckConstraint("amount > 0", name="ck_claim_payments_amount_positive"),
        sa.ForeignKeyConstraint(
            ["claim_seq"], ["claims.seq"], name="fk_claim_payments_claim_seq_claims"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_claim_payments"),
    )
    op.create_index("ix_claim_payments_claim_seq", "claim_payments", ["claim_seq"])
    # SQLite cannot add a foreign key to an existing table: batch mode copies the table.
    with op.batch_alter_table("suspense_items") as batch:
        batch.add_column(sa.Column("resolution", sa.String(16), nullable=True))
        batch.add_column(sa.Column("claim_seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("refund_account", sa.String(11), nullable=True))
        batch.create_foreign_key(
            "fk_suspense_items_claim_seq_claims", "claims", ["claim_seq"], ["seq"]
        )
    # Items resolved before this revision were handled by hand.
    op.execute("UPDATE suspense_items SET resolution = 'handled' WHERE resolved_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("suspense_items") as batch:
        batch.drop_constraint("fk_suspense_items_claim_seq_claims", type_="foreignkey")
        batch.drop_column("refund_account")
        batch.drop_column("claim_seq")
        batch.drop_column("resolution")
    op.drop_index("ix_claim_payments_claim_seq", table_name="claim_payments")
    op.drop_table("claim_payments")
    op.drop_index("ix_claim_links_claim_seq", table_name="claim_links")
    op.drop_table("claim_links")
