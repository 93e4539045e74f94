"""The gateway with a serial terminal (`transport = "serial"`): the simulator on a real
pseudo-terminal with ZVT's serial framing (DLE STX ... DLE ETX CRC, ACK/NAK), and the line
faults only a serial line has. Afterwards the three books agree."""

from __future__ import annotations

import pytest
import trio

from firmware_sim.cards import DEFAULT_DECK
from firmware_sim.customers import Customer
from firmware_sim.faults import FaultKind, Step
from firmware_sim.serial_server import PtyTerminal

from .conftest import Stack, assert_books_agree, idle, start_stack
from .test_faults import CASES, case_id, final_outcome, settle

CARDS = {card.name: card for card in DEFAULT_DECK}


@pytest.fixture
async def serial(nursery, tmp_path) -> Stack:
    """The stack with a serial terminal; the test must ask for `mock_clock` itself (pytest-trio
    takes the clock only from the test's own arguments)."""
    return await start_stack(nursery, tmp_path, transport="serial")


@pytest.mark.parametrize("baudrate", [9600, 115200])
async def test_flows_over_a_serial_line(nursery, tmp_path, mock_clock, baudrate):
    stack = await start_stack(nursery, tmp_path, transport="serial", baudrate=baudrate)
    epj = stack.epj
    paid = (await epj.pay(12345)).json()
    assert paid["status"] == "approved" and "BELØP NOK 123,45" in paid["receipt_lines"]
    stack.engine.desk.add(Customer(card=CARDS["bankaxept"], insert=True))
    assert (await epj.pay(60000)).json()["status"] == "approved"
    stack.engine.present([CARDS["visa-declined"]])
    assert (await epj.pay(1000)).json()["status"] == "declined"
    assert (await epj.refund(500)).json()["status"] == "approved"
    assert (await epj.reverse(paid["id"])).json()["status"] == "approved"
    books = await assert_books_agree(stack)
    assert books["purchase"] == {1: 12345, 2: 60000} and books["reversed"] == {1: 12345}
    end = (await epj.end_of_day()).json()
    assert end["status"] == "approved" and end["details"]["total_amount"] == 60000
    await stack.settled()
    assert [t["amount"] for t in await stack.backend_items("/v1/pos-end-of-day")] == [60000]


# (fault, options, what the transaction becomes, charged)
LINE_FAULTS = [
    # Corrupted frames are NAKed and repeated.
    (FaultKind.BAD_CRC, {"count": 2, "at": Step.STATUS}, "approved", True),
    # The Status Information never gets through: after 3 tries the terminal gives up.
    (FaultKind.BAD_CRC, {"count": 3, "at": Step.STATUS}, "approved", True),
    # The terminal's link ACK goes missing: we repeat after T2, it drops the duplicate.
    (FaultKind.DROP_ACK, {"at": Step.STATUS}, "approved", True),
    (FaultKind.DROP_ACK, {}, "approved", True),
    # ... of our 80 00 that ends the dialog: repeated after T2, before the next command.
    (FaultKind.DROP_ACK, {"at": Step.COMPLETION}, "approved", True),
    (FaultKind.LOSE_ACK, {"at": Step.STATUS}, "approved", True),
    (FaultKind.DUPLICATE_ACK, {"at": Step.STATUS}, "approved", True),
    (FaultKind.NAK_STORM, {"count": 2}, "approved", True),
    # Our command is NAKed three times: a transmission error, nothing happened.
    (FaultKind.NAK_STORM, {"count": 3}, "failed", False),
    # Late beyond T3 on a serial line (6 s here): the gateway gives up on the command, but
    # the terminal does not know and runs the payment when it gets to it.
    (FaultKind.DELAY, {"at": Step.COMMAND, "seconds": 8.0}, "approved", True),
    # Frames in pieces, with gaps inside T1 (0.2 s): reassembled.
    (FaultKind.FRAGMENT, {"size": 64, "seconds": 0.01}, "approved", True),
    # The terminal's link ACK and its next frame (or two frames) in one write: split again.
    (FaultKind.COALESCE, {"seconds": 0.02}, "approved", True),
    # The cable is pulled mid-payment and plugged in again a second later.
    (FaultKind.DISCONNECT, {"at": Step.CARD}, "approved", True),
    (FaultKind.DISCONNECT, {"at": Step.STATUS_SENT}, "approved", True),
    # The terminal goes dark: the line stays, but nothing answers.
    (FaultKind.POWER_CUT, {"at": Step.HOST, "restart_after": 20.0}, "failed", False),
    (FaultKind.POWER_CUT, {"at": Step.STORED, "restart_after": 20.0}, "approved", True),
]


@pytest.mark.parametrize(("kind", "options", "final", "charged"), LINE_FAULTS,
                         ids=[case_id(c[0], c[1]) for c in LINE_FAULTS])
async def test_line_fault(serial: Stack, mock_clock, kind, options, final, charged):
    assert (await serial.epj.pay(1000)).json()["status"] == "approved"
    await idle(serial.device)
    serial.arm(kind, **options)
    outcome = await final_outcome(serial, await serial.epj.pay(2000))
    assert outcome["status"] == final, outcome
    serial.device.faults.clear()
    books = await settle(serial)
    assert (2000 in books["purchase"].values()) is charged
    if kind is FaultKind.DISCONNECT:
        assert isinstance(serial.sim, PtyTerminal) and serial.sim.plugs == 2


async def test_noisy_line(serial: Stack, mock_clock):
    """One bit in a thousand flips, both ways: most long receipts need repeats, some
    conversations break off and are resolved; no payment is lost or counted twice."""
    serial.arm(FaultKind.NOISE, ber=1e-3)
    statuses = []
    for number in range(4):
        await serial.ready()
        outcome = await final_outcome(serial, await serial.epj.pay(1000 + number))
        statuses.append(outcome["status"])
    assert "approved" in statuses
    assert set(statuses) <= {"approved", "failed"}, statuses
    serial.device.faults.clear()
    books = await settle(serial)
    approved = sorted(amount for amount in books["purchase"].values() if amount != 100)
    assert len(approved) == statuses.count("approved")


async def test_payments_a_minute_apart_on_one_connection(serial: Stack, mock_clock):
    """The serial link and the dialog number their timers separately: a new T3 must not
    inherit the start of an old T2 that had the same number (which made the second payment
    "time out" at once)."""
    for amount in (1000, 2000, 3000):
        response = (await serial.epj.pay(amount)).json()
        assert response["status"] == "approved", response
        await trio.sleep(60)  # a quiet minute on the same connection
    assert serial.sim.plugs == 1  # type: ignore[union-attr]
    await assert_books_agree(serial)


def test_every_simulator_fault_has_an_end_to_end_test():
    """A fault kind added to the simulator must get a case here or in test_faults.py."""
    over_tcp = {case[0] for case in CASES}
    over_serial = {case[0] for case in LINE_FAULTS} | {FaultKind.NOISE}  # test_noisy_line
    assert over_tcp | over_serial == set(FaultKind)
    # The serial line's own faults (CRC, NAK, noise) only exist there.
    assert {FaultKind.BAD_CRC, FaultKind.NAK_STORM, FaultKind.NOISE} <= over_serial
