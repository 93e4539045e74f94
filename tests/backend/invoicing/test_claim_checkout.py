"""Card and Vipps payment from the link in a dunning SMS, over HTTP in-process: the amount owed
today, capture exactly once (repeated returns, two tabs), closed claims, forged links, an
amount that changed while the patient was away."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from medipay_backend.db import Database
from medipay_backend.invoicing import claims as claim_actions
from medipay_backend.invoicing.claim_checkout import new_link
from medipay_backend.invoicing.dunning_runner import run_all
from medipay_backend.invoicing.jobs import daily_job
from medipay_backend.ledger_store import replay
from medipay_backend.localtime import kroner, oslo_date
from medipay_backend.models_invoicing import (
    Claim,
    ClaimEvent,
    ClaimLink,
    ClaimPayment,
    IncomingPayment,
)
from medipay_backend.models_ledger import LedgerTransfer
from medipay_backend.sms_flow import token_hash

from ..flow import Flow
from .seed import make_claim
from .test_dunning_walk import interest

LINK = re.compile(r"https://pay\.medipay\.test(/f/[A-Za-z0-9_-]+)")
CARD = {"card_number": "4111 1111 1111 1111", "expiry": "12/30", "cvc": "123"}
OWED_DAY_17 = 100_000 + 4_900 + interest(3)


async def sms_link(flow: Flow, database: Database, *, walk: bool = False,
                   **claim: Any) -> tuple[Claim, str]:
    """A claim issued 17 days ago, dunned every day since; the link of the friendly SMS that
    the daily job sends today. With `walk` the daily job itself runs on each of those days."""
    if walk:
        made = database.transaction(lambda s: make_claim(s, flow.clock.now(), **claim))
    else:  # quicker: the dunning runs of the past days, without the scheduler
        issued = flow.clock.now() - timedelta(days=17)
        made = database.transaction(lambda s: make_claim(s, issued, **claim))
        for day in range(17):
            at = issued + timedelta(days=day)
            database.transaction(lambda s, at=at: run_all(s, oslo_date(at), at))
    await flow.scheduler.add(daily_job(flow.clock.now()))
    for _ in range(17 if walk else 0):
        await flow.tick()
        flow.clock.advance(timedelta(days=1))
    await flow.tick()
    (message,) = flow.sms
    found = LINK.search(message.text)
    assert found, message.text
    return made, found.group(1)


def rows(database: Database, model: Any) -> list[Any]:
    return list(database.transaction(lambda s: list(s.scalars(sa.select(model)))))


def claim_now(database: Database, seq: int) -> Claim:
    found = database.transaction(lambda s: s.get(Claim, seq))
    assert found is not None
    return found


async def card_authorized(flow: Flow, path: str, card: dict[str, str] = CARD) -> str:
    """Start a card payment and authorize it at the acquirer; the return URL (not opened)."""
    started = await flow.client.post(path + "/kort")
    assert started.status_code == 303, started.text
    form_url = started.headers["location"]
    assert "Kortnummer" in (await flow.client.get(form_url)).text
    returned = await flow.client.post(form_url, data=card)
    assert returned.status_code == 303
    return str(returned.headers["location"])


async def test_the_sms_link_shows_today_and_a_card_payment_pays_the_claim_once(
    flow: Flow, database: Database
) -> None:
    claim, path = await sms_link(flow, database, walk=True)
    message = flow.sms[-1]
    assert message.to == "+4791234567" and "Betal med kort eller Vipps: https://" in message.text
    token = path.removeprefix("/f/")
    assert len(token) == 32  # 192 random bits
    link = database.transaction(lambda s: s.get(ClaimLink, token_hash(token)))
    assert link is not None and link.claim_seq == claim.seq and link.step_id == "friendly-sms"
    stored = database.transaction(lambda s: s.scalars(sa.select(ClaimEvent).where(
        ClaimEvent.kind == "sms")).one())
    assert token not in stored.detail["text"] and token[:4] + "…" in stored.detail["text"]

    landing = await flow.client.get(path)
    assert landing.status_code == 200 and landing.headers["cache-control"] == "no-store"
    page = landing.text
    assert f"Faktura {claim.invoice_number}" in page and "Fjordlegen AS" in page
    assert kroner(OWED_DAY_17) in page and kroner(interest(3)) in page
    assert "Betal med kort" in page and "Betal med Vipps" in page and claim.kid in page
    assert "Kari" not in page  # nothing personal behind a link

    back = await card_authorized(flow, path)
    done = await flow.go("GET", back)
    assert "Takk! Fakturaen er betalt" in done.text
    paid = claim_now(database, claim.seq)
    assert paid.state == "paid" and paid.next_action_on is None
    (payment,) = rows(database, IncomingPayment)
    assert (payment.source, payment.amount) == ("card", OWED_DAY_17)
    assert (payment.interest, payment.invoice_fee, payment.principal) == (interest(3), 4_900,
                                                                          100_000)
    assert (payment.to_clinic, payment.to_provider) == (104_900, interest(3))
    (attempt,) = rows(database, ClaimPayment)
    assert attempt.status == "captured" and attempt.masked_pan == "411111******1111"
    acquirer = flow.runtime.sim_acquirer
    assert acquirer is not None and acquirer.captures == 1

    # The return repeated (reload, back button): nothing captured or recorded again.
    assert "Fakturaen er betalt" in (await flow.go("GET", back)).text
    again = await flow.client.get(path)
    assert again.status_code == 200 and "Fakturaen er betalt" in again.text
    assert "Betal med kort" not in again.text
    refused = await flow.client.post(path + "/kort")
    assert refused.status_code == 200 and "Fakturaen er betalt" in refused.text
    assert acquirer.captures == 1 and len(rows(database, IncomingPayment)) == 1
    assert len(rows(database, ClaimPayment)) == 1

    # The clinic's part waits for stream 2, the interest is the provider's revenue.
    transfers = {t.id: t for t in rows(database, LedgerTransfer)}
    principal = transfers[f"fs:card:{attempt.id}:principal"]
    assert (principal.amount, principal.stream, principal.clinic_id) == (
        104_900, "fakturaservice", claim.clinic_id)
    assert principal.debit_account_id == "provider:clearing:card"
    assert transfers[f"fs:card:{attempt.id}:interest"].credit_account_id == \
        "provider:revenue:interest"
    database.transaction(replay)


async def test_two_tabs_pay_once_and_the_second_authorization_is_released(
    flow: Flow, database: Database
) -> None:
    claim, path = await sms_link(flow, database)
    card_back = await card_authorized(flow, path)  # tab 1: card, authorized
    vipps = await flow.client.post(path + "/vipps")  # tab 2: Vipps, approved in the app
    assert vipps.status_code == 303
    app_page = vipps.headers["location"]
    assert kroner(OWED_DAY_17) in (await flow.client.get(app_page)).text
    vipps_back = (await flow.client.post(app_page + "/approve")).headers["location"]

    assert "Fakturaen er betalt" in (await flow.go("GET", card_back)).text
    second = await flow.go("GET", vipps_back)
    assert "Fakturaen er betalt" in second.text

    sim_vipps = flow.runtime.sim_vipps
    assert sim_vipps is not None
    reference = "medipay-f-" + vipps_back.rsplit("=", 1)[1]
    view = sim_vipps._view(reference)
    assert view["state"] == "TERMINATED" and view["aggregate"]["capturedAmount"]["value"] == 0
    assert view["aggregate"]["cancelledAmount"]["value"] == OWED_DAY_17
    statuses = sorted((a.method, a.status) for a in rows(database, ClaimPayment))
    assert statuses == [("card", "captured"), ("vipps", "cancelled")]
    (payment,) = rows(database, IncomingPayment)
    assert payment.amount == OWED_DAY_17 and claim_now(database, claim.seq).state == "paid"


async def test_vipps_pays_a_bought_claim_and_nothing_reaches_the_clinic(
    flow: Flow, database: Database
) -> None:
    claim, path = await sms_link(flow, database, route="bought")
    started = await flow.client.post(path + "/vipps")
    app_page = started.headers["location"]
    waiting = await flow.client.get(path + "/vipps/retur?betaling="
                                    + app_page.rsplit("medipay-f-", 1)[1])
    assert "Venter på svar fra Vipps" in waiting.text
    back = (await flow.client.post(app_page + "/approve")).headers["location"]
    assert "Fakturaen er betalt" in (await flow.go("GET", back)).text

    (payment,) = rows(database, IncomingPayment)
    assert (payment.source, payment.amount, payment.to_clinic) == ("vipps", OWED_DAY_17, 0)
    transfers = rows(database, LedgerTransfer)
    assert not [t for t in transfers if t.stream == "fakturaservice"]
    principal = next(t for t in transfers if t.id.endswith(":principal"))
    assert principal.credit_account_id == "provider:claims:purchased"
    assert principal.amount == 100_000 and principal.stream is None
    # The invoice fee of a bought claim is the provider's, on a revenue account of its own.
    fee = next(t for t in transfers if t.id.endswith(":invoice-fee"))
    assert (fee.amount, fee.credit_account_id) == (4_900, "provider:revenue:invoice-fees")
    assert not [t for t in transfers if t.id.endswith(":fees")]  # no dunning fee was due
    assert any(t.id.endswith(":purchase") for t in transfers)
    database.transaction(replay)
    assert claim_now(database, claim.seq).state == "paid"


async def test_a_stopped_or_credited_claim_shows_why_and_takes_no_money(
    flow: Flow, database: Database
) -> None:
    claim, path = await sms_link(flow, database)
    now = flow.clock.now()

    def stop(session: Any) -> None:
        claim_actions.stop(session, session.get(Claim, claim.seq), oslo_date(now), now,
                           delete=False, reason="clinic takes it back")

    database.transaction(stop)
    page = await flow.client.get(path)
    assert page.status_code == 410 and "trukket tilbake" in page.text
    assert "Betal med kort" not in page.text
    for method in ("kort", "vipps"):
        refused = await flow.client.post(f"{path}/{method}")
        assert refused.status_code == 410
    assert rows(database, ClaimPayment) == []

    other = database.transaction(lambda s: make_claim(s, now))

    def credit(session: Any) -> None:
        claim_actions.credit(session, session.get(Claim, other.seq), oslo_date(now), now,
                             amount=None, reason="wrong patient")

    token = database.transaction(lambda s: new_link(s, other.seq, None, now))
    database.transaction(credit)
    credited = await flow.client.get(f"/f/{token}")
    assert credited.status_code == 410 and "kreditert" in credited.text


async def test_forged_and_malformed_links_find_nothing(flow: Flow, database: Database) -> None:
    _, path = await sms_link(flow, database)
    token = path.removeprefix("/f/")
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (f"/f/{forged}", "/f/short", "/f/" + "x" * 80, f"/f/{forged}/kort/retur?betaling=x"):
        answer = await flow.client.get(bad)
        assert answer.status_code == 404 and "Vi finner ikke" in answer.text, bad
    assert (await flow.client.post(f"/f/{forged}/kort")).status_code == 404
    assert rows(database, ClaimPayment) == []


async def test_an_amount_that_changed_is_not_captured_and_can_be_paid_again(
    flow: Flow, database: Database
) -> None:
    claim, path = await sms_link(flow, database)
    back = await card_authorized(flow, path)
    flow.clock.advance(timedelta(days=1))  # a day's interest more before coming back
    changed = await flow.go("GET", back)
    assert changed.status_code == 409 and "Beløpet er endret" in changed.text
    acquirer = flow.runtime.sim_acquirer
    assert acquirer is not None and acquirer.captures == 0
    (first,) = rows(database, ClaimPayment)
    assert first.status == "cancelled"
    assert (await acquirer.status(str(first.provider_reference))).status == "cancelled"
    assert rows(database, IncomingPayment) == []

    owed_now = 100_000 + 4_900 + interest(4)
    assert kroner(owed_now) in (await flow.client.get(path)).text
    declined = await flow.go("GET", await card_authorized(
        flow, path, {**CARD, "card_number": "4000000000000002"}))
    assert "gikk ikke gjennom" in declined.text and rows(database, IncomingPayment) == []
    done = await flow.go("GET", await card_authorized(flow, path))
    assert "Fakturaen er betalt" in done.text
    (payment,) = rows(database, IncomingPayment)
    assert payment.amount == owed_now and acquirer.captures == 1
    assert claim_now(database, claim.seq).state == "paid"
