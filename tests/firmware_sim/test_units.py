"""The pure parts: cards, state and its storage, batch totals, receipts, faults, the wire's
tokenizers, registration decisions."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from stdnum import luhn

from firmware_sim import codes
from firmware_sim.batch import bmp60, find_reversible, totals, turnover_totals
from firmware_sim.cards import DEFAULT_DECK, UnknownCard, find_card
from firmware_sim.clocks import TrioClock
from firmware_sim.engine import TerminalEngine, TerminalSettings
from firmware_sim.faults import Fault, FaultError, FaultKind, FaultPlan, Step
from firmware_sim.receipts import kroner
from firmware_sim.state import (
    Booking,
    FileStorage,
    MemoryStorage,
    StateFileError,
    TerminalState,
    load_state,
    restored_status,
)
from firmware_sim.wire import SerialTokens, TcpTokens, flip_bits
from gateway.protocols import zvt
from gateway.protocols.zvt.serial_link import build_frame
from medipay.clock import SimulatedClock


def test_deck():
    assert all(luhn.is_valid(card.pan) for card in DEFAULT_DECK)
    assert len({card.name for card in DEFAULT_DECK}) == len(DEFAULT_DECK)
    assert DEFAULT_DECK[2].balance == 5000  # other parts' tests rely on it
    assert DEFAULT_DECK[0].masked_pan == "411111******1111"
    assert find_card(DEFAULT_DECK, "3").name == "bankaxept"
    assert find_card(DEFAULT_DECK, "amex").masked_pan == "378282*****0005"
    with pytest.raises(UnknownCard, match="known: visa"):
        find_card(DEFAULT_DECK, "gold")
    with pytest.raises(UnknownCard):
        find_card(DEFAULT_DECK, 99)


def booking(seq: int, kind: str = "purchase", amount: int = 1000, receipt: int | None = None,
            card_type: int | None = 10, original: int | None = None) -> Booking:
    return Booking(seq=seq, kind=kind, status="approved", amount=amount, result_code=0,
                   trace=seq, receipt=receipt if receipt is not None else seq,
                   at="2026-01-05T08:00:00+00:00", batch=1, card_type=card_type,
                   original_receipt=original)


def test_state_round_trip_and_old_files(tmp_path):
    state = TerminalState(receipt_number=7, batch=[booking(1)], journal=[booking(1)],
                          in_flight=booking(2), last_status="270004000000000005",
                          last_receipt=[["KJØP"]], last_receipt_types=[codes.RECEIPT_ADMIN])
    path = tmp_path / "state.json"
    FileStorage(path).save(state)
    assert load_state(path) == state
    old = tmp_path / "old.json"  # the first simulator's format
    old.write_text(json.dumps({"terminal_id": "52500009", "vu_number": "X", "password": "1",
                               "receipt_number": 3, "trace_number": 4,
                               "registered_config": 190}), encoding="utf-8")
    assert load_state(old).receipt_number == 3 and load_state(old).batch == []
    old.write_text('{"terminal_id": "1", "colour": "red"}', encoding="utf-8")
    with pytest.raises(StateFileError, match="colour"):
        load_state(old)
    old.write_text("not json", encoding="utf-8")
    with pytest.raises(StateFileError, match="cannot read"):
        load_state(old)


def test_repeat_data_of_earlier_state_files_is_upgraded(tmp_path):
    """Before End-of-Day's Status Information was kept, the last one was a dict of fields."""
    path = tmp_path / "state.json"
    payment = {"amount": 3000, "trace_number": 4, "receipt_number": 2, "card_name": "VISA",
               "date": "0105", "time": "090000"}
    path.write_text(json.dumps({"last_status": payment, "last_receipt": [["A"], ["B"]]}),
                    encoding="utf-8")
    state = load_state(path)
    assert state.last_status is not None
    assert restored_status(state.last_status) == zvt.StatusInformation(**payment)
    assert state.last_receipt_types == [codes.RECEIPT_CUSTOMER, codes.RECEIPT_MERCHANT]
    # Without a Status Information the last receipt was an End-of-Day's.
    path.write_text(json.dumps({"last_receipt": [["DAGSOPPGJØR"]]}), encoding="utf-8")
    assert load_state(path).last_receipt_types == [codes.RECEIPT_ADMIN]


@pytest.mark.parametrize(("content", "why"), [
    ({"last_status": {"amount": 5, "colour": "red"}}, "colour"),
    ({"last_status": {"amount": -5}}, "last_status"),
    ({"last_status": "04zz"}, "not a Status Information"),
    ({"last_status": "2700FE"}, "not a Status Information"),  # FE is no BMP
    ({"last_status": 5}, "not a Status Information"),
    ({"last_receipt": [["A"]], "last_receipt_types": [1, 2]}, "do not match"),
    ({"last_receipt_types": [1]}, "do not match"),
])
def test_unreadable_repeat_data_is_refused_at_load(tmp_path, content, why):
    """Found when the terminal starts, not when an ECR asks for a Repeat Receipt."""
    path = tmp_path / "state.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(StateFileError, match=why):
        load_state(path)


def test_memory_storage_keeps_only_what_was_saved():
    storage = MemoryStorage()
    assert storage.load() is None
    state = TerminalState()
    storage.save(state)
    state.receipt_number = 42
    assert storage.load() == TerminalState()


