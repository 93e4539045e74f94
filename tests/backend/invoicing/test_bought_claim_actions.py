"""Claim actions on a claim the provider bought (and paid the clinic for), and suspense items
handled by hand, with their bookings. The ledger's invariants are replayed after each money
move; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay.clock import SimulatedClock
from medipay_backend.credits import credit_order
from medipay_backend.db import Database
from medipay_backend.domain.kid import make_kid
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.invoicing import claims
from medipay_backend.invoicing.ledger_posts import release_bought_credit
from medipay_backend.invoicing.payments_in import record_payment
from medipay_backend.ledger import chart
from medipay_backend.ledger.chart import TransferCode
from medipay_backend.localtime import oslo_date
from medipay_backend.models_invoicing import Claim, ClaimEvent, SuspenseItem
from medipay_backend.models_ledger import LedgerAccount, LedgerTransfer
from medipay_backend.models_orders import Invoice

from ..settlement.helpers import check_ledger
from .seed import CLINIC, make_claim

CLAIMS = "/v1/invoicing/claims"
SUSPENSE = "/v1/invoicing/suspense"
PAYABLE = chart.payable_id(CLINIC, SettlementStream.CHECKOUT)


def _net_debit(session: Session, account_id: str) -> int:
    row = session.get(LedgerAccount, account_id)
    return 0 if row is None else row.debits_posted - row.credits_posted


def _books(database: Database) -> tuple[int, int]:
    """(what the provider still holds of bought claims, what it owes the clinic in checkout)."""
    return database.transaction(lambda s: (
        _net_debit(s, chart.purchased_claims_id()), -_net_debit(s, PAYABLE)))


def _transfers(database: Database, like: str) -> list[tuple[str, str, int, int, str | None,
                                                             str | None]]:
    return database.transaction(lambda s: [
        (t.debit_account_id, t.credit_account_id, t.amount, t.code, t.source, t.stream)
        for t in s.scalars(sa.select(LedgerTransfer).where(LedgerTransfer.id.like(like))
                           .order_by(LedgerTransfer.seq))])


def _count(database: Database, model: Any) -> int:
    return int(database.transaction(lambda s: s.scalar(sa.select(sa.func.count())
                                                       .select_from(model))))


async def test_an_operators_credit_note_on_a_bought_claim_takes_it_back_from_the_clinic(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock,
) -> None:
    bought = database.transaction(lambda s: make_claim(s, clock.now(), route="bought"))
    number = bought.invoice_number
    part = await client.post(f"{CLAIMS}/{number}/credit-notes",
                             headers={**admin_headers, "Idempotency-Key": "b-1"},
                             json={"amount": 30_000, "reason": "feil takst"})
    assert part.status_code == 201, part.text
    # The purchase (100 000 owed to the clinic) is booked first, then the credit takes
    # 30 000 of it back: the provider holds 70 000 of the claim and owes the clinic 70 000.
    assert _books(database) == (70_000, 70_000)
    refund = (PAYABLE, chart.purchased_claims_id(), 30_000, TransferCode.REFUND,
              "bought_invoice", SettlementStream.CHECKOUT.value)
    assert _transfers(database, f"fs:{bought.invoice_id}:credit:%") == [refund]
    await check_ledger(database)

    # The patient pays 20 000 (invoice fee first, then 15 100 of principal), then the rest
    # is credited: the clinic keeps what it was paid for the part the patient paid.
    now = clock.now()
    database.transaction(lambda s: record_payment(
        s, source="ocr", source_ref="b:1", kid=bought.kid, amount=20_000,
        paid_on=oslo_date(now), now=now))
    assert _books(database) == (70_000 - 15_100, 70_000)
    full = await client.post(f"{CLAIMS}/{number}/credit-notes",
                             headers={**admin_headers, "Idempotency-Key": "b-2"},
                             json={"amount": None, "reason": "timen ble ikke holdt"})
    assert full.status_code == 201 and full.json()["state"] == "credited"
    assert _books(database) == (0, 15_100)
    await check_ledger(database)

    # Posting a credit note's booking again adds nothing.
    def again(session: Session) -> list[bool]:
        claim = session.get_one(Claim, bought.seq)
        notes = session.scalars(sa.select(ClaimEvent).where(
            ClaimEvent.claim_seq == bought.seq, ClaimEvent.kind == "credit_note")
            .order_by(ClaimEvent.seq)).all()
        return [release_bought_credit(session, claim, note.seq, note.detail["principal"],
                                      clock.now()) for note in notes]

    assert database.transaction(again) == [False, False]
    assert _books(database) == (0, 15_100)


async def test_a_credit_note_on_the_invoice_fee_alone_moves_no_money(
    database: Database, clock: SimulatedClock,
) -> None:
    """The invoice fee was never part of the purchase, so crediting it books nothing."""
    bought = database.transaction(lambda s: make_claim(s, clock.now(), route="bought"))
    now = clock.now()

    def credit(amount: int | None) -> None:
        database.transaction(lambda s: claims.credit(
            s, s.get_one(Claim, bought.seq), oslo_date(now), now, amount=amount,
            reason="rabatt"))

    credit(100_000)
    assert _books(database) == (0, 0)
    before = _count(database, LedgerTransfer)
    credit(None)  # the 4 900 invoice fee left
    assert _count(database, LedgerTransfer) == before
    assert database.transaction(lambda s: s.get_one(Claim, bought.seq).state) == "credited"
    await check_ledger(database)


async def test_a_credit_on_the_order_and_an_operators_credit_note_book_alike(
    database: Database, clock: SimulatedClock,
) -> None:
    """One rule: `credits.credit_order` and `claims.credit` book a bought claim's credit on
    the same accounts, with the same code and settlement data; only the ids differ."""
    by_order, by_operator = database.transaction(lambda s: [
        make_claim(s, clock.now(), route="bought") for _ in range(2)])
    now = clock.now()

    def order_of(session: Session, claim: Claim) -> str:
        return str(session.scalar(sa.select(Invoice.order_id)
                                  .where(Invoice.id == claim.invoice_id)))

    made = database.transaction(lambda s: credit_order(
        s, clinic_id=CLINIC, order_id=order_of(s, by_order), amount=25_000, reason="rabatt",
        idempotency_key="one-rule", actor="test", now=now))
    database.transaction(lambda s: claims.credit(
        s, s.get_one(Claim, by_operator.seq), oslo_date(now), now, amount=25_000,
        reason="rabatt"))
    from_order = _transfers(database, f"credit:{made.credit_id}")
    from_operator = _transfers(database, f"fs:{by_operator.invoice_id}:credit:%")
    assert from_order == from_operator and len(from_order) == 1
    assert _books(database) == (2 * 75_000, 2 * 75_000)
    await check_ledger(database)


async def test_a_bought_claim_cannot_be_stopped_or_deleted(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock,
) -> None:
    bought = database.transaction(lambda s: make_claim(s, clock.now(), route="bought"))
    # Posted like any bought claim: the provider owes the clinic for it.
    database.transaction(lambda s: claims.credit(
        s, s.get_one(Claim, bought.seq), oslo_date(clock.now()), clock.now(), amount=1_000,
        reason="avrunding"))
    before = (_books(database), _count(database, ClaimEvent), _count(database, LedgerTransfer))
    for delete in (False, True):
        refused = await client.post(f"{CLAIMS}/{bought.invoice_number}/stop",
                                    headers=admin_headers,
                                    json={"delete": delete, "reason": "klinikken vil"})
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert body["type"].endswith("/claim-bought") and "credit it instead" in body["detail"]
        with pytest.raises(claims.ClaimBought):
            database.transaction(lambda s, d=delete, now=clock.now(): claims.stop(
                s, s.get_one(Claim, bought.seq), oslo_date(now), now, delete=d, reason="x"))
    claim = database.transaction(lambda s: s.get_one(Claim, bought.seq))
    assert (claim.state, claim.closed_on) == ("open", None)
    assert (_books(database), _count(database, ClaimEvent),
            _count(database, LedgerTransfer)) == before
    await check_ledger(database)


async def test_handled_by_hand_over_http_books_the_money_out(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock,
) -> None:
    now = clock.now()
    for n, amount in enumerate((12_300, 4_500)):
        database.transaction(lambda s, n=n, amount=amount: record_payment(
            s, source="ocr", source_ref=f"h:{n}", kid=make_kid(770_000 + n, "mod10"),
            amount=amount, paid_on=oslo_date(now), now=now))
    first, second = (item["id"] for item in
                     (await client.get(SUSPENSE, headers=admin_headers)).json())
    resolve = f"{SUSPENSE}/{first}/resolve"
    for body, slug in (({"note": "x"}, "suspense-destination-required"),
                       ({"note": "x", "to": "bank", "reference": "a\nb"},
                        "suspense-destination-invalid")):
        refused = await client.post(resolve, headers=admin_headers, json=body)
        assert refused.status_code == 422 and refused.json()["type"].endswith(slug)
    unknown = await client.post(resolve, headers=admin_headers,
                                json={"note": "x", "to": "kassa", "reference": "r"})
    assert unknown.status_code == 422
    assert len((await client.get(SUSPENSE, headers=admin_headers)).json()) == 2

    body = {"note": "betalt tilbake fra nettbanken", "to": "bank", "reference": "NB-88812"}
    done = await client.post(resolve, headers=admin_headers, json=body)
    assert done.status_code == 200, done.text
    assert (done.json()["resolution"], done.json()["booked_out_to"]) == (
        "handled", "provider:bank")
    repeat = await client.post(resolve, headers=admin_headers, json=body)
    assert repeat.status_code == 200 and repeat.json() == done.json()
    other = await client.post(resolve, headers=admin_headers, json={**body, "reference": "z"})
    assert other.status_code == 409

    def balances(session: Session) -> tuple[int, int, int]:
        held = int(session.scalar(sa.select(sa.func.coalesce(sa.func.sum(SuspenseItem.amount),
                                                             0))
                                  .where(SuspenseItem.resolved_at.is_(None))) or 0)
        return (-_net_debit(session, chart.suspense_id()), held,
                _net_debit(session, chart.bank_id()))

    assert database.transaction(balances) == (4_500, 4_500, -12_300)
    remaining = [item["id"] for item in (await client.get(SUSPENSE,
                                                          headers=admin_headers)).json()]
    assert remaining == [second]
    assert (await client.get(f"{SUSPENSE}/not-booked-out", headers=admin_headers)).json() == []
    await check_ledger(database)
