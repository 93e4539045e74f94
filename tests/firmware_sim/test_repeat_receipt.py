"""Repeat Receipt (06 20, spec 2.20): the last transaction executed once more. Its Status
Information (service byte bit 0) "as in the original transaction": after a payment the
payment's, after an End-of-Day the End-of-Day's with its totals (BMP 04 and 60), trace number,
date and time. Its receipts (unless bit 1) as copies. Nothing changes at the terminal."""

from __future__ import annotations

import json

import trio

from firmware_sim import codes
from firmware_sim.batch import Totals, totals, turnover_totals
from firmware_sim.cards import find_card
from firmware_sim.ecr import Ecr, EcrResult
from firmware_sim.engine import TerminalEngine
from firmware_sim.receipts import OSLO
from firmware_sim.state import TerminalState
from gateway.protocols import zvt

from .conftest import SimOnTcp, make_device, start_tcp

KOPI = "*** KOPI ***"


async def close_a_batch(sim: SimOnTcp, ecr: Ecr) -> tuple[EcrResult, Totals]:
    """A VISA and a Mastercard payment, then an End-of-Day; returns its result and the
    batch's totals."""
    assert (await ecr.pay(10000)).status == "approved"
    sim.engine.present([find_card(sim.engine.deck, "mastercard")])
    assert (await ecr.pay(2500)).status == "approved"
    summary = totals(sim.engine.state.batch)
    closed = await ecr.end_of_day()
    assert closed.status == "approved" and closed.status_info is not None
    return closed, summary


async def test_after_end_of_day_its_status_comes_again_with_the_totals(sim, autojump_clock):
    ecr = await sim.ecr(receipt_sync=True)
    closed, summary = await close_a_batch(sim, ecr)
    state = sim.engine.state
    counters = (state.trace_number, state.receipt_number, state.batch_number)
    await trio.sleep(3600)  # an hour later the repeat still carries the original's time
    again = await ecr.repeat_receipt()
    assert again.status == "approved"
    status, original = again.status_info, closed.status_info
    assert status is not None
    assert status.encode_data() == original.encode_data()  # byte for byte
    repeated = status.turnover_totals()
    assert status.amount == 12500 and repeated == turnover_totals(summary)
    assert repeated is not None and (repeated.first_receipt, repeated.last_receipt) == (1, 2)
    assert status.trace_number == 3  # two payments, then the End-of-Day
    assert status.time == "090000"
    assert sim.engine.now().astimezone(OSLO).strftime("%H%M%S") == "100000"
    # 3.1.3 has no receipt number and no card data after an End-of-Day; no TLV either.
    assert (status.receipt_number, status.card_name, status.tlv) == (None, None, None)
    # The receipt is the End-of-Day's, marked as a copy, and still an administration receipt.
    assert again.receipt_lines == [KOPI, *closed.receipt_lines]
    assert "DAGSOPPGJØR" in again.receipt_lines
    assert sim.device.printed[-1].receipt_type == codes.RECEIPT_ADMIN
    # A repeat is no new End-of-Day.
    assert (state.trace_number, state.receipt_number, state.batch_number) == counters
    assert state.batch == []


async def test_after_a_payment_its_status_comes_again_as_it_was_sent(sim, autojump_clock):
    ecr = await sim.ecr(receipt_sync=True)
    paid = await ecr.pay(3000)
    again = await ecr.repeat_receipt()
    assert again.status_info is not None and paid.status_info is not None
    assert again.status_info.encode_data() == paid.status_info.encode_data()
    assert again.status_info.receipt_sync_id == zvt.receipt_id_bytes(1)  # 1F1F as sent
    copies = list(sim.device.printed)[-2:]
    assert [c.receipt_type for c in copies] == [codes.RECEIPT_CUSTOMER,
                                                codes.RECEIPT_MERCHANT]
    assert all(c.lines[0] == KOPI for c in copies)
    assert copies[1].lines[-1].strip() == "BRUKERSTEDETS KVITTERING"
    # The ECR acknowledged the same 1F1F again: its next payment is in step, nothing reversed.
    assert (await ecr.pay(1000)).status == "approved"
    assert [b.amount for b in sim.engine.state.batch] == [3000, 1000]


async def test_service_byte_chooses_status_and_print(sim, autojump_clock):
    ecr = await sim.ecr()
    closed, _ = await close_a_batch(sim, ecr)
    receipt_only = await ecr.repeat_receipt(service_byte=0x00)
    assert receipt_only.status == "done" and receipt_only.status_info is None
    assert receipt_only.receipt_lines == [KOPI, *closed.receipt_lines]
    status_only = await ecr.repeat_receipt(service_byte=0x03)
    assert status_only.status == "approved" and status_only.receipt_lines == []
    assert status_only.status_info.individual_totals == closed.status_info.individual_totals


async def test_an_end_of_day_the_ecr_did_not_confirm_is_not_repeated(sim, autojump_clock):
    """84 xx to the End-of-Day's Status Information: the batch stays open, and the last
    transaction executed is still the payment."""
    ecr = await sim.ecr()
    paid = await ecr.pay(4000)
    ecr.answer_status = lambda status, count: zvt.Nack(0x83) \
        if status.individual_totals is not None else None
    assert (await ecr.end_of_day()).status == "aborted"  # 6C
    assert [b.amount for b in sim.engine.state.batch] == [4000]
    again = await ecr.repeat_receipt()
    assert again.status_info.encode_data() == paid.status_info.encode_data()
    assert "KUNDENS KVITTERING" in " ".join(again.receipt_lines)


async def test_the_end_of_day_survives_a_restart(sim, autojump_clock):
    """What Repeat Receipt sends is in the terminal's flash (the state file)."""
    ecr = await sim.ecr()
    await close_a_batch(sim, ecr)
    saved = json.loads(json.dumps(sim.engine.state.to_json()))
    restarted = TerminalEngine(TerminalState.from_json(saved), sim.engine.clock)
    assert restarted.last_transaction() == sim.engine.last_transaction()
    status, receipts = restarted.last_transaction()
    assert status is not None and status.individual_totals is not None
    assert [r.receipt_type for r in receipts] == [codes.RECEIPT_ADMIN]


async def test_nothing_to_repeat_yet(sim, autojump_clock):
    ecr = await sim.ecr()
    result = await ecr.repeat_receipt()
    assert result.status == "declined"
    assert result.result_code == codes.RESULT_FUNCTION_NOT_POSSIBLE


async def test_a_terminal_without_repeat_receipt(nursery, autojump_clock):
    """`repeat_receipt = false`: 06 20 is not supported (84 83); nothing is printed."""
    sim = await start_tcp(nursery, make_device(repeat_receipt=False))
    ecr = await sim.ecr()
    await ecr.pay(1000)
    printed = len(sim.device.printed)
    result = await ecr.repeat_receipt()
    assert result.status == "refused" and result.result_code == zvt.NOT_SUPPORTED
    assert len(sim.device.printed) == printed
    assert (await ecr.pay(2000)).status == "approved"  # and the terminal carries on