def test_totals_leave_out_reversed_payments():
    batch = [booking(1, amount=1000), booking(2, amount=2000, card_type=6),
             booking(3, amount=500, card_type=None), booking(4, "refund", 300),
             booking(5, "reversal", 1000, original=1)]
    summary = totals(batch)
    assert (summary.count, summary.amount) == (2, 2500)
    assert summary.refunds.amount == 300 and summary.reversals.count == 1
    parsed = turnover_totals(summary)
    assert (parsed.first_receipt, parsed.last_receipt) == (1, 5)
    assert parsed.visa == (0, 0) and parsed.eurocard == (1, 2000) and parsed.others == (1, 500)
    assert len(bmp60(summary)) == 4 + 7 * 7
    assert find_reversible(batch, 1, None) == codes.RESULT_ALREADY_REVERSED
    assert find_reversible(batch, 2, 1999) == codes.RESULT_AMOUNT_WRONG
    assert find_reversible(batch, 9, None) == codes.RESULT_REVERSAL_NOT_POSSIBLE
    assert find_reversible(batch, 2, 2000) == batch[1]


@pytest.mark.parametrize(("ore", "text"), [(0, "0,00"), (5, "0,05"), (12345, "123,45"),
                                           (123456789, "1 234 567,89"), (-250, "-2,50")])
def test_kroner(ore, text):
    assert kroner(ore) == text


def test_fault_descriptions():
    fault = Fault.from_mapping({"kind": "delay", "at": "host", "seconds": 3})
    assert fault == Fault(FaultKind.DELAY, at=Step.HOST, seconds=3)
    assert fault.to_json()["at"] == "host"
    for bad in ({"kind": "gremlin"}, {"at": "host"}, {"kind": "delay", "at": "lunch"},
                {"kind": "noise", "ber": 0}, {"kind": "delay", "seconds": -1},
                {"kind": "delay", "colour": "red"}):
        with pytest.raises(FaultError):
            Fault.from_mapping(bad)


def test_fault_plan_counts_steps_and_standing_faults():
    plan = FaultPlan()
    plan.arm(Fault(FaultKind.DELAY, at=Step.HOST, count=2))
    plan.arm(Fault(FaultKind.LOSE_ACK, at=Step.STATUS))
    plan.arm(Fault(FaultKind.FRAGMENT, size=3, count=0))
    assert plan.take(FaultKind.DELAY, Step.CARD) is None
    assert plan.take(FaultKind.DELAY, Step.HOST) is not None
    assert plan.take(FaultKind.LOSE_ACK) is None  # waits for its step
    plan.reached(Step.STATUS)
    assert plan.take(FaultKind.LOSE_ACK) is not None and plan.take(FaultKind.LOSE_ACK) is None
    assert plan.take(FaultKind.DELAY, Step.HOST) is not None
    assert plan.take(FaultKind.DELAY, Step.HOST) is None
    assert plan.active(FaultKind.FRAGMENT) is not None
    assert [item["kind"] for item in plan.pending()] == ["fragment"]
    plan.clear(FaultKind.FRAGMENT)
    assert plan.armed == []
    assert plan.fired == [("delay", "host"), ("lose_ack", None), ("delay", "host")]


def test_serial_tokens_cut_frames_and_single_bytes():
    frame = build_frame(bytes.fromhex("06 D1 03 00 10 41"))  # a DLE inside, doubled
    tokens = SerialTokens()
    data = b"\x06" + frame + b"\x15" + frame
    cut = [t for i in range(0, len(data), 3) for t in tokens.feed(data[i:i + 3])]
    assert cut == [b"\x06", frame, b"\x15", frame]
    apdus = TcpTokens()
    assert apdus.feed(b"\x80\x00\x00\x06\x0f") == [b"\x80\x00\x00"]
    assert apdus.feed(b"\x00") == [b"\x06\x0f\x00"] and apdus.rest() == b""


def test_flip_bits_is_seeded():
    data = bytes(200)
    once = flip_bits(data, 0.01, random.Random(1))
    assert once == flip_bits(data, 0.01, random.Random(1)) and once != data
    assert flip_bits(data, 0.0, random.Random(1)) == data


def test_trio_clock_stands_still_outside_trio():
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert TrioClock(start).now() == start
    with pytest.raises(ValueError):
        TrioClock(datetime(2026, 3, 1))


def test_registration_decisions():
    engine = TerminalEngine(TerminalState(), SimulatedClock())
    permitted = zvt.Tlv.of((0x26, zvt.Tlv.of((0x0A, b"\x06\xd3"))), (0x12, b"\x40"),
                           (0x14, b"\x0f"))
    answer = engine.register(zvt.Registration(config_byte=0x8E, tlv=permitted))
    assert isinstance(answer.response, zvt.Ack) and answer.completion is not None
    echoed = answer.completion.tlv
    assert echoed.find(0x14) == b"\x0f" and echoed.find(0x12) == b"\x40"
    assert engine.state.print_textblock and engine.line_width == 40
    assert engine.intermediate_status and engine.amount_entry_allowed
    assert engine.receipts_to_ecr(admin=False) is True
    engine.log_off()
    assert engine.state.registered_config == 0x86 and not engine.intermediate_status
    assert engine.state.charset == zvt.CHARSET_CP437
    plain = engine.register(zvt.Registration(config_byte=0x30, tlv=zvt.Tlv.of((0x14, b"\x02"))))
    assert plain.completion.tlv is None  # ISO 8859-2 is not offered: CP437 stays
    assert engine.receipts_to_ecr(admin=True) is False and not engine.amount_entry_allowed


def test_settings_are_checked():
    with pytest.raises(ValueError, match="print_mode"):
        TerminalSettings(print_mode="fax")
    with pytest.raises(ValueError, match="unconfirmed_status"):
        TerminalSettings(unconfirmed_status="maybe")
    assert replace(TerminalSettings(), unconfirmed_status="keep").keep_unconfirmed(False)
