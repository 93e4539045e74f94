"""Tables of the clinic admin portal: clinic administrators and their browser sessions.

No secret is stored in clear: passwords and one-time passwords are scrypt hashes that carry
their own salt and cost parameters (see `portal.passwords`), and a session is kept under the
SHA-256 of its cookie value, so a copy of the database cannot be used to log in.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from medipay_backend.models import Base, UTCDateTime


class ClinicAdmin(Base):
    """A person who administers one clinic in the portal, logging in with e-mail + password."""

    __tablename__ = "clinic_admins"
    __table_args__ = (
        sa.CheckConstraint("failed_logins >= 0", name="failed_logins_not_negative"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    clinic_id: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("clinics.clinic_id"), index=True
    )
    # Lower-cased; the login name, so unique across clinics.
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    # Null until the admin has chosen a password at first login.
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    # The operator's one-time password (hash), usable until `otp_expires_at`, once.
    otp_hash: Mapped[str | None] = mapped_column(sa.String(255))
    otp_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    must_change_password: Mapped[bool] = mapped_column(sa.Boolean())
    failed_logins: Mapped[int] = mapped_column(sa.Integer())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PortalSession(Base):
    """A logged-in browser. The cookie holds a random token; only its SHA-256 is kept here.

    A session ends at `expires_at` (absolute), after an idle period since `last_seen_at`, at
    logout, and when the admin's password is changed or reset.
    """

    __tablename__ = "portal_sessions"

    token_sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    admin_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("clinic_admins.id"), index=True
    )
    # Per-session secret every form posts back (compared in constant time).
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
