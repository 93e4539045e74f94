"""Clinic administrators, their sessions and one-time passwords.

Revision: 0008
Parent: 0007
Written: 2026-11-22

A migration is a frozen snapshot: use plain SQLAlchemy types here, never the model classes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

_TIME = sa.DateTime(timezone=True)

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clinic_admins",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("otp_hash", sa.String(length=255), nullable=True),
        sa.Column("otp_expires_at", _TIME, nullable=True),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("password_changed_at", _TIME, nullable=True),
        sa.Column("last_login_at", _TIME, nullable=True),
        sa.Column("disabled_at", _TIME, nullable=True),
        sa.CheckConstraint("failed_logins >= 0",
                           name="ck_clinic_admins_failed_logins_not_negative"),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinics.clinic_id"],
                                name="fk_clinic_admins_clinic_id_clinics"),
        sa.PrimaryKeyConstraint("id", name="pk_clinic_admins"),
        sa.UniqueConstraint("email", name="uq_clinic_admins_email"),
    )
    op.create_index("ix_clinic_admins_clinic_id", "clinic_admins", ["clinic_id"], unique=False)
    op.create_table(
        "portal_sessions",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("admin_id", sa.String(length=36), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("last_seen_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["admin_id"], ["clinic_admins.id"],
                                name="fk_portal_sessions_admin_id_clinic_admins"),
        sa.PrimaryKeyConstraint("token_sha256", name="pk_portal_sessions"),
    )
    op.create_index("ix_portal_sessions_admin_id", "portal_sessions", ["admin_id"],
                    unique=False)
    op.create_index("ix_portal_sessions_expires_at", "portal_sessions", ["expires_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_portal_sessions_expires_at", table_name="portal_sessions")
    op.drop_index("ix_portal_sessions_admin_id", table_name="portal_sessions")
    op.drop_table("portal_sessions")
    op.drop_index("ix_clinic_admins_clinic_id", table_name="clinic_admins")
    op.drop_table("clinic_admins")
