"""The dialog state machine over TCP framing: ECR and terminal role back to back in memory."""

from __future__ import annotations

import pytest
from zvt_helpers import Pair, events, h

from gateway.protocols import zvt
from gateway.protocols.zvt import State, Timer


def run_payment(pair: Pair, amount: int = 1250) -> list[object]:
    """A whole authorization; returns what the ECR saw."""
    seen = [pair.exchange(pair.ecr, zvt.Authorization(amount=amount))]
    seen.append(pair.exchange(pair.pt, zvt.Ack()))
    for message in (zvt.IntermediateStatus(0x0A), zvt.StatusInformation(amount=amount),
                    zvt.PrintLine(0, "KVITTERING"), zvt.PrintLine(0x81, "")):
        seen.append(pair.exchange(pair.pt, message))
        pair.exchange(pair.ecr, zvt.Ack())
    seen.append(pair.exchange(pair.pt, zvt.Completion()))
    pair.exchange(pair.ecr, zvt.Ack())
    return seen


def test_registration_then_payment():
    pair = Pair()
    assert isinstance(pair.exchange(pair.ecr, zvt.Registration()), zvt.Registration)
    assert pair.ecr.state is State.AWAIT_RESPONSE_TXN
    assert pair.exchange(pair.pt, zvt.Ack()) == zvt.Ack()
    assert pair.ecr.state is State.PT_MASTER and pair.pt.state is State.PT_MASTER
    pair.exchange(pair.pt, zvt.Completion(status_byte=0, terminal_id="29001006"))
    pair.exchange(pair.ecr, zvt.Ack())
    assert pair.ecr.state is State.IDLE and pair.pt.state is State.IDLE
    seen = run_payment(pair)
    assert [type(e).__name__ for e in seen] == [
        "Authorization", "Ack", "IntermediateStatus", "StatusInformation", "PrintLine",
        "PrintLine", "Completion"]
    assert pair.ecr.state is State.IDLE and pair.pt.state is State.IDLE
    assert pair.ecr.timers == () and pair.pt.timers == ()


def test_abort_from_terminal_ends_transaction():
    pair = Pair()
    pair.exchange(pair.ecr, zvt.Authorization(amount=100))
    pair.exchange(pair.pt, zvt.Ack())
    assert pair.exchange(pair.pt, zvt.AbortFromTerminal(0x6C)) == zvt.AbortFromTerminal(0x6C)
    assert pair.ecr.state is State.AWAIT_FINAL_RESPONSE
    pair.exchange(pair.ecr, zvt.Ack())
    assert pair.ecr.state is State.IDLE


def test_nack_to_command_returns_to_idle():
    pair = Pair()
    pair.exchange(pair.ecr, zvt.Authorization(amount=100))
    assert pair.exchange(pair.pt, zvt.Nack(0x6F)) == zvt.Nack(0x6F)
    assert pair.ecr.state is State.IDLE and pair.pt.state is State.IDLE


def test_terminal_please_wait_keeps_ecr_waiting_and_restarts_t3():
    pair = Pair()
    pair.exchange(pair.ecr, zvt.Authorization(amount=100))
    first = pair.ecr.pending_timer
    assert first is not None and first.timer is Timer.T3 and first.seconds == zvt.T3
    assert pair.exchange(pair.pt, zvt.Nack(zvt.PLEASE_WAIT)).please_wait
    assert pair.ecr.state is State.AWAIT_RESPONSE_TXN
    second = pair.ecr.pending_timer
    assert second.timer is Timer.T3 and second.serial != first.serial
    pair.exchange(pair.pt, zvt.Ack())
    assert pair.ecr.state is State.PT_MASTER


def test_ecr_please_wait_to_status_information_and_repeat():
    pair = Pair()
    pair.exchange(pair.ecr, zvt.Authorization(amount=100))
    pair.exchange(pair.pt, zvt.Ack())
    info = zvt.StatusInformation(amount=100)
    pair.exchange(pair.pt, info)
    assert pair.exchange(pair.ecr, zvt.Nack(zvt.PLEASE_WAIT)) == zvt.Nack(zvt.PLEASE_WAIT)
    assert pair.pt.state is State.PT_MASTER
    assert pair.exchange(pair.pt, info) == info  # the terminal repeats it after 2 s
    pair.exchange(pair.ecr, zvt.Ack())
    pair.exchange(pair.pt, zvt.Completion())
    pair.exchange(pair.ecr, zvt.Ack())
    assert pair.ecr.state is State.IDLE


