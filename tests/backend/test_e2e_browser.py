"""End to end in a real browser: an EPJ posts orders, the link goes over SMPP to the local
SMSC, and headless Chromium pays by card (with 3-D Secure), by Vipps and by invoice; the EPJ
sees each outcome; after the deadline on the simulated clock the link is dead."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from medipay.clock import SimulatedClock
from medipay_backend.config import BackendConfig, HttpConfig, SchedulerConfig, SmsConfig
from medipay_backend.handlers import SWEEP_INTERVAL
from medipay_backend.server import BackendHandle, serve_backend
from medipay_backend.sms.smsc import LocalSmsc

from .browser import chromium, missing_reason
from .conftest import START
from .people import order
from .test_e2e_sms import _setup_epj

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))


def _find(driver: Any, how: str, what: str) -> Any:
    """Wait for an element: a click on a form button returns before the next page loads."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    return WebDriverWait(driver, 15).until(
        expected_conditions.presence_of_element_located((how, what)))


def _text_of_result(driver: Any, expected: str) -> str:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    # The old page may still be there, or vanish while it is read: both mean "not yet".
    WebDriverWait(driver, 15, ignored_exceptions=[
        NoSuchElementException, StaleElementReferenceException,
    ]).until(lambda d: expected in d.find_element(By.TAG_NAME, "h1").text)
    return str(driver.find_element(By.TAG_NAME, "main").text)


def _pay_by_card(driver: Any, link: str) -> str:
    from selenium.webdriver.common.by import By

    driver.get(link)
    assert "450,01" in driver.find_element(By.CLASS_NAME, "amount").text
    driver.find_element(By.LINK_TEXT, "Velg betalingsmåte").click()
    driver.find_element(By.XPATH, "//button[text()='Betal med kort']").click()
    _find(driver, By.ID, "card_number").send_keys("4000 0000 0000 3220")
    driver.find_element(By.ID, "expiry").send_keys("12/30")
    driver.find_element(By.ID, "cvc").send_keys("123")
    driver.find_element(By.XPATH, "//button[text()='Betal']").click()
    _find(driver, By.ID, "code").send_keys("1234")  # the 3-D Secure challenge
    driver.find_element(By.XPATH, "//button[text()='Bekreft']").click()
    return _text_of_result(driver, "Takk")


def _pay_by_vipps(driver: Any, link: str) -> str:
    from selenium.webdriver.common.by import By

    driver.get(link + "/betal")
    driver.find_element(By.XPATH, "//button[text()='Betal med Vipps']").click()
    _find(driver, By.XPATH, "//button[text()='Godkjenn i Vipps']").click()
    return _text_of_result(driver, "Takk")


def _choose_invoice(driver: Any, link: str) -> str:
    from selenium.webdriver.common.by import By

    driver.get(link + "/betal")
    driver.find_element(By.XPATH, "//button[text()='Få faktura']").click()
    return _text_of_result(driver, "Du får faktura")


def _open(driver: Any, link: str, screenshot: Path | None = None) -> str:
    from selenium.webdriver.common.by import By

    driver.get(link)
    if screenshot is not None:
        driver.save_screenshot(str(screenshot))
    return str(driver.find_element(By.TAG_NAME, "main").text)


async def test_patients_pay_in_a_real_browser(database_url: str, tmp_path: Path) -> None:
    clock = SimulatedClock(START)
    smsc = LocalSmsc(clock)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(smsc.serve)
        config = BackendConfig(
            data_dir=tmp_path, database_url=database_url, http=HttpConfig(port=0),
            admin_token="browser-operator-token",
            sms=SmsConfig(url=f"smpp://medipay:secret@127.0.0.1:{port}"),
            scheduler=SchedulerConfig(poll_seconds=0.05),
        )
        handle: BackendHandle = await nursery.start(serve_backend, config, clock)
        async with httpx.AsyncClient(base_url=handle.base_url) as client:
            auth = await _setup_epj(client, handle.admin_token)
            ids = []
            for n in range(1, 5):
                posted = await client.post("/v1/orders", json=order(n, amount=45_001),
                                           auth=auth)
                assert posted.status_code == 201, posted.text
                ids.append(posted.json()["id"])
            with trio.fail_after(15):
                messages = await smsc.wait_for(4)
                while True:  # the SMSC has them; wait for the backend to note them sent
                    statuses = [(await client.get(f"/v1/orders/{i}", auth=auth)).json()
                                for i in ids]
                    if all(o["status"] == "awaiting_payment" for o in statuses):
                        break
                    await trio.sleep(0.05)
            ordered = [m.text.split(": ")[-1] for m in sorted(messages,
                                                             key=lambda m: m.message_id)]
            assert len(set(ordered)) == 4 and all(handle.base_url in link for link in ordered)

            def in_browser() -> tuple[str, str, str]:
                with chromium() as driver:
                    return (_pay_by_card(driver, ordered[0]), _pay_by_vipps(driver, ordered[1]),
                            _choose_invoice(driver, ordered[2]))

            card, vipps, invoice = await trio.to_thread.run_sync(in_browser)
            assert "Takk! Regningen er betalt" in card and "Betalt med kort" in card
            assert "Betalt med Vipps" in vipps
            assert "Du får faktura" in invoice and "509,01" in invoice
            outcomes = []
            for order_id in ids:
                outcomes.append((await client.get(f"/v1/orders/{order_id}", auth=auth)).json())
            paid = sorted((o["status"], o["payment_method"]) for o in outcomes)
            assert paid == [("awaiting_payment", None), ("invoice_chosen", "invoice"),
                            ("paid", "card"), ("paid", "vipps")]

            clock.advance(timedelta(hours=48) + SWEEP_INTERVAL)
            with trio.fail_after(15):
                while True:
                    left = [(await client.get(f"/v1/orders/{i}", auth=auth)).json()["status"]
                            for i in ids]
                    if "awaiting_payment" not in left:
                        break
                    # A sweep skips orders another job has locked and comes back a minute
                    # later; on this frozen clock, the minute has to be made to pass.
                    clock.advance(SWEEP_INTERVAL)
                    await trio.sleep(0.05)
            assert sorted(left) == ["invoice_chosen", "invoiced", "paid", "paid"]
            shot = tmp_path / "expired.png"

            def dead_link() -> tuple[str, str]:
                with chromium() as driver:
                    return _open(driver, ordered[3], shot), _open(driver, ordered[0])

            expired, receipt = await trio.to_thread.run_sync(dead_link)
            assert "Lenken er ikke lenger gyldig" in expired
            assert "Regningen er betalt" in receipt
            assert shot.stat().st_size > 0
        nursery.cancel_scope.cancel()
