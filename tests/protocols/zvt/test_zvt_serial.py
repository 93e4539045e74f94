"""Serial framing: CRC, DLE doubling, ACK/NAK, repeats, lost ACKs and the T1/T2 timers."""

from __future__ import annotations

import pytest
from zvt_helpers import FakeClock, Pair, events, h

from gateway.protocols import zvt
from gateway.protocols.zvt import State, Timer
from gateway.protocols.zvt.serial_link import SerialLink, build_frame

SERIAL = zvt.Framing.SERIAL


@pytest.mark.parametrize(("apdu", "crc"), [
    ("80 00 00", "F5 1F"),
    ("06 01 07 04 00 00 00 00 01 90", "76 57"),
    ("05 01 03 12 34 56", "E0 43"),
])
def test_crc_check_values(apdu, crc):
    assert zvt.frame_crc(h(apdu)) == h(crc)
    assert build_frame(h(apdu)) == h("10 02") + h(apdu) + h("10 03") + h(crc)


def test_crc_kermit_standard_check():
    assert zvt.crc16_kermit(b"123456789") == 0x2189


def test_dle_is_doubled_but_not_counted():
    apdu = h("06 D1 03 00 10 41")
    frame = build_frame(apdu)
    assert frame[:9] == h("10 02 06 D1 03 00 10 10 41")
    assert frame[-2:] == zvt.frame_crc(apdu)
    link = SerialLink()
    assert link.receive(frame) == [apdu]
    assert link.data_to_send() == h("06")


def test_connection_send_returns_the_frame():
    conn = zvt.ZvtConnection(zvt.Role.ECR, SERIAL)
    assert conn.send(zvt.Registration()) == build_frame(zvt.encode_message(zvt.Registration()))
    (t2,) = conn.timers  # T3 only starts once the frame is acknowledged
    assert t2.timer is Timer.T2 and t2.seconds == zvt.T2
    conn.receive_data(h("06"))
    (t3,) = conn.timers
    assert t3.timer is Timer.T3


def test_whole_payment_over_serial_byte_by_byte():
    pair = Pair(SERIAL)
    for message, side in [(zvt.Authorization(amount=1000), pair.ecr), (zvt.Ack(), pair.pt),
                          (zvt.StatusInformation(amount=1000), pair.pt),
                          (zvt.Ack(), pair.ecr), (zvt.Completion(), pair.pt),
                          (zvt.Ack(), pair.ecr)]:
        pair.send(side, message)
        frame = bytes(pair.to_pt if side is pair.ecr else pair.to_ecr)
        (pair.to_pt if side is pair.ecr else pair.to_ecr).clear()
        target = pair.pt if side is pair.ecr else pair.ecr
        got = []
        for byte in frame:
            target.receive_data(bytes([byte]))
            got += events(target)
        assert got == [message]
        assert target.data_to_send() == h("06")
        side.receive_data(h("06"))
    assert pair.ecr.state is State.IDLE and pair.pt.state is State.IDLE
    assert pair.ecr.timers == () and pair.pt.timers == ()


def corrupt_first_frame(count: int):  # type: ignore[no-untyped-def]
    """A wire that flips a CRC bit in the first `count` frames sent to the terminal."""
    left = [count]

    def wire(data: bytes, side: str) -> bytes:
        if side == "pt" and left[0] and data.startswith(h("10 02")):
            left[0] -= 1
            return data[:-1] + bytes([data[-1] ^ 0x01])
        return data
    return wire


def test_nak_makes_the_sender_repeat():
    pair = Pair(SERIAL)
    pair.send(pair.ecr, zvt.Authorization(amount=5))
    at_ecr, at_pt = pair.deliver(corrupt_first_frame(2))
    assert at_pt == [zvt.Authorization(amount=5)]
    assert pair.pt._link.naks_sent == 2 and pair.ecr._link.repeats_sent == 2
    assert [t.timer for t in pair.ecr.timers] == [Timer.T3]  # delivered: T2 stopped


def test_third_nak_is_a_transmission_error():
    pair = Pair(SERIAL)
    pair.send(pair.ecr, zvt.Authorization(amount=5))
    at_ecr, at_pt = pair.deliver(corrupt_first_frame(3))
    assert at_pt == []
    assert len(at_ecr) == 1 and isinstance(at_ecr[0], zvt.TransmissionError)
    assert pair.ecr.state is State.IDLE and pair.ecr.timers == ()


def test_t2_repeats_then_gives_up():
    conn = zvt.ZvtConnection(zvt.Role.ECR, SERIAL)
    frame = conn.send(zvt.Registration())
    clock = FakeClock(conn)
    clock.advance(zvt.T2 + 0.01)
    assert conn.data_to_send() == frame
    clock.advance(zvt.T2)
    assert conn.data_to_send() == frame
    clock.advance(zvt.T2)
    assert conn.data_to_send() == b""
    assert isinstance(conn.next_event(), zvt.TransmissionError)
    assert [f[2] for f in clock.fired] == [Timer.T2] * 3
    assert conn.state is State.IDLE


