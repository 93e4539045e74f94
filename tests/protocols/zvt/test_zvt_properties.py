"""Property tests: build -> parse round trips, chunking invariance, typed errors only."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zvt_helpers import h
from zvt_strategies import MESSAGES, PT_MESSAGES, bmp_values

from gateway.protocols import zvt
from gateway.protocols.zvt import bitmaps
from gateway.protocols.zvt.messages import CodecContext

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("bmp", sorted(bitmaps.BMPS), ids=lambda b: f"{b:02X}")
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_bitmap_round_trips(bmp, data):
    value = data.draw(bmp_values(bmp))
    raw = bitmaps.encode_item(bmp, value)
    assert bitmaps.decode_stream(raw) == ([(bmp, value)], b"")


@pytest.mark.parametrize("name", sorted(MESSAGES))
@FAST
@given(data=st.data())
def test_every_message_round_trips(name, data):
    message = data.draw(MESSAGES[name])
    ctx = CodecContext(status_enquiry_completion=name == "StatusEnquiryCompletion")
    raw = zvt.encode_message(message, ctx)
    decoded = zvt.decode_frame(raw, ctx)
    assert decoded == message
    assert zvt.encode_message(decoded, ctx) == raw


@FAST
@given(items=st.lists(st.sampled_from(sorted(bitmaps.BMPS)).flatmap(
    lambda b: st.tuples(st.just(b), bmp_values(b))), max_size=8))
def test_any_bitmap_order_re_encodes_byte_for_byte(items):
    raw = bitmaps.encode_stream(items)
    info = zvt.decode_message(0x04, 0x0F, raw)
    assert info.unparsed == b""
    assert zvt.encode_message(info)[3 if len(raw) < 255 else 5:] == raw


def conversation(messages: list[zvt.Message]) -> bytes:
    """What a terminal sends for one transaction, as raw APDUs."""
    wire = zvt.encode_message(zvt.Ack())
    for message in messages:
        wire += zvt.encode_message(message)
    return wire + zvt.encode_message(zvt.Completion())


def run_ecr(chunks: list[bytes], framing: zvt.Framing = zvt.Framing.TCP) -> list[object]:
    conn = zvt.ZvtConnection(zvt.Role.ECR, framing)
    conn.send(zvt.Authorization(amount=1))
    seen: list[object] = []
    for chunk in chunks:
        conn.receive_data(chunk)
        while True:
            event = conn.next_event()
            if event is zvt.NEED_DATA:
                break
            if event is zvt.PAUSED:
                conn.send(zvt.Ack())
                continue
            seen.append(event)
            if not isinstance(event, zvt.Ack):
                conn.send(zvt.Ack())
    assert conn.state is zvt.State.IDLE
    return seen


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for point in points + [len(data)]:
        pieces.append(data[last:point])
        last = point
    return [p for p in pieces if p]


@FAST
@given(messages=st.lists(PT_MESSAGES, max_size=5), cuts=st.lists(st.integers(0, 10**6)))
def test_chunking_invariance_tcp(messages, cuts):
    wire = conversation(messages)
    whole = run_ecr([wire])
    assert whole == [zvt.Ack(), *messages, zvt.Completion()]
    assert run_ecr([bytes([b]) for b in wire]) == whole
    assert run_ecr(split(wire, cuts)) == whole


@settings(max_examples=60, deadline=None)
@given(messages=st.lists(PT_MESSAGES, max_size=4), cuts=st.lists(st.integers(0, 10**6)))
def test_chunking_invariance_serial(messages, cuts):
    from gateway.protocols.zvt.serial_link import build_frame

    apdus = [zvt.encode_message(zvt.Ack())] + [zvt.encode_message(m) for m in messages]
    apdus.append(zvt.encode_message(zvt.Completion()))
    wire = b"".join(h("06") + build_frame(apdu) for apdu in apdus)  # ACK of our command first
    whole = run_ecr([wire], zvt.Framing.SERIAL)
    assert whole == [zvt.Ack(), *messages, zvt.Completion()]
    assert run_ecr(split(wire, cuts), zvt.Framing.SERIAL) == whole


def mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, position, value in edits:
        if not out:
            out.append(value)
            continue
        position %= len(out)
        if kind == 0:
            out[position] = value
        elif kind == 1:
            out.insert(position, value)
        elif kind == 2:
            del out[position]
        else:
            del out[position:]
    return bytes(out)


EDITS = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 10**6), st.integers(0, 255)),
                 min_size=1, max_size=4)


def feed_all(conn: zvt.ZvtConnection, data: bytes) -> None:
    """Feed bytes and drain events; only ZvtError may escape."""
    try:
        conn.receive_data(data)
        conn.receive_data(b"")
        for _ in range(1000):
            event = conn.next_event()
            if event is zvt.PAUSED:
                conn.send(zvt.Ack() if conn.our_role is zvt.Role.ECR else zvt.Nack(0x83))
            elif event is zvt.NEED_DATA or isinstance(event, zvt.ConnectionClosed):
                return
            elif conn.our_role is zvt.Role.ECR and not isinstance(
                    event, zvt.Ack | zvt.Nack | zvt.TransmissionError | zvt.TimedOut):
                conn.send(zvt.Ack())
    except zvt.ZvtError:
        return


@FAST
@given(messages=st.lists(PT_MESSAGES, max_size=3), edits=EDITS)
def test_mutated_terminal_streams_give_only_typed_errors(messages, edits):
    wire = mutate(conversation(messages), edits)
    for framing in zvt.Framing:
        conn = zvt.ZvtConnection(zvt.Role.ECR, framing)
        conn.send(zvt.Authorization(amount=1))
        if framing is zvt.Framing.SERIAL:
            from gateway.protocols.zvt.serial_link import build_frame

            wire = b"".join(build_frame(wire[i:i + 40]) for i in range(0, len(wire), 40))
            wire = mutate(wire, edits)
        feed_all(conn, wire)


@FAST
@given(message=st.one_of(*MESSAGES.values()), edits=EDITS)
def test_mutated_single_apdus_decode_or_raise_typed_errors(message, edits):
    raw = mutate(zvt.encode_message(message), edits)
    for role in zvt.Role:
        feed_all(zvt.ZvtConnection(role), raw)
    with contextlib.suppress(zvt.ZvtError):
        zvt.decode_frame(raw)


@FAST
@given(raw=st.binary(max_size=300))
def test_random_bytes_never_escape_as_other_exceptions(raw):
    for role in zvt.Role:
        for framing in zvt.Framing:
            feed_all(zvt.ZvtConnection(role, framing), raw)
    for cls, instr in list(zvt.messages.MESSAGE_TYPES) + [(0x80, 0x00), (0x84, 0x9C)]:
        with contextlib.suppress(zvt.ZvtError):
            zvt.decode_message(cls, instr, raw)


@FAST
@given(message=st.one_of(*MESSAGES.values()), cut=st.integers(1, 10**6))
def test_truncated_apdu_is_need_data_then_an_error_at_eof(message, cut):
    raw = zvt.encode_message(message)
    cut = 1 + cut % (len(raw) - 1) if len(raw) > 1 else 0
    conn = zvt.ZvtConnection(zvt.Role.TERMINAL)
    conn.receive_data(raw[:-cut] if cut else raw)
    if cut:
        assert conn.next_event() is zvt.NEED_DATA
        conn.receive_data(b"")
        with pytest.raises(zvt.RemoteProtocolError):
            conn.next_event()