def test_t4_starts_after_ack_and_restarts_on_04ff_and_040f_only():
    pair = Pair()
    pair.exchange(pair.ecr, zvt.Authorization(amount=100))
    assert [t.timer for t in pair.ecr.timers] == [Timer.T3]
    pair.exchange(pair.pt, zvt.Ack())
    (t4,) = pair.ecr.timers
    assert (t4.timer, t4.seconds) == (Timer.T4, zvt.T4)
    pair.exchange(pair.pt, zvt.PrintLine(0, "x"))
    assert pair.ecr.timers == (t4,)  # print lines do not restart T4
    pair.exchange(pair.ecr, zvt.Ack())
    assert pair.ecr.timers == (t4,)
    pair.exchange(pair.pt, zvt.IntermediateStatus(0x17))
    (restarted,) = pair.ecr.timers
    assert restarted.serial != t4.serial
    pair.exchange(pair.ecr, zvt.Ack())
    pair.exchange(pair.pt, zvt.IntermediateStatus(0x17, timeout=5))  # 5 minutes
    (longer,) = pair.ecr.timers
    assert longer.seconds == 300.0 and longer.serial != restarted.serial
    pair.exchange(pair.ecr, zvt.Ack())
    pair.exchange(pair.pt, zvt.StatusInformation())
    assert pair.ecr.timers[0].serial != longer.serial
    pair.exchange(pair.ecr, zvt.Ack())
    pair.exchange(pair.pt, zvt.Completion())
    assert pair.ecr.timers == ()
    pair.exchange(pair.ecr, zvt.Ack())
    assert pair.ecr.t4 == zvt.T4  # back to the default after the transaction


def test_t4_expiry_reports_timeout_and_returns_to_idle():
    pair = Pair()
    pair.exchange(pair.ecr, zvt.Authorization(amount=100))
    pair.exchange(pair.pt, zvt.Ack())
    pair.ecr.on_timeout(Timer.T3)  # stale: T3 is not running, ignored
    assert pair.ecr.state is State.PT_MASTER
    pair.ecr.on_timeout(Timer.T4)
    assert pair.ecr.next_event() == zvt.TimedOut(Timer.T4)
    assert pair.ecr.state is State.IDLE and pair.ecr.timers == ()
    assert pair.ecr.next_event() is zvt.NEED_DATA


def test_t3_expiry_at_terminal_when_ecr_does_not_answer_status_information():
    pair = Pair()
    pair.exchange(pair.ecr, zvt.Authorization(amount=100))
    pair.exchange(pair.pt, zvt.Ack())
    pair.exchange(pair.pt, zvt.StatusInformation(amount=100))
    assert [t.timer for t in pair.pt.timers] == [Timer.T3]
    pair.pt.on_timeout(Timer.T3)
    assert pair.pt.next_event() == zvt.TimedOut(Timer.T3)
    assert pair.pt.state is State.IDLE


def test_ecr_abort_during_transaction():
    pair = Pair()
    pair.exchange(pair.ecr, zvt.Authorization(amount=100))
    pair.exchange(pair.pt, zvt.Ack())
    pair.exchange(pair.pt, zvt.IntermediateStatus(0x0A))
    pair.exchange(pair.ecr, zvt.Ack())
    assert pair.exchange(pair.ecr, zvt.Abort()) == zvt.Abort()
    assert pair.ecr.abort_pending and pair.pt.abort_pending
    assert pair.exchange(pair.pt, zvt.Ack()) == zvt.Ack()
    assert not pair.ecr.abort_pending and pair.ecr.state is State.PT_MASTER
    pair.exchange(pair.pt, zvt.AbortFromTerminal(0x6C))
    pair.exchange(pair.ecr, zvt.Ack())
    assert pair.ecr.state is State.IDLE and pair.pt.state is State.IDLE


def test_abort_crossing_an_intermediate_status():
    pair = Pair()
    pair.exchange(pair.ecr, zvt.Authorization(amount=100))
    pair.exchange(pair.pt, zvt.Ack())
    pair.send(pair.ecr, zvt.Abort())
    pair.send(pair.pt, zvt.IntermediateStatus(0x0A))  # sent before the Abort arrived
    at_ecr, at_pt = pair.deliver()
    assert at_ecr == [zvt.IntermediateStatus(0x0A)] and at_pt == [zvt.Abort()]
    pair.send(pair.ecr, zvt.Ack())
    pair.send(pair.pt, zvt.Ack())  # the answer to the Abort
    at_ecr, at_pt = pair.deliver()
    assert at_ecr == [zvt.Ack()] and at_pt == [zvt.Ack()]
    assert not pair.ecr.abort_pending and pair.ecr.state is State.PT_MASTER


