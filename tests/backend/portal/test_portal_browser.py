"""The clinic portal in a real browser (headless Chromium): the operator creates an admin, who
logs in with the one-time password, chooses a password, finds a paid order by its
reference, credits part of it, and downloads the settlement's Balance Report."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from medipay.clock import SimulatedClock
from medipay_backend.config import BackendConfig, HttpConfig, SchedulerConfig
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.localtime import oslo_date
from medipay_backend.server import BackendHandle, serve_backend
from medipay_backend.settlement.service import settle_day

from ..browser import chromium, missing_reason
from ..conftest import START
from ..people import order
from ..test_e2e_browser import _find
from ..test_e2e_sms import _setup_epj

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))
PASSWORD = "Nordlys over Tromsø 2026"
LINK = re.compile(r"(/c/[A-Za-z0-9_-]+)")


async def _paid_by_card(client: httpx.AsyncClient, auth: httpx.BasicAuth,
                        headers: dict[str, str]) -> str:
    """An order paid by card through the checkout (over HTTP: the browser part of checkout
    has its own test)."""
    posted = await client.post("/v1/orders", json=order(1, amount=45_001), auth=auth)
    assert posted.status_code == 201, posted.text
    with trio.fail_after(15):
        while True:
            outbox = (await client.get("/v1/sms-outbox", headers=headers)).json()["items"]
            if outbox:
                break
            await trio.sleep(0.05)
    found = LINK.search(outbox[0]["text"])
    assert found, outbox
    card_page = await client.post(found.group(1) + "/kort")
    assert card_page.status_code == 303, card_page.text
    paid = await client.post(card_page.headers["location"], follow_redirects=True, data={
        "card_number": "4111 1111 1111 1111", "expiry": "12/30", "cvc": "123"})
    assert "Regningen er betalt" in paid.text
    return str(posted.json()["id"])


def _navigate(driver: Any, element: Any) -> None:
    """Click a link or form button and wait until the page it leads to replaced this one.

    Without the wait, finding an element that the old page has too (the search result's link
    is also in the unfiltered list) can return the old page's copy, stale a moment later.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 15).until(expected_conditions.staleness_of(page))


def _walk(driver: Any, base_url: str, email: str, otp: str, downloads: Path) -> dict[str, str]:
    from selenium.webdriver.common.by import By

    seen: dict[str, str] = {}
    driver.execute_cdp_cmd("Page.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    driver.get(base_url + "/klinikk")  # not logged in: the login page
    _find(driver, By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(otp)
    _navigate(driver, driver.find_element(By.XPATH, "//button[text()='Logg inn']"))
    _find(driver, By.ID, "new").send_keys(PASSWORD)  # the forced change comes first
    driver.find_element(By.ID, "repeat").send_keys(PASSWORD)
    _navigate(driver, driver.find_element(By.XPATH, "//button[text()='Lagre passord']"))
    seen["after_password"] = _find(driver, By.CSS_SELECTOR, "p.ok").text

    driver.find_element(By.ID, "q").send_keys("RK-1")
    _navigate(driver, driver.find_element(By.XPATH, "//button[text()='Søk']"))
    found = _find(driver, By.LINK_TEXT, "RK-1")
    seen["search"] = driver.find_element(By.TAG_NAME, "tbody").text
    _navigate(driver, found)
    amount = _find(driver, By.ID, "amount")
    seen["prefilled"] = str(amount.get_attribute("value"))
    amount.clear()
    amount.send_keys("100,50")
    driver.find_element(By.ID, "reason").send_keys("Feil takst")
    _navigate(driver, driver.find_element(By.XPATH, "//button[text()='Krediter']"))
    seen["after_credit"] = _find(driver, By.CSS_SELECTOR, "p.ok").text
    seen["credits"] = driver.find_element(By.ID, "kreditering").text

    _navigate(driver, driver.find_element(By.LINK_TEXT, "Oppgjør"))
    _navigate(driver, _find(driver, By.CSS_SELECTOR, "td a"))  # the one settlement
    _find(driver, By.LINK_TEXT, "Balance Report (PDF)").click()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the download finishes in the background
        done = [p for p in downloads.iterdir() if p.suffix == ".pdf"]
        if done and done[0].stat().st_size > 0:
            seen["download"] = done[0].name
            seen["pdf_head"] = done[0].read_bytes()[:5].decode("latin-1")
            break
        time.sleep(0.05)
    return seen


async def test_clinic_admin_walks_the_portal_in_a_real_browser(database_url: str,
                                                               tmp_path: Path) -> None:
    clock = SimulatedClock(START)
    config = BackendConfig(data_dir=tmp_path, database_url=database_url,
                           http=HttpConfig(port=0), admin_token="portal-operator-token",
                           scheduler=SchedulerConfig(poll_seconds=0.05))
    async with trio.open_nursery() as nursery:
        handle: BackendHandle = await nursery.start(serve_backend, config, clock)
        assert handle.database is not None
        headers = {"Authorization": f"Bearer {handle.admin_token}"}
        async with httpx.AsyncClient(base_url=handle.base_url) as client:
            auth = await _setup_epj(client, handle.admin_token)
            order_id = await _paid_by_card(client, auth, headers)
            clock.advance(timedelta(days=1))
            (settled,) = await settle_day(
                handle.database, clock, oslo_date(clock.now()), tmp_path / "settlements",
                clinic_id="oslo", streams=(SettlementStream.CHECKOUT,), force=True)
            other = await client.post("/v1/orders", json=order(2), auth=auth)  # not paid
            assert other.status_code == 201, other.text
            created = await client.post("/v1/clinics/oslo/admins", headers=headers,
                                        json={"email": "kari@oslo.no", "name": "Kari"})
            assert created.status_code == 201, created.text
            otp = created.json()["one_time_password"]
            downloads = tmp_path / "downloads"
            downloads.mkdir()

            def in_browser() -> dict[str, str]:
                with chromium() as driver:
                    return _walk(driver, handle.base_url, "kari@oslo.no", otp, downloads)

            seen = await trio.to_thread.run_sync(in_browser)
            assert seen["after_password"] == "Passordet er lagret."
            assert "RK-1" in seen["search"] and "RK-2" not in seen["search"]
            assert seen["prefilled"] == "450,01"
            assert seen["after_credit"] == "Krediteringen er registrert."
            assert "Feil takst" in seen["credits"] and "100,50" in seen["credits"]
            assert "Høyst 349,51" in seen["credits"]
            assert seen.get("pdf_head") == "%PDF-", seen
            assert seen["download"] == Path(settled.files["pdf"]["path"]).name
            status = (await client.get(f"/v1/orders/{order_id}", auth=auth)).json()
            assert [h["event"] for h in status["history"]][-1] == "credited"
        nursery.cancel_scope.cancel()
