"""The `[portal]` section of the backend's configuration: read from TOML and the environment,
refused with a message naming the key when a value is wrong, and used by the served portal
(over a real socket: the login limit per client address and the page size)."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import trio

from medipay.clock import SimulatedClock
from medipay.config import ConfigError
from medipay_backend.config import BackendConfig, HttpConfig, PortalConfig, load_backend_config
from medipay_backend.portal.settings import PortalSettings
from medipay_backend.server import BackendHandle, serve_backend

from ..conftest import START


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "backend.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_production_settings() -> None:
    assert BackendConfig().portal.settings() == PortalSettings()


def test_portal_section_from_toml_and_environment(tmp_path: Path) -> None:
    path = _write(tmp_path, """
[portal]
otp_lifetime_hours = 24
idle_minutes = 20
session_hours = 9.5
max_failed_logins = 4
lockout_minutes = 30
ip_max_failed_logins = 0
ip_window_minutes = 5
trusted_proxies = "127.0.0.1, 10.20.0.0/16, ::1"
page_size = 50
""")
    config = load_backend_config(path, environ={"MEDIPAY_BACKEND__PORTAL__PAGE_SIZE": "40"})
    settings = config.portal.settings()
    assert settings.otp_lifetime == timedelta(hours=24)
    assert settings.idle_timeout == timedelta(minutes=20)
    assert settings.session_lifetime == timedelta(hours=9, minutes=30)
    assert settings.max_failed_logins == 4 and settings.lockout == timedelta(minutes=30)
    assert settings.lock_period(4) == timedelta(minutes=30)
    assert settings.ip_max_failed_logins == 0 and settings.ip_window == timedelta(minutes=5)
    assert settings.trusted_proxies == (ipaddress.ip_network("127.0.0.1/32"),
                                        ipaddress.ip_network("10.20.0.0/16"),
                                        ipaddress.ip_network("::1/128"))
    assert settings.page_size == 40  # the environment wins over the file


@pytest.mark.parametrize(("text", "message"), [
    ("page_size = 0", "portal.page_size must be between 1 and 500"),
    ("page_size = 501", "portal.page_size must be between 1 and 500"),
    ('page_size = "many"', "portal.page_size: expected a number"),
    ("idle_minutes = 0", "portal.idle_minutes must be more than 0"),
    ("idle_minutes = -5", "portal.idle_minutes must be more than 0"),
    ("otp_lifetime_hours = nan", "portal.otp_lifetime_hours must be more than 0"),
    ("session_hours = 0.25", "portal.idle_minutes must not be longer than"),
    ("max_failed_logins = 0", "portal.max_failed_logins must be at least 1"),
    ("ip_max_failed_logins = -1", "portal.ip_max_failed_logins must be 0 (off) or more"),
    ("ip_window_minutes = 0", "portal.ip_window_minutes must be more than 0"),
    ("lockout_minutes = 1e300", "portal: a period is too long"),
    ('trusted_proxies = "10.0.0.1, proxy.local"', "'proxy.local' is not an IP address"),
    ("trusted_proxies = 10", "portal.trusted_proxies: expected a string"),
    ("max_attempts = 3", "unknown key(s) max_attempts"),
])
def test_bad_values_are_refused_with_the_key_named(tmp_path: Path, text: str,
                                                   message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_backend_config(_write(tmp_path, f"[portal]\n{text}\n"))
    assert message in str(caught.value)


def test_bad_environment_value_is_refused() -> None:
    with pytest.raises(ConfigError, match="portal.ip_window_minutes: expected a number"):
        load_backend_config(None, environ={"MEDIPAY_BACKEND__PORTAL__IP_WINDOW_MINUTES": "x"})


async def _failed_login(client: httpx.AsyncClient, email: str) -> httpx.Response:
    form = await client.get("/klinikk/logg-inn")
    token = form.cookies.get("medipay_portal_login") or client.cookies.get(
        "medipay_portal_login")
    assert token, form.headers
    return await client.post("/klinikk/logg-inn", data={
        "email": email, "password": "ikke riktig 123", "csrf": token})


async def test_the_served_portal_uses_the_configured_limit_per_address(
    database_url: str, tmp_path: Path,
) -> None:
    """serve_backend builds the portal with `[portal]`: two failed logins from this address
    (on two accounts) and the third attempt is 429 with Retry-After, over a real socket."""
    clock = SimulatedClock(START)
    config = BackendConfig(data_dir=tmp_path, database_url=database_url,
                           http=HttpConfig(port=0), admin_token="portal-operator-token",
                           portal=PortalConfig(ip_max_failed_logins=2, ip_window_minutes=5))
    async with trio.open_nursery() as nursery:
        handle: BackendHandle = await nursery.start(serve_backend, config, clock)
        async with httpx.AsyncClient(base_url=handle.base_url) as client:
            for email in ("a@klinikk.no", "b@klinikk.no"):
                assert (await _failed_login(client, email)).status_code == 401
            refused = await _failed_login(client, "c@klinikk.no")
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "300"
            assert "For mange mislykkede innlogginger fra din nettverksadresse" in refused.text
            assert "Vent 5 minutter" in refused.text
            clock.advance(timedelta(minutes=5))
            assert (await _failed_login(client, "c@klinikk.no")).status_code == 401
        nursery.cancel_scope.cancel()