def test_abort_in_idle_is_a_simple_command():
    pair = Pair()
    pair.exchange(pair.ecr, zvt.Abort())
    assert pair.ecr.state is State.AWAIT_RESPONSE_SIMPLE
    pair.exchange(pair.pt, zvt.Ack())
    assert pair.ecr.state is State.IDLE


def test_logoff_needs_no_completion():
    pair = Pair()
    pair.exchange(pair.ecr, zvt.LogOff())
    pair.exchange(pair.pt, zvt.Ack())
    assert pair.ecr.state is State.IDLE and pair.pt.state is State.IDLE


def test_unknown_command_is_raw_and_terminal_answers_84_83():
    pair = Pair()
    event = pair.exchange(pair.ecr, zvt.RawApdu(0x08, 0x50, h("01")))
    assert event == zvt.RawApdu(0x08, 0x50, h("01"))
    reply = zvt.reply_to_unsupported(event)
    assert zvt.encode_message(reply) == h("84 83 00")
    assert pair.exchange(pair.pt, reply) == zvt.Nack(zvt.NOT_SUPPORTED)
    assert pair.ecr.state is State.IDLE


def test_unknown_command_accepted_leaves_either_side_free():
    pair = Pair()
    pair.exchange(pair.ecr, zvt.RawApdu(0x06, 0xE0, b"\xf1\xf0\xf1A"))
    pair.exchange(pair.pt, zvt.Ack())
    assert pair.ecr.state is State.OPEN
    pair.exchange(pair.pt, zvt.RawApdu(0x06, 0xD8, b""))  # e.g. dial-up request
    pair.exchange(pair.ecr, zvt.Ack())
    pair.exchange(pair.pt, zvt.Completion())
    pair.exchange(pair.ecr, zvt.Ack())
    assert pair.ecr.state is State.IDLE


def test_vendor_apdu_from_terminal_during_transaction():
    pair = Pair()
    pair.exchange(pair.ecr, zvt.Authorization(amount=100))
    pair.exchange(pair.pt, zvt.Ack())
    assert pair.exchange(pair.pt, zvt.RawApdu(0x0F, 0xCA, b"vendor")) == zvt.RawApdu(
        0x0F, 0xCA, b"vendor")
    pair.exchange(pair.ecr, zvt.Ack())
    assert pair.ecr.state is State.PT_MASTER


@pytest.mark.parametrize(("role", "message"), [
    (zvt.Role.ECR, zvt.StatusInformation()),
    (zvt.Role.ECR, zvt.Completion()),
    (zvt.Role.ECR, zvt.Ack()),
    (zvt.Role.TERMINAL, zvt.Authorization(amount=1)),
    (zvt.Role.TERMINAL, zvt.IntermediateStatus(1)),
    (zvt.Role.TERMINAL, zvt.Ack()),
])
def test_illegal_sends_raise_local_protocol_error(role, message):
    conn = zvt.ZvtConnection(role)
    with pytest.raises(zvt.LocalProtocolError):
        conn.send(message)
    assert conn.state is State.IDLE  # nothing changed


def test_send_invalid_field_leaves_state_untouched():
    conn = zvt.ZvtConnection(zvt.Role.ECR)
    with pytest.raises(zvt.LocalProtocolError):
        conn.send(zvt.Authorization(amount=-5))
    assert conn.state is State.IDLE
    conn.send(zvt.Authorization(amount=5))
    with pytest.raises(zvt.LocalProtocolError):
        conn.send(zvt.Authorization(amount=5))  # one command at a time


def test_send_something_that_is_not_a_message():
    with pytest.raises(zvt.LocalProtocolError):
        zvt.ZvtConnection(zvt.Role.ECR).send("06 01")  # type: ignore[arg-type]


def test_remote_illegal_message_is_remote_protocol_error_and_sticky():
    conn = zvt.ZvtConnection(zvt.Role.ECR)
    conn.receive_data(h("04 0F 02 27 00"))  # no command was sent
    with pytest.raises(zvt.RemoteProtocolError):
        conn.next_event()
    assert conn.state is State.ERROR
    with pytest.raises(zvt.RemoteProtocolError):
        conn.next_event()
    with pytest.raises(zvt.LocalProtocolError):
        conn.send(zvt.Ack())


