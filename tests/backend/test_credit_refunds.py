"""Credits on card and Vipps orders: booked in stream checkout and refunded by a job (retried
while the provider fails); a refund that keeps failing is marked failed, owed to the patient in
the ledger, and can be retried or paid by hand.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from medipay.clock import SimulatedClock
from medipay_backend import credit_refunds, credits
from medipay_backend.cli import backend_app
from medipay_backend.db import Database
from medipay_backend.ledger.chart import TransferCode
from medipay_backend.localtime import oslo_date
from medipay_backend.models_credits import OrderCredit
from medipay_backend.models_jobs import Job
from medipay_backend.models_ledger import LedgerTransfer
from medipay_backend.settlement.service import settle_day

from .credit_helpers import (
    CHECKOUT,
    card_paid,
    count_rows,
    credit,
    invoice_chosen,
    listed,
    problem,
    transfer,
    vipps_paid,
)
from .flow import Flow
from .settlement.helpers import check_ledger
from .test_cli_and_demo import _config

# --- card and Vipps ------------------------------------------------------------------------


async def test_card_credit_in_parts_books_refunds_and_shows_on_the_order(
    flow: Flow, database: Database,
) -> None:
    order_id = await card_paid(flow, 1)  # 45 001 øre
    first = await credit(flow, order_id, 10_000, key="cr-1", reason="Feil takst")
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["amount"], body["method"], body["refund"]["status"]) == (10_000, "card",
                                                                          "pending")
    assert (body["order_credited"], body["order_creditable"]) == (10_000, 35_001)
    assert body["actor"] == f"epj:{flow.epj.client_id}" and body["credit_note"] is None
    booked = await transfer(database, f"credit:{body['id']}")
    assert booked is not None
    assert (booked.code, booked.amount, booked.stream, booked.source) == (
        TransferCode.REFUND, 10_000, "checkout", "card")
    assert booked.debit_account_id == f"clinic:{flow.epj.clinic_id}:checkout:payable"

    await flow.tick()  # the refund job
    acquirer = flow.runtime.sim_acquirer
    assert acquirer is not None
    reference = await database.run(lambda s: s.scalar(
        sa.select(OrderCredit.refund_reference).where(OrderCredit.id == body["id"])))
    assert reference is not None and reference.startswith("refund_")
    payment_ref = await database.run(lambda s: s.scalar(
        sa.text("SELECT provider_reference FROM payments WHERE order_id = :o "
                "AND status = 'captured'"), {"o": order_id}))
    assert acquirer.refunded(payment_ref) == 10_000

    rest = await credit(flow, order_id, 35_001, key="cr-2", reason="Resten")
    assert rest.status_code == 201, rest.text
    assert (rest.json()["order_credited"], rest.json()["order_creditable"]) == (45_001, 0)
    too_much = await credit(flow, order_id, 1, key="cr-3")
    assert problem(too_much, 409, "credit-exceeds-creditable")["creditable"] == 0
    await flow.tick()
    assert acquirer.refunded(payment_ref) == 45_001

    listing = await listed(flow, order_id)
    assert (listing["credited"], listing["creditable"]) == (45_001, 0)
    assert [(c["amount"], c["refund"]["status"]) for c in listing["items"]] == [
        (10_000, "refunded"), (35_001, "refunded")]
    status = await flow.status(order_id)
    assert (status["status"], status["credited"]) == ("paid", 45_001)
    texts = [h["text"] for h in status["history"] if h["event"] == "credited"]
    assert texts == ["Kreditert 100,00\u00a0kr", "Kreditert 350,01\u00a0kr"]
    await check_ledger(database)


async def test_vipps_refund_is_retried_until_vipps_takes_it(
    flow: Flow, database: Database, clock: SimulatedClock,
) -> None:
    order_id = await vipps_paid(flow, 2)
    vipps = flow.runtime.sim_vipps
    assert vipps is not None
    vipps.refund_outages = 2  # Vipps answers 503 twice
    posted = await credit(flow, order_id, 20_000)
    assert posted.status_code == 201, posted.text
    credit_id = posted.json()["id"]

    def state(session: Session) -> tuple[str | None, int, str | None]:
        row = session.scalars(sa.select(OrderCredit).where(OrderCredit.id == credit_id)).one()
        return row.refund_status, row.refund_attempts, row.refund_error

    await flow.tick()
    status, attempts, error = await database.run(state)
    assert (status, attempts) == ("pending", 1) and error is not None and "503" in error
    await flow.tick()  # not due yet: the back-off holds it
    assert (await database.run(state))[1] == 1
    for expected in (2, 3):
        clock.advance(timedelta(hours=1))
        await flow.tick()
        assert (await database.run(state))[1] == expected
    assert (await database.run(state))[:2] == ("refunded", 3)
    reference = "medipay-" + str(await database.run(lambda s: s.scalar(
        sa.text("SELECT id FROM payments WHERE order_id = :o AND status = 'captured'"),
        {"o": order_id})))
    seen = await flow.runtime.vipps.get(reference)
    assert (seen.captured, seen.refunded) == (45_002, 20_000)
    # The job ran three times, Vipps refunded once; a repeat of the key refunds nothing more.
    again = await flow.runtime.vipps.refund(reference, 20_000,
                                            idempotency_key=f"refund-{credit_id}")
    assert again.refunded == 20_000
    await check_ledger(database)


async def test_a_refund_that_keeps_failing_is_marked_failed_and_can_be_retried(
    flow: Flow, database: Database, clock: SimulatedClock, database_url: str, tmp_path: Path,
) -> None:
    order_id = await card_paid(flow, 3)
    acquirer = flow.runtime.sim_acquirer
    assert acquirer is not None
    acquirer.refund_outages = credits.REFUND_MAX_ATTEMPTS
    credit_id = (await credit(flow, order_id, 5_000)).json()["id"]
    for _ in range(credits.REFUND_MAX_ATTEMPTS):
        await flow.tick()
        clock.advance(timedelta(hours=1))
    listing = await listed(flow, order_id)
    assert listing["items"][0]["refund"]["status"] == "failed"
    job_state = await database.run(lambda s: s.scalar(
        sa.select(Job.state).where(Job.key == f"refund:{credit_id}")))
    assert job_state == "failed"
    config = ["--config", str(_config(tmp_path, database_url))]
    failed = CliRunner().invoke(backend_app, ["credits", "failed-refunds", *config])
    assert failed.exit_code == 0 and credit_id in failed.output, failed.output
    retried = CliRunner().invoke(backend_app, ["credits", "retry-refund", credit_id, *config])
    assert retried.exit_code == 0, retried.output
    assert (await listed(flow, order_id))["items"][0]["refund"]["status"] == "pending"
    now = clock.now()
    with pytest.raises(credit_refunds.RefundNotRetryable):  # pending, not failed
        await database.run(lambda s: credit_refunds.retry_refund(s, credit_id, now))
    unknown = CliRunner().invoke(backend_app, ["credits", "retry-refund", "nope", *config])
    assert unknown.exit_code == 1 and "no failed refund" in unknown.output
    job_state, due_at = (await database.run(lambda s: s.execute(
        sa.select(Job.state, Job.due_at).where(Job.key == f"refund:{credit_id}")).one()))
    assert job_state == "pending"
    if due_at > clock.now():  # the command ran on the wall clock, the test on a simulated one
        clock.advance(due_at - clock.now())
    await flow.tick()
    assert (await listed(flow, order_id))["items"][0]["refund"]["status"] == "refunded"
    await check_ledger(database)


async def _balances(database: Database) -> dict[str, int]:
    """Credit balance (credits minus debits, posted) of the accounts a failed refund moves."""
    from medipay_backend.ledger_store import LedgerAccount

    names = ("provider:refunds-owed", "provider:clearing:card",
             "clinic:oslo-legesenter:checkout:payable")

    def work(session: Session) -> dict[str, int]:
        rows = session.scalars(sa.select(LedgerAccount).where(LedgerAccount.id.in_(names)))
        return {row.id: row.credits_posted - row.debits_posted for row in rows}

    return await database.run(work)


async def _fail_for_good(flow: Flow, clock: SimulatedClock, credit_id: str) -> None:
    acquirer = flow.runtime.sim_acquirer
    assert acquirer is not None
    acquirer.refund_outages = credits.REFUND_MAX_ATTEMPTS
    for _ in range(credits.REFUND_MAX_ATTEMPTS):
        await flow.tick()
        clock.advance(timedelta(hours=1))


async def test_a_failed_refund_is_owed_to_the_patient_in_the_ledger(
    flow: Flow, database: Database, clock: SimulatedClock, tmp_path: Path,
) -> None:
    """The clinic's settlement gives the credit up at once; when the acquirer never takes the
    refund, the money moves from card clearing to refunds owed (not lost in clearing), and
    back when the refund is sent again."""
    order_id = await card_paid(flow, 4)
    credit_id = (await credit(flow, order_id, 5_000)).json()["id"]
    clinic = "clinic:oslo-legesenter:checkout:payable"
    assert flow.epj.clinic_id == "oslo-legesenter"
    paid = 45_004
    await _fail_for_good(flow, clock, credit_id)
    assert (await listed(flow, order_id))["items"][0]["refund"]["status"] == "failed"
    assert await _balances(database) == {
        clinic: paid - 5_000,  # deducted from the clinic either way
        "provider:clearing:card": -paid,  # the acquirer pays us the whole payment
        "provider:refunds-owed": 5_000,  # and we owe the patient the credit
    }
    owed = await transfer(database, f"credit:{credit_id}:owed:1")
    assert owed is not None and owed.code == TransferCode.REFUND_OWED and owed.stream is None
    await check_ledger(database)

    now = clock.now()
    await database.run(lambda s: credit_refunds.retry_refund(s, credit_id, now))
    assert (await _balances(database))["provider:refunds-owed"] == 0
    assert (await _balances(database))["provider:clearing:card"] == -(paid - 5_000)
    await _fail_for_good(flow, clock, credit_id)  # it fails for good a second time
    assert (await _balances(database))["provider:refunds-owed"] == 5_000
    assert await transfer(database, f"credit:{credit_id}:owed:2") is not None
    await check_ledger(database)

    now = clock.now()
    await database.run(lambda s: credit_refunds.retry_refund(s, credit_id, now))
    await flow.tick()  # the acquirer takes it now
    assert (await listed(flow, order_id))["items"][0]["refund"]["status"] == "refunded"
    assert await _balances(database) == {clinic: paid - 5_000,
                                         "provider:clearing:card": -(paid - 5_000),
                                         "provider:refunds-owed": 0}
    ids = await database.run(lambda s: sorted(s.scalars(
        sa.select(LedgerTransfer.id).where(LedgerTransfer.id.startswith(f"credit:{credit_id}")))))
    assert ids == [f"credit:{credit_id}", *(f"credit:{credit_id}:{kind}:{n}"
                                            for kind in ("owed", "resent") for n in (1, 2))]
    # The settlement deducts the credit once; the owed and resent moves are not in it.
    clock.advance(timedelta(days=1))
    (settled,) = await settle_day(database, clock, oslo_date(clock.now()), tmp_path,
                                  clinic_id="oslo-legesenter", streams=CHECKOUT, force=True)
    assert (settled.gross, settled.credits, settled.count) == (paid, 5_000, 2)
    await check_ledger(database)


async def test_provider_taking_a_failed_refund_after_all_clears_what_was_owed(
    flow: Flow, database: Database, clock: SimulatedClock,
) -> None:
    order_id = await vipps_paid(flow, 5)
    credit_id = (await credit(flow, order_id, 7_000)).json()["id"]
    vipps = flow.runtime.sim_vipps
    assert vipps is not None
    vipps.refund_outages = credits.REFUND_MAX_ATTEMPTS
    for _ in range(credits.REFUND_MAX_ATTEMPTS):
        await flow.tick()
        clock.advance(timedelta(hours=1))
    owed = await transfer(database, f"credit:{credit_id}:owed:1")
    assert owed is not None and owed.debit_account_id == "provider:clearing:vipps"
    now = clock.now()
    await database.run(lambda s: credit_refunds.mark_refunded(s, credit_id, "late", now))
    resent = await transfer(database, f"credit:{credit_id}:resent:1")
    assert resent is not None and resent.credit_account_id == "provider:clearing:vipps"
    await check_ledger(database)


async def test_a_failed_refund_paid_by_hand_moves_what_is_owed_to_the_bank_once(
    flow: Flow, database: Database, clock: SimulatedClock, database_url: str, tmp_path: Path,
) -> None:
    """The operator paid the patient by a bank transfer of its own: the CLI books refunds owed
    to bank once, marks the refund refunded by hand, and refuses what is not a failed refund."""
    from medipay_backend.ledger_store import LedgerAccount

    order_id = await card_paid(flow, 6)
    credit_id = (await credit(flow, order_id, 6_000)).json()["id"]
    config = ["--config", str(_config(tmp_path, database_url))]

    def by_hand(*args: str) -> Any:
        return CliRunner().invoke(backend_app, ["credits", "paid-by-hand", *args, *config])

    names = ("provider:refunds-owed", "provider:clearing:card", "provider:bank",
             "clinic:oslo-legesenter:checkout:payable")

    def balances(session: Session) -> dict[str, int]:
        rows = session.scalars(sa.select(LedgerAccount).where(LedgerAccount.id.in_(names)))
        return {row.id: row.credits_posted - row.debits_posted for row in rows}

    now = clock.now()
    with pytest.raises(credit_refunds.RefundNotFailed, match="pending, not failed"):
        await database.run(lambda s: credit_refunds.record_paid_by_hand(s, credit_id, "NB", now))
    await _fail_for_good(flow, clock, credit_id)  # (before the CLI: it re-configures logging)
    paid = 45_006
    owed = {"clinic:oslo-legesenter:checkout:payable": paid - 6_000,
            "provider:clearing:card": -paid, "provider:refunds-owed": 6_000}
    before = await database.run(balances)
    assert {k: v for k, v in before.items() if k != "provider:bank"} == owed
    assert before.get("provider:bank", 0) == 0  # nothing paid out of the bank yet
    counts = await count_rows(database)
    for bad in ("", "   ", "x" * 81, "line\nbreak"):
        refused = by_hand(credit_id, "--reference", bad)
        assert refused.exit_code == 1 and "reference must be" in refused.output, refused.output
    unknown = by_hand("no-such-credit", "--reference", "NB 1234")
    assert unknown.exit_code == 1 and "no credit 'no-such-credit'" in unknown.output
    assert await database.run(balances) == before and await count_rows(database) == counts

    done = by_hand(credit_id, "--reference", " NB 1234 ")
    assert done.exit_code == 0 and "recorded as paid by hand: 60,00" in done.output, done.output
    # Balances are credits minus debits: the bank (an asset) paying out is credited.
    after = {**owed, "provider:refunds-owed": 0, "provider:bank": 6_000}
    assert await database.run(balances) == after
    moved = await transfer(database, f"credit:{credit_id}:by-hand")
    assert moved is not None and moved.code == TransferCode.REFUND_PAID_BY_HAND
    assert (moved.debit_account_id, moved.credit_account_id, moved.amount) == (
        "provider:refunds-owed", "provider:bank", 6_000)
    assert moved.stream is None  # no settlement stream: the clinic's settlement is unchanged
    refund = (await listed(flow, order_id))["items"][0]["refund"]
    assert refund == {**refund, "status": "refunded", "reference": "by hand: NB 1234"}
    await check_ledger(database)

    again = by_hand(credit_id, "--reference", "NB 1234")  # an exact repeat: nothing changes
    assert again.exit_code == 0 and "already recorded" in again.output, again.output
    other = by_hand(credit_id, "--reference", "NB 9999")
    assert other.exit_code == 1 and "already" in other.output, other.output
    assert await database.run(balances) == after
    now = clock.now()
    with pytest.raises(credit_refunds.RefundNotRetryable):  # paid by hand is final
        await database.run(lambda s: credit_refunds.retry_refund(s, credit_id, now))
    with pytest.raises(credit_refunds.AlreadyPaidByHand):
        await database.run(lambda s: credit_refunds.record_paid_by_hand(s, credit_id, "x", now))
    failed = CliRunner().invoke(backend_app, ["credits", "failed-refunds", *config])
    assert failed.exit_code == 0 and failed.output.startswith("0 failed refund(s)")
    await check_ledger(database)


async def test_only_a_failed_card_or_vipps_refund_can_be_paid_by_hand(
    flow: Flow, database: Database, clock: SimulatedClock,
) -> None:
    refunded_id = (await credit(flow, await vipps_paid(flow, 7), 1_000)).json()["id"]
    await flow.tick()  # Vipps takes it
    invoice_id = (await credit(flow, await invoice_chosen(flow, 8), 1_000, key="cr-2")
                  ).json()["id"]
    now = clock.now()
    for credit_id, state in ((refunded_id, "refunded"), (invoice_id, "not a refund")):
        with pytest.raises(credit_refunds.RefundNotFailed, match=state):
            await database.run(
                lambda s, c=credit_id: credit_refunds.record_paid_by_hand(s, c, "NB 1", now))
    assert await transfer(database, f"credit:{refunded_id}:by-hand") is None
    assert await transfer(database, f"credit:{invoice_id}:by-hand") is None
    await check_ledger(database)