def test_lost_ack_to_a_command_is_repeated_and_the_duplicate_dropped():
    pair = Pair(SERIAL)
    clock = FakeClock(pair.ecr, pair.pt)
    pair.send(pair.ecr, zvt.Authorization(amount=7))

    def lose_acks_to_ecr(data: bytes, side: str) -> bytes:
        return b"" if side == "ecr" and data == h("06") else data

    at_ecr, at_pt = pair.deliver(lose_acks_to_ecr)
    assert at_pt == [zvt.Authorization(amount=7)]
    clock.advance(zvt.T2)  # the ECR never saw the ACK and repeats the frame
    at_ecr, at_pt = pair.deliver()
    assert at_pt == [] and pair.pt.duplicates_dropped == 1
    assert [t.timer for t in pair.ecr.timers] == [Timer.T3]
    pair.send(pair.pt, zvt.Ack())
    at_ecr, _ = pair.deliver()
    assert at_ecr == [zvt.Ack()] and pair.ecr.state is State.PT_MASTER


def test_lost_ack_then_application_answer_counts_as_delivery():
    pair = Pair(SERIAL)
    pair.send(pair.ecr, zvt.Authorization(amount=7))
    pair.deliver()
    pair.send(pair.pt, zvt.Ack())
    pair.deliver()
    pair.send(pair.pt, zvt.StatusInformation(amount=7))
    dropped = []

    def lose_ack_to_pt(data: bytes, side: str) -> bytes:
        if side == "pt" and data == h("06") and not dropped:
            dropped.append(data)
            return b""
        return data

    at_ecr, _ = pair.deliver(lose_ack_to_pt)
    assert at_ecr == [zvt.StatusInformation(amount=7)]
    assert any(t.timer is Timer.T2 for t in pair.pt.timers)  # the terminal still waits
    pair.send(pair.ecr, zvt.Ack())
    _, at_pt = pair.deliver()
    assert at_pt == [zvt.Ack()]
    assert not any(t.timer is Timer.T2 for t in pair.pt.timers)  # 80 00 proved delivery


def test_lost_ack_and_slow_ecr_duplicate_is_dropped():
    pair = Pair(SERIAL)
    clock = FakeClock(pair.ecr, pair.pt)
    pair.send(pair.ecr, zvt.Authorization(amount=7))
    pair.deliver()
    pair.send(pair.pt, zvt.Ack())
    pair.deliver()
    pair.send(pair.pt, zvt.IntermediateStatus(0x0A))

    def lose_acks_to_pt(data: bytes, side: str) -> bytes:
        return b"" if side == "pt" and data == h("06") else data

    at_ecr, _ = pair.deliver(lose_acks_to_pt)
    assert at_ecr == [zvt.IntermediateStatus(0x0A)]
    clock.advance(zvt.T2)  # the terminal repeats before the ECR application answers
    at_ecr, _ = pair.deliver()
    assert at_ecr == [] and pair.ecr.duplicates_dropped == 1
    pair.send(pair.ecr, zvt.Ack())
    _, at_pt = pair.deliver()
    assert at_pt == [zvt.Ack()] and pair.pt.state is State.PT_MASTER


def test_t1_gap_inside_a_frame_gives_nak_and_the_sender_repeats():
    pair = Pair(SERIAL)
    clock = FakeClock(pair.ecr, pair.pt)
    frame = pair.ecr.send(zvt.Authorization(amount=9))
    pair.pt.receive_data(frame[:5])
    assert [t.timer for t in pair.pt.timers] == [Timer.T1]
    clock.advance(zvt.T1)
    assert pair.pt.data_to_send() == h("15")
    pair.ecr.receive_data(h("15"))
    repeat = pair.ecr.data_to_send()
    assert repeat == frame
    pair.pt.receive_data(repeat)
    assert pair.pt.next_event() == zvt.Authorization(amount=9)
    assert pair.pt.data_to_send() == h("06")


def test_noise_between_frames_is_ignored():
    pair = Pair(SERIAL)
    frame = pair.ecr.send(zvt.LogOff())
    pair.pt.receive_data(h("00 FF 10 41") + frame)
    assert pair.pt.next_event() == zvt.LogOff()
    assert pair.pt._link.noise_bytes >= 2


def test_frame_with_wrong_apdu_length_is_naked():
    link = SerialLink()
    apdu = h("06 D1 05 00 41")  # says 5 data bytes, has 2
    assert link.receive(build_frame(apdu)) == []
    assert link.data_to_send() == h("15")


def test_frame_queued_while_previous_awaits_ack():
    link = SerialLink()
    first = link.send(h("80 00 00"))
    assert link.send(h("06 02 00")) == b""
    link.receive(h("06"))
    assert link.data_to_send() == build_frame(h("06 02 00"))
    assert first == build_frame(h("80 00 00"))


def test_t4_restarts_on_virtual_time():
    pair = Pair(SERIAL)
    clock = FakeClock(pair.ecr, pair.pt)
    pair.send(pair.ecr, zvt.Authorization(amount=1))
    pair.deliver()
    pair.send(pair.pt, zvt.Ack())
    pair.deliver()
    clock.advance(179)
    pair.send(pair.pt, zvt.IntermediateStatus(0x17))
    pair.deliver()
    pair.send(pair.ecr, zvt.Ack())
    pair.deliver()
    clock.advance(179)  # 358 s after 80 00, but only 179 s after the 04 FF
    assert pair.ecr.state is State.PT_MASTER
    clock.advance(2)
    assert [(f[1], f[2]) for f in clock.fired] == [("ECR", Timer.T4)]
    assert clock.fired[0][0] == pytest.approx(179 + zvt.T4)
    assert pair.ecr.next_event() == zvt.TimedOut(Timer.T4)
    assert pair.ecr.state is State.IDLE
