"""Invoicing: card and Vipps payments of claims, suspense applied to claims.

Revision: 0006
Parent: 0005
Written: 2026-11-22

A migration is a frozen snapshot: use plain SQLAlchemy types here, never the model classes.
"""

from __future__ import annotations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
