"""Faults over TCP: the ECR recovers or reports a clear error, and afterwards the terminal's
books hold exactly the payments the ECR was told were approved."""

from __future__ import annotations

import pytest
import trio

from firmware_sim import codes
from firmware_sim.customers import Customer
from firmware_sim.faults import Fault, FaultKind, Step
from gateway.protocols import zvt
from gateway.terminal import TerminalLost, TerminalRejected, TerminalUnavailable

from .books import Books, stored_payments
from .conftest import SimOnTcp, idle, make_device, pay, start_tcp


async def arm(sim: SimOnTcp, kind: FaultKind, **options: object) -> None:
    await idle(sim.device)
    sim.device.faults.arm(Fault(kind, **options))  # type: ignore[arg-type]


async def settle(books: Books, sim: SimOnTcp, terminal) -> None:  # type: ignore[no-untyped-def]
    """One more payment (it carries 1F1F and resyncs), then compare the books."""
    while sim.device.current is not None:  # a stalled terminal finishes its transaction
        await trio.sleep(1.0)
    assert await books.run(terminal, pay(100)) == "approved"
    assert stored_payments(sim.device) == books.approved


@pytest.mark.parametrize(("kind", "options", "error"), [
    (FaultKind.DROP_ACK, {}, "not allowed in state AWAIT_RESPONSE_TXN"),
    (FaultKind.DUPLICATE_ACK, {}, "invalid data"),
    (FaultKind.DELAY, {"at": Step.COMMAND, "seconds": 6.0}, "T3 expired"),
    (FaultKind.DELAY, {"at": Step.STATUS, "seconds": 200.0}, "T4 expired"),
    (FaultKind.DISCONNECT, {"at": Step.ACK}, "closed the connection"),
    (FaultKind.DISCONNECT, {"at": Step.CARD}, "closed the connection"),
    (FaultKind.DISCONNECT, {"at": Step.STATUS_SENT}, "closed the connection"),
    (FaultKind.DISCONNECT, {"at": Step.PRINT}, "closed the connection"),
    (FaultKind.LOSE_ACK, {"at": Step.STATUS}, "closed the connection"),
    (FaultKind.LOSE_ACK, {}, "closed the connection"),  # the ACK of the first 04 FF
    (FaultKind.BUSY, {"seconds": 6.0}, "T3 expired"),
])
async def test_gateway_reports_a_lost_payment_and_the_books_agree(sim, autojump_clock, kind,
                                                                  options, error):
    books = Books()
    terminal = books.gateway(sim)
    assert await books.run(terminal, pay(1000)) == "approved"
    await arm(sim, kind, **options)
    outcome = await books.run(terminal, pay(2000))
    assert outcome.startswith("TerminalLost") and error in outcome, outcome
    assert sim.device.faults.armed == []
    await settle(books, sim, terminal)


async def test_t4_expires_exactly_after_180_silent_seconds(sim, autojump_clock):
    books = Books()
    terminal = books.gateway(sim)
    await books.run(terminal, pay(1000))
    await arm(sim, FaultKind.DELAY, at=Step.HOST, seconds=zvt.T4 + 1)
    start = trio.current_time()
    with pytest.raises(TerminalLost, match="T4"):
        await terminal.run(pay(2000))
    # T4 counts from the last 04 FF (waiting for the host), sent at once.
    assert trio.current_time() - start == pytest.approx(zvt.T4)


async def test_answers_just_inside_the_timers_are_fine(sim, autojump_clock):
    books = Books()
    terminal = books.gateway(sim)
    await arm(sim, FaultKind.DELAY, at=Step.COMMAND, seconds=zvt.T3 - 0.5)
    await arm(sim, FaultKind.DELAY, at=Step.HOST, seconds=zvt.T4 - 1)
    assert await books.run(terminal, pay(1000)) == "approved"
    assert stored_payments(sim.device) == books.approved == [1]


@pytest.mark.parametrize(("kind", "options"), [
    (FaultKind.FRAGMENT, {"size": 1}),
    (FaultKind.FRAGMENT, {"size": 3, "seconds": 0.5}),
    (FaultKind.COALESCE, {"seconds": 0.2}),
    (FaultKind.BUSY, {"times": 3, "seconds": 2.0}),
    (FaultKind.UNKNOWN_APDU, {"at": Step.CARD}),
])
async def test_the_gateway_copes(sim, autojump_clock, kind, options):
    books = Books()
    terminal = books.gateway(sim)
    await arm(sim, kind, **options)
    assert await books.run(terminal, pay(1000)) == "approved"
    assert await books.run(terminal, pay(2000)) == "approved"
    assert stored_payments(sim.device) == books.approved == [1, 2]


async def test_coalesced_writes_arrive_in_one_segment(sim, autojump_clock):
    await arm(sim, FaultKind.COALESCE, seconds=0.1)
    async with await sim.open() as stream:
        await stream.send_all(zvt.encode_message(zvt.StatusEnquiry()))
        data = b""
        with trio.fail_after(2):
            while len(data) < 3:
                data += await stream.receive_some()
        # 80 00 00 and the Completion went out as one write.
        assert data[:3] == b"\x80\x00\x00" and len(data) > 3


