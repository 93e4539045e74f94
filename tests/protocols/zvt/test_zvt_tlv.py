"""The TLV container: BER tags and lengths, nesting, strict truncation handling, construct traps."""

from __future__ import annotations

import pytest
from construct import GreedyRange
from zvt_helpers import h

from gateway.protocols import zvt
from gateway.protocols.zvt.tlv import _OBJECT, MAX_TLV_DEPTH, decode_objects, tag_bytes


def test_lengths_short_81_and_82_big_endian():
    for size, header in [(0, "00"), (0x7F, "7F"), (0x80, "81 80"), (0xFF, "81 FF"),
                         (0x100, "82 01 00"), (0x0429, "82 04 29")]:
        tlv = zvt.Tlv.of((0x1C, b"x" * size))
        assert tlv.encode()[:1 + len(h(header))] == h("1C") + h(header)
        assert decode_objects(tlv.encode()) == tlv


def test_multibyte_tags_and_nesting():
    raw = h("1F 1F 02 00 2A  25 08 09 01 81 07 03 41 42 43  FF 01 00")
    tlv = decode_objects(raw)
    assert tlv.tags() == [0x1F1F, 0x25, 0xFF01]
    assert tlv.get(0x1F1F) == b"\x00\x2a"
    inner = tlv.get(0x25)
    assert isinstance(inner, zvt.Tlv) and inner.get(0x07) == b"ABC"
    assert tlv.find(0x07) == b"ABC" and tlv.find_all(0x09) == [b"\x81"]
    assert list(tlv)[0] == (0x1F1F, b"\x00\x2a")
    assert tlv.encode() == raw


def test_non_minimal_length_survives_a_round_trip():
    raw = h("25 81 05 07 03 41 42 43")
    tlv = decode_objects(raw)
    assert tlv == zvt.Tlv.of((0x25, zvt.Tlv.of((0x07, b"ABC"))))
    assert tlv.encode() == raw


def test_empty_container_is_not_none():
    message = zvt.decode_frame(h("06 00 08 00 00 00 BE 05 78 06 00"))
    assert message.tlv == zvt.Tlv() and message.tlv is not None
    assert zvt.encode_message(message) == h("06 00 08 00 00 00 BE 05 78 06 00")


def test_replace_keeps_position():
    tlv = zvt.Tlv.of((0x12, b"\x40"), (0x1F1F, b"\x01"), (0x14, b"\x01"))
    assert tlv.replace(0x1F1F, b"\x02").tags() == [0x12, 0x1F1F, 0x14]
    assert tlv.replace(0x1A, b"\x01").tags()[-1] == 0x1A


@pytest.mark.parametrize("raw", [
    "07 05 41 42",  # value shorter than its length
    "25 05 07 05 41 42 43",  # nested value overruns
    "1F",  # tag cut off
    "1F 8F",  # multi-byte tag cut off
    "07",  # length missing
    "07 82 01",  # 82 length cut off
    "07 83 00 00 01",  # RFU length form
    "07 80",  # invalid length byte
    "07 01 41 08 02 00",  # trailing object truncated
    "1F 81 82 83 84 01 00",  # tag longer than 4 bytes
])
def test_truncated_or_malformed_tlv_raises(raw):
    with pytest.raises(zvt.RemoteProtocolError):
        decode_objects(h(raw))


def test_truncated_tlv_inside_a_message_is_an_error_not_a_shorter_list():
    # Shorten the last TLV object by one byte but keep BMP 06's own length consistent.
    bad = bytearray(zvt.encode_message(zvt.StatusInformation(
        tlv=zvt.Tlv.of((0x07, b"AB"), (0x08, b"CDE")))))
    bad[-1:] = b""
    bad[2] -= 1
    bad[bad.index(0x06, 3) + 1] -= 1  # BMP 06 length
    with pytest.raises(zvt.RemoteProtocolError, match="TLV"):
        zvt.decode_frame(bytes(bad))


def test_construct_trap_greedyrange_drops_a_truncated_object():
    """Why decode_objects loops itself: GreedyRange quietly returns the objects before the
    broken one, which would turn a truncated container into a silently shorter list."""
    raw = h("07 01 41 08 05 43")
    assert len(GreedyRange(_OBJECT).parse(raw)) == 1  # the trap
    with pytest.raises(zvt.RemoteProtocolError):
        decode_objects(raw)


def test_construct_trap_compiled_prefixed_does_not_see_short_reads():
    """Why nothing is compiled: a compiled Prefixed returns fewer bytes than announced."""
    raw = h("07 05 41 42")
    compiled = _OBJECT.compile()
    assert compiled.parse(raw).value == b"AB"  # the trap: 2 bytes where 5 were announced
    with pytest.raises(zvt.RemoteProtocolError):
        decode_objects(raw)


def test_deep_nesting_is_bounded():
    raw = b""
    for _ in range(MAX_TLV_DEPTH + 2):
        raw = h("E1") + bytes([len(raw)]) + raw if len(raw) < 0x80 else raw
    with pytest.raises(zvt.RemoteProtocolError, match="deeper"):
        decode_objects(raw)


@pytest.mark.parametrize("tag", [0x1F, 0x1F81, 0x9F, -1, 0x1F8080, 0x101])
def test_malformed_tags_cannot_be_built(tag):
    with pytest.raises(zvt.LocalProtocolError):
        tag_bytes(tag)


def test_well_formed_tags():
    assert tag_bytes(0x07) == h("07") and tag_bytes(0x1F1F) == h("1F 1F")
    assert tag_bytes(0xFF04) == h("FF 04") and tag_bytes(0x1F8101) == h("1F 81 01")
