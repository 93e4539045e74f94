"""Every simulator fault against the whole gateway over TCP: the gateway recovers, or reports
a clear error and resolves what it could not know, and afterwards the terminal's batch, the
gateway's journal (what the EPJ was told) and the backend hold the same approved payments.

On trio's MockClock (see conftest.mock_clock): T3 (5 s), T4 (180 s) and a power cut's
restart take no real time.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from firmware_sim.batch import Totals, totals
from firmware_sim.cards import DEFAULT_DECK
from firmware_sim.faults import STANDING_FAULTS, FaultKind, Step

from .conftest import Stack, assert_books_agree, idle, make_device, start_stack

FINAL = {"approved", "declined", "aborted", "failed", "reversed"}
CARDS = {card.name: card for card in DEFAULT_DECK}


async def final_outcome(stack: Stack, response: Any) -> dict[str, Any]:
    """What the EPJ learns in the end: the answer, or (after `unknown`) the transaction as
    the supervisor resolved it, fetched the way an EPJ would."""
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    while body["status"] not in FINAL:
        # Virtual seconds in most tests (a jump costs 50 ms of real time): recovery over a
        # noisy line can take minutes of backoff.
        await trio.sleep(30.0)
        body = await stack.epj.transaction(body["id"])
    return body


async def settle(stack: Stack) -> dict[str, dict[int, int]]:
    """One more payment (it carries 1F1F), then the books must agree."""
    await idle(stack.device)
    await stack.ready()
    next_payment = await stack.epj.pay(100)
    assert (await final_outcome(stack, next_payment))["status"] == "approved"
    return await assert_books_agree(stack)


# (fault kind, options, what the EPJ is told first, what the transaction becomes, charged).
# A terminal whose ECR went away goes on with the customer and, because the gateway sends
# 1F1F, keeps an approved payment for the next command to confirm or reverse (chapter 4): the
# supervisor's Repeat Receipt then finds it, and the gateway reports it approved.
CASES = [
    # The terminal's 80 00 never comes; its 04 FF is out of turn: the dialog is broken.
    (FaultKind.DROP_ACK, {}, "unknown", "approved", True),
    # 80 00 twice: the second is out of turn.
    (FaultKind.DUPLICATE_ACK, {}, "unknown", "approved", True),
    # No 80 00 within T3: the gateway hangs up before the terminal started.
    (FaultKind.DELAY, {"at": Step.COMMAND, "seconds": 6.0}, "unknown", "failed", False),
    # Silent beyond T4 before the result; the payment goes through after the gateway left.
    (FaultKind.DELAY, {"at": Step.STATUS, "seconds": 200.0}, "unknown", "approved", True),
    # Silent beyond T4 after the result was confirmed (the payment is stored).
    (FaultKind.DELAY, {"at": Step.PRINT, "seconds": 200.0}, "unknown", "approved", True),
    (FaultKind.DISCONNECT, {"at": Step.CARD}, "unknown", "approved", True),
    (FaultKind.DISCONNECT, {"at": Step.STATUS_SENT}, "unknown", "approved", True),
    (FaultKind.DISCONNECT, {"at": Step.COMPLETION}, "unknown", "approved", True),
    # Our 80 00 to the Status Information is lost: the terminal's T3 runs out, it hangs up
    # and keeps the payment.
    (FaultKind.LOSE_ACK, {"at": Step.STATUS}, "unknown", "approved", True),
    # Our 80 00 to the first 04 FF is lost: the terminal hangs up after T3.
    (FaultKind.LOSE_ACK, {}, "unknown", "approved", True),
    (FaultKind.BUSY, {"times": 3, "seconds": 2.0}, "approved", "approved", True),
    # 84 9C, and nothing more for longer than T3: the gateway gives up before the 80 00.
    (FaultKind.BUSY, {"seconds": 6.0}, "unknown", "failed", False),
    (FaultKind.UNKNOWN_COMMAND, {}, "failed", "failed", False),
    (FaultKind.UNKNOWN_APDU, {"at": Step.CARD}, "approved", "approved", True),
    (FaultKind.FRAGMENT, {"size": 1}, "approved", "approved", True),
    (FaultKind.FRAGMENT, {"size": 100, "seconds": 0.02}, "approved", "approved", True),
    (FaultKind.COALESCE, {"seconds": 0.02}, "approved", "approved", True),
    # The power goes at a step and returns 10 s later; the gateway cannot reach the terminal
    # meanwhile. At boot the terminal reverses a payment it had not stored.
    (FaultKind.POWER_CUT, {"at": Step.HOST, "restart_after": 10.0}, "unknown", "failed", False),
    (FaultKind.POWER_CUT, {"at": Step.STATUS_SENT, "restart_after": 10.0}, "unknown", "failed",
     False),
    (FaultKind.POWER_CUT, {"at": Step.STORED, "restart_after": 10.0}, "unknown", "approved",
     True),
]


def case_id(kind: FaultKind, options: dict[str, Any]) -> str:
    """E.g. `delay-at=status-seconds=200.0`."""
    shown = [f"{key}={value.value if isinstance(value, Step) else value}"
             for key, value in options.items()]
    return "-".join([kind.value, *shown])


@pytest.mark.parametrize(("kind", "options", "first", "final", "charged"), CASES,
                         ids=[case_id(c[0], c[1]) for c in CASES])
async def test_fault(nursery, tmp_path, mock_clock, kind, options, first, final, charged):
    stack = await start_stack(nursery, tmp_path)
    assert (await final_outcome(stack, await stack.epj.pay(1000)))["status"] == "approved"
    await idle(stack.device)
    stack.arm(kind, **options)
    response = await stack.epj.pay(2000)
    assert response.status_code == 201, response.text
    told = response.json()
    assert told["status"] == first, told
    if first == "unknown":
        assert told["result_text"], told  # a clear error, e.g. "no answer ... (T3 expired)"
    if first == "failed":
        assert told["result_code"] == 0x83 and "refused" in told["result_text"]
    outcome = await final_outcome(stack, response)
    assert outcome["status"] == final, outcome
    if kind in STANDING_FAULTS:
        stack.device.faults.clear()
    assert stack.device.faults.armed == []
    books = await settle(stack)
    assert (2000 in books["purchase"].values()) is charged
    if kind is FaultKind.POWER_CUT:
        assert stack.device.power_cuts == 1 and stack.device.powered


async def lose_end_of_day(stack: Stack, step: Step) -> tuple[dict[str, Any], Totals]:
    """Two payments (one reversed) and a refund, then an end-of-day whose conversation the
    terminal breaks off at `step`; returns what the EPJ learns in the end, and the totals
    the terminal's batch had."""
    visa = await final_outcome(stack, await stack.epj.pay(1000))
    stack.engine.present([CARDS["mastercard"]])
    await final_outcome(stack, await stack.epj.pay(2500))
    stack.engine.present([CARDS["amex"]])
    amex = await final_outcome(stack, await stack.epj.pay(700))
    assert (await final_outcome(stack, await stack.epj.reverse(amex["id"])))["status"] == \
        "approved"
    await final_outcome(stack, await stack.epj.refund(300))
    assert visa["status"] == "approved"
    await idle(stack.device)
    before = totals(stack.engine.state.batch)
    stack.arm(FaultKind.DISCONNECT, at=step)
    response = await stack.epj.end_of_day()
    assert response.json()["status"] == "unknown", response.text
    return await final_outcome(stack, response), before


