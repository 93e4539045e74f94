"""What the supervisor does with a transaction whose outcome the gateway did not learn: nothing
new is admitted until it is resolved from the terminal's last receipt, refunds and reversals
are resolved like payments, and a gateway that restarts resolves what it left in flight."""

from __future__ import annotations

from typing import Any

import httpx
import trio

from firmware_sim.cards import DEFAULT_DECK
from firmware_sim.commands import CommandRunner
from firmware_sim.faults import FaultKind, Step
from gateway.journal import Journal, PaymentRequest
from gateway.protocols import zvt
from medipay.clock import SystemClock

from .conftest import (
    TERMINAL,
    idle,
    make_device,
    start_stack,
    terminal_books,
    until,
    waiting_for_card,
)
from .test_faults import final_outcome, settle

CARDS = {card.name: card for card in DEFAULT_DECK}


async def test_nothing_is_admitted_until_the_unknown_one_is_resolved(nursery, tmp_path,
                                                                     mock_clock):
    stack = await start_stack(nursery, tmp_path, device=make_device(auto_card=False))
    epj = stack.epj
    results: dict[int, httpx.Response] = {}

    async def pay(amount: int, **options: Any) -> None:
        results[amount] = await epj.pay(amount, **options)

    async with trio.open_nursery() as inner:
        inner.start_soon(pay, 1000)
        await until(lambda: stack.supervisor.busy_with is not None
                    and waiting_for_card(stack.device))
        # A second request waits for the terminal; the first breaks off after the card.
        inner.start_soon(lambda: pay(2000, prefer="wait=120"))
        await until(lambda: stack.supervisor._slot.statistics().tasks_waiting == 1)
        stack.arm(FaultKind.DISCONNECT, at=Step.STATUS_SENT)
        stack.engine.present([CARDS["visa"]])
    lost, waiting = results[1000], results[2000]
    assert lost.json()["status"] == "unknown"
    # The waiting request is not let in after the unknown one: the terminal's last receipt
    # must still be the unknown payment when the supervisor asks for it.
    assert waiting.status_code == 503, waiting.text
    assert waiting.json()["type"].endswith("/terminal-not-ready")
    refused = await epj.pay(3000)
    assert refused.status_code == 503 and refused.json()["state"] in ("recovering", "offline")
    # The EPJ asks again with the same key and learns the outcome once it is known.
    again = await epj.pay(1000, key="epj-1")
    assert again.status_code in (201, 409), again.text
    resolved = await final_outcome(stack, lost)
    assert resolved["status"] == "approved"
    assert resolved["result_text"] == "approved (recovered from the terminal's last receipt)"
    assert resolved["masked_pan"] == "411111******1111" and resolved["receipt_number"] == 1
    assert "*** KOPI ***" in resolved["receipt_lines"]
    replayed = await epj.pay(1000, key="epj-1")
    assert replayed.status_code == 201 and replayed.json() == resolved
    stack.engine.present([CARDS["visa"]])
    await settle(stack)


async def test_refund_and_reversal_resolved_from_the_terminal(nursery, tmp_path, mock_clock):
    stack = await start_stack(nursery, tmp_path)
    epj = stack.epj
    paid = (await epj.pay(40000)).json()
    await idle(stack.device)
    stack.arm(FaultKind.DISCONNECT, at=Step.PRINT)
    refund = await final_outcome(stack, await epj.refund(1500))
    assert refund["status"] == "approved" and refund["kind"] == "refund"
    await stack.ready()
    stack.arm(FaultKind.DISCONNECT, at=Step.PRINT)
    reversal = await final_outcome(stack, await epj.reverse(paid["id"]))
    assert reversal["status"] == "approved" and reversal["kind"] == "reversal"
    # Resolved from the terminal, the reversal still marks its payment reversed.
    assert (await epj.transaction(paid["id"]))["status"] == "reversed"
    books = await settle(stack)
    assert books["reversed"] == {1: 40000} and books["refund"] == {2: 1500}


