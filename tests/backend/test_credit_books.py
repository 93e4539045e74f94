"""Credits in the books: invoices get a credit note on their claim (a bought one also debits the
clinic, a Fakturaservice one moves no money), and settlement deducts a credit and carries a
negative result forward.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay.clock import SimulatedClock
from medipay_backend.db import Database
from medipay_backend.invoicing import claims
from medipay_backend.invoicing.issuing import issue_invoice
from medipay_backend.ledger.chart import TransferCode
from medipay_backend.localtime import oslo_date
from medipay_backend.models_invoicing import Claim
from medipay_backend.models_orders import Invoice, Order
from medipay_backend.settlement import sources
from medipay_backend.settlement.service import settle_day

from .credit_helpers import (
    CHECKOUT,
    card_paid,
    claim_of,
    count_rows,
    credit,
    fakturaservice_invoiced,
    invoice_chosen,
    listed,
    problem,
    transfer,
)
from .flow import Flow
from .settlement.helpers import check_ledger, check_ocr

# --- invoices ------------------------------------------------------------------------------


async def test_bought_invoice_credit_notes_debit_the_clinic_and_settle_as_credits(
    flow: Flow, database: Database, clock: SimulatedClock, tmp_path: Path,
) -> None:
    order_id = await invoice_chosen(flow, 4)  # bought by the provider, 45 004 + fee
    partial = await credit(flow, order_id, 20_000, key="b-1")
    assert partial.status_code == 201, partial.text
    note = partial.json()["credit_note"]
    assert note["amount"] == 20_000 and note["invoice_number"] is not None
    assert partial.json()["refund"] is None
    claim = await claim_of(database, order_id)  # issued by the credit, to carry the note
    assert (claim.state, claim.credited_principal, claim.credited_invoice_fee) == (
        "open", 20_000, 0)
    booked = await transfer(database, f"credit:{partial.json()['id']}")
    assert booked is not None and (booked.source, booked.credit_account_id) == (
        "bought_invoice", "provider:claims:purchased")

    full = await credit(flow, order_id, 25_004, key="b-2", reason="Timen ble ikke holdt")
    assert full.status_code == 201, full.text
    claim = await claim_of(database, order_id)
    assert (claim.state, claim.credited_principal, claim.credited_invoice_fee) == (
        "credited", 45_004, claim.invoice_fee)
    assert full.json()["credit_note"]["amount"] == 25_004 + claim.invoice_fee
    problem(await credit(flow, order_id, 1, key="b-3"), 409, "credit-exceeds-creditable")

    clock.advance(timedelta(days=1))
    (row,) = await settle_day(database, clock, oslo_date(clock.now()), tmp_path,
                              clinic_id=flow.epj.clinic_id, streams=CHECKOUT, force=True)
    # The purchase is paid and both credits deducted: the clinic is left owing the fee.
    assert (row.gross, row.credits, row.count) == (45_004, 45_004, 3)
    assert row.total == 0 and row.carried_forward == -row.fees
    check_ocr(row)
    await check_ledger(database)


async def test_fakturaservice_credit_note_moves_no_money(
    flow: Flow, database: Database, clock: SimulatedClock,
) -> None:
    order_id = await fakturaservice_invoiced(flow, 5)
    now = clock.now()

    def issue(session: Session) -> None:
        # Issued as the daily job does; the claim's memo is registered in the ledger (the
        # call below is the invoicing module's own registration, a no-op when it ran).
        invoice = session.scalars(sa.select(Invoice).where(Invoice.order_id == order_id)).one()
        claim = issue_invoice(session, invoice, now)
        sources.fs_claim(session, invoice.id, invoice.clinic_id, invoice.total,
                         claim.created_at, now)

    await database.run(issue)
    before = await count_rows(database)
    posted = await credit(flow, order_id, 5_000)
    assert posted.status_code == 201, posted.text
    assert posted.json()["method"] == "fakturaservice"
    claim = await claim_of(database, order_id)
    assert (claim.state, claim.credited_principal) == ("open", 5_000)
    memo = await transfer(database, f"credit:{posted.json()['id']}:memo")
    assert memo is not None and (memo.amount, memo.code, memo.stream) == (
        5_000, TransferCode.CLAIM_CREDITED, None)
    after = await count_rows(database)
    assert after[1] == before[1] + 1  # the memo only: nothing in any settlement stream
    assert (await transfer(database, f"credit:{posted.json()['id']}")) is None

    now = clock.now()
    await database.run(lambda s: claims.stop(
        s, s.get_one(Claim, claim.seq), oslo_date(now), now, delete=False,
        reason="tatt tilbake"))
    stopped = await credit(flow, order_id, 1_000, key="cr-2")
    problem(stopped, 409, "claim-not-open")
    assert (await listed(flow, order_id))["creditable"] == 0
    await check_ledger(database)


# --- settlement ----------------------------------------------------------------------------


async def test_settlement_deducts_a_credit_and_carries_a_negative_result_forward(
    flow: Flow, database: Database, clock: SimulatedClock, tmp_path: Path,
) -> None:
    clinic = flow.epj.clinic_id
    order_id = await card_paid(flow, 40)  # 45 040
    clock.advance(timedelta(days=1))
    (first,) = await settle_day(database, clock, oslo_date(clock.now()), tmp_path,
                                clinic_id=clinic, streams=CHECKOUT, force=True)
    assert first.gross == 45_040 and first.total == 45_040 - first.fees > 0

    posted = await credit(flow, order_id, 45_040, reason="Feilbelastet")
    assert posted.status_code == 201, posted.text
    clock.advance(timedelta(days=1))
    (second,) = await settle_day(database, clock, oslo_date(clock.now()), tmp_path,
                                 clinic_id=clinic, streams=CHECKOUT, force=True)
    assert (second.gross, second.fees, second.credits, second.count) == (0, 0, 45_040, 1)
    assert (second.total, second.carried_forward) == (0, -45_040)
    report = json.loads(Path(second.files["json"]["path"]).read_text())
    assert (report["credits"], report["payout"], report["carried_forward"]) == (
        45_040, 0, -45_040)
    check_ocr(second)  # the credit is a reversal in the OCR file

    await card_paid(flow, 41)  # 45 041, not enough to cover the credit after fees
    await card_paid(flow, 42)
    clock.advance(timedelta(days=1))
    (third,) = await settle_day(database, clock, oslo_date(clock.now()), tmp_path,
                                clinic_id=clinic, streams=CHECKOUT, force=True)
    assert third.carried_in == -45_040
    assert third.total == 45_041 + 45_042 - third.fees - 45_040 > 0
    assert third.carried_forward == 0
    check_ocr(third)
    order_row = await database.run(lambda s: s.scalars(
        sa.select(Order).where(Order.id == order_id)).one())
    assert order_row.status == "paid"
    await check_ledger(database)