def per_scheme(summary: Totals) -> dict[str, dict[str, int]]:
    return {name: {"count": t.count, "amount": t.amount}
            for name, t in summary.payments.items() if t.count}


async def test_end_of_day_lost_before_the_batch_closed(nursery, tmp_path, mock_clock):
    """The terminal never had our 80 00 to its Status Information, so it kept its batch open:
    the supervisor runs the end-of-day again and reports that batch's totals. The EPJ asked
    once and learns them."""
    stack = await start_stack(nursery, tmp_path)
    lost, before = await lose_end_of_day(stack, Step.STATUS_SENT)
    assert lost["status"] == "approved", lost
    assert "ran the end-of-day again" in lost["result_text"]
    assert lost["details"]["totals_source"] == "terminal"
    assert lost["details"]["per_scheme"] == per_scheme(before)
    assert stack.engine.state.batch == [] and stack.engine.state.batch_number == 2
    await stack.settled()
    (total,) = await stack.backend_items("/v1/pos-end-of-day")
    assert (total["count"], total["amount"], total["totals_source"]) == (2, 3500, "terminal")


@pytest.mark.parametrize("step", [Step.PRINT, Step.COMPLETION])
async def test_end_of_day_lost_after_the_batch_closed(nursery, tmp_path, mock_clock, step):
    """The terminal closed its batch and sent it to its host, then the line broke: the
    supervisor's Repeat Receipt brings the end-of-day's Status Information again "as in the
    original transaction" (spec 2.20), totals, trace number and all, and that is the answer:
    the terminal's totals, reported once, and no second end-of-day."""
    stack = await start_stack(nursery, tmp_path)
    lost, before = await lose_end_of_day(stack, step)
    assert lost["status"] == "approved", lost
    assert lost["result_text"] == "approved (recovered from the terminal's repeated end-of-day)"
    details = lost["details"]
    assert details["totals_source"] == "terminal"
    assert details["per_scheme"] == per_scheme(before)
    assert details["total_amount"] == before.amount == 3500
    assert (details["first_receipt"], details["last_receipt"]) == (1, 5)
    state = stack.engine.state
    assert state.batch == [] and state.batch_number == 2  # closed once
    assert lost["trace_number"] == state.trace_number  # the lost one's, not a new one
    assert lost["receipt_lines"][0] == "*** KOPI ***"  # the terminal's copy of its receipt
    assert "DAGSOPPGJØR" in lost["receipt_lines"]
    # The next end-of-day reports only what came after.
    await final_outcome(stack, await stack.epj.pay(4000))
    nxt = await final_outcome(stack, await stack.epj.end_of_day())
    assert nxt["details"]["total_amount"] == 4000
    assert nxt["trace_number"] == lost["trace_number"] + 2
    await stack.settled()
    totals_sent = await stack.backend_items("/v1/pos-end-of-day")
    assert [(t["count"], t["amount"], t["totals_source"]) for t in totals_sent] == [
        (2, 3500, "terminal"), (1, 4000, "terminal")]


