"""Failed logins per client address: one address may not try many accounts.

The lock-out per admin (`login.py`) stops guessing one account's password; it does not stop
one address from trying one password on many accounts. This counts failed logins per client
address in a sliding window (`PortalSettings.ip_max_failed_logins` within `ip_window`).
When the count is reached, the address is refused, before any password is hashed, until its
oldest failure falls out of the window.

The counts are kept **in memory, per backend process**: they are lost at a restart, and
with several processes an address gets the limit once per process. That is acceptable for
what it is for (slowing a guesser to a trickle; the per-admin lock-out, which is in the
database, still holds everywhere), and it keeps a flood of wrong passwords from turning into
a flood of database writes. Memory is bounded by `MAX_ADDRESSES`.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict, deque
from datetime import datetime, timedelta
from typing import Any

from medipay_backend.portal.settings import IpNetwork, PortalSettings

# Addresses tracked at once. A failure from a new address beyond this forgets the address
# whose last failure is oldest, so a spray from many addresses cannot exhaust memory.
MAX_ADDRESSES = 10_000
# Longest X-Forwarded-For chain looked at; a longer header is someone padding it.
MAX_FORWARDED_HOPS = 20


class LoginThrottle:
    """Failure times per client address, oldest first (not thread-safe: trio's one thread)."""

    def __init__(self, max_addresses: int = MAX_ADDRESSES) -> None:
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._max_addresses = max_addresses

    def _recent(self, address: str, now: datetime, window: timedelta) -> deque[datetime]:
        times = self._failures.get(address)
        if times is None:
            return deque()
        while times and times[0] <= now - window:
            times.popleft()
        if not times:
            del self._failures[address]
        return times

    def retry_after(self, address: str, now: datetime,
                    settings: PortalSettings) -> timedelta | None:
        """How long `address` must wait before it may try again; None: it may try now."""
        limit = settings.ip_max_failed_logins
        if limit <= 0:
            return None
        times = self._recent(address, now, settings.ip_window)
        if len(times) < limit:
            return None
        # The failure that must drop out of the window before the count is under the limit.
        return times[len(times) - limit] + settings.ip_window - now

    def record_failure(self, address: str, now: datetime, settings: PortalSettings) -> None:
        if settings.ip_max_failed_logins <= 0:
            return
        times = self._recent(address, now, settings.ip_window)
        if address not in self._failures:
            while len(self._failures) >= self._max_addresses:
                self._failures.popitem(last=False)
            self._failures[address] = times
        times.append(now)
        # Keep no more than the limit needs; older entries can never decide anything.
        while len(times) > settings.ip_max_failed_logins:
            times.popleft()
        self._failures.move_to_end(address)

    def failures(self, address: str, now: datetime, settings: PortalSettings) -> int:
        return len(self._recent(address, now, settings.ip_window))


def retry_after_seconds(wait: timedelta) -> int:
    """The Retry-After header's whole seconds, rounded up (at least 1)."""
    return max(1, math.ceil(wait.total_seconds()))


def login_throttle(state: Any) -> LoginThrottle:
    """The app's throttle, made on first use (one per app, so one per process)."""
    throttle = getattr(state, "login_throttle", None)
    if not isinstance(throttle, LoginThrottle):
        throttle = LoginThrottle()
        state.login_throttle = throttle
    return throttle


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
             proxies: tuple[IpNetwork, ...]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_address(peer: str | None, forwarded_for: str | None,
                   proxies: tuple[IpNetwork, ...]) -> str:
    """The address a login is counted against.

    The TCP peer, unless the peer is a trusted proxy: then the nearest address in
    X-Forwarded-For that is not itself a trusted proxy (read from the right, since every
    proxy appends the address it got the request from and only the right end is written by
    proxies we trust). An unreadable entry stops the walk at the last trusted hop.
    """
    current = peer or "unknown"
    address = _ip(current)
    if address is None or not proxies or not _trusted(address, proxies) or not forwarded_for:
        return current
    for entry in reversed(forwarded_for.split(",")[-MAX_FORWARDED_HOPS:]):
        hop = _ip(entry)
        if hop is None:
            return current
        current = str(hop)
        if not _trusted(hop, proxies):
            return current
    return current
