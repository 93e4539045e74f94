"""Character sets: CP437 default, ISO 8859-1/-15 and UTF-8 selectable; Norwegian letters."""

from __future__ import annotations

import pytest
from zvt_helpers import h

from gateway.protocols import zvt
from gateway.protocols.zvt.charsets import (
    decode_zvt7,
    display_glyphs,
    encode_zvt7,
    is_supported,
)

NORWEGIAN = "æøåÆØÅ"


@pytest.mark.parametrize("charset", [zvt.CHARSET_ISO_8859_1, zvt.CHARSET_ISO_8859_15,
                                     zvt.CHARSET_UTF8])
def test_norwegian_round_trips_in_selectable_sets(charset):
    raw = zvt.encode_text(NORWEGIAN, charset)
    assert zvt.decode_text(raw, charset) == NORWEGIAN


def test_cp437_has_ae_and_aa_but_not_o_slash():
    assert zvt.encode_text("æÆåÅ") == h("91 92 86 8F")
    assert zvt.decode_text(h("91 92 86 8F")) == "æÆåÅ"
    with pytest.raises(zvt.LocalProtocolError, match="ISO 8859"):
        zvt.encode_text("ø")


def test_cp437_is_lossless_for_every_byte():
    every = bytes(range(256))
    assert zvt.encode_text(zvt.decode_text(every)) == every


def test_latin1_and_latin15_differ_where_expected():
    assert zvt.encode_text("€", zvt.CHARSET_ISO_8859_15) == h("A4")
    with pytest.raises(zvt.LocalProtocolError):
        zvt.encode_text("€", zvt.CHARSET_ISO_8859_1)


def test_spec_glyphs_for_control_bytes():
    assert display_glyphs(zvt.decode_text(h("01 0A 7F"))) == "☺◙⌂"


def test_seven_bit_zvt_set_has_german_letters():
    assert decode_zvt7(h("5B 5C 5D 7B 7C 7D 7E")) == "ÄÖÜäöüß"
    assert encode_zvt7("Größe") == b"Gr|~e"
    with pytest.raises(zvt.RemoteProtocolError):
        decode_zvt7(h("80"))
    with pytest.raises(zvt.LocalProtocolError):
        encode_zvt7("[")


def test_invalid_utf8_from_peer_is_remote_error():
    with pytest.raises(zvt.RemoteProtocolError):
        zvt.decode_text(h("C3"), zvt.CHARSET_UTF8)


def test_supported_sets():
    assert all(is_supported(c) for c in (0x00, 0x01, 0x0F, 0x10, 0xFE, 0xFF))
    assert not is_supported(0x0C) and not is_supported(0x11)
    with pytest.raises(zvt.RemoteProtocolError):
        zvt.decode_text(b"x", 0x0C)


def test_print_text_block_builder_and_lines_in_latin15():
    block = zvt.PrintTextBlock.from_lines(["Beløp", "", "Æ Ø Å €"],
                                          charset=zvt.CHARSET_ISO_8859_15, receipt_type=2)
    raw = zvt.encode_message(block, zvt.CodecContext(charset=zvt.CHARSET_ISO_8859_15))
    back = zvt.decode_message(raw[0], raw[1], raw[3:],
                              zvt.CodecContext(charset=zvt.CHARSET_ISO_8859_15))
    assert back.lines() == ["Beløp", "", "Æ Ø Å €"]
    assert back.ends_receipt and back.tlv.get(0x1F07) == b"\x02"
    assert [i.attribute for i in back.items()] == [0, 0, 0]


def test_tag_14_in_the_block_overrides_the_connection_charset():
    tlv = zvt.Tlv.of((0x14, b"\x01"), (0x25, zvt.Tlv.of((0x07, "ø".encode("latin-1")))))
    assert zvt.PrintTextBlock(tlv=tlv).lines() == ["ø"]