async def test_end_of_day_lost_at_a_terminal_without_repeat_receipt(nursery, tmp_path,
                                                                     mock_clock):
    """The same, at a terminal that answers Repeat Receipt with 84 83: nothing can repeat the
    totals and the terminal's batch is empty now, so the gateway reconstructs them from its
    journal, marked so, once."""
    stack = await start_stack(nursery, tmp_path, device=make_device(repeat_receipt=False))
    lost, before = await lose_end_of_day(stack, Step.PRINT)
    assert lost["status"] == "approved", lost
    assert "totals reconstructed from the gateway's journal (2 payments" in lost["result_text"]
    assert lost["details"]["totals_source"] == "reconstructed"
    assert lost["details"]["per_scheme"] == per_scheme(before)
    assert lost["details"]["total_amount"] == before.amount == 3500
    assert lost["receipt_lines"] == []  # the terminal could not repeat it
    assert stack.engine.state.batch_number == 3  # the lost one and the one run again
    # The next end-of-day reports only what came after.
    await final_outcome(stack, await stack.epj.pay(4000))
    nxt = await final_outcome(stack, await stack.epj.end_of_day())
    assert nxt["details"]["total_amount"] == 4000
    await stack.settled()
    totals_sent = await stack.backend_items("/v1/pos-end-of-day")
    assert [(t["count"], t["amount"], t["totals_source"]) for t in totals_sent] == [
        (2, 3500, "reconstructed"), (1, 4000, "terminal")]
