"""The persisted ledger (accounts with running sums, append-only transfers), the gateway to
clinic mapping for POS settlement, settlements and their settled items.

Revision: 0004
Parent: 0003
Written: 2026-11-22

A migration is a frozen snapshot: use plain SQLAlchemy types here, never the model classes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)
_SOURCES = ("card", "vipps", "bought_invoice", "fakturaservice", "pos", "fee", "payout", "other")
_STREAMS = ("checkout", "fakturaservice", "pos")

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_accounts"),
    )
    op.create_table(
        "ledger_transfers",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("debit_account_id", sa.String(128), nullable=False),
        sa.Column("credit_account_id", sa.String(128), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("pending_id", sa.String(128), nullable=True),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("timestamp", _TIME, nullable=False),
        sa.Column("clinic_id", sa.String(64), nullable=True),
        sa.Column("stream", sa.String(16), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kid", sa.String(25), nullable=True),
        sa.Column("recorded_at", _TIME, nullable=False),
        sa.CheckConstraint("amount >= 0", name="ck_ledger_transfers_amount_not_negative"),
        sa.CheckConstraint(f"source IN {_SOURCES!r}", name="ck_ledger_transfers_source_known"),
        sa.PrimaryKeyConstraint("seq", name="pk_ledger_transfers"),
        sa.UniqueConstraint("id", name="uq_ledger_transfers_id"),
        sa.UniqueConstraint("pending_id", name="uq_ledger_transfers_pending_id"),
    )
    op.create_index(
        "ix_ledger_transfers_credit_seq", "ledger_transfers", ["credit_account_id", "seq"]
    )
    op.create_index(
        "ix_ledger_transfers_debit_seq", "ledger_transfers", ["debit_account_id", "seq"]
    )
    op.create_index(
        "ix_ledger_transfers_clinic_stream", "ledger_transfers", ["clinic_id", "stream", "seq"]
    )
    op.create_table(
        "gateway_clinics",
        sa.Column("gateway_id", sa.String(64), nullable=False),
        sa.Column("clinic_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["gateways.gateway_id"],
            name="fk_gateway_clinics_gateway_id_gateways",
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.clinic_id"], name="fk_gateway_clinics_clinic_id_clinics"
        ),
        sa.PrimaryKeyConstraint("gateway_id", name="pk_gateway_clinics"),
    )
    op.create_table(
        "settlements",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("clinic_id", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(16), nullable=False),
        sa.Column("settlement_date", sa.Date(), nullable=False),
        sa.Column("cutoff", _TIME, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("gross", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("carried_in", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("carried_forward", sa.BigInteger(), nullable=False),
        sa.Column("bank_account", sa.String(11), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.CheckConstraint(f"stream IN {_STREAMS!r}", name="ck_settlements_stream_known"),
        sa.CheckConstraint("total >= 0", name="ck_settlements_total_not_negative"),
        sa.CheckConstraint("carried_forward <= 0", name="ck_settlements_carried_not_positive"),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.clinic_id"], name="fk_settlements_clinic_id_clinics"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_settlements"),
        sa.UniqueConstraint("id", name="uq_settlements_id"),
        sa.UniqueConstraint("clinic_id", "stream", "settlement_date", name="uq_settlements_run"),
    )
    op.create_table(
        "settlement_items",
        sa.Column("transfer_id", sa.String(128), nullable=False),
        sa.Column("settlement_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["settlement_id"], ["settlements.id"],
            name="fk_settlement_items_settlement_id_settlements",
        ),
        sa.PrimaryKeyConstraint("transfer_id", name="pk_settlement_items"),
    )
    op.create_index(
        "ix_settlement_items_settlement", "settlement_items", ["settlement_id", "position"]
    )


def downgrade() -> None:
    op.drop_index("ix_settlement_items_settlement", table_name="settlement_items")
    op.drop_table("settlement_items")
    op.drop_table("settlements")
    op.drop_table("gateway_clinics")
    op.drop_index("ix_ledger_transfers_clinic_stream", table_name="ledger_transfers")
    op.drop_index("ix_ledger_transfers_debit_seq", table_name="ledger_transfers")
    op.drop_index("ix_ledger_transfers_credit_seq", table_name="ledger_transfers")
    op.drop_table("ledger_transfers")
    op.drop_table("ledger_accounts")