async def test_unknown_command_reply(sim, autojump_clock):
    books = Books()
    terminal = books.gateway(sim)
    await books.run(terminal, pay(1000))
    await arm(sim, FaultKind.UNKNOWN_COMMAND)
    with pytest.raises(TerminalRejected) as refused:
        await terminal.run(pay(2000))
    assert refused.value.code == zvt.NOT_SUPPORTED
    await settle(books, sim, terminal)


@pytest.mark.parametrize("step", [Step.HOST, Step.STATUS, Step.STATUS_SENT, Step.STORED])
async def test_power_cut_then_restart(sim, autojump_clock, step):
    books = Books()
    terminal = books.gateway(sim)
    assert await books.run(terminal, pay(1000)) == "approved"
    await arm(sim, FaultKind.POWER_CUT, at=step, restart_after=30.0)
    outcome = await books.run(terminal, pay(2000))
    assert outcome.startswith("TerminalLost"), outcome
    assert not sim.device.powered
    with pytest.raises(TerminalUnavailable):  # nothing listens while the power is off
        await terminal.run(pay(3000))
    await trio.sleep(31.0)  # the power returns 30 s after the cut
    assert sim.device.powered and sim.device.power_cuts == 1
    await settle(books, sim, terminal)
    journal = sim.engine.state.journal
    if step in (Step.STATUS, Step.STATUS_SENT):
        assert any(b.status == "auto_reversed" and b.amount == 2000 for b in journal)


async def test_power_cut_loses_what_was_not_saved(nursery, autojump_clock):
    sim = await start_tcp(nursery, make_device())
    ecr = await sim.ecr()
    assert (await ecr.pay(1000)).status == "approved"
    await idle(sim.device)
    state = sim.engine.state
    state.merchant_name = "NOT SAVED"  # changed in RAM only
    sim.device.cut_power()
    assert (await ecr.pay(1000)).status == "error"
    sim.device.power_on()
    assert sim.engine.state.merchant_name == "LEGESENTERET AS"
    assert sim.engine.state.receipt_number == 1 and len(sim.engine.state.batch) == 1


async def test_status_not_confirmed_without_1f1f_is_reversed_at_once(sim, autojump_clock):
    ecr = await sim.ecr()
    first = await ecr.pay(1000)
    await arm(sim, FaultKind.LOSE_ACK, at=Step.STATUS)
    lost = await ecr.pay(2000)
    # The ECR saw an approval, but the conversation never finished: a clear error.
    assert lost.status == "error" and lost.status_info.result_code == 0
    assert "closed" in lost.error
    assert [b.receipt for b in sim.engine.state.batch] == [first.receipt_number]
    auto = sim.engine.state.journal[-1]
    assert auto.status == "auto_reversed" and auto.amount == 2000
    # Repeat Receipt tells a reconnected ECR which payment the terminal has last.
    again = await (await sim.ecr()).repeat_receipt()
    assert again.status_info.receipt_number == first.receipt_number
    # And the receipt number is free again.
    assert (await (await sim.ecr()).pay(3000)).receipt_number == 2


async def test_ecr_asks_to_wait_then_confirms(sim, autojump_clock):
    ecr = await sim.ecr()
    ecr.answer_status = lambda status, n: zvt.Nack(zvt.PLEASE_WAIT) if n <= 2 else None
    start = trio.current_time()
    result = await ecr.pay(1000)
    assert result.status == "approved"
    assert trio.current_time() - start == pytest.approx(2 * 2.0)  # 2 s before each repeat
    assert stored_payments(sim.device) == [1]


async def test_too_many_please_waits_reverse_the_payment(sim, autojump_clock):
    ecr = await sim.ecr()
    ecr.answer_status = lambda status, n: zvt.Nack(zvt.PLEASE_WAIT) if status.result_code == 0 \
        else None
    result = await ecr.run(zvt.Authorization(amount=1000, currency=zvt.CURRENCY_NOK,
                                             max_status_infos=2))
    assert result.status == "aborted" and result.result_code == codes.RESULT_ABORTED
    assert stored_payments(sim.device) == []


async def test_goods_not_issued_reverses_the_payment(sim, autojump_clock):
    ecr = await sim.ecr()
    ecr.answer_status = lambda status, n: zvt.Nack(0x66) if n == 1 else None
    result = await ecr.pay(1000)
    assert result.status == "aborted"
    assert stored_payments(sim.device) == []
    assert sim.engine.issuer.spent == {"411111******1111": 0}


async def test_partial_apdu_makes_the_terminal_hang_up_after_t3(sim, autojump_clock):
    async with await sim.open() as stream:
        await stream.send_all(b"\x06\x01\x07\x04")  # 4 of 10 bytes
        start = trio.current_time()
        assert await stream.receive_some() == b""
        assert trio.current_time() - start == pytest.approx(zvt.T3)


async def test_busy_with_a_standalone_payment(sim, autojump_clock):
    sim.engine.desk.add(Customer(present_after=7.0))
    sim.engine.state.registered_config = None  # never registered: keyed amounts allowed
    books = Books()
    terminal = books.gateway(sim)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sim.device.standalone, "purchase", 5000)
        await trio.sleep(1.0)
        # The gateway registers (84 9C every 2 s while busy) and then pays.
        assert await books.run(terminal, pay(1000)) == "approved"
    assert stored_payments(sim.device) == [1, 2]
    assert [b.source for b in sim.engine.state.batch] == ["standalone", "ecr"]
