"""Clinic e-mail for reports; report deliveries.

Revision: 0009
Parent: 0008
Written: 2026-11-22

A migration is a frozen snapshot: use plain SQLAlchemy types here, never the model classes.
"""

from __future__ import annotations

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
