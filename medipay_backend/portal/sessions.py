"""Server-side portal sessions (blocking, per session).

The browser holds a random 256-bit token in a cookie; the table holds its SHA-256, the
admin, a per-session CSRF token and the times that end it: `expires_at` (absolute) and
`last_seen_at` + the idle timeout. A session of a disabled admin is dead at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.models_clinics import Clinic
from medipay_backend.models_portal import ClinicAdmin, PortalSession
from medipay_backend.portal.settings import PortalSettings

TOKEN_BYTES = 32
# Anything longer in a cookie is not one of our tokens (43 characters of base64url).
MAX_TOKEN_LENGTH = 64


@dataclass(frozen=True)
class CurrentAdmin:
    """Who is logged in, for one request."""

    admin_id: str
    clinic_id: str
    clinic_name: str
    email: str
    name: str | None
    must_change_password: bool
    csrf_token: str
    session_sha256: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def start_session(session: Session, admin_id: str, now: datetime,
                  settings: PortalSettings) -> str:
    """A new session for the admin; returns the cookie token (shown only to the browser)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(PortalSession(
        token_sha256=token_digest(token), admin_id=admin_id,
        csrf_token=secrets.token_urlsafe(TOKEN_BYTES), created_at=now, last_seen_at=now,
        expires_at=now + settings.session_lifetime,
    ))
    return token


def resolve_session(session: Session, token: str, now: datetime,
                    settings: PortalSettings) -> CurrentAdmin | None:
    """The admin behind a cookie token, or None if the session is unknown or has ended."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    digest = token_digest(token)
    found = session.execute(
        sa.select(PortalSession, ClinicAdmin, Clinic.name)
        .join(ClinicAdmin, ClinicAdmin.id == PortalSession.admin_id)
        .join(Clinic, Clinic.clinic_id == ClinicAdmin.clinic_id)
        .where(PortalSession.token_sha256 == digest)
    ).one_or_none()
    if found is None:
        return None
    row, admin, clinic_name = found
    if (admin.disabled_at is not None or row.expires_at <= now
            or row.last_seen_at + settings.idle_timeout <= now):
        session.delete(row)
        return None
    if now - row.last_seen_at >= settings.touch_interval:
        row.last_seen_at = now
    return CurrentAdmin(
        admin_id=admin.id, clinic_id=admin.clinic_id, clinic_name=clinic_name,
        email=admin.email, name=admin.name, must_change_password=admin.must_change_password,
        csrf_token=row.csrf_token, session_sha256=digest,
    )


def end_session(session: Session, token: str) -> None:
    session.execute(sa.delete(PortalSession)
                    .where(PortalSession.token_sha256 == token_digest(token)))


def purge_expired(session: Session, now: datetime, settings: PortalSettings) -> int:
    """Delete sessions that have ended by either clock; run at every login."""
    result = session.execute(sa.delete(PortalSession).where(sa.or_(
        PortalSession.expires_at <= now,
        PortalSession.last_seen_at <= now - settings.idle_timeout,
    )))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
