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

from firmware_sim.faults import STANDING_FAULTS, FaultKind, Step

from .conftest import Stack, assert_books_agree, idle, start_stack

FINAL = {"approved", "declined", "aborted", "failed", "reversed"}


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


async def test_end_of_day_lost_then_run_again(nursery, tmp_path, mock_clock):
    """An End-of-Day whose result did not arrive is reported failed ("run it again"); the
    terminal kept its batch open, so the second one reports the same totals."""
    stack = await start_stack(nursery, tmp_path)
    await stack.epj.pay(1000)
    await stack.epj.pay(2500)
    await idle(stack.device)
    stack.arm(FaultKind.DISCONNECT, at=Step.STATUS_SENT)
    lost = await final_outcome(stack, await stack.epj.end_of_day())
    assert lost["status"] == "failed" and "run it again" in lost["result_text"]
    assert len(stack.engine.state.batch) == 2
    await stack.ready()
    again = await final_outcome(stack, await stack.epj.end_of_day())
    assert again["status"] == "approved" and again["details"]["total_amount"] == 3500
    assert stack.engine.state.batch == []
    await stack.settled()
    totals = await stack.backend_items("/v1/pos-end-of-day")
    assert [(t["count"], t["amount"]) for t in totals] == [(2, 3500)]
