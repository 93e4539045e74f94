"""The terminal on a real pseudo-terminal with ZVT's serial framing (DLE STX ... CRC, ACK/NAK):
the gateway's serial stack against it, and the line faults against a serial ECR."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from firmware_sim.customers import Customer
from firmware_sim.device import SimTerminal
from firmware_sim.ecr import Ecr, EcrResult
from firmware_sim.faults import Fault, FaultKind, Step
from firmware_sim.serial_server import SERIAL_T3, PtyTerminal
from gateway.devices import Backoff, open_serial, serial_opener
from gateway.operations import classify
from gateway.protocols import zvt
from gateway.terminal import ZvtTerminal

from .books import Books, stored_payments
from .conftest import idle, make_device, pay

SERIAL = zvt.Framing.SERIAL


@dataclass
class SimOnPty:
    device: SimTerminal
    terminal: PtyTerminal
    path: str

    async def ecr(self, baudrate: int = 9600) -> Ecr:
        ecr = Ecr(await open_serial(self.path, baudrate), SERIAL, t3=SERIAL_T3)
        result = await ecr.register()
        assert result.status == "done", result
        await idle(self.device)
        return ecr

    async def arm(self, kind: FaultKind, **options: object) -> None:
        await idle(self.device)
        self.device.faults.arm(Fault(kind, **options))  # type: ignore[arg-type]


async def start_pty(nursery: trio.Nursery, tmp_path: Path, baudrate: int = 9600,
                    device: SimTerminal | None = None) -> SimOnPty:
    device = device or make_device()
    terminal = PtyTerminal(device, baudrate=baudrate, link_path=tmp_path / "zvt0")
    path = await nursery.start(terminal.serve)
    return SimOnPty(device, terminal, path)


@pytest.fixture
async def pty(nursery, tmp_path) -> SimOnPty:
    return await start_pty(nursery, tmp_path)


@pytest.mark.parametrize("baudrate", [9600, 115200])
async def test_gateway_pays_over_the_pty(nursery, tmp_path, pty_clock, baudrate):
    sim = await start_pty(nursery, tmp_path, baudrate)
    gateway = ZvtTerminal("T1", serial_opener(sim.path, baudrate), framing=SERIAL)
    outcome = classify(await gateway.run(pay(12345)))
    assert outcome.status == "approved" and outcome.receipt_number == 1
    assert "BELØP NOK 123,45" in outcome.receipt_lines
    refund = classify(await gateway.run(zvt.Refund(amount=500)))
    assert refund.status == "approved"
    end = await gateway.run(zvt.EndOfDay())
    assert end.status is not None and end.status.amount == 12345
    await gateway.close()


async def test_all_flows_over_serial(pty, pty_clock):
    ecr = await pty.ecr()
    paid = await ecr.pay(5000)
    assert paid.status == "approved"
    assert (await ecr.reverse(paid.receipt_number)).status == "approved"
    pty.device.engine.desk.add(Customer(pins=("1234",), insert=True))
    assert (await ecr.pay(2500)).status == "approved"
    assert (await ecr.diagnosis()).status == "done"
    assert (await ecr.status_enquiry()).completion.terminal_status == 0
    eod = await ecr.end_of_day()
    assert eod.status_info.amount == 2500
    assert (await ecr.log_off()).status == "done"


async def test_bad_crc_is_nakked_and_repeated(pty, pty_clock):
    ecr = await pty.ecr()
    await pty.arm(FaultKind.BAD_CRC, count=2, at=Step.STATUS)
    result = await ecr.pay(1000)
    assert result.status == "approved"
    assert ecr.conn._link.naks_sent == 2  # the ECR rejected both corrupted frames
    assert stored_payments(pty.device) == [1]


async def test_status_information_that_never_gets_through_is_reversed(pty, pty_clock):
    ecr = await pty.ecr()
    await pty.arm(FaultKind.BAD_CRC, count=3, at=Step.STATUS)
    start = trio.current_time()
    result = await ecr.pay(1000)
    # The ECR never saw a result; T4 ends its wait with a clear error.
    assert result.status == "error" and result.error == "T4 expired"
    assert result.status_info is None
    assert trio.current_time() - start >= zvt.T4
    assert stored_payments(pty.device) == []
    assert pty.device.engine.state.journal[-1].status == "auto_reversed"
    # The line is fine again for the next payment, which gets the freed receipt number.
    again = await ecr.pay(1000)
    assert again.status == "approved" and again.receipt_number == 1


async def test_dropped_ack_makes_the_ecr_repeat(pty, pty_clock):
    ecr = await pty.ecr()
    # At `status` the next link ACK of the terminal is the one for the ECR's 80 00 to the
    # Status Information: a frame no application answer follows, so only T2 can save it.
    await pty.arm(FaultKind.DROP_ACK, at=Step.STATUS)
    start = trio.current_time()
    result = await ecr.pay(1000)
    assert result.status == "approved"
    assert ecr.conn._link.repeats_sent == 1
    assert trio.current_time() - start >= zvt.T2  # the repeat came after T2
    assert stored_payments(pty.device) == [1]


@pytest.mark.parametrize("kind", [FaultKind.LOSE_ACK, FaultKind.DUPLICATE_ACK])
async def test_lost_or_duplicated_ack_of_the_ecr(pty, pty_clock, kind):
    ecr = await pty.ecr()
    await pty.arm(kind, at=Step.STATUS)
    start = trio.current_time()
    result = await ecr.pay(1000)
    assert result.status == "approved"
    assert stored_payments(pty.device) == [1]
    # Without the link ACK, the ECR's 80 00 still proves the Status Information arrived
    # (the codec's peer_answered): no repeat, no waiting for T2.
    assert ecr.conn.duplicates_dropped == 0
    assert trio.current_time() - start < zvt.T2


async def test_nak_storm_the_ecr_rides_out(pty, pty_clock):
    ecr = await pty.ecr()
    await pty.arm(FaultKind.NAK_STORM, count=2)
    assert (await ecr.pay(1000)).status == "approved"
    assert ecr.conn._link.repeats_sent == 2


async def test_nak_storm_ends_in_a_transmission_error(pty, pty_clock):
    ecr = await pty.ecr()
    await pty.arm(FaultKind.NAK_STORM, count=3)
    result = await ecr.pay(1000)
    assert result.status == "error"
    assert "not acknowledged after 3 attempts (NAK)" in result.error
    assert stored_payments(pty.device) == [] and pty.device.engine.state.trace_number == 0
    again = await ecr.pay(1000)
    assert again.status == "approved", again


async def test_slow_fragments_trip_t1(pty, pty_clock):
    ecr = await pty.ecr()
    await pty.arm(FaultKind.FRAGMENT, size=4, seconds=0.05)  # gaps well inside T1: fine
    assert (await ecr.status_enquiry()).status == "done"
    pty.device.faults.clear()
    await pty.arm(FaultKind.FRAGMENT, size=4, seconds=0.3)  # gaps beyond T1 (200 ms)
    result = await ecr.status_enquiry()
    assert result.status == "error"
    assert ecr.conn._link.naks_sent >= 3  # the ECR's T1 broke off every attempt


async def resolve(ecr_factory, result: EcrResult, known: list[int]) -> None:  # type: ignore[no-untyped-def]
    """After a broken conversation ask the terminal (Repeat Receipt) what it stored last."""
    if result.status == "approved":
        known.append(result.receipt_number)
        return
    if result.status != "error":
        return
    for _attempt in range(10):
        await trio.sleep(10.0)  # let the terminal finish what it was doing
        ecr = await ecr_factory()
        again = await ecr.repeat_receipt(service_byte=0x03)
        if again.status == "error":
            continue
        last = again.status_info.receipt_number if again.status_info else None
        if last is not None and last not in known and again.status_info.amount == 1000:
            known.append(last)
        return
    raise AssertionError("the terminal never answered a Repeat Receipt")


async def test_noisy_line(pty, pty_clock):
    # One bit in a thousand: most frames of a long receipt need a repeat, some conversations
    # break off; the ECR then asks the terminal what it stored (Repeat Receipt).
    await pty.arm(FaultKind.NOISE, ber=1e-3)
    current: list[Ecr] = [await pty.ecr()]

    async def reconnect() -> Ecr:
        await current[0].close()
        current[0] = Ecr(await open_serial(pty.path), SERIAL, t3=SERIAL_T3)
        return current[0]

    known: list[int] = []
    outcomes = []
    for _ in range(10):
        result = await current[0].pay(1000)
        outcomes.append(result.status)
        await resolve(reconnect, result, known)
        if result.status == "error":
            await reconnect()
    assert set(outcomes) == {"approved", "error"}
    assert sorted(stored_payments(pty.device)) == sorted(known)


async def test_power_cut_on_a_serial_line(pty, pty_clock):
    ecr = await pty.ecr()
    await pty.arm(FaultKind.POWER_CUT, at=Step.HOST, restart_after=5.0)
    result = await ecr.pay(1000)
    assert result.status == "error"  # the terminal went silent mid-transaction
    assert pty.device.powered  # back by now (the ECR waited T4)
    again = await ecr.pay(1000)
    assert again.status == "approved" and again.receipt_number == 1


async def test_pulled_cable_and_replug(pty, pty_clock):
    ecr = await pty.ecr()
    await pty.arm(FaultKind.DISCONNECT, at=Step.CARD)
    result = await ecr.pay(1000)
    assert result.status == "error" and "line broke" in result.error
    await trio.sleep(2.0)  # plugged in again, at the same path
    assert pty.terminal.plugs == 2
    ecr = Ecr(await open_serial(pty.path), SERIAL, t3=SERIAL_T3)
    assert (await ecr.pay(1000)).status == "approved"
    assert stored_payments(pty.device) == [1]


async def test_gateway_recovers_after_the_cable_comes_back(pty, pty_clock):
    books = Books()
    gateway = ZvtTerminal("T1", serial_opener(pty.path, retry=Backoff(0.5, 2.0)),
                          framing=SERIAL, load_receipt_id=books.load)
    assert await books.run(gateway, pay(1000)) == "approved"
    await pty.arm(FaultKind.DISCONNECT, at=Step.ACK)
    lost = await books.run(gateway, pay(2000))
    assert lost.startswith("TerminalLost") and "broke" in lost, lost
    # The gateway reopens the port once it is back and mirrors the last receipt it knows:
    # the terminal reverses the payment whose result the gateway never got.
    assert await books.run(gateway, pay(3000)) == "approved"
    assert stored_payments(pty.device) == books.approved == [1, 2]
    assert [b.amount for b in pty.device.engine.state.batch] == [1000, 3000]
    assert any(b.kind == "reversal" and b.source == "terminal"
               for b in pty.device.engine.state.journal)
