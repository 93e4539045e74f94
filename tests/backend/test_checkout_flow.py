"""Checkout behind the SMS link, in-process: card (with 3-D Secure), Vipps and invoice;
dead links; double submits; what the EPJ sees afterwards."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import trio
from sqlalchemy.engine import Engine

from medipay_backend.adapters.acquirer import AcquirerError
from medipay_backend.adapters.bureau import SimulatedBureau
from medipay_backend.domain.scoring import CreditHistory

from .flow import Flow
from .people import ADULT, TEEN_17, order


async def _sent(flow: Flow, n: int = 1, **changes: object) -> tuple[str, str]:
    posted = await flow.post(order(n, **changes))
    assert await flow.tick() >= 1
    return posted["id"], flow.link()


async def test_sms_goes_out_with_an_unguessable_link(flow: Flow) -> None:
    order_id, path = await _sent(flow)
    status = await flow.status(order_id)
    assert status["status"] == "awaiting_payment"
    assert status["status_text"] == "Sendt til pasienten på SMS, venter på betaling"
    assert [h["event"] for h in status["history"]] == ["received", "sms_sent"]
    message = flow.sms[0]
    assert message.to == "+4791234567"
    assert "450,01 kr" in message.text and "07.01.2026 kl. 09:00" in message.text
    assert message.text.startswith("Regning fra Klinikk oslo-legesenter")
    assert len(message.text) <= 160
    token = path.removeprefix("/c/")
    assert len(token) >= 22  # >= 128 bits of URL-safe base64
    assert await flow.tick() == 0  # the SMS job is done; nothing is sent twice


async def test_landing_and_menu_show_the_total_but_nothing_personal(flow: Flow) -> None:
    _, path = await _sent(flow, description="Konsultasjon")
    landing = await flow.client.get(path)
    assert landing.status_code == 200
    text = landing.text
    assert "450,01" in text and "Konsultasjon" in text and 'lang="nb"' in text
    assert ADULT not in text and "Kari" not in text and "Storgata" not in text
    assert landing.headers["cache-control"] == "no-store"
    assert landing.headers["referrer-policy"] == "no-referrer"
    menu = await flow.client.get(path + "/betal")
    assert "Betal med kort" in menu.text and "Betal med Vipps" in menu.text
    assert "Få faktura" in menu.text and "59,00" in menu.text  # the invoice fee


async def test_card_payment_is_authorized_then_captured(flow: Flow) -> None:
    order_id, path = await _sent(flow)
    card_page = await flow.payment_page(path, "kort")
    assert "Kortnummer" in card_page.text
    done = await flow.go("POST", str(card_page.url), data={
        "card_number": "4111 1111 1111 1111", "expiry": "12/30", "cvc": "123"})
    assert "Regningen er betalt" in done.text and "Betalt med kort" in done.text
    status = await flow.status(order_id)
    assert (status["status"], status["payment_method"]) == ("paid", "card")
    assert status["status_text"] == "Betalt med kort"
    assert status["history"][-1]["event"] == "paid"
    assert flow.runtime.sim_acquirer is not None and flow.runtime.sim_acquirer.captures == 1
    again = await flow.client.get(path)  # the link now shows the receipt, not the menu
    assert "Regningen er betalt" in again.text
    assert (await flow.client.post(path + "/kort")).status_code == 200
    assert flow.runtime.sim_acquirer.captures == 1


async def test_declined_card_leaves_the_order_open(flow: Flow) -> None:
    order_id, path = await _sent(flow)
    card_page = await flow.payment_page(path, "kort")
    declined = await flow.go("POST", str(card_page.url), data={
        "card_number": "4000000000000002", "expiry": "12/30", "cvc": "123"})
    assert "gikk ikke gjennom" in declined.text and "avviste" in declined.text
    status = await flow.status(order_id)
    assert status["status"] == "awaiting_payment"
    assert status["history"][-1]["event"] == "payment_declined"
    invalid = await flow.go("POST", str((await flow.payment_page(path, "kort")).url),
                            data={"card_number": "4111111111111112"})
    assert "ikke gyldig" in invalid.text


async def test_three_d_secure_challenge(flow: Flow) -> None:
    order_id, path = await _sent(flow)
    card_page = await flow.payment_page(path, "kort")
    challenge = await flow.go("POST", str(card_page.url), data={
        "card_number": "4000000000003220", "expiry": "12/30", "cvc": "123"})
    assert "3-D Secure" in challenge.text
    wrong = await flow.go("POST", str(challenge.url), data={"code": "0000"})
    assert "ikke bekreftet" in wrong.text
    card_page = await flow.payment_page(path, "kort")
    challenge = await flow.go("POST", str(card_page.url), data={
        "card_number": "4000000000003220", "expiry": "12/30", "cvc": "123"})
    done = await flow.go("POST", str(challenge.url), data={"code": "1234"})
    assert "Regningen er betalt" in done.text
    assert (await flow.status(order_id))["status"] == "paid"


async def test_vipps_approve_reject_and_pending(flow: Flow) -> None:
    first_id, first = await _sent(flow, 1)
    app_page = await flow.payment_page(first, "vipps")
    assert "Vipps" in app_page.text and "450,01" in app_page.text
    rejected = await flow.go("POST", str(app_page.url) + "/reject")
    assert "avbrutt eller avvist" in rejected.text
    app_page = await flow.payment_page(first, "vipps")
    pending = await flow.client.get(
        app_page.text.split('action="')[1].split('"')[0].replace("/approve", ""))
    assert pending.status_code == 200
    approved = await flow.go("POST", str(app_page.url) + "/approve")
    assert "Betalt med Vipps" in approved.text
    status = await flow.status(first_id)
    assert (status["status"], status["payment_method"]) == ("paid", "vipps")
    events = [h["event"] for h in status["history"]]
    assert events == ["received", "sms_sent", "payment_declined", "paid"]

    _, second = await _sent(flow, 2)
    await flow.payment_page(second, "vipps")
    waiting = await flow.go("GET", second + "/vipps/retur?betaling=nope")
    assert waiting.status_code == 404


async def test_vipps_payment_left_in_the_app_waits(flow: Flow) -> None:
    _, path = await _sent(flow)
    start = await flow.client.post(path + "/vipps")
    reference = start.headers["location"].rsplit("/", 1)[1]
    payment_id = reference.removeprefix("medipay-")
    waiting = await flow.client.get(f"{path}/vipps/retur?betaling={payment_id}")
    assert "Venter på svar fra Vipps" in waiting.text
    assert flow.runtime.sim_vipps is not None
    flow.runtime.sim_vipps.expire(reference)
    expired = await flow.client.get(f"{path}/vipps/retur?betaling={payment_id}")
    assert "gikk ikke gjennom" in expired.text


async def test_invoice_in_checkout_after_a_full_credit_check(
    flow: Flow, bureau: SimulatedBureau
) -> None:
    order_id, path = await _sent(flow, 1)
    chosen = await flow.go("POST", path + "/faktura")
    assert "Du får faktura" in chosen.text and "509,01" in chosen.text  # with the fee
    status = await flow.status(order_id)
    assert (status["status"], status["payment_method"]) == ("invoice_chosen", "invoice")
    invoice = status["invoice"]
    assert (invoice["route"], invoice["origin"], invoice["total"]) == ("bought", "checkout",
                                                                      50_901)
    bureau.profiles[ADULT] = CreditHistory(defaults=1)
    refused_id, refused = await _sent(flow, 2)
    answer = await flow.go("POST", refused + "/faktura")
    assert "kan dessverre ikke tilby faktura" in answer.text
    status = await flow.status(refused_id)
    assert status["status"] == "awaiting_payment"
    assert status["history"][-1]["event"] == "invoice_declined"


async def test_invoice_is_not_offered_to_minors(flow: Flow) -> None:
    _, path = await _sent(flow, 1, patient={**order()["patient"], "national_id": TEEN_17})
    menu = await flow.client.get(path + "/betal")
    assert "Få faktura" not in menu.text
    refused = await flow.go("POST", path + "/faktura")
    assert "kan dessverre ikke tilby faktura" in refused.text


async def test_dead_and_forged_links(flow: Flow) -> None:
    order_id, path = await _sent(flow)
    token = path.removeprefix("/c/")
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in ("/c/" + forged, "/c/short", "/c/" + "x" * 200, "/c/%00%01abcdefghijklmnop"):
        response = await flow.client.get(bad)
        assert response.status_code == 404, bad
        assert "Vi finner ikke denne betalingen" in response.text
        assert (await flow.client.post(bad + "/kort")).status_code == 404
    flow.clock.advance(timedelta(hours=48))  # the deadline, before any sweep ran
    dead = await flow.client.get(path)
    assert dead.status_code == 410 and "ikke lenger gyldig" in dead.text
    assert (await flow.client.post(path + "/kort")).status_code == 410
    assert (await flow.client.post(path + "/faktura")).status_code == 410
    await flow.expire(hours=0)
    status = await flow.status(order_id)
    assert status["status"] == "invoiced"
    assert (await flow.client.get(path)).status_code == 410


async def test_reminder_sms_carries_a_new_link(flow: Flow) -> None:
    order_id, first = await _sent(flow)
    flow.clock.advance(timedelta(hours=39, minutes=59))
    await flow.tick()
    assert len(flow.sms) == 1
    flow.clock.advance(timedelta(minutes=1))  # 8 hours before the deadline
    await flow.tick()
    assert len(flow.sms) == 2
    assert flow.sms[1].text.startswith("Påminnelse fra Klinikk oslo-legesenter")
    second = flow.link()
    assert second != first
    assert (await flow.client.get(first)).status_code == 200
    assert (await flow.client.get(second)).status_code == 200
    status = await flow.status(order_id)
    assert status["history"][-1]["event"] == "reminder_sent"


async def test_no_reminder_once_paid(flow: Flow) -> None:
    _, path = await _sent(flow)
    card_page = await flow.payment_page(path, "kort")
    await flow.go("POST", str(card_page.url), data={"card_number": "4111111111111111"})
    flow.clock.advance(timedelta(hours=48))
    await flow.tick()
    assert len(flow.sms) == 1


async def test_concurrent_payments_capture_once(flow: Flow, engine: Engine) -> None:
    order_id, path = await _sent(flow)
    returns = []
    for card in ("4111111111111111", "5555555555554444"):
        card_page = await flow.payment_page(path, "kort")
        submitted = await flow.client.post(str(card_page.url), data={"card_number": card})
        returns.append(submitted.headers["location"])
    answers: list[httpx.Response] = []

    async def come_back(url: str) -> None:
        answers.append(await flow.go("GET", url))

    async with trio.open_nursery() as nursery:
        for url in returns:
            nursery.start_soon(come_back, url)
    assert all("Regningen er betalt" in a.text for a in answers)
    acquirer = flow.runtime.sim_acquirer
    assert acquirer is not None and acquirer.captures == 1
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT status FROM payments").scalars().all()
    assert sorted(rows) == ["cancelled", "captured"]  # the loser's authorization released
    status = await flow.status(order_id)
    assert [h["event"] for h in status["history"]].count("paid") == 1


async def test_card_status_unreachable_shows_try_again_and_the_return_works_later(
        flow: Flow, monkeypatch: pytest.MonkeyPatch) -> None:
    # The payment flow is shared with the claim checkout: an acquirer that cannot be asked
    # answers the "try again" page (503), not a server error, and nothing is recorded.
    order_id, path = await _sent(flow)
    card_page = await flow.payment_page(path, "kort")

    async def unreachable(reference: str) -> None:
        raise AcquirerError("connection refused")

    monkeypatch.setattr(flow.runtime.acquirer, "status", unreachable)
    returned = await flow.go("POST", str(card_page.url), data={
        "card_number": "4111 1111 1111 1111", "expiry": "12/30", "cvc": "123"})
    assert returned.status_code == 503 and "Prøv igjen" in returned.text
    assert (await flow.status(order_id))["status"] != "paid"
    monkeypatch.undo()
    done = await flow.go("GET", str(returned.url))
    assert "Regningen er betalt" in done.text
    assert (await flow.status(order_id))["status"] == "paid"
