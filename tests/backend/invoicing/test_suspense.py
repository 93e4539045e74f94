"""The operator applies a suspense item to a named claim (allocated as a payment, posted to the
ledger) or records its refund; a second try, a closed claim, too much money or a bad account
number is a typed problem and changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from medipay.clock import SimulatedClock
from medipay_backend.db import Database
from medipay_backend.domain.kid import make_kid
from medipay_backend.domain.ocr import OcrHeader, OcrTransaction, ocr_text
from medipay_backend.ledger_store import replay
from medipay_backend.localtime import oslo_date
from medipay_backend.models_invoicing import Claim, IncomingPayment, SuspenseItem
from medipay_backend.models_ledger import LedgerAccount

from .seed import make_claim
from .test_payments_in import ocr_file

SUSPENSE = "/v1/invoicing/suspense"
WRONG_KID = make_kid(777_001, "mod10")
OWED = 104_900  # principal + invoice fee, before the due date


async def _unmatched(client: httpx.AsyncClient, headers: dict[str, str], clock: SimulatedClock,
                     *payments: tuple[str, int]) -> list[dict[str, Any]]:
    text = ocr_file(oslo_date(clock.now()), *payments)
    imported = await client.post("/v1/invoicing/ocr-imports", content=text, headers=headers)
    assert imported.status_code == 200, imported.text
    items = (await client.get(SUSPENSE, headers=headers)).json()
    assert isinstance(items, list)
    return items


def _state(database: Database) -> tuple[Any, ...]:
    """Everything an operator's action could change."""
    def read(session: Any) -> tuple[Any, ...]:
        claims = [(c.state, c.paid_principal, c.paid_invoice_fee)
                  for c in session.scalars(sa.select(Claim).order_by(Claim.seq))]
        items = [(i.seq, i.amount, i.resolution, i.resolved_at)
                 for i in session.scalars(sa.select(SuspenseItem).order_by(SuspenseItem.seq))]
        payments = session.scalar(sa.select(sa.func.count()).select_from(IncomingPayment))
        suspense = session.get(LedgerAccount, "provider:suspense")
        return (claims, items, payments,
                suspense.credits_posted - suspense.debits_posted if suspense else 0)
    return database.transaction(read)


def _suspense_balance(database: Database) -> int:
    return int(_state(database)[3])


async def test_an_unknown_kid_is_applied_to_the_claim_it_was_meant_for(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock,
) -> None:
    claim = database.transaction(lambda s: make_claim(s, clock.now()))
    (item,) = await _unmatched(client, admin_headers, clock, (WRONG_KID, 60_000))
    assert _suspense_balance(database) == 60_000
    clock.advance(timedelta(days=2))
    before = _state(database)

    too_much = await client.post(f"{SUSPENSE}/{item['id']}/apply", headers=admin_headers,
                                 json={"invoice_number": claim.invoice_number, "amount": 60_001})
    assert too_much.status_code == 422
    assert too_much.json()["type"].endswith("suspense-amount-not-available")
    unknown = await client.post(f"{SUSPENSE}/{item['id']}/apply", headers=admin_headers,
                                json={"invoice_number": 999_999_999})
    assert unknown.status_code == 404
    assert _state(database) == before  # refused: nothing changed

    applied = await client.post(f"{SUSPENSE}/{item['id']}/apply", headers=admin_headers,
                                json={"invoice_number": claim.invoice_number,
                                      "note": "patient called: KID mistyped"})
    assert applied.status_code == 200, applied.text
    body = applied.json()
    assert body["item"]["resolution"] == "applied"
    assert body["item"]["applied_to"] == claim.invoice_number and body["remainder"] is None
    assert body["claim"]["paid"] == 60_000 and body["claim"]["state"] == "open"
    payment = body["claim"]["events"][-1]
    assert payment["kind"] == "payment" and payment["detail"]["source"] == "suspense"
    assert payment["on_date"] == item["paid_on"]  # paid when the bank got the money
    assert (payment["detail"]["invoice_fee"], payment["detail"]["principal"]) == (4_900, 55_100)
    assert _suspense_balance(database) == 0
    payable = database.transaction(lambda s: s.get(
        LedgerAccount, "clinic:clinic-1:fakturaservice:payable"))
    assert payable is not None and payable.credits_posted == 60_000

    after = _state(database)
    again = await client.post(f"{SUSPENSE}/{item['id']}/apply", headers=admin_headers,
                              json={"invoice_number": claim.invoice_number})
    assert again.status_code == 409 and again.json()["type"].endswith("suspense-item-resolved")
    assert _state(database) == after
    database.transaction(replay)


