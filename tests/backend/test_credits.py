"""Credits on orders: `POST/GET /v1/orders/{id}/credits` and `credits.credit_order`.

Card and Vipps credits are booked in stream checkout and refunded by a job (retried while the
provider fails); invoices get a credit note on their claim (a bought one also debits the
clinic); bad input and refusals change nothing; two credits at once cannot both pass.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import trio
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from medipay.clock import SimulatedClock
from medipay_backend import credit_refunds, credits
from medipay_backend.cli import backend_app
from medipay_backend.db import Database
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.invoicing import claims
from medipay_backend.invoicing.issuing import issue_invoice
from medipay_backend.ledger.chart import TransferCode
from medipay_backend.localtime import oslo_date
from medipay_backend.models_credits import OrderCredit
from medipay_backend.models_invoicing import Claim
from medipay_backend.models_jobs import Job
from medipay_backend.models_ledger import LedgerTransfer
from medipay_backend.models_orders import Invoice, Order
from medipay_backend.settlement import sources
from medipay_backend.settlement.service import settle_day

from .conftest import MakeEpj
from .flow import Flow
from .people import order
from .settlement.helpers import check_ledger, check_ocr
from .test_cli_and_demo import _config

PROBLEM = "https://medipay.example/problems/"
CHECKOUT = (SettlementStream.CHECKOUT,)


# --- orders in the states a credit meets -------------------------------------------------


async def card_paid(flow: Flow, n: int) -> str:
    posted = await flow.post(order(n))
    await flow.tick()
    card_page = await flow.payment_page(flow.link(), "kort")
    done = await flow.go("POST", str(card_page.url), data={
        "card_number": "4111 1111 1111 1111", "expiry": "12/30", "cvc": "123"})
    assert "Regningen er betalt" in done.text
    return str(posted["id"])


async def vipps_paid(flow: Flow, n: int) -> str:
    posted = await flow.post(order(n))
    await flow.tick()
    app_page = await flow.payment_page(flow.link(), "vipps")
    approved = await flow.go("POST", str(app_page.url) + "/approve")
    assert "Betalt med Vipps" in approved.text
    return str(posted["id"])


async def invoice_chosen(flow: Flow, n: int) -> str:
    posted = await flow.post(order(n))
    await flow.tick()
    await flow.go("POST", flow.link() + "/faktura")
    assert (await flow.status(str(posted["id"])))["status"] == "invoice_chosen"
    return str(posted["id"])


async def fakturaservice_invoiced(flow: Flow, n: int) -> str:
    posted = await flow.post(order(n, direct_to_invoice=True, always_fakturaservice=True))
    await flow.expire(hours=0)
    status = await flow.status(str(posted["id"]))
    assert (status["status"], status["invoice"]["route"]) == ("invoiced", "fakturaservice")
    return str(posted["id"])


async def credit(flow: Flow, order_id: str, amount: Any, key: str = "cr-1",
                 reason: Any = "Feil takst", auth: httpx.BasicAuth | None = None,
                 **extra: Any) -> httpx.Response:
    return await flow.client.post(
        f"/v1/orders/{order_id}/credits", json={"amount": amount, "reason": reason, **extra},
        headers={"Idempotency-Key": key}, auth=auth or flow.epj.auth)


async def listed(flow: Flow, order_id: str) -> dict[str, Any]:
    response = await flow.client.get(f"/v1/orders/{order_id}/credits", auth=flow.epj.auth)
    assert response.status_code == 200, response.text
    return dict(response.json())


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = dict(response.json())
    assert body["type"] == PROBLEM + slug, body
    return body


async def count_rows(database: Database) -> tuple[int, int, int, int]:
    """Credits, ledger transfers, jobs and claim events: what a refused credit must not add."""

    def work(session: Session) -> tuple[int, int, int, int]:
        def n(model: Any) -> int:
            return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)

        from medipay_backend.models_invoicing import ClaimEvent
        return n(OrderCredit), n(LedgerTransfer), n(Job), n(ClaimEvent)

    return await database.run(work)


async def transfer(database: Database, transfer_id: str) -> LedgerTransfer | None:
    return await database.run(lambda s: s.scalar(
        sa.select(LedgerTransfer).where(LedgerTransfer.id == transfer_id)))


async def claim_of(database: Database, order_id: str) -> Claim:
    return await database.run(lambda s: s.scalars(
        sa.select(Claim).join(Invoice, Invoice.id == Claim.invoice_id)
        .where(Invoice.order_id == order_id)).one())


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


# --- refusals and bad input ----------------------------------------------------------------


async def test_bad_input_and_refusals_change_nothing(
    flow: Flow, database: Database, make_epj: MakeEpj,
) -> None:
    paid = await card_paid(flow, 6)
    unpaid = str((await flow.post(order(7)))["id"])
    other = await make_epj("bergen-legesenter")
    before = await count_rows(database)
    cases: list[tuple[Callable[[], Awaitable[httpx.Response]], int, str]] = [
        (lambda: credit(flow, paid, 0), 422, "credit-amount-invalid"),
        (lambda: credit(flow, paid, -100), 422, "credit-amount-invalid"),
        (lambda: credit(flow, paid, 45_007), 409, "credit-exceeds-creditable"),
        (lambda: credit(flow, paid, "100"), 422, "validation-failed"),
        (lambda: credit(flow, paid, 10.5), 422, "validation-failed"),
        (lambda: credit(flow, paid, True), 422, "validation-failed"),
        (lambda: credit(flow, paid, 100, reason=""), 422, "credit-reason-invalid"),
        (lambda: credit(flow, paid, 100, reason="   "), 422, "credit-reason-invalid"),
        (lambda: credit(flow, paid, 100, reason="a\nb"), 422, "credit-reason-invalid"),
        (lambda: credit(flow, paid, 100, reason="x" * 501), 422, "credit-reason-invalid"),
        (lambda: credit(flow, paid, 100, reason=None), 422, "validation-failed"),
        (lambda: credit(flow, paid, 100, currency="NOK"), 422, "validation-failed"),
        (lambda: credit(flow, paid, 100, key="ab"), 422, "validation-failed"),
        (lambda: credit(flow, paid, 100, key="with space"), 422, "validation-failed"),
        (lambda: flow.client.post(f"/v1/orders/{paid}/credits", auth=flow.epj.auth,
                                  json={"amount": 100, "reason": "r"}),
         422, "validation-failed"),  # no Idempotency-Key
        (lambda: flow.client.post(f"/v1/orders/{paid}/credits",
                                  headers={"Idempotency-Key": "k-1"},
                                  json={"amount": 100, "reason": "r"}),
         401, "epj-auth-required"),
        (lambda: credit(flow, unpaid, 100), 409, "order-not-paid"),
        (lambda: credit(flow, "no-such-order", 100), 404, "not-found"),
        (lambda: credit(flow, paid, 100, auth=other.auth), 404, "not-found"),
    ]
    for send, status, slug in cases:
        problem(await send(), status, slug)
    assert await count_rows(database) == before
    unpaid_body = problem(await credit(flow, unpaid, 100), 409, "order-not-paid")
    assert "cancel" in unpaid_body["detail"]
    other_list = await flow.client.get(f"/v1/orders/{paid}/credits", auth=other.auth)
    problem(other_list, 404, "not-found")
    assert (await listed(flow, paid))["items"] == []
    assert (await flow.status(paid))["credited"] == 0
    await check_ledger(database)


async def test_an_order_rejected_for_manual_handling_has_nothing_to_credit(
    flow: Flow, make_epj: MakeEpj, database: Database,
) -> None:
    epj = await make_epj("no-fakturaservice", agreement={"fakturaservice": False})
    response = await flow.client.post("/v1/orders", auth=epj.auth, json=order(
        8, direct_to_invoice=True, always_fakturaservice=True))
    order_id = response.json()["id"]
    await flow.expire(hours=0)
    status = (await flow.client.get(f"/v1/orders/{order_id}", auth=epj.auth)).json()
    assert status["status"] == "manual_handling"
    before = await count_rows(database)
    refused = await credit(flow, order_id, 100, auth=epj.auth)
    problem(refused, 409, "order-not-creditable")
    assert await count_rows(database) == before


async def test_idempotency_key_repeat_and_conflict(flow: Flow, database: Database) -> None:
    order_id = await card_paid(flow, 9)
    other_order = await card_paid(flow, 10)
    first = await credit(flow, order_id, 1_000, key="same-key")
    assert first.status_code == 201
    repeat = await credit(flow, order_id, 1_000, key="same-key")
    assert repeat.status_code == 200
    assert repeat.json()["id"] == first.json()["id"]
    assert repeat.json()["order_credited"] == 1_000
    before = await count_rows(database)
    for changed in ({"amount": 2_000}, {"reason": "Noe annet"}):
        body = {"amount": 1_000, "reason": "Feil takst", **changed}
        conflict = await credit(flow, order_id, body["amount"], key="same-key",
                                reason=body["reason"])
        assert problem(conflict, 409, "idempotency-conflict")["idempotency_key"] == "same-key"
    problem(await credit(flow, other_order, 1_000, key="same-key"), 409,
            "idempotency-conflict")
    assert await count_rows(database) == before
    assert len((await listed(flow, order_id))["items"]) == 1
    await check_ledger(database)


async def test_service_function_refuses_with_typed_errors(
    flow: Flow, database: Database, clock: SimulatedClock,
) -> None:
    order_id = await card_paid(flow, 11)
    now = clock.now()

    def attempt(**changes: Any) -> credits.CreditResult:
        arguments: dict[str, Any] = {
            "clinic_id": flow.epj.clinic_id, "order_id": order_id, "amount": 500,
            "reason": "Rabatt", "idempotency_key": "portal-1", "actor": "admin:kari",
            "now": now, **changes}
        return database.transaction(lambda s: credits.credit_order(s, **arguments))

    refusals: list[tuple[dict[str, Any], type[credits.CreditError], str]] = [
        ({"idempotency_key": "x"}, credits.CreditRequestInvalid, "credit-request-invalid"),
        ({"actor": ""}, credits.CreditRequestInvalid, "credit-request-invalid"),
        ({"amount": 0}, credits.CreditAmountInvalid, "credit-amount-invalid"),
        ({"clinic_id": "another"}, credits.CreditOrderNotFound, "not-found"),
        ({"amount": 10**9}, credits.CreditExceedsCreditable, "credit-exceeds-creditable"),
    ]
    for changes, kind, slug in refusals:
        with pytest.raises(kind) as caught:
            await trio.to_thread.run_sync(partial(attempt, **changes))
        assert caught.value.problem_type == slug and isinstance(caught.value,
                                                                credits.CreditError)
    done = await trio.to_thread.run_sync(attempt)
    assert (done.created, done.amount, done.credited_total, done.creditable) == (
        True, 500, 500, 45_011 - 500)
    again = await trio.to_thread.run_sync(attempt)
    assert (again.created, again.credit_id) == (False, done.credit_id)
    await check_ledger(database)


# --- concurrency ---------------------------------------------------------------------------


async def at_once(flow: Flow, order_id: str, amount: int, *keys: str) -> list[httpx.Response]:
    """Credit requests sent together; the answers in the order of `keys`."""
    answers: dict[str, httpx.Response] = {}

    async def send(index: int, key: str) -> None:
        answers[f"{index}"] = await credit(flow, order_id, amount, key=key)

    async with trio.open_nursery() as nursery:
        for index, key in enumerate(keys):
            nursery.start_soon(send, index, key)
    return [answers[f"{index}"] for index in range(len(keys))]


async def test_two_full_credits_at_once_only_one_succeeds(
    flow: Flow, database: Database,
) -> None:
    for n in range(3):
        order_id = await card_paid(flow, 20 + n)
        # A first credit puts the payment in the ledger, so the two below meet on nothing but
        # the order itself; each then asks for all that is left.
        assert (await credit(flow, order_id, 20, key=f"first-{n}")).status_code == 201
        amount = 45_000 + n
        keys = (f"race-{n}-a", f"race-{n}-b")
        answers = await at_once(flow, order_id, amount, *keys)
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        loser = next(r for r in answers if r.status_code == 409)
        problem(loser, 409, "credit-exceeds-creditable")
        winner = keys[[r.status_code for r in answers].index(201)]
        listing = await listed(flow, order_id)
        assert (len(listing["items"]), listing["credited"]) == (2, amount + 20)
        # Repeats of the winner, at once: both answer the stored credit.
        twins = await at_once(flow, order_id, amount, winner, winner)
        assert [r.status_code for r in twins] == [200, 200]
    await check_ledger(database)


async def test_concurrent_twins_of_a_new_key_store_one_credit(
    flow: Flow, database: Database,
) -> None:
    order_id = await card_paid(flow, 30)
    answers = await at_once(flow, order_id, 700, "twin", "twin", "twin")
    assert sorted(r.status_code for r in answers) == [200, 200, 201]
    assert len({r.json()["id"] for r in answers}) == 1
    assert len((await listed(flow, order_id))["items"]) == 1
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
