"""Credits on orders: `POST/GET /v1/orders/{id}/credits` and `credits.credit_order`, the rules.

Bad input and refusals change nothing; an idempotency key repeats or conflicts; two credits at
once cannot both pass. Refunds: test_credit_refunds.py; credit notes and settlement:
test_credit_books.py; shared helpers: credit_helpers.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import httpx
import pytest
import trio

from medipay.clock import SimulatedClock
from medipay_backend import credits
from medipay_backend.db import Database

from .conftest import MakeEpj
from .credit_helpers import (
    card_paid,
    count_rows,
    credit,
    listed,
    problem,
)
from .flow import Flow
from .people import order
from .settlement.helpers import check_ledger

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