def test_fragmented_and_coalesced_input():
    conn = zvt.ZvtConnection(zvt.Role.ECR)
    conn.send(zvt.Authorization(amount=100))
    stream = h("80 00 00 04 FF 01 0E 04 FF 01 0E")
    for byte in stream[:4]:
        conn.receive_data(bytes([byte]))
    assert events(conn) == [zvt.Ack()]
    conn.receive_data(stream[4:])
    assert conn.next_event() == zvt.IntermediateStatus(0x0E)
    assert conn.next_event() is zvt.PAUSED  # the second one waits for our Ack
    conn.send(zvt.Ack())
    assert conn.next_event() == zvt.IntermediateStatus(0x0E)
    assert conn.next_event() is zvt.PAUSED  # owing an answer, even with nothing buffered
    conn.send(zvt.Ack())
    assert conn.next_event() is zvt.NEED_DATA


def test_eof_between_apdus_and_inside_one():
    conn = zvt.ZvtConnection(zvt.Role.ECR)
    conn.receive_data(b"")
    assert conn.next_event() == zvt.ConnectionClosed()
    assert conn.state is State.CLOSED
    with pytest.raises(zvt.LocalProtocolError):
        conn.receive_data(b"x")
    conn = zvt.ZvtConnection(zvt.Role.ECR)
    conn.send(zvt.Authorization(amount=1))
    conn.receive_data(h("80 00"))
    conn.receive_data(b"")
    with pytest.raises(zvt.RemoteProtocolError, match="middle"):
        conn.next_event()


def test_tcp_has_nothing_extra_to_send():
    conn = zvt.ZvtConnection(zvt.Role.ECR)
    conn.send(zvt.Registration())
    assert conn.data_to_send() == b""


def test_status_enquiry_completion_layout_is_known_from_context():
    pair = Pair()
    pair.exchange(pair.ecr, zvt.StatusEnquiry())
    pair.exchange(pair.pt, zvt.Ack())
    done = zvt.Completion(sw_version="GER-ÄÖÜ 1.2", terminal_status=0x00)
    raw = pair.send(pair.pt, done)
    assert raw[:6] == h("06 0F 0F F0 F1 F1")
    at_ecr, _ = pair.deliver()
    assert at_ecr == [done]


def test_charset_negotiated_at_registration_applies_to_print_lines():
    pair = Pair()
    latin1 = zvt.Tlv.of((0x27, zvt.Tlv.of((0x14, b"\x01"))))
    pair.exchange(pair.ecr, zvt.Registration(tlv=latin1))
    pair.exchange(pair.pt, zvt.Ack())
    pair.exchange(pair.pt, zvt.Completion(tlv=latin1))
    pair.exchange(pair.ecr, zvt.Ack())
    assert pair.ecr.charset == pair.pt.charset == zvt.CHARSET_ISO_8859_1
    pair.exchange(pair.ecr, zvt.Authorization(amount=1))
    pair.exchange(pair.pt, zvt.Ack())
    raw = pair.send(pair.pt, zvt.PrintLine(0, "Beløp æøå ÆØÅ"))
    assert "Beløp æøå ÆØÅ".encode("latin-1") in raw
    at_ecr, _ = pair.deliver()
    assert at_ecr == [zvt.PrintLine(0, "Beløp æøå ÆØÅ")]


def test_charset_not_echoed_stays_cp437():
    pair = Pair()
    pair.exchange(pair.ecr, zvt.Registration(tlv=zvt.Tlv.of((0x27, zvt.Tlv.of((0x14, b"\x01"))))))
    pair.exchange(pair.pt, zvt.Ack())
    pair.exchange(pair.pt, zvt.Completion())
    assert pair.ecr.charset == zvt.CHARSET_CP437


def test_eof_while_we_owe_an_answer_is_reported():
    conn = zvt.ZvtConnection(zvt.Role.ECR)
    conn.send(zvt.Authorization(amount=1))
    conn.receive_data(h("80 00 00 04 FF 01 0E"))
    assert events(conn) == [zvt.Ack(), zvt.IntermediateStatus(0x0E)]
    assert conn.next_event() is zvt.PAUSED
    conn.receive_data(b"")
    assert conn.next_event() == zvt.ConnectionClosed()


def test_unknown_bitmap_in_a_command_is_kept_for_an_84_83_answer():
    pt = zvt.ZvtConnection(zvt.Role.TERMINAL)
    pt.receive_data(h("06 01 0B 04 00 00 00 00 01 00 5A 01 02 03"))
    command = pt.next_event()
    assert command.amount == 100 and command.unparsed == h("5A 01 02 03")
    assert pt.send(zvt.reply_to_unsupported(command)) == h("84 83 00")
    assert pt.state is State.IDLE
