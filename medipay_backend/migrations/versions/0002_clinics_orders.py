"""Clinics, accounts, agreements and EPJ credentials; orders with their history, checkout
links, payments, SMS messages and invoices; the scheduler's job table.

Revision: 0002_clinics_orders
Parent: 0001_pos_intake
Written: 2026-01-12

A migration is a frozen snapshot: use plain SQLAlchemy types here, never the model classes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)

revision = '0002_clinics_orders'
down_revision = '0001_pos_intake'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('clinics',
    sa.Column('clinic_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('org_number', sa.String(length=9), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.PrimaryKeyConstraint('clinic_id', name='pk_clinics')
    )
    op.create_table('jobs',
    sa.Column('id', _SEQ, autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('due_at', _TIME, nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('locked_until', _TIME, nullable=True),
    sa.Column('locked_by', sa.String(length=100), nullable=True),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.Column('created_at', _TIME, nullable=False),
    sa.Column('finished_at', _TIME, nullable=True),
    sa.CheckConstraint("state IN ('pending', 'done', 'failed')", name='ck_jobs_state_known'),
    sa.PrimaryKeyConstraint('id', name='pk_jobs'),
    sa.UniqueConstraint('key', name='uq_jobs_key')
    )
    op.create_index('ix_jobs_state_due', 'jobs', ['state', 'due_at'], unique=False)
    op.create_table('clinic_accounts',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('clinic_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('bank_account', sa.String(length=11), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.clinic_id'], name='fk_clinic_accounts_clinic_id_clinics'),
    sa.PrimaryKeyConstraint('account_id', name='pk_clinic_accounts')
    )
    op.create_index('ix_clinic_accounts_clinic_id', 'clinic_accounts', ['clinic_id'], unique=False)
    op.create_table('clinic_agreements',
    sa.Column('clinic_id', sa.String(length=64), nullable=False),
    sa.Column('invoice_fee', sa.BigInteger(), nullable=False),
    sa.Column('price_per_transaction', sa.BigInteger(), nullable=False),
    sa.Column('price_percent_bp', sa.Integer(), nullable=False),
    sa.Column('settlement_frequency', sa.String(length=16), nullable=False),
    sa.Column('max_order_amount', sa.BigInteger(), nullable=False),
    sa.Column('kid_scheme', sa.String(length=8), nullable=False),
    sa.Column('fakturaservice', sa.Boolean(), nullable=False),
    sa.Column('updated_at', _TIME, nullable=False),
    sa.CheckConstraint("kid_scheme IN ('mod10', 'mod11')", name='ck_clinic_agreements_kid_scheme_known'),
    sa.CheckConstraint("settlement_frequency IN ('daily', 'weekly', 'monthly')", name='ck_clinic_agreements_frequency_known'),
    sa.CheckConstraint('invoice_fee >= 0', name='ck_clinic_agreements_invoice_fee_not_negative'),
    sa.CheckConstraint('max_order_amount > 0', name='ck_clinic_agreements_max_amount_positive'),
    sa.CheckConstraint('price_per_transaction >= 0', name='ck_clinic_agreements_price_not_negative'),
    sa.CheckConstraint('price_percent_bp >= 0', name='ck_clinic_agreements_percent_not_negative'),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.clinic_id'], name='fk_clinic_agreements_clinic_id_clinics'),
    sa.PrimaryKeyConstraint('clinic_id', name='pk_clinic_agreements')
    )
    op.create_table('epj_credentials',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('clinic_id', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('derivation_salt', sa.String(length=64), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.Column('revoked_at', _TIME, nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['clinic_accounts.account_id'], name='fk_epj_credentials_account_id_clinic_accounts'),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.clinic_id'], name='fk_epj_credentials_clinic_id_clinics'),
    sa.PrimaryKeyConstraint('client_id', name='pk_epj_credentials'),
    sa.UniqueConstraint('account_id', 'idempotency_key', name='uq_epj_credentials_key')
    )
    op.create_table('orders',
    sa.Column('seq', _SEQ, autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('clinic_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('external_reference', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('status_reason', sa.String(length=64), nullable=True),
    sa.Column('payment_method', sa.String(length=16), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('invoice_fee', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('kid', sa.String(length=25), nullable=False),
    sa.Column('kid_generated', sa.Boolean(), nullable=False),
    sa.Column('description', sa.String(length=100), nullable=False),
    sa.Column('payer', sa.String(length=16), nullable=False),
    sa.Column('direct_to_invoice', sa.Boolean(), nullable=False),
    sa.Column('always_fakturaservice', sa.Boolean(), nullable=False),
    sa.Column('patient_national_id', sa.String(length=11), nullable=True),
    sa.Column('patient_birth_date', sa.Date(), nullable=True),
    sa.Column('patient', sa.JSON(), nullable=False),
    sa.Column('guardian', sa.JSON(), nullable=True),
    sa.Column('other_payer', sa.JSON(), nullable=True),
    sa.Column('company', sa.JSON(), nullable=True),
    sa.Column('sms_to', sa.String(length=16), nullable=True),
    sa.Column('deadline_at', _TIME, nullable=True),
    sa.Column('received_at', _TIME, nullable=False),
    sa.Column('updated_at', _TIME, nullable=False),
    sa.CheckConstraint("status IN ('accepted', 'awaiting_payment', 'paid', 'invoice_chosen', 'invoiced', 'manual_handling')", name='ck_orders_status_known'),
    sa.CheckConstraint('amount > 0', name='ck_orders_amount_positive'),
    sa.CheckConstraint('invoice_fee >= 0', name='ck_orders_invoice_fee_not_negative'),
    sa.ForeignKeyConstraint(['account_id'], ['clinic_accounts.account_id'], name='fk_orders_account_id_clinic_accounts'),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.clinic_id'], name='fk_orders_clinic_id_clinics'),
    sa.PrimaryKeyConstraint('seq', name='pk_orders'),
    sa.UniqueConstraint('clinic_id', 'idempotency_key', name='uq_orders_clinic_key'),
    sa.UniqueConstraint('clinic_id', 'kid', name='uq_orders_clinic_kid'),
    sa.UniqueConstraint('id', name='uq_orders_id')
    )
    op.create_index('ix_orders_clinic_seq', 'orders', ['clinic_id', 'seq'], unique=False)
    op.create_index('ix_orders_patient_national_id', 'orders', ['patient_national_id'], unique=False)
    op.create_index('ix_orders_status_deadline', 'orders', ['status', 'deadline_at'], unique=False)
    op.create_table('checkout_links',
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('order_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name='fk_checkout_links_order_id_orders'),
    sa.PrimaryKeyConstraint('token_sha256', name='pk_checkout_links')
    )
    op.create_index('ix_checkout_links_order_id', 'checkout_links', ['order_id'], unique=False)
    op.create_table('invoices',
    sa.Column('seq', _SEQ, autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('order_id', sa.String(length=36), nullable=False),
    sa.Column('clinic_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('route', sa.String(length=16), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('recipient', sa.JSON(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('invoice_fee', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('kid', sa.String(length=25), nullable=False),
    sa.Column('score_points', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.CheckConstraint("origin IN ('checkout', 'fallback', 'direct')", name='ck_invoices_origin_known'),
    sa.CheckConstraint("route IN ('bought', 'fakturaservice')", name='ck_invoices_route_known'),
    sa.CheckConstraint('total = amount + invoice_fee', name='ck_invoices_total_adds_up'),
    sa.ForeignKeyConstraint(['account_id'], ['clinic_accounts.account_id'], name='fk_invoices_account_id_clinic_accounts'),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.clinic_id'], name='fk_invoices_clinic_id_clinics'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name='fk_invoices_order_id_orders'),
    sa.PrimaryKeyConstraint('seq', name='pk_invoices'),
    sa.UniqueConstraint('id', name='uq_invoices_id'),
    sa.UniqueConstraint('order_id', name='uq_invoices_order_id')
    )
    op.create_index('ix_invoices_clinic_seq', 'invoices', ['clinic_id', 'seq'], unique=False)
    op.create_table('order_events',
    sa.Column('seq', _SEQ, autoincrement=True, nullable=False),
    sa.Column('order_id', sa.String(length=36), nullable=False),
    sa.Column('at', _TIME, nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name='fk_order_events_order_id_orders'),
    sa.PrimaryKeyConstraint('seq', name='pk_order_events')
    )
    op.create_index('ix_order_events_order_seq', 'order_events', ['order_id', 'seq'], unique=False)
    op.create_table('payments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('order_id', sa.String(length=36), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('provider_reference', sa.String(length=100), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('masked_pan', sa.String(length=32), nullable=True),
    sa.Column('card_name', sa.String(length=64), nullable=True),
    sa.Column('created_at', _TIME, nullable=False),
    sa.Column('updated_at', _TIME, nullable=False),
    sa.CheckConstraint("method IN ('card', 'vipps', 'invoice')", name='ck_payments_method_known'),
    sa.CheckConstraint("status IN ('pending', 'authorized', 'captured', 'declined', 'cancelled', 'failed')", name='ck_payments_status_known'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name='fk_payments_order_id_orders'),
    sa.PrimaryKeyConstraint('id', name='pk_payments')
    )
    op.create_index('ix_payments_order_id', 'payments', ['order_id'], unique=False)
    op.create_table('sms_messages',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('order_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('to_number', sa.String(length=16), nullable=False),
    sa.Column('text', sa.String(length=1000), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('smsc_message_id', sa.String(length=65), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('receipt_status', sa.String(length=16), nullable=True),
    sa.Column('receipt_at', _TIME, nullable=True),
    sa.Column('created_at', _TIME, nullable=False),
    sa.Column('submitted_at', _TIME, nullable=True),
    sa.CheckConstraint("kind IN ('checkout', 'reminder')", name='ck_sms_messages_kind_known'),
    sa.CheckConstraint("status IN ('sending', 'submitted', 'failed')", name='ck_sms_messages_status_known'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name='fk_sms_messages_order_id_orders'),
    sa.PrimaryKeyConstraint('id', name='pk_sms_messages')
    )
    op.create_index('ix_sms_messages_order_kind', 'sms_messages', ['order_id', 'kind'], unique=False)
    op.create_index('ix_sms_messages_smsc_message_id', 'sms_messages', ['smsc_message_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sms_messages_smsc_message_id', table_name='sms_messages')
    op.drop_index('ix_sms_messages_order_kind', table_name='sms_messages')
    op.drop_table('sms_messages')
    op.drop_index('ix_payments_order_id', table_name='payments')
    op.drop_table('payments')
    op.drop_index('ix_order_events_order_seq', table_name='order_events')
    op.drop_table('order_events')
    op.drop_index('ix_invoices_clinic_seq', table_name='invoices')
    op.drop_table('invoices')
    op.drop_index('ix_checkout_links_order_id', table_name='checkout_links')
    op.drop_table('checkout_links')
    op.drop_index('ix_orders_status_deadline', table_name='orders')
    op.drop_index('ix_orders_patient_national_id', table_name='orders')
    op.drop_index('ix_orders_clinic_seq', table_name='orders')
    op.drop_table('orders')
    op.drop_table('epj_credentials')
    op.drop_table('clinic_agreements')
    op.drop_index('ix_clinic_accounts_clinic_id', table_name='clinic_accounts')
    op.drop_table('clinic_accounts')
    op.drop_index('ix_jobs_state_due', table_name='jobs')
    op.drop_table('jobs')
    op.drop_table('clinics')
