"""Credits on orders (full or partial) from EPJs and the clinic portal.

Revision: 0007
Parent: 0006
Written: 2026-11-22

A migration is a frozen snapshot: use plain SQLAlchemy types here, never the model classes.
"""

from __future__ import annotations

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
