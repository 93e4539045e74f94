"""The portal's pages over real data: one clinic's admin sees its own orders, POS payments,
claims and settlements and nothing of another clinic's; search and paging; credits; stopping
a claim; report downloads."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from medipay.clock import SimulatedClock
from medipay_backend import credit_refunds, credits
from medipay_backend.db import Database
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.handlers import SWEEP_INTERVAL
from medipay_backend.invoicing.issuing import issue_pending
from medipay_backend.localtime import OSLO, kroner, oslo_date
from medipay_backend.models_credits import OrderCredit
from medipay_backend.models_invoicing import Claim
from medipay_backend.models_ledger import Settlement
from medipay_backend.settlement.service import settle_day

from ..conftest import EnrolGateway, Epj, MakeEpj
from ..flow import Flow
from ..people import order
from ..settlement.helpers import check_ledger, map_gateway, send_pos
from .helpers import CREDIT_KEY, PASSWORD, Browser, Portal

OTHER = "annen-klinikk"


async def _card_paid(shop: Flow, n: int, epj: Epj | None = None) -> str:
    response = await shop.client.post("/v1/orders", json=order(n),
                                      auth=(epj or shop.epj).auth)
    assert response.status_code == 201, response.text
    await shop.tick()
    card_page = await shop.payment_page(shop.link(), "kort")
    await shop.go("POST", str(card_page.url), data={
        "card_number": "4111 1111 1111 1111", "expiry": "12/30", "cvc": "123"})
    assert (await shop.client.get(f"/v1/orders/{response.json()['id']}",
                                  auth=(epj or shop.epj).auth)).json()["status"] == "paid"
    return str(response.json()["id"])


async def _fakturaservice_claim(shop: Flow, n: int, database: Database,
                                epj: Epj | None = None) -> str:
    body = order(n, direct_to_invoice=True, always_fakturaservice=True)
    response = await shop.client.post("/v1/orders", json=body, auth=(epj or shop.epj).auth)
    assert response.status_code == 201, response.text
    for _ in range(2):  # the deadline sweep runs every minute (and skips locked rows on PG)
        shop.clock.advance(SWEEP_INTERVAL)
        await shop.tick()
    status = await shop.client.get(f"/v1/orders/{response.json()['id']}",
                                   auth=(epj or shop.epj).auth)
    assert status.json()["status"] == "invoiced", status.text
    now = shop.clock.now()
    assert await database.run(lambda s: issue_pending(s, now))
    return str(response.json()["id"])


@dataclass
class Two:
    """Clinic A (the admin's): a paid order, a Fakturaservice claim, an open order, POS
    payments, and settlements of streams checkout and POS. Clinic B: an open order, a
    Fakturaservice claim, POS payments and their settlement."""

    browser: Browser
    paid: str
    claimed: str
    open_order: str
    other_open: str
    other_claimed: str
    settlement: Settlement
    pos_settlement: Settlement
    other_settlement: Settlement


async def _two_clinics(shop: Flow, portal: Portal, make_epj: MakeEpj, database: Database,
                       clock: SimulatedClock, enrol_gateway: EnrolGateway,
                       tmp_path: Path) -> Two:
    other = await make_epj(OTHER)
    paid = await _card_paid(shop, 1)
    claimed = await _fakturaservice_claim(shop, 2, database)
    open_response = await shop.client.post("/v1/orders", json=order(3), auth=shop.epj.auth)
    await shop.tick()  # its SMS goes now, so the next card payment finds its own link last
    other_open = await shop.client.post("/v1/orders", json=order(4), auth=other.auth)
    other_claimed = await _fakturaservice_claim(shop, 5, database, other)
    for gateway_id, clinic_id, numbers in (("gw-a", shop.epj.clinic_id, range(1, 3)),
                                           ("gw-b", OTHER, range(50, 52))):
        gateway = await enrol_gateway(gateway_id)
        await send_pos(shop.client, gateway, numbers, reference=f"POS-{gateway_id}")
        await map_gateway(database, gateway_id, clinic_id)
    clock.advance(timedelta(days=1))
    day = oslo_date(clock.now())
    ours = await settle_day(database, clock, day, tmp_path, clinic_id=shop.epj.clinic_id,
                            force=True)
    theirs = await settle_day(database, clock, day, tmp_path, clinic_id=OTHER, force=True)
    by_stream = {row.stream: row for row in ours}
    admin = await portal.create_admin(shop.epj.clinic_id, "kari@oslo-legesenter.no")
    return Two(await portal.logged_in(admin), paid, claimed, open_response.json()["id"],
               other_open.json()["id"], other_claimed, by_stream["checkout"], by_stream["pos"],
               next(r for r in theirs if r.stream == "pos"))


async def test_an_admin_sees_their_clinic_and_nothing_of_another_clinic(
    shop: Flow, portal: Portal, make_epj: MakeEpj, database: Database, clock: SimulatedClock,
    enrol_gateway: EnrolGateway, tmp_path: Path,
) -> None:
    two = await _two_clinics(shop, portal, make_epj, database, clock, enrol_gateway, tmp_path)
    browser = two.browser
    # Their own settlements, with every report file as it is on disk.
    listing = await browser.get("/klinikk/oppgjor")
    assert "Kort, Vipps og kjøpte fakturaer" in listing.text
    assert "Betalingsterminal (POS)" in listing.text
    row = two.settlement
    detail = await browser.get(f"/klinikk/oppgjor/{row.id}")
    assert detail.status_code == 200
    assert f"<strong>{kroner(row.total)}</strong>" in detail.text
    assert detail.text.count("<td>Betaling</td>") == row.count
    for kind in ("pdf", "csv", "json", "transactions", "ocr"):
        assert f"/klinikk/oppgjor/{row.id}/filer/{kind}" in detail.text
        got = await browser.get(f"/klinikk/oppgjor/{row.id}/filer/{kind}")
        assert got.status_code == 200, kind
        on_disk = Path(row.files[kind]["path"])
        assert got.content == on_disk.read_bytes()
        assert on_disk.name in got.headers["content-disposition"]
        assert got.headers["cache-control"] == "no-store"
    assert got.headers["content-type"].startswith("text/plain")  # the OCR file
    pos = two.pos_settlement
    pos_page = await browser.get(f"/klinikk/oppgjor/{pos.id}")
    assert "/filer/pdf" in pos_page.text and "/filer/ocr" not in pos_page.text
    assert (await browser.get(f"/klinikk/oppgjor/{pos.id}/filer/ocr")).status_code == 404
    assert (await browser.get(f"/klinikk/oppgjor/{row.id}/filer/passwd")).status_code == 404

    # Lists hold only their own clinic's records.
    listing = await browser.get("/klinikk/transaksjoner")
    assert all(f"RK-{n}" in listing.text for n in (1, 2, 3))
    assert "RK-4" not in listing.text and "RK-5" not in listing.text
    assert (await browser.get(f"/klinikk/ordre/{two.paid}")).status_code == 200
    terminal = await browser.get("/klinikk/terminal")
    assert "POS-gw-a" in terminal.text and "POS-gw-b" not in terminal.text
    settlements = await browser.get("/klinikk/oppgjor")
    assert two.settlement.id in settlements.text and two.other_settlement.id not in settlements.text
    outstanding = await browser.get("/klinikk/utestaende")
    numbers = await database.run(lambda s: {clinic: number for clinic, number in s.execute(
        sa.select(Claim.clinic_id, Claim.invoice_number))})
    assert str(numbers[shop.epj.clinic_id]) in outstanding.text
    assert str(numbers[OTHER]) not in outstanding.text

    # The other clinic's ids in the URL: not found, and nothing happens to them.
    for path in (f"/klinikk/ordre/{two.other_open}", f"/klinikk/ordre/{two.other_claimed}",
                 f"/klinikk/oppgjor/{two.other_settlement.id}",
                 f"/klinikk/oppgjor/{two.other_settlement.id}/filer/pdf",
                 f"/klinikk/oppgjor/{two.other_settlement.id}/filer/transactions"):
        got = await browser.get(path)
        assert got.status_code == 404 and "Finner ikke siden" in got.text, path
    await browser.get(f"/klinikk/ordre/{two.paid}")
    key = CREDIT_KEY.search(browser.page.text if browser.page else "")
    assert key is not None
    credit = await browser.post(f"/klinikk/ordre/{two.other_open}/krediter", {
        "nokkel": key.group(1), "amount": "10,00", "reason": "Feil"})
    assert credit.status_code == 404
    stop = await browser.post(f"/klinikk/ordre/{two.other_claimed}/stopp-krav",
                              {"reason": "Tar det selv"})
    assert stop.status_code == 404
    assert await database.run(lambda s: s.scalar(
        sa.select(sa.func.count()).select_from(OrderCredit))) == 0
    states = await database.run(lambda s: sorted(s.scalars(sa.select(Claim.state))))
    assert states == ["open", "open"]


async def test_search_by_reference_kid_amount_date_and_status_with_paging(
    shop: Flow, portal: Portal, clock: SimulatedClock,
) -> None:
    kids = []
    for n in range(1, 6):
        posted = await shop.post(order(n, external_reference=f"RK-{n}00"))
        kids.append(posted["kid"])
        clock.advance(timedelta(days=1))
    admin = await portal.create_admin(shop.epj.clinic_id, "kari@oslo-legesenter.no")
    browser = await portal.logged_in(admin)

    def refs(response: httpx.Response) -> list[str]:
        return re.findall(r">(RK-\d+)</a>", response.text)

    first = await browser.get("/klinikk/transaksjoner")
    assert refs(first) == ["RK-500", "RK-400", "RK-300"]  # newest first, 3 a page
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    second = await browser.get("/klinikk/transaksjoner", side="2")
    assert refs(second) == ["RK-200", "RK-100"] and 'rel="next"' not in second.text
    assert refs(await browser.get("/klinikk/transaksjoner", q="rk-3")) == ["RK-300"]
    assert refs(await browser.get("/klinikk/transaksjoner", q=kids[1])) == ["RK-200"]
    assert refs(await browser.get("/klinikk/transaksjoner", belop="450,04")) == ["RK-400"]
    assert refs(await browser.get("/klinikk/transaksjoner", belop="450.04 kr")) == ["RK-400"]
    window = await browser.get("/klinikk/transaksjoner", fra="2026-01-06", til="07.01.2026")
    assert refs(window) == ["RK-300", "RK-200"]
    assert refs(await browser.get("/klinikk/transaksjoner", status="paid")) == []
    accepted = await browser.get("/klinikk/transaksjoner", status="accepted", side="2")
    assert refs(accepted) == ["RK-200", "RK-100"]
    assert 'href="/klinikk/transaksjoner?status=accepted&amp;side=1"' in accepted.text
    bad = await browser.get("/klinikk/transaksjoner", belop="mange", fra="i går")
    assert "Skriv beløpet i kroner" in bad.text and "er ikke en dato" in bad.text
    assert len(refs(bad)) == 3  # unreadable filters are left out, and the page says so
    backwards = await browser.get("/klinikk/transaksjoner", fra="2026-01-08", til="2026-01-06")
    assert "Fra-datoen er etter til-datoen" in backwards.text


async def _credits(database: Database) -> list[tuple[int, str]]:
    return list(await database.run(lambda s: s.execute(
        sa.select(OrderCredit.amount, OrderCredit.actor).order_by(OrderCredit.seq)).all()))


async def test_credit_part_of_a_paid_order_once_however_often_the_form_is_sent(
    shop: Flow, portal: Portal, database: Database,
) -> None:
    paid = await _card_paid(shop, 1)
    unpaid = await shop.post(order(2))
    admin = await portal.create_admin(shop.epj.clinic_id, "kari@oslo-legesenter.no")
    browser = await portal.logged_in(admin)
    page = await browser.get(f"/klinikk/ordre/{unpaid['id']}")
    assert "ikke noe mer å kreditere" in page.text and CREDIT_KEY.search(page.text) is None
    refused = await browser.post(f"/klinikk/ordre/{unpaid['id']}/krediter", {
        "nokkel": "portal-" + "0" * 32, "amount": "5", "reason": "x"})
    assert refused.status_code == 409 and "ikke betalt ennå" in refused.text
    assert await _credits(database) == []

    page = await browser.get(f"/klinikk/ordre/{paid}")
    assert "Høyst 450,01" in page.text and 'value="450,01"' in page.text
    found = CREDIT_KEY.search(page.text)
    assert found is not None
    form = {"nokkel": found.group(1), "amount": "100", "reason": "Feil takst"}
    for _ in range(2):  # a double submit
        sent = await browser.post(f"/klinikk/ordre/{paid}/krediter", form)
        assert sent.status_code == 303
    assert await _credits(database) == [(10_000, "portal:kari@oslo-legesenter.no")]
    after = await browser.follow(sent)
    assert "Krediteringen er registrert" in after.text and "Feil takst" in after.text
    assert "Høyst 350,01" in after.text
    next_key = CREDIT_KEY.search(after.text)
    assert next_key is not None and next_key.group(1) != found.group(1)

    too_much = await browser.post(f"/klinikk/ordre/{paid}/krediter", {
        "nokkel": next_key.group(1), "amount": "350,02", "reason": "Alt"})
    assert too_much.status_code == 409 and "høyst 350,01" in too_much.text
    assert 'value="350,02"' in too_much.text  # what was typed is kept
    garbage = await browser.post(f"/klinikk/ordre/{paid}/krediter", {
        "nokkel": next_key.group(1), "amount": "-5", "reason": "Alt"})
    assert garbage.status_code == 422 and "Skriv beløpet i kroner" in garbage.text
    no_reason = await browser.post(f"/klinikk/ordre/{paid}/krediter", {
        "nokkel": next_key.group(1), "amount": "5", "reason": " "})
    assert no_reason.status_code == 422 and "begrunnelse" in no_reason.text
    forged_key = await browser.post(f"/klinikk/ordre/{paid}/krediter", {
        "nokkel": "epj-key-1", "amount": "5", "reason": "x"})
    assert forged_key.status_code == 422
    reused = await browser.post(f"/klinikk/ordre/{paid}/krediter", {**form, "amount": "5"})
    assert reused.status_code == 409 and "allerede sendt" in reused.text
    no_csrf = await browser.post(f"/klinikk/ordre/{paid}/krediter",
                                 {"nokkel": next_key.group(1), "amount": "5", "reason": "x"},
                                 csrf="")
    assert no_csrf.status_code == 403
    assert await _credits(database) == [(10_000, "portal:kari@oslo-legesenter.no")]
    rest = await browser.post(f"/klinikk/ordre/{paid}/krediter", {
        "nokkel": next_key.group(1), "amount": "350,01", "reason": "Resten"})
    assert rest.status_code == 303
    done = await browser.follow(rest)
    assert "ikke noe mer å kreditere" in done.text and "450,01" in done.text


async def test_outstanding_claims_and_stopping_one(
    shop: Flow, portal: Portal, database: Database,
) -> None:
    claimed = await _fakturaservice_claim(shop, 1, database)
    admin = await portal.create_admin(shop.epj.clinic_id, "kari@oslo-legesenter.no")
    browser = await portal.logged_in(admin)
    today = await browser.get("/klinikk/utestaende")
    number = await database.run(lambda s: s.scalar(sa.select(Claim.invoice_number)))
    assert str(number) in today.text and "Utestående i alt" in today.text
    assert "509,01" in today.text  # principal 450,01 + invoice fee 59,00
    before = await browser.get("/klinikk/utestaende", dato=(date(2026, 1, 4)).isoformat())
    assert "Ingen utestående krav" in before.text
    bad = await browser.get("/klinikk/utestaende", dato="snart")
    assert "er ikke en dato" in bad.text and str(number) in bad.text

    page = await browser.get(f"/klinikk/ordre/{claimed}")
    assert "Fakturaservice (klinikkens krav)" in page.text
    assert "<dt>Trinn</dt><dd>Fakturert</dd>" in page.text and "Stopp kravet" in page.text
    empty = await browser.post(f"/klinikk/ordre/{claimed}/stopp-krav", {"reason": ""})
    assert empty.status_code == 422
    forged = await browser.post(f"/klinikk/ordre/{claimed}/stopp-krav",
                                {"reason": "Betalt i kassen"}, csrf="feil")
    assert forged.status_code == 403
    assert await database.run(lambda s: s.scalar(sa.select(Claim.state))) == "open"

    stopped = await browser.post(f"/klinikk/ordre/{claimed}/stopp-krav",
                                 {"reason": "Betalt i kassen"})
    assert stopped.status_code == 303
    shown = await browser.follow(stopped)
    assert "Kravet er stoppet" in shown.text and "Stoppet av klinikken" in shown.text
    assert "Stopp kravet" not in shown.text
    assert await database.run(lambda s: s.scalar(sa.select(Claim.state))) == "stopped"
    again = await browser.post(f"/klinikk/ordre/{claimed}/stopp-krav",
                               {"reason": "Betalt i kassen"})
    assert again.status_code == 409 and "ikke åpent lenger" in again.text
    assert "Ingen utestående krav" in (await browser.get("/klinikk/utestaende")).text


async def test_settlements_are_paged_newest_first(
    shop: Flow, portal: Portal, database: Database, clock: SimulatedClock, tmp_path: Path,
    make_epj: MakeEpj,
) -> None:
    await make_epj(OTHER)
    days = []
    for _ in range(4):  # four days of (empty) checkout settlements, 3 a page
        clock.advance(timedelta(days=1))
        day = oslo_date(clock.now())
        days.append(day)
        for clinic_id in (shop.epj.clinic_id, OTHER):
            await settle_day(database, clock, day, tmp_path, clinic_id=clinic_id,
                             streams=(SettlementStream.CHECKOUT,), force=True)
    admin = await portal.create_admin(shop.epj.clinic_id, "kari@oslo-legesenter.no")
    browser = await portal.logged_in(admin)

    def dates(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return re.findall(r'/klinikk/oppgjor/[0-9a-f-]+">(\d\d\.\d\d\.\d{4})</a>', response.text)

    newest_first = [d.strftime("%d.%m.%Y") for d in reversed(days)]
    first = await browser.get("/klinikk/oppgjor")
    assert dates(first) == newest_first[:3]
    assert 'href="/klinikk/oppgjor?side=2"' in first.text and 'rel="prev"' not in first.text
    second = await browser.get("/klinikk/oppgjor", side="2")
    assert dates(second) == newest_first[3:]  # the other clinic's four are not counted
    assert 'rel="next"' not in second.text and 'href="/klinikk/oppgjor?side=1"' in second.text
    beyond = await browser.get("/klinikk/oppgjor", side="9")
    assert dates(beyond) == [] and "Ingen oppgjør her" in beyond.text
    assert dates(await browser.get("/klinikk/oppgjor", side="tull")) == newest_first[:3]


async def test_the_clinic_sees_a_refund_that_failed_and_when_it_is_refunded(
    shop: Flow, portal: Portal, database: Database, clock: SimulatedClock,
) -> None:
    paid = await _card_paid(shop, 1)
    admin = await portal.create_admin(shop.epj.clinic_id, "kari@oslo-legesenter.no")
    browser = await portal.logged_in(admin)
    assert "refusjon-feilet" not in (await browser.get("/klinikk/transaksjoner")).text
    page = await browser.get(f"/klinikk/ordre/{paid}")
    key = CREDIT_KEY.search(page.text)
    assert key is not None
    acquirer = shop.runtime.sim_acquirer
    assert acquirer is not None
    acquirer.refund_outages = credits.REFUND_MAX_ATTEMPTS
    sent = await browser.post(f"/klinikk/ordre/{paid}/krediter", {
        "nokkel": key.group(1), "amount": "100", "reason": "Feil takst"})
    assert sent.status_code == 303
    pending = await browser.get(f"/klinikk/ordre/{paid}")
    assert "<td>Refusjon sendes</td>" in pending.text

    for _ in range(credits.REFUND_MAX_ATTEMPTS):  # the acquirer refuses every attempt
        await shop.tick()
        clock.advance(timedelta(hours=1))
    browser = portal.browser()  # the next day: the session has ended, log in again
    assert (await browser.login(admin.email, PASSWORD)).status_code == 303
    failed = await browser.get(f"/klinikk/ordre/{paid}")
    assert '<strong class="error">Refusjon feilet</strong>' in failed.text
    assert "MediPay skylder det nå pasienten" in failed.text
    bills = await browser.get("/klinikk/transaksjoner")
    banner = re.search(r'<div class="card" id="refusjon-feilet".*?</div>', bills.text, re.S)
    assert banner is not None, bills.text
    assert "1 refusjon feilet" in banner.group(0)
    line = f'href="/klinikk/ordre/{paid}#kreditering">RK-1</a>: 100,00\xa0kr tilbake til kortet'
    assert line in banner.group(0)

    (credit_id,) = await database.run(lambda s: list(s.scalars(sa.select(OrderCredit.id))))
    now = clock.now()
    await database.run(lambda s: credit_refunds.retry_refund(s, credit_id, now))
    await shop.tick()  # the acquirer takes it this time
    done = await browser.get(f"/klinikk/ordre/{paid}")
    assert f"<td>Refundert {clock.now().astimezone(OSLO):%d.%m.%Y %H:%M}</td>" in done.text
    assert "refusjon-feilet" not in (await browser.get("/klinikk/transaksjoner")).text
    await check_ledger(database)
