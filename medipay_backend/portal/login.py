"""Logging in and choosing a password.

Each step reads what it needs in one short transaction, runs scrypt in a worker thread
outside any transaction (it takes a while, and an SQLite transaction holds the write lock),
and records the outcome in a second transaction that checks nothing changed in between.

A one-time password opens one session and is then used up. Failures are counted per admin;
`PortalSettings.lock_period` turns a run of them into a lock-out that doubles with every
further failure. A correct password does not open a locked account, and unknown addresses
cost the same time as wrong passwords.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
import trio
from sqlalchemy.orm import Session

from medipay.clock import Clock
from medipay.logs import get_logger
from medipay_backend.db import Database
from medipay_backend.models_portal import ClinicAdmin, PortalSession
from medipay_backend.portal.accounts import InvalidEmail, end_sessions, login_email
from medipay_backend.portal.passwords import (
    PasswordRuleError,
    burn_time,
    check_new_password,
    hash_password,
    needs_rehash,
    normalise_one_time_password,
    verify_password,
)
from medipay_backend.portal.sessions import CurrentAdmin, purge_expired, start_session
from medipay_backend.portal.settings import PortalSettings

log = get_logger(__name__)
Outcome = Literal["ok", "invalid", "locked", "otp_expired"]


@dataclass(frozen=True)
class LoginResult:
    outcome: Outcome
    token: str | None = None
    must_change_password: bool = False
    locked_until: datetime | None = None


@dataclass(frozen=True)
class _Target:
    admin_id: str
    stored_hash: str
    is_otp: bool
    otp_expired: bool
    locked_until: datetime | None


def _target(session: Session, address: str, now: datetime) -> _Target | None:
    admin = session.scalar(sa.select(ClinicAdmin).where(ClinicAdmin.email == address))
    if admin is None or admin.disabled_at is not None:
        return None
    locked = admin.locked_until if admin.locked_until and admin.locked_until > now else None
    if admin.password_hash is not None:
        return _Target(admin.id, admin.password_hash, False, False, locked)
    if admin.otp_hash is None:  # pragma: no cover - every admin has one or the other
        return None
    expired = admin.otp_expires_at is None or admin.otp_expires_at <= now
    return _Target(admin.id, admin.otp_hash, True, expired, locked)


async def login(db: Database, settings: PortalSettings, clock: Clock, email: str,
                password: str) -> LoginResult:
    now = clock.now()
    try:
        address = login_email(email)
    except InvalidEmail:
        address = None
    target = await db.run(lambda s: _target(s, address, now)) if address else None
    if target is None or target.locked_until is not None:
        await trio.to_thread.run_sync(burn_time, settings.scrypt)
        if target is None:
            log.info("portal login refused", reason="unknown_or_disabled")
            return LoginResult("invalid")
        log.info("portal login refused", reason="locked", admin_id=target.admin_id)
        return LoginResult("locked", locked_until=target.locked_until)
    candidate = normalise_one_time_password(password) if target.is_otp else password
    ok = await trio.to_thread.run_sync(verify_password, candidate, target.stored_hash)
    if ok and target.is_otp and target.otp_expired:
        log.info("portal login refused", reason="otp_expired", admin_id=target.admin_id)
        return LoginResult("otp_expired")
    new_hash = None
    if ok and not target.is_otp and needs_rehash(target.stored_hash, settings.scrypt):
        new_hash = await trio.to_thread.run_sync(hash_password, password, settings.scrypt)
    result = await db.run(lambda s: _finish(s, target, ok, new_hash, now, settings))
    log.info("portal login", outcome=result.outcome, admin_id=target.admin_id,
             one_time_password=target.is_otp, rehashed=new_hash is not None)
    return result


def _finish(session: Session, target: _Target, ok: bool, new_hash: str | None, now: datetime,
            settings: PortalSettings) -> LoginResult:
    admin = session.get(ClinicAdmin, target.admin_id, with_for_update=True)
    if admin is None or admin.disabled_at is not None:
        return LoginResult("invalid")
    current = admin.otp_hash if target.is_otp else admin.password_hash
    if current != target.stored_hash:  # reset or changed meanwhile: judge again from scratch
        return LoginResult("invalid")
    if admin.locked_until is not None and admin.locked_until > now:
        return LoginResult("locked", locked_until=admin.locked_until)
    if ok and target.is_otp and (admin.otp_expires_at is None or admin.otp_expires_at <= now):
        return LoginResult("otp_expired")  # a twin login used it up meanwhile
    if not ok:
        return _failed(session, admin, now, settings)
    admin.failed_logins, admin.locked_until, admin.last_login_at = 0, None, now
    if target.is_otp:
        # Used up: it opened this one session, in which a password must now be chosen. The
        # hash stays until then, so the new password can be checked against it.
        admin.otp_expires_at = now
    if new_hash is not None:
        admin.password_hash = new_hash
    purge_expired(session, now, settings)
    token = start_session(session, admin.id, now, settings)
    return LoginResult("ok", token=token, must_change_password=admin.must_change_password)


def _failed(session: Session, admin: ClinicAdmin, now: datetime,
            settings: PortalSettings) -> LoginResult:
    admin.failed_logins += 1
    period = settings.lock_period(admin.failed_logins)
    if period is None:
        return LoginResult("invalid")
    admin.locked_until = now + period
    end_sessions(session, admin.id)  # whoever is guessing may be holding a session
    return LoginResult("locked", locked_until=admin.locked_until)


class WrongCurrentPassword(Exception):
    """The current password given to change it was wrong (counted as a failed login)."""

    def __init__(self, locked: bool) -> None:
        super().__init__("wrong current password")
        self.locked = locked


@dataclass(frozen=True)
class _Secrets:
    password_hash: str | None
    otp_hash: str | None


def _secrets(session: Session, who: CurrentAdmin) -> _Secrets | None:
    alive = session.get(PortalSession, who.session_sha256)
    admin = session.get(ClinicAdmin, who.admin_id)
    if alive is None or admin is None:
        return None
    return _Secrets(admin.password_hash, admin.otp_hash)


async def change_password(db: Database, settings: PortalSettings, clock: Clock,
                          who: CurrentAdmin, current: str, new: str,
                          repeated: str) -> str | None:
    """Set a new password; returns the token of a fresh session (every other session of the
    admin ends), or None if this session has ended meanwhile.

    At the forced change after a one-time-password login, `current` is not asked for (the
    admin has just proved it); otherwise it must be the present password. Raises
    `PasswordRuleError` or `WrongCurrentPassword`; nothing is changed then.
    """
    check_new_password(new, repeated, email=who.email)
    stored = await db.run(lambda s: _secrets(s, who))
    if stored is None:
        return None
    if (stored.password_hash is not None and not who.must_change_password
            and not await trio.to_thread.run_sync(verify_password, current,
                                                  stored.password_hash)):
        now = clock.now()
        locked = await db.run(lambda s: _count_failure(s, who.admin_id, now, settings))
        raise WrongCurrentPassword(locked)
    if stored.otp_hash is not None and await trio.to_thread.run_sync(
            verify_password, normalise_one_time_password(new), stored.otp_hash):
        raise PasswordRuleError("Velg et annet passord enn engangspassordet.")
    new_hash = await trio.to_thread.run_sync(hash_password, new, settings.scrypt)
    now = clock.now()
    token = await db.run(lambda s: _store(s, who, stored, new_hash, now, settings))
    if token is not None:
        log.info("portal password changed", admin_id=who.admin_id)
    return token


def _count_failure(session: Session, admin_id: str, now: datetime,
                   settings: PortalSettings) -> bool:
    admin = session.get(ClinicAdmin, admin_id, with_for_update=True)
    if admin is None:
        return True
    return _failed(session, admin, now, settings).outcome == "locked"


def _store(session: Session, who: CurrentAdmin, before: _Secrets, new_hash: str,
           now: datetime, settings: PortalSettings) -> str | None:
    admin = session.get(ClinicAdmin, who.admin_id, with_for_update=True)
    alive = session.get(PortalSession, who.session_sha256)
    if (admin is None or alive is None or admin.disabled_at is not None
            or (admin.password_hash, admin.otp_hash) != (before.password_hash,
                                                         before.otp_hash)):
        return None
    admin.password_hash, admin.otp_hash, admin.otp_expires_at = new_hash, None, None
    admin.must_change_password, admin.password_changed_at = False, now
    admin.failed_logins, admin.locked_until = 0, None
    end_sessions(session, admin.id)
    return start_session(session, admin.id, now, settings)


__all__ = ["LoginResult", "PasswordRuleError", "WrongCurrentPassword", "change_password",
           "login"]