async def test_a_gateway_stopped_mid_payment_resolves_it_when_it_is_back(nursery, tmp_path):
    stack = await start_stack(nursery, tmp_path, device=make_device(auto_card=False))
    stack.engine.present([CARDS["visa"]])
    first = (await stack.epj.pay(1000)).json()
    cut_off: list[BaseException] = []

    async def pay() -> None:
        try:
            await stack.epj.pay(2000)
        except httpx.HTTPError as exc:
            cut_off.append(exc)

    async with trio.open_nursery() as inner:
        inner.start_soon(pay)
        await until(lambda: waiting_for_card(stack.device))
        await stack.stop_gateway()
    # The EPJ's request died with the gateway.
    assert len(cut_off) == 1
    assert (await stack.gateway.journal.get(first["id"])) is not None
    # The customer pays on the terminal meanwhile; it keeps the payment for the next 1F1F.
    stack.engine.present([CARDS["mastercard"]])
    await idle(stack.device)
    assert terminal_books(stack.device)["purchase"] == {1: 1000, 2: 2000}
    await stack.restart_gateway()
    records = await stack.gateway.journal.recent(terminal_id=TERMINAL)
    second = next(r for r in records if r.amount == 2000)
    assert second.status == "approved" and second.card_name == "Mastercard"
    stack.engine.present([CARDS["visa"]])
    await settle(stack)


async def test_a_request_journalled_but_never_sent_is_not_charged(nursery, tmp_path):
    stack = await start_stack(nursery, tmp_path)
    await stack.epj.pay(1000)
    await stack.stop_gateway()
    # What a crash between journalling the request and sending the command leaves behind.
    journal = Journal.open(stack.config.journal_url, SystemClock())
    try:
        record, created = await journal.begin(
            PaymentRequest("never-sent", TERMINAL, "payment", 1000, "NOK", None))
    finally:
        journal.close()
    assert created
    await stack.restart_gateway()
    resolved = await stack.epj.transaction(record.id)
    assert resolved["status"] == "failed"
    assert resolved["result_text"] == ("not charged: the terminal's last receipt is another "
                                       "transaction")
    await settle(stack)


async def test_a_terminal_without_repeat_receipt(nursery, tmp_path, mock_clock, monkeypatch):
    """The supervisor cannot ask; it reports "not charged", and its next command's 1F1F makes
    the terminal reverse the payment it did take, so that stays true."""

    async def refuse(self: CommandRunner, command: object) -> None:
        await self.port.respond(zvt.Nack(zvt.NOT_SUPPORTED))

    monkeypatch.setattr(CommandRunner, "repeat_receipt", refuse)
    stack = await start_stack(nursery, tmp_path)
    await stack.epj.pay(1000)
    await idle(stack.device)
    stack.arm(FaultKind.DISCONNECT, at=Step.PRINT)  # after the payment was stored
    lost = await final_outcome(stack, await stack.epj.pay(2000))
    assert lost["status"] == "failed"
    assert lost["result_text"].startswith("not charged: the terminal cannot repeat")
    assert 2000 in terminal_books(stack.device)["purchase"].values()  # for now
    books = await settle(stack)
    assert sorted(books["purchase"].values()) == [100, 1000]
    assert any(b.kind == "reversal" and b.source == "terminal" and b.amount == 2000
               for b in stack.engine.state.journal)


async def test_a_lost_refund_is_not_taken_for_the_payment_before_it(nursery, tmp_path,
                                                                   mock_clock):
    """The terminal's last receipt is a payment of the same amount, already journalled:
    receipt numbers are shared by all kinds, so the refund was not made."""
    stack = await start_stack(nursery, tmp_path)
    await stack.epj.pay(1500)
    await idle(stack.device)
    stack.arm(FaultKind.DELAY, at=Step.COMMAND, seconds=6.0)  # no 80 00 within T3
    refund = await final_outcome(stack, await stack.epj.refund(1500))
    assert refund["status"] == "failed", refund
    assert refund["result_text"] == ("not charged: the terminal's last receipt is another "
                                     "transaction")
    books = await settle(stack)
    assert books["refund"] == {}