async def test_part_of_an_item_and_more_than_owed(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock,
) -> None:
    first = database.transaction(lambda s: make_claim(s, clock.now()))
    second = database.transaction(lambda s: make_claim(s, clock.now(), amount=20_000))
    (item,) = await _unmatched(client, admin_headers, clock, (WRONG_KID, 150_000))
    part = await client.post(f"{SUSPENSE}/{item['id']}/apply", headers=admin_headers,
                             json={"invoice_number": first.invoice_number, "amount": OWED})
    assert part.json()["claim"]["state"] == "paid"
    remainder = part.json()["remainder"]
    assert (remainder["reason"], remainder["amount"]) == ("remainder", 150_000 - OWED)

    over = await client.post(f"{SUSPENSE}/{remainder['id']}/apply", headers=admin_headers,
                             json={"invoice_number": second.invoice_number})
    assert over.status_code == 200 and over.json()["claim"]["state"] == "paid"
    left = (await client.get(SUSPENSE, headers=admin_headers)).json()
    assert [(i["reason"], i["amount"]) for i in left] == [
        ("overpayment", 150_000 - OWED - 24_900)]
    assert _suspense_balance(database) == 150_000 - OWED - 24_900  # the ledger agrees

    closed = await client.post(f"{SUSPENSE}/{left[0]['id']}/apply", headers=admin_headers,
                               json={"invoice_number": first.invoice_number})
    assert closed.status_code == 409 and closed.json()["type"].endswith("claim-state-conflict")
    assert len((await client.get(SUSPENSE, headers=admin_headers)).json()) == 1
    database.transaction(replay)


async def test_a_refund_is_recorded_with_a_checked_account_number(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock,
) -> None:
    (item,) = await _unmatched(client, admin_headers, clock, (WRONG_KID, 12_300))
    before = _state(database)
    refund = f"{SUSPENSE}/{item['id']}/refund"
    for bad in ("86011117948", "8601111794X", "1234567890123"):
        answer = await client.post(refund, headers=admin_headers, json={"account": bad})
        assert answer.status_code == 422, bad
    assert _state(database) == before

    done = await client.post(refund, headers=admin_headers,
                             json={"account": "8601.11.17947", "note": "asked by phone"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["resolution"], body["refund_account"]) == ("refunded", "86011117947")
    assert body["note"] == "asked by phone"
    assert _suspense_balance(database) == 0
    bank = database.transaction(lambda s: s.get(LedgerAccount, "provider:bank"))
    assert bank is not None and bank.credits_posted == 12_300

    twice = await client.post(refund, headers=admin_headers, json={"account": "86011117947"})
    assert twice.status_code == 409
    handled = await client.post(f"{SUSPENSE}/{item['id']}/resolve", headers=admin_headers,
                                json={"note": "by hand"})
    assert handled.status_code == 409 and _suspense_balance(database) == 0
    database.transaction(replay)


async def test_a_reversal_is_neither_money_in_nor_applicable(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock,
) -> None:
    claim = database.transaction(lambda s: make_claim(s, clock.now()))
    day = oslo_date(clock.now())
    header = OcrHeader(transmission_number="0900001", data_recipient="00010200",
                       agreement_id="000000001", assignment_number="0000001",
                       assignment_account="15030000003", nets_date=day)
    text = ocr_text(header, [OcrTransaction(claim.kid, 5_000, day, reversal=True)])
    imported = await client.post("/v1/invoicing/ocr-imports", content=text,
                                 headers=admin_headers)
    assert imported.json()["suspense_reasons"] == {"reversal": 1}
    assert _suspense_balance(database) == 0  # the bank took money back: nothing deposited
    (item,) = (await client.get(SUSPENSE, headers=admin_headers)).json()
    before = _state(database)
    for action, body in (("apply", {"invoice_number": claim.invoice_number}),
                         ("refund", {"account": "86011117947"})):
        refused = await client.post(f"{SUSPENSE}/{item['id']}/{action}", json=body,
                                    headers=admin_headers)
        assert refused.status_code == 409
        assert refused.json()["type"].endswith("suspense-item-is-reversal")
    assert _state(database) == before
