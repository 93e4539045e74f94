"""The EPJ's everyday requests through the real gateway to the simulated terminal over TCP and
on to the backend: approvals, declines, refunds, reversals, end-of-day, aborts, the event
stream and a busy terminal. Every test ends with the three books agreeing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio

from firmware_sim.cards import DEFAULT_DECK
from firmware_sim.customers import Customer, Moment
from gateway.protocols import zvt

from .conftest import (
    TERMINAL,
    Stack,
    assert_books_agree,
    idle,
    make_device,
    start_stack,
    until,
    waiting_for_card,
)

CARDS = {card.name: card for card in DEFAULT_DECK}


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + slug), body
    return body


def created(response: httpx.Response, status: str) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status, body
    return body


async def test_approved_declined_refund_reversal_and_end_of_day(stack: Stack):
    epj = stack.epj
    paid = created(await epj.pay(12345), "approved")
    assert paid["masked_pan"] == "411111******1111" and paid["card_name"] == "VISA"
    assert paid["receipt_number"] == 1 and paid["result_code"] == 0
    assert "BELØP NOK 123,45" in paid["receipt_lines"]

    stack.engine.present([CARDS["visa-low"]])  # NOK 50 available
    declined = created(await epj.pay(9000), "declined")
    assert declined["result_code"] == 0x33 and declined["receipt_number"] is None
    assert "IKKE DEKNING" in declined["receipt_lines"]

    stack.engine.present([CARDS["mastercard"]])
    second = created(await epj.pay(20000), "approved")
    refund = created(await epj.refund(2500), "approved")
    assert refund["kind"] == "refund" and "RETUR" in refund["receipt_lines"]

    reversal_key = epj.new_key()
    reversal = created(await epj.reverse(second["id"], key=reversal_key), "approved")
    assert reversal["kind"] == "reversal"
    assert reversal["original_transaction_id"] == second["id"]
    assert "ANNULLERING" in reversal["receipt_lines"]
    assert (await epj.transaction(second["id"]))["status"] == "reversed"
    # The same request again is answered from the journal; a new one is the terminal's to
    # refuse (B4: already reversed); a declined payment is not reversible at all.
    handled = stack.device.commands_handled
    replayed = await epj.reverse(second["id"], key=reversal_key)
    assert replayed.status_code == 201 and replayed.json() == reversal
    problem(await epj.reverse(declined["id"]), 409, "not-reversible")
    assert stack.device.commands_handled == handled
    again = created(await epj.reverse(second["id"]), "declined")
    assert again["result_code"] == 0xB4
    # The backend learns which payment each reversal reverses, and marks it reversed.
    await stack.settled()
    relayed = {item["gateway_transaction_id"]: item for item in await stack.backend_items()}
    names_second = {"gateway_transaction_id": second["id"],
                    "receipt_number": second["receipt_number"]}
    assert relayed[reversal["id"]]["reverses"] == names_second
    assert relayed[again["id"]]["reverses"] == names_second
    assert relayed[second["id"]]["status"] == "reversed"
    assert relayed[second["id"]]["reversed_by"] == relayed[reversal["id"]]["id"]

    books = await assert_books_agree(stack)
    assert books["purchase"] == {1: 12345, 2: 20000} and books["reversed"] == {2: 20000}
    assert books["refund"] == {3: 2500}

    end = created(await epj.end_of_day(), "approved")
    # Only payments that were not reversed count; refunds are not in BMP 60.
    assert end["details"]["total_amount"] == 12345
    assert end["details"]["per_scheme"] == {"visa": {"count": 1, "amount": 12345}}
    assert stack.engine.state.batch == []
    await stack.settled()
    totals = await stack.backend_items("/v1/pos-end-of-day")
    assert len(totals) == 1
    assert totals[0]["amount"] == 12345 and totals[0]["count"] == 1
    assert totals[0]["per_scheme"] == [{"card_name": "VISA", "count": 1, "amount": 12345}]
    # The terminal's receipt is the EPJ's to print.
    receipt = await epj.get(f"/v1/transactions/{end['id']}/receipt", format="text")
    assert receipt.status_code == 200 and receipt.text == "\n".join(end["receipt_lines"]) + "\n"


async def test_every_card_outcome(stack: Stack):
    cases = [
        ("mastercard-blocked", 1000, "declined", 0x3E),
        ("visa-declined", 1000, "declined", 0x05),
        ("maestro-expired", 1000, "declined", 0x78),
        ("mastercard-limit", 150000, "declined", 0x3D),
        ("amex", 1000, "approved", 0x00),
        ("bankaxept", 60000, "approved", 0x00),  # chip and PIN
    ]
    for name, amount, status, code in cases:
        stack.engine.present([CARDS[name]])
        body = created(await stack.epj.pay(amount), status)
        assert body["result_code"] == code, (name, body)
    # Wrong PIN three times: the card's PIN try limit.
    stack.engine.desk.add(Customer(card=CARDS["bankaxept"], pins=("1111", "2222", "3333")))
    body = created(await stack.epj.pay(70000), "declined")
    assert body["result_code"] == 0x4B
    await assert_books_agree(stack)


@pytest.mark.parametrize("moment", [Moment.CARD, Moment.PIN])
async def test_customer_cancels(stack: Stack, moment: Moment):
    stack.engine.desk.add(Customer(card=CARDS["bankaxept"], cancel=moment))
    body = created(await stack.epj.pay(60000), "aborted")
    assert body["result_code"] == 0x6C and body["receipt_number"] is None
    await assert_books_agree(stack)
    items = await stack.backend_items()
    assert [item["status"] for item in items] == ["aborted"]


@pytest.mark.parametrize("moment", [Moment.CARD, Moment.PIN])
async def test_customer_walks_away(nursery, tmp_path, mock_clock, moment: Moment):
    stack = await start_stack(nursery, tmp_path)
    stack.engine.desk.add(Customer(card=CARDS["bankaxept"], walk_away=moment))
    start = trio.current_time()
    body = created(await stack.epj.pay(60000), "aborted")
    # The terminal gave up after its card (60 s) or PIN (30 s) timeout, not the gateway
    # after T4 (virtual seconds).
    waited = trio.current_time() - start
    assert (60.0 if moment is Moment.CARD else 30.0) <= waited < zvt.T4
    assert body["result_code"] == 0x6C
    created(await stack.epj.pay(1000), "approved")
    await assert_books_agree(stack)


async def test_abort_request_from_the_epj(nursery, tmp_path):
    stack = await start_stack(nursery, tmp_path, device=make_device(auto_card=False))
    epj = stack.epj
    problem(await epj.post(f"/v1/terminals/{TERMINAL}/abort"), 409, "nothing-to-abort")
    results: list[httpx.Response] = []

    async def pay() -> None:
        results.append(await epj.pay(5000))

    async with trio.open_nursery() as inner:
        inner.start_soon(pay)
        await until(lambda: waiting_for_card(stack.device))
        busy_with = stack.supervisor.busy_with
        aborted = await epj.post(f"/v1/terminals/{TERMINAL}/abort")
        assert aborted.status_code == 202, aborted.text
        assert aborted.json() == {"transaction_id": busy_with, "abort": "requested"}
    body = created(results[0], "aborted")
    assert body["id"] == busy_with and body["result_code"] == 0x6C
    stack.engine.present([CARDS["visa"]])
    created(await epj.pay(5000), "approved")
    await assert_books_agree(stack)


async def test_busy_terminal_and_prefer_wait(nursery, tmp_path):
    stack = await start_stack(nursery, tmp_path, device=make_device(auto_card=False))
    epj = stack.epj
    first: list[httpx.Response] = []
    waited: list[httpx.Response] = []

    async with trio.open_nursery() as inner:
        inner.start_soon(lambda: _append(first, epj.pay(1000, key="first")))
        await until(lambda: stack.supervisor.busy_with is not None
                    and stack.device.current is not None)
        running = stack.supervisor.busy_with
        busy = problem(await epj.pay(2000, key="second"), 409, "terminal-busy")
        assert busy["busy_transaction_id"] == running
        # The same key again while the first runs: request-in-progress, not a second payment.
        again = problem(await epj.pay(1000, key="first"), 409, "request-in-progress")
        assert again["transaction_id"] == running
        # A refused busy request left no trace: its key is free for a later attempt.
        assert await stack.gateway.journal.lookup("second") is None

        inner.start_soon(lambda: _append(waited, epj.pay(3000, key="third",
                                                          prefer="wait=60")))
        await trio.sleep(0.2)
        assert not waited  # it waits for the terminal
        stack.engine.present([CARDS["visa"], CARDS["mastercard"]])
    assert created(first[0], "approved")["id"] == running
    third = created(waited[0], "approved")
    assert third["card_name"] == "Mastercard" and third["amount"] == 3000
    stack.engine.present([CARDS["amex"]])
    created(await epj.pay(2000, key="second"), "approved")
    await assert_books_agree(stack)


async def _append(into: list[httpx.Response], call: Any) -> None:
    into.append(await call)


async def test_event_stream_shows_display_texts_and_print_lines(stack: Stack):
    events: list[tuple[str, dict[str, Any]]] = []
    connected = trio.Event()

    async def listen() -> None:
        async with stack.epj.client() as client, client.stream(
                "GET", f"/v1/terminals/{TERMINAL}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            kind = None
            async for line in response.aiter_lines():
                if line.startswith(": connected"):
                    connected.set()
                elif line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    assert kind is not None
                    events.append((kind, json.loads(line.removeprefix("data: "))))
                    if kind == "result":
                        return

    stack.engine.desk.add(Customer(card=CARDS["bankaxept"]))  # chip and PIN
    async with trio.open_nursery() as inner:
        inner.start_soon(listen)
        await connected.wait()
        paid = created(await stack.epj.pay(60000), "approved")
    displays = [data["text"] for kind, data in events if kind == "display"]
    prints = [data["text"] for kind, data in events if kind == "print"]
    assert displays and prints
    assert all(data["transaction_id"] == paid["id"] for kind, data in events)
    assert prints == paid["receipt_lines"]
    assert "BELØP NOK 600,00" in prints
    codes = [data["code"] for kind, data in events if kind == "display"]
    assert 0x0A in codes and 0x01 in codes and 0x0B in codes  # insert card, PIN, remove card
    assert events[-1][0] == "result" and events[-1][1]["status"] == "approved"
    await idle(stack.device)
