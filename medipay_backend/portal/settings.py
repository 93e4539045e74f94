"""The portal's security settings. The defaults are the production values. The service builds
them from the `[portal]` section of the backend's configuration (`config.PortalConfig`) and
puts them on `app.state.portal_settings`; tests put cheaper hashing there."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from medipay_backend.portal.passwords import DEFAULT_SCRYPT, ScryptParams

# Longest lock-out, however many failures: long enough to stop guessing, short enough that an
# admin who forgot their password is not shut out for days (the operator can reset it).
MAX_LOCKOUT = timedelta(hours=24)
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class PortalSettings:
    scrypt: ScryptParams = DEFAULT_SCRYPT
    # How long an operator-issued one-time password can be used for the first login.
    otp_lifetime: timedelta = timedelta(hours=72)
    # A session ends after this long without a request ...
    idle_timeout: timedelta = timedelta(minutes=30)
    # ... and this long after login, whatever happens (a working day plus some).
    session_lifetime: timedelta = timedelta(hours=12)
    # This many wrong passwords in a row lock the account for `lockout`, doubled for every
    # further failure after the lock has run out (capped at MAX_LOCKOUT).
    max_failed_logins: int = 5
    lockout: timedelta = timedelta(minutes=15)
    # Rows per page in the transaction lists.
    page_size: int = 25
    # A session's last_seen_at is written at most this often (not on every click).
    touch_interval: timedelta = field(default=timedelta(minutes=1))
    # Failed logins from one client address within `ip_window`, whatever accounts they
    # named, before that address is refused (HTTP 429) until the oldest failure is out of
    # the window. 0 turns the limit off. Twenty is far above what the staff of one clinic
    # behind a shared address mistype in a quarter of an hour, and far below what it takes
    # to try a list of addresses.
    ip_max_failed_logins: int = 20
    ip_window: timedelta = timedelta(minutes=15)
    # Proxies whose X-Forwarded-For header names the real client (empty: the TCP peer is
    # the client). Only these are believed; anyone else could write the header.
    trusted_proxies: tuple[IpNetwork, ...] = ()

    def lock_period(self, failures: int) -> timedelta | None:
        """How long to lock after `failures` consecutive failures (None: not yet)."""
        if failures < self.max_failed_logins:
            return None
        doublings = min(failures - self.max_failed_logins, 16)
        return min(self.lockout * (2**doublings), MAX_LOCKOUT)


def portal_settings(state: Any) -> PortalSettings:
    """The settings on an app's state, or the defaults."""
    settings = getattr(state, "portal_settings", None)
    return settings if isinstance(settings, PortalSettings) else PortalSettings()
