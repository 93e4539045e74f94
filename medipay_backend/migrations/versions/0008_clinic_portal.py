"""Clinic administrators, their sessions and one-time passwords.

Revision: 0008
Parent: 0007
Written: 2026-11-22

A migration is a frozen snapshot: use plain SQLAlchemy types here, never the model classes.
"""

from __future__ import annotations

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
