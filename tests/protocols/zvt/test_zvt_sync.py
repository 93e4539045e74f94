"""Lost-result recovery: receipt-number mirroring in TLV tag 1F1F and the implicit reversal."""

from __future__ import annotations

import pytest
from zvt_helpers import Pair

from gateway.protocols import zvt
from gateway.protocols.zvt import ReceiptSync, State, Timer


def info(receipt: int) -> zvt.StatusInformation:
    return zvt.StatusInformation(amount=100, receipt_number=receipt, tlv=zvt.Tlv.of(
        (0x1F1F, zvt.receipt_id_bytes(receipt))))


def pay(pair: Pair, receipt: int, *, lose_status: bool = False) -> zvt.Authorization:
    command = pair.exchange(pair.ecr, zvt.Authorization(amount=100))
    pair.exchange(pair.pt, zvt.Ack())
    if lose_status:
        pair.pt.send(info(receipt))  # never reaches the ECR
        pair.ecr.on_timeout(Timer.T4)
        assert pair.ecr.next_event() == zvt.TimedOut(Timer.T4)
        pair.pt.on_timeout(Timer.T3)
        assert pair.pt.next_event() == zvt.TimedOut(Timer.T3)
        return command
    pair.exchange(pair.pt, info(receipt))
    pair.exchange(pair.ecr, zvt.Ack())
    pair.exchange(pair.pt, zvt.Completion())
    pair.exchange(pair.ecr, zvt.Ack())
    return command


def test_first_transaction_sends_an_empty_1f1f_never_zero():
    pair = Pair(receipt_sync=True)
    command = pay(pair, 41)
    assert zvt.requested_sync(command) == b""
    assert zvt.classify_receipt_sync(b"", 41) is ReceiptSync.NO_ID
    assert pair.ecr.receipt_sync_id == zvt.receipt_id_bytes(41)


def test_mirrors_the_last_acknowledged_receipt_number():
    pair = Pair(receipt_sync=True, last_receipt_id=zvt.receipt_id_bytes(41))
    command = pay(pair, 42)
    assert zvt.requested_sync(command) == zvt.receipt_id_bytes(41)
    assert zvt.classify_receipt_sync(zvt.requested_sync(command), 41) is ReceiptSync.IN_SYNC
    command = pay(pair, 43)
    assert zvt.receipt_id_int(zvt.requested_sync(command)) == 42


def test_lost_status_information_leads_to_implicit_reversal():
    pair = Pair(receipt_sync=True, last_receipt_id=zvt.receipt_id_bytes(41))
    pay(pair, 42, lose_status=True)
    assert pair.ecr.state is State.IDLE and pair.pt.state is State.IDLE
    assert pair.ecr.receipt_sync_id == zvt.receipt_id_bytes(41)  # never acknowledged 42
    command = pay(pair, 42)  # the terminal reverses 42 and reuses its number
    mirrored = zvt.requested_sync(command)
    assert zvt.classify_receipt_sync(mirrored, 42) is ReceiptSync.IMPLICIT_REVERSAL


def test_please_wait_or_nack_does_not_count_as_acknowledged():
    pair = Pair(receipt_sync=True, last_receipt_id=zvt.receipt_id_bytes(7))
    pair.exchange(pair.ecr, zvt.Authorization(amount=100))
    pair.exchange(pair.pt, zvt.Ack())
    pair.exchange(pair.pt, info(8))
    pair.exchange(pair.ecr, zvt.Nack(0x66))  # goods not issued: the terminal reverses
    assert pair.ecr.receipt_sync_id == zvt.receipt_id_bytes(7)
    pair.exchange(pair.pt, zvt.AbortFromTerminal(0x66))
    pair.exchange(pair.ecr, zvt.Ack())
    assert pair.ecr.receipt_sync_id == zvt.receipt_id_bytes(7)


def test_terminal_side_tracks_what_the_ecr_acknowledged():
    pair = Pair(receipt_sync=True)
    pay(pair, 5)
    assert pair.pt.receipt_sync_id == zvt.receipt_id_bytes(5)


def test_explicit_1f1f_is_not_overridden_and_other_commands_untouched():
    pair = Pair(receipt_sync=True, last_receipt_id=b"\x09")
    mine = zvt.Tlv.of((0x1F1F, b"\x03"))
    command = pair.exchange(pair.ecr, zvt.Authorization(amount=1, tlv=mine))
    assert zvt.requested_sync(command) == b"\x03"
    pair.exchange(pair.pt, zvt.Nack(0x6F))
    command = pair.exchange(pair.ecr, zvt.Registration())
    assert zvt.requested_sync(command) is None


@pytest.mark.parametrize(("value", "last", "verdict"), [
    (None, 10, ReceiptSync.NOT_REQUESTED),
    (b"", 10, ReceiptSync.NO_ID),
    (b"\x0a", 10, ReceiptSync.IN_SYNC),
    (b"\x09", 10, ReceiptSync.IMPLICIT_REVERSAL),
    (b"\x08", 10, ReceiptSync.IGNORED),
    (b"\x0b", 10, ReceiptSync.IGNORED),
    (b"\x00", 1, ReceiptSync.IMPLICIT_REVERSAL),  # why the spec forbids sending 0
    (b"\x05", None, ReceiptSync.IGNORED),
])
def test_terminal_verdict(value, last, verdict):
    assert zvt.classify_receipt_sync(value, last) is verdict


def test_receipt_id_bytes_round_trip():
    for number in (0, 1, 255, 256, 9999):
        assert zvt.receipt_id_int(zvt.receipt_id_bytes(number)) == number
    assert zvt.receipt_id_int(b"") is None
