"""The login limit per client address on its own: which address counts, and bounded memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network

from medipay_backend.portal.settings import PortalSettings
from medipay_backend.portal.throttle import LoginThrottle, client_address

PROXIES = (ip_network("10.0.0.0/8"), ip_network("::1/128"))
NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def test_client_address_believes_only_trusted_proxies() -> None:
    assert client_address("192.0.2.1", "203.0.113.9", PROXIES) == "192.0.2.1"
    assert client_address("10.1.1.1", "203.0.113.9", PROXIES) == "203.0.113.9"
    # Read from the right: the client may have written anything at the left end.
    assert client_address("10.1.1.1", "6.6.6.6, 203.0.113.9, 10.2.2.2", PROXIES) \
        == "203.0.113.9"
    assert client_address("::1", " 2001:db8::5 ", PROXIES) == "2001:db8::5"
    # Only proxies in the chain: the outermost one is all we know.
    assert client_address("10.1.1.1", "10.3.3.3", PROXIES) == "10.3.3.3"
    # Garbage stops the walk at the last trusted hop.
    assert client_address("10.1.1.1", "203.0.113.9, not-an-ip", PROXIES) == "10.1.1.1"
    assert client_address("10.1.1.1", None, PROXIES) == "10.1.1.1"
    assert client_address("10.1.1.1", "203.0.113.9", ()) == "10.1.1.1"
    assert client_address(None, "203.0.113.9", PROXIES) == "unknown"


def test_memory_is_bounded_by_forgetting_the_stalest_address() -> None:
    settings = replace(PortalSettings(), ip_max_failed_logins=2)
    throttle = LoginThrottle(max_addresses=2)
    for _ in range(2):
        throttle.record_failure("a", NOW, settings)
    throttle.record_failure("b", NOW, settings)
    assert throttle.retry_after("a", NOW, settings) == settings.ip_window
    throttle.record_failure("b", NOW + timedelta(seconds=1), settings)  # b is now the newest
    throttle.record_failure("c", NOW + timedelta(seconds=2), settings)  # forgets a
    assert throttle.failures("a", NOW, settings) == 0
    assert throttle.failures("b", NOW + timedelta(seconds=2), settings) == 2
    # Never more kept per address than the limit needs.
    for n in range(50):
        throttle.record_failure("c", NOW + timedelta(seconds=3 + n), settings)
    assert throttle.failures("c", NOW + timedelta(seconds=60), settings) == 2
