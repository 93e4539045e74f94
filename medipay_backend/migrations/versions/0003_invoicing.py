"""Invoicing: issued invoices (claims) with number, dates and stage; their dunning events,
incoming payments, suspense items, credit notes, documents, deliveries and call tasks.

Revision: 0003
Parent: 0002_clinics_orders
Written: 2026-11-22

A migration is a frozen snapshot: use plain SQLAlchemy types here, never the model classes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002_clinics_orders"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("invoice_id", sa.String(36), nullable=False),
        sa.Column("invoice_number", sa.BigInteger(), nullable=False),
        sa.Column("clinic_id", sa.String(64), nullable=False),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("kid", sa.String(25), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("stage", sa.String(24), nullable=False),
        sa.Column("done", sa.JSON(), nullable=False),
        sa.Column("next_action_on", sa.Date(), nullable=True),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("invoice_fee", sa.BigInteger(), nullable=False),
        sa.Column("fees_charged", sa.BigInteger(), nullable=False),
        sa.Column("paid_fees", sa.BigInteger(), nullable=False),
        sa.Column("paid_interest", sa.BigInteger(), nullable=False),
        sa.Column("paid_invoice_fee", sa.BigInteger(), nullable=False),
        sa.Column("paid_principal", sa.BigInteger(), nullable=False),
        sa.Column("credited_invoice_fee", sa.BigInteger(), nullable=False),
        sa.Column("credited_principal", sa.BigInteger(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.CheckConstraint(
            "state IN ('open', 'paid', 'stopped', 'deleted', 'credited')",
            name="ck_claims_state_known",
        ),
        sa.CheckConstraint("route IN ('bought', 'fakturaservice')", name="ck_claims_route_known"),
        sa.CheckConstraint("principal >= 0", name="ck_claims_principal_not_negative"),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name="fk_claims_invoice_id_invoices"
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.clinic_id"], name="fk_claims_clinic_id_clinics"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_claims"),
        sa.UniqueConstraint("invoice_id", name="uq_claims_invoice_id"),
        sa.UniqueConstraint("invoice_number", name="uq_claims_invoice_number"),
    )
    op.create_index("ix_claims_kid", "claims", ["kid"])
    op.create_index("ix_claims_state_next", "claims", ["state", "next_action_on"])
    op.create_index("ix_claims_clinic_issue", "claims", ["clinic_id", "issue_date"])
    op.create_table(
        "claim_events",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("claim_seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("step_id", sa.String(40), nullable=True),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("interest", sa.BigInteger(), nullable=False),
        sa.Column("principal_delta", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_seq"], ["claims.seq"], name="fk_claim_events_claim_seq_claims"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_claim_events"),
        sa.UniqueConstraint("claim_seq", "step_id", name="uq_claim_events_claim_seq"),
    )
    op.create_index("ix_claim_events_claim_seq_seq", "claim_events", ["claim_seq", "seq"])
    op.create_table(
        "incoming_payments",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_ref", sa.String(120), nullable=False),
        sa.Column("kid", sa.String(25), nullable=True),
        sa.Column("claim_seq", sa.BigInteger(), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("interest", sa.BigInteger(), nullable=False),
        sa.Column("invoice_fee", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("overpayment", sa.BigInteger(), nullable=False),
        sa.Column("to_provider", sa.BigInteger(), nullable=False),
        sa.Column("to_clinic", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_seq"], ["claims.seq"], name="fk_incoming_payments_claim_seq_claims"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_incoming_payments"),
        sa.UniqueConstraint("source_ref", name="uq_incoming_payments_source_ref"),
    )
    op.create_table(
        "suspense_items",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("payment_seq", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("kid", sa.String(25), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("resolved_at", _TIME, nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_seq"], ["incoming_payments.seq"],
            name="fk_suspense_items_payment_seq_incoming_payments",
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_suspense_items"),
    )
    op.create_table(
        "deliveries",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("claim_seq", sa.BigInteger(), nullable=False),
        sa.Column("document", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_seq"], ["claims.seq"], name="fk_deliveries_claim_seq_claims"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_deliveries"),
        sa.UniqueConstraint("claim_seq", "document", name="uq_deliveries_claim_seq"),
    )


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("suspense_items")
    op.drop_table("incoming_payments")
    op.drop_index("ix_claim_events_claim_seq_seq", table_name="claim_events")
    op.drop_table("claim_events")
    op.drop_index("ix_claims_clinic_issue", table_name="claims")
    op.drop_index("ix_claims_state_next", table_name="claims")
    op.drop_index("ix_claims_kid", table_name="claims")
    op.drop_table("claims")
