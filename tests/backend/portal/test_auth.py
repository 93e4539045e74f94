"""Clinic admins and their sessions: one-time password, forced change, wrong passwords and
lock-out, expiry, logout, cookies, CSRF refusals that change nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from http.cookies import SimpleCookie
from ipaddress import ip_network

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from medipay.clock import SimulatedClock
from medipay_backend.db import Database
from medipay_backend.models_portal import ClinicAdmin, PortalSession
from medipay_backend.portal.sessions import token_digest
from medipay_backend.portal.settings import PortalSettings

from ..conftest import MakeEpj
from .conftest import FAST
from .helpers import PASSWORD, Admin, Portal


async def _admin(portal: Portal, make_epj: MakeEpj, email: str = "kari@klinikk.no") -> Admin:
    epj = await make_epj()
    return await portal.create_admin(epj.clinic_id, email)


async def _row(database: Database, email: str) -> ClinicAdmin:
    return await database.run(lambda s: s.scalars(
        sa.select(ClinicAdmin).where(ClinicAdmin.email == email)).one())


async def _sessions(database: Database) -> int:
    return int(await database.run(lambda s: s.scalar(
        sa.select(sa.func.count()).select_from(PortalSession))))


async def test_operator_creates_an_admin_and_sees_the_one_time_password_once(
    portal: Portal, make_epj: MakeEpj, client: httpx.AsyncClient,
    admin_headers: dict[str, str], database: Database,
) -> None:
    epj = await make_epj()
    path = f"/v1/clinics/{epj.clinic_id}/admins"
    assert (await client.post(path, json={"email": "a@b.no"})).status_code == 401
    created = await client.post(path, json={"email": " Kari@Klinikk.NO ", "name": "Kari"},
                                headers=admin_headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "kari@klinikk.no" and body["state"] == "awaiting_first_login"
    assert body["login_url"] == "https://pay.medipay.test/klinikk/logg-inn"
    otp = body["one_time_password"]
    assert len(otp) == 19 and otp.count("-") == 3
    assert body["one_time_password_expires_at"] == "2026-01-08T08:00:00Z"  # 72 h on
    row = await _row(database, "kari@klinikk.no")
    assert row.password_hash is None and row.otp_hash is not None
    assert row.otp_hash.startswith("scrypt$") and otp not in row.otp_hash

    listed = await client.get(path, headers=admin_headers)
    assert otp not in listed.text and listed.json()["items"][0]["email"] == "kari@klinikk.no"
    again = await client.post(path, json={"email": "kari@klinikk.no"}, headers=admin_headers)
    assert again.status_code == 409 and again.json()["type"].endswith("clinic-admin-exists")
    other = await make_epj("annen-klinikk")
    elsewhere = await client.post(f"/v1/clinics/{other.clinic_id}/admins",
                                  json={"email": "KARI@klinikk.no"}, headers=admin_headers)
    assert elsewhere.status_code == 409
    bad = await client.post(path, json={"email": "not-an-address"}, headers=admin_headers)
    assert bad.status_code == 422
    missing = await client.post("/v1/clinics/ingen/admins", json={"email": "x@y.no"},
                                headers=admin_headers)
    assert missing.status_code == 404
    assert len((await client.get(path, headers=admin_headers)).json()["items"]) == 1


async def test_first_login_with_the_otp_must_choose_a_password_before_anything_else(
    portal: Portal, make_epj: MakeEpj, database: Database,
) -> None:
    admin = await _admin(portal, make_epj)
    browser = portal.browser()
    # Typed back as read over the phone: lower case, spaces instead of dashes.
    typed = admin.otp.lower().replace("-", " ")
    response = await browser.login(admin.email, typed)
    assert response.status_code == 303
    assert response.headers["location"] == "/klinikk/nytt-passord"
    cookies: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookies.load(header)
    session = cookies["medipay_portal"]  # served over https here
    assert session["httponly"] and session["secure"] and session["path"] == "/klinikk"
    assert session["samesite"].lower() == "lax" and int(session["max-age"]) == 12 * 3600
    for path in ("/klinikk/transaksjoner", "/klinikk/oppgjor", "/klinikk/passord"):
        blocked = await browser.get(path)
        assert (blocked.status_code, blocked.headers["location"]) == (303,
                                                                      "/klinikk/nytt-passord")
    again = await portal.browser().login(admin.email, admin.otp)  # it opened one session
    assert again.status_code == 401 and "brukt eller utløpt" in again.text
    page = await browser.get("/klinikk/nytt-passord")
    assert "Velg nytt passord" in page.text and "Nåværende passord" not in page.text
    assert 'action="/klinikk/logg-ut"' in page.text  # a way out, as the page has no menu

    short = await browser.post("/klinikk/nytt-passord", {"new": "kort1", "repeat": "kort1"})
    assert short.status_code == 422 and "minst 12 tegn" in short.text
    differ = await browser.post("/klinikk/nytt-passord",
                                {"new": PASSWORD, "repeat": PASSWORD + "x"})
    assert differ.status_code == 422 and "ikke like" in differ.text
    same = await browser.post("/klinikk/nytt-passord", {"new": admin.otp, "repeat": admin.otp})
    assert same.status_code == 422 and "engangspassordet" in same.text
    assert (await _row(database, admin.email)).password_hash is None

    old_cookie = browser.session_cookie
    chosen = await browser.set_password()
    assert chosen.status_code == 303 and browser.session_cookie != old_cookie  # new session
    landing = await browser.follow(chosen)
    assert landing.status_code == 200 and "Passordet er lagret" in landing.text
    row = await _row(database, admin.email)
    assert row.otp_hash is None and not row.must_change_password
    assert row.password_hash is not None and PASSWORD not in row.password_hash

    used = await portal.browser().login(admin.email, admin.otp)
    assert used.status_code == 401 and "Feil e-postadresse eller passord" in used.text
    fresh = await portal.browser().login(admin.email, PASSWORD)
    assert (fresh.status_code, fresh.headers["location"]) == (303, "/klinikk/transaksjoner")


async def test_wrong_passwords_lock_the_account_with_a_growing_backoff(
    portal: Portal, make_epj: MakeEpj, clock: SimulatedClock, database: Database,
) -> None:
    admin = await _admin(portal, make_epj)
    await portal.logged_in(admin)
    # An unknown or malformed address gets the same answer as a wrong password.
    for email in ("ingen@klinikk.no", "ikke en adresse"):
        unknown = await portal.browser().login(email, "galt passord 987")
        assert unknown.status_code == 401 and "Feil e-postadresse eller passord" in unknown.text
    guesser = portal.browser()
    for _ in range(4):
        wrong = await guesser.login(admin.email, "feil passord 123")
        assert wrong.status_code == 401 and "Feil e-postadresse" in wrong.text
    fifth = await guesser.login(admin.email, "feil passord 123")
    assert "For mange mislykkede forsøk" in fifth.text and "kl. 09:15" in fifth.text
    assert await _sessions(database) == 0  # a lock-out also ends open sessions
    right_but_locked = await guesser.login(admin.email, PASSWORD)
    assert right_but_locked.status_code == 401 and "sperret" in right_but_locked.text

    clock.advance(timedelta(minutes=15))
    sixth = await guesser.login(admin.email, "feil igjen 1234")  # after the lock: doubled
    assert "kl. 09:45" in sixth.text
    clock.advance(timedelta(minutes=29))
    assert "sperret" in (await guesser.login(admin.email, PASSWORD)).text
    clock.advance(timedelta(minutes=1))
    ok = await guesser.login(admin.email, PASSWORD)
    assert ok.status_code == 303
    row = await _row(database, admin.email)
    assert row.failed_logins == 0 and row.locked_until is None


async def test_the_otp_expires_and_the_operator_resets_or_disables_an_admin(
    portal: Portal, make_epj: MakeEpj, clock: SimulatedClock, client: httpx.AsyncClient,
    admin_headers: dict[str, str],
) -> None:
    admin = await _admin(portal, make_epj)
    clock.advance(timedelta(hours=72))
    expired = await portal.browser().login(admin.email, admin.otp)
    assert expired.status_code == 401 and "brukt eller utløpt" in expired.text
    reset = await client.post(
        f"/v1/clinics/{admin.clinic_id}/admins/{admin.admin_id}/reset-password",
        headers=admin_headers)
    assert reset.status_code == 200, reset.text
    new_otp = reset.json()["one_time_password"]
    assert new_otp != admin.otp
    assert (await portal.browser().login(admin.email, admin.otp)).status_code == 401
    first_browser = portal.browser()
    first = await first_browser.login(admin.email, new_otp)
    assert first.headers["location"] == "/klinikk/nytt-passord"
    wrong_clinic = await client.post(
        f"/v1/clinics/annen/admins/{admin.admin_id}/reset-password", headers=admin_headers)
    assert wrong_clinic.status_code == 404

    # Disabling ends the admin's sessions at once and stops logins.
    await first_browser.set_password()
    assert (await first_browser.get("/klinikk/transaksjoner")).status_code == 200
    path = f"/v1/clinics/{admin.clinic_id}/admins/{admin.admin_id}/disable"
    for _ in range(2):  # idempotent
        disabled = await client.post(path, headers=admin_headers)
        assert disabled.status_code == 200 and disabled.json()["state"] == "disabled"
    assert (await first_browser.get("/klinikk/transaksjoner")).status_code == 303
    assert (await portal.browser().login(admin.email, PASSWORD)).status_code == 401


async def test_sessions_end_when_idle_and_after_their_lifetime(
    portal: Portal, make_epj: MakeEpj, clock: SimulatedClock,
) -> None:
    admin = await _admin(portal, make_epj)
    browser = await portal.logged_in(admin)
    clock.advance(timedelta(minutes=29))
    assert (await browser.get("/klinikk/transaksjoner")).status_code == 200
    clock.advance(timedelta(minutes=30))  # idle for exactly the timeout
    ended = await browser.get("/klinikk/transaksjoner", q="RK-1")
    assert ended.status_code == 303
    assert ended.headers["location"] == "/klinikk/logg-inn?neste=/klinikk/transaksjoner%3Fq%3DRK-1"

    again = portal.browser()
    assert (await again.login(admin.email, PASSWORD)).status_code == 303
    start = clock.now()
    for _ in range(40):  # busy all day, a click every 20 minutes: never idle
        if (await again.get("/klinikk/oppgjor")).status_code != 200:
            break
        clock.advance(timedelta(minutes=20))
    assert again.page is not None and again.page.status_code == 303
    assert clock.now() - start == timedelta(hours=12)


async def test_logout_ends_the_session_on_the_server(
    portal: Portal, make_epj: MakeEpj, database: Database,
) -> None:
    admin = await _admin(portal, make_epj)
    browser = await portal.logged_in(admin)
    cookie = browser.session_cookie
    assert cookie is not None
    stored = await database.run(lambda s: s.scalars(sa.select(PortalSession.token_sha256)).all())
    assert stored == [token_digest(cookie)]  # only the hash is kept
    out = await browser.post("/klinikk/logg-ut", {})
    assert (out.status_code, out.headers["location"]) == (303, "/klinikk/logg-inn?melding=ut")
    assert browser.session_cookie is None
    assert await _sessions(database) == 0
    browser.http.cookies.set("medipay_portal", cookie, domain="portal.test", path="/klinikk")
    replayed = await browser.get("/klinikk/transaksjoner")
    assert replayed.status_code == 303 and "logg-inn" in replayed.headers["location"]

    # Logging in twice in one browser leaves one session, not two.
    for _ in range(2):
        assert (await browser.login(admin.email, PASSWORD)).status_code == 303
    assert await _sessions(database) == 1
    missing = await browser.get("/klinikk/finnes-ikke")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "Finner ikke siden" in missing.text


async def test_posts_without_the_right_csrf_token_are_refused_and_change_nothing(
    portal: Portal, make_epj: MakeEpj, database: Database,
) -> None:
    admin = await _admin(portal, make_epj)
    browser = await portal.logged_in(admin)
    before = (await _row(database, admin.email)).password_hash
    for token in ("", "x" * 43, browser.csrf[:-1]):
        out = await browser.post("/klinikk/logg-ut", {}, csrf=token)
        assert out.status_code == 403 and "ingenting ble endret" in out.text
        changed = await browser.post("/klinikk/passord", {
            "current": PASSWORD, "new": "Et helt annet passord", "repeat": "Et helt annet passord"},
            csrf=token)
        assert changed.status_code == 403
    assert (await _row(database, admin.email)).password_hash == before
    assert await _sessions(database) == 1
    assert (await browser.get("/klinikk/transaksjoner")).status_code == 200

    other = await portal.logged_in(await portal.create_admin(admin.clinic_id, "ola@k.no"))
    foreign = await browser.post("/klinikk/logg-ut", {}, csrf=other.csrf)  # another session's
    assert foreign.status_code == 403

    no_cookie = portal.browser()
    await no_cookie.get("/klinikk/logg-inn")
    no_cookie.http.cookies.clear()
    refused = await no_cookie.post("/klinikk/logg-inn", {"email": admin.email,
                                                          "password": PASSWORD})
    assert refused.status_code == 403 and await _sessions(database) == 2


async def test_voluntary_change_needs_the_current_password(
    portal: Portal, make_epj: MakeEpj, database: Database,
) -> None:
    admin = await _admin(portal, make_epj)
    browser = await portal.logged_in(admin)
    second = portal.browser()
    assert (await second.login(admin.email, PASSWORD)).status_code == 303
    await browser.get("/klinikk/passord")
    new = "Ny sommer i Lofoten 2026"
    wrong = await browser.post("/klinikk/passord",
                               {"current": "ikke dette 1234", "new": new, "repeat": new})
    assert wrong.status_code == 422 and "Nåværende passord er feil" in wrong.text
    assert (await _row(database, admin.email)).failed_logins == 1
    done = await browser.post("/klinikk/passord",
                              {"current": PASSWORD, "new": new, "repeat": new})
    assert done.status_code == 303
    assert (await browser.follow(done)).status_code == 200
    # Every other session of the admin ended with the change.
    assert (await second.get("/klinikk/transaksjoner")).status_code == 303
    assert (await portal.browser().login(admin.email, PASSWORD)).status_code == 401
    assert (await portal.browser().login(admin.email, new)).status_code == 303


async def test_cookies_are_not_secure_on_plain_http_without_an_https_address(
    database: Database, clock: SimulatedClock, make_epj: MakeEpj,
    client: httpx.AsyncClient, admin_headers: dict[str, str],
) -> None:
    from medipay_backend.app import create_app

    from ..conftest import ADMIN_TOKEN
    from .conftest import FAST

    app = create_app(database=database, clock=clock, admin_token=ADMIN_TOKEN)  # http://...
    app.state.portal_settings = FAST
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://127.0.0.1:8400") as plain:
        epj = await make_epj()
        created = await plain.post(f"/v1/clinics/{epj.clinic_id}/admins",
                                   json={"email": "per@k.no"}, headers=admin_headers)
        assert created.json()["login_url"] == "http://127.0.0.1:8400/klinikk/logg-inn"
        await plain.get("/klinikk/logg-inn")
        token = plain.cookies["medipay_portal_login"]
        response = await plain.post("/klinikk/logg-inn", data={
            "email": "per@k.no", "password": created.json()["one_time_password"],
            "csrf": token})
        assert response.status_code == 303
        header = next(h for h in response.headers.get_list("set-cookie")
                      if h.startswith("medipay_portal="))
        assert "HttpOnly" in header and "Secure" not in header


def _limit(app: FastAPI, **changes: object) -> PortalSettings:
    """At most 3 failed logins per address in 10 minutes, unless `changes` say otherwise."""
    limits: dict[str, object] = {"ip_max_failed_logins": 3, "ip_window": timedelta(minutes=10)}
    settings = replace(FAST, **{**limits, **changes})  # type: ignore[arg-type]
    app.state.portal_settings = settings
    return settings


async def test_one_address_cannot_try_many_accounts(
    portal: Portal, make_epj: MakeEpj, clock: SimulatedClock, database: Database,
    app: FastAPI,
) -> None:
    _limit(app)
    admin = await _admin(portal, make_epj)
    await portal.logged_in(admin)
    sprayer = portal.browser("198.51.100.7")
    # One wrong password each on three accounts: no account gets near its own lock-out.
    for email in ("ingen@klinikk.no", admin.email, "ola@klinikk.no"):
        wrong = await sprayer.login(email, "Sommer2026!")
        assert wrong.status_code == 401 and "Feil e-postadresse" in wrong.text
    refused = await sprayer.login(admin.email, PASSWORD)  # even the right password
    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"] == "600"
    assert ("For mange mislykkede innlogginger fra din nettverksadresse. Vent 10 minutter"
            in refused.text)
    assert 'name="csrf"' in refused.text and admin.email in refused.text  # the form is back
    assert sprayer.session_cookie is None
    row = await _row(database, admin.email)
    assert row.failed_logins == 1 and row.locked_until is None  # the refusal hashed nothing

    # Another address is not affected, and a success there does not free the sprayer.
    colleague = portal.browser("203.0.113.20")
    assert (await colleague.login(admin.email, PASSWORD)).status_code == 303
    assert (await sprayer.login(admin.email, PASSWORD)).status_code == 429

    clock.advance(timedelta(minutes=9, seconds=59, milliseconds=500))
    almost = await sprayer.login(admin.email, PASSWORD)
    assert almost.status_code == 429 and almost.headers["retry-after"] == "1"
    clock.advance(timedelta(seconds=1))
    assert (await sprayer.login(admin.email, PASSWORD)).status_code == 303


async def test_the_window_slides_from_the_oldest_failure(
    portal: Portal, clock: SimulatedClock, app: FastAPI,
) -> None:
    _limit(app)
    guesser = portal.browser("198.51.100.8")
    for minutes in (0, 2, 4):  # failures at 09:00, 09:02 and 09:04
        assert (await guesser.login("x@klinikk.no", "feil passord 1")).status_code == 401
        clock.advance(timedelta(minutes=2 if minutes < 4 else 1))
    at_five = await guesser.login("x@klinikk.no", "feil passord 1")
    assert at_five.status_code == 429 and at_five.headers["retry-after"] == "300"
    clock.advance(timedelta(minutes=5))  # 09:10: the 09:00 failure is out of the window
    assert (await guesser.login("x@klinikk.no", "feil passord 1")).status_code == 401
    again = await guesser.login("x@klinikk.no", "feil passord 1")  # 09:02 must go first
    assert again.status_code == 429 and again.headers["retry-after"] == "120"


async def test_forwarded_for_counts_only_behind_a_trusted_proxy(
    portal: Portal, app: FastAPI,
) -> None:
    _limit(app, trusted_proxies=(ip_network("10.0.0.0/24"),))
    proxy = portal.browser("10.0.0.2")
    for _ in range(3):
        header = {"X-Forwarded-For": "192.0.2.50, 10.0.0.9"}  # client, then an inner proxy
        assert (await proxy.login("x@klinikk.no", "feil 123456", header)).status_code == 401
    assert (await proxy.login("x@klinikk.no", "feil 123456",
                              {"X-Forwarded-For": "192.0.2.50"})).status_code == 429
    # Others behind the same proxy are still let in to try.
    other = await proxy.login("x@klinikk.no", "feil 123456", {"X-Forwarded-For": "192.0.2.51"})
    assert other.status_code == 401
    # An address that is not a trusted proxy cannot pose as somebody else with the header.
    direct = portal.browser("192.0.2.50")
    forged = await direct.login("x@klinikk.no", "feil 123456",
                                {"X-Forwarded-For": "192.0.2.99"})
    assert forged.status_code == 429


async def test_the_limit_can_be_turned_off(portal: Portal, app: FastAPI) -> None:
    _limit(app, ip_max_failed_logins=0)
    guesser = portal.browser("198.51.100.9")
    for _ in range(5):
        assert (await guesser.login("x@klinikk.no", "feil 123456")).status_code == 401
