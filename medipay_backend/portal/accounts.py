"""Clinic administrators: created and reset by the operator with a one-time password,
disabled when they leave (blocking, per session).

Hashes are made by the caller before the transaction (`issue_one_time_password`), because
scrypt takes a while and SQLite transactions hold the write lock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.domain.contacts import ContactError, normalise_email
from medipay_backend.models_clinics import Clinic
from medipay_backend.models_portal import ClinicAdmin, PortalSession
from medipay_backend.portal.passwords import (
    ScryptParams,
    hash_password,
    new_one_time_password,
)

AdminState = Literal["awaiting_first_login", "active", "locked", "disabled"]


class AdminError(Exception):
    """An operator action on a clinic admin was refused; nothing was changed."""


class InvalidEmail(AdminError):
    pass


class NoSuchClinic(AdminError):
    pass


class NoSuchAdmin(AdminError):
    pass


class AdminExists(AdminError):
    pass


@dataclass(frozen=True)
class AdminRecord:
    admin_id: str
    clinic_id: str
    email: str
    name: str | None
    state: AdminState
    created_at: datetime
    last_login_at: datetime | None
    one_time_password_expires_at: datetime | None
    locked_until: datetime | None


@dataclass(frozen=True)
class IssuedOtp:
    """A fresh one-time password and its hash; the clear text is shown once, never stored."""

    password: str
    hash: str


def issue_one_time_password(params: ScryptParams) -> IssuedOtp:
    otp = new_one_time_password()
    return IssuedOtp(otp, hash_password(otp, params))


def login_email(text: str) -> str:
    """The stored (lower-cased) form of an e-mail address; `InvalidEmail` if it is not one."""
    try:
        return normalise_email(text).lower()
    except ContactError as exc:
        raise InvalidEmail(f"{text[:80]!r} {exc}") from exc


def admin_state(admin: ClinicAdmin, now: datetime) -> AdminState:
    if admin.disabled_at is not None:
        return "disabled"
    if admin.locked_until is not None and admin.locked_until > now:
        return "locked"
    if admin.password_hash is None:
        return "awaiting_first_login"
    return "active"


def record(admin: ClinicAdmin, now: datetime) -> AdminRecord:
    return AdminRecord(
        admin_id=admin.id, clinic_id=admin.clinic_id, email=admin.email, name=admin.name,
        state=admin_state(admin, now), created_at=admin.created_at,
        last_login_at=admin.last_login_at,
        one_time_password_expires_at=admin.otp_expires_at if admin.otp_hash else None,
        locked_until=admin.locked_until,
    )


def create_admin(session: Session, clinic_id: str, email: str, name: str | None,
                 otp: IssuedOtp, lifetime: timedelta, now: datetime) -> AdminRecord:
    address = login_email(email)
    if session.get(Clinic, clinic_id) is None:
        raise NoSuchClinic(f"no clinic {clinic_id!r}")
    existing = session.scalar(sa.select(ClinicAdmin).where(ClinicAdmin.email == address))
    if existing is not None:
        where = "this clinic" if existing.clinic_id == clinic_id else "another clinic"
        raise AdminExists(f"{address} is already an administrator at {where} "
                          f"(admin {existing.id}); reset its password instead")
    admin = ClinicAdmin(
        id=str(uuid.uuid4()), clinic_id=clinic_id, email=address, name=name,
        password_hash=None, otp_hash=otp.hash, otp_expires_at=now + lifetime,
        must_change_password=True, failed_logins=0, locked_until=None, created_at=now,
        password_changed_at=None, last_login_at=None, disabled_at=None,
    )
    session.add(admin)
    session.flush()
    return record(admin, now)


def _admin(session: Session, clinic_id: str, admin_id: str) -> ClinicAdmin:
    admin = session.get(ClinicAdmin, admin_id, with_for_update=True)
    if admin is None or admin.clinic_id != clinic_id:
        raise NoSuchAdmin(f"no administrator {admin_id!r} at clinic {clinic_id!r}")
    return admin


def end_sessions(session: Session, admin_id: str, keep_sha256: str | None = None) -> None:
    query = sa.delete(PortalSession).where(PortalSession.admin_id == admin_id)
    if keep_sha256 is not None:
        query = query.where(PortalSession.token_sha256 != keep_sha256)
    session.execute(query)


def reset_admin(session: Session, clinic_id: str, admin_id: str, otp: IssuedOtp,
                lifetime: timedelta, now: datetime) -> AdminRecord:
    """A new one-time password: the old password stops working, sessions end, a lock-out is
    lifted and a disabled admin is enabled again (the operator's explicit decision)."""
    admin = _admin(session, clinic_id, admin_id)
    admin.password_hash, admin.otp_hash = None, otp.hash
    admin.otp_expires_at, admin.must_change_password = now + lifetime, True
    admin.failed_logins, admin.locked_until, admin.disabled_at = 0, None, None
    end_sessions(session, admin.id)
    return record(admin, now)


def disable_admin(session: Session, clinic_id: str, admin_id: str,
                  now: datetime) -> AdminRecord:
    """No more logins; open sessions end at once. Idempotent."""
    admin = _admin(session, clinic_id, admin_id)
    if admin.disabled_at is None:
        admin.disabled_at = now
    end_sessions(session, admin.id)
    return record(admin, now)


def list_admins(session: Session, clinic_id: str, now: datetime) -> list[AdminRecord]:
    if session.get(Clinic, clinic_id) is None:
        raise NoSuchClinic(f"no clinic {clinic_id!r}")
    rows = session.scalars(sa.select(ClinicAdmin).where(ClinicAdmin.clinic_id == clinic_id)
                           .order_by(ClinicAdmin.created_at, ClinicAdmin.email))
    return [record(admin, now) for admin in rows]


def find_admin(session: Session, email: str, now: datetime) -> AdminRecord | None:
    """By e-mail address, for the CLI (which knows addresses, not ids)."""
    try:
        address = login_email(email)
    except InvalidEmail:
        return None
    admin = session.scalar(sa.select(ClinicAdmin).where(ClinicAdmin.email == address))
    return None if admin is None else record(admin, now)
