"""POS reversals name the payment they reverse.

Revision: 0005
Parent: 0004
Written: 2026-11-22

A migration is a frozen snapshot: use plain SQLAlchemy types here, never the model classes.
"""

from __future__ import annotations

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
