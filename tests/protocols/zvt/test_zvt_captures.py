"""Every real capture in shared/testdata/zvt-captures parses; understood ones re-encode exactly."""

from __future__ import annotations

import pytest
from zvt_helpers import capture_files, h

from gateway.protocols import zvt

# Two End-of-Day Status Information captures were recorded without their length byte: the
# file is 04 0F followed directly by the data (73 bytes, which would be LEN 49). In one of them
# the 56 bytes where BMP 60 should be are memory garbage (little-endian pointers).
LENGTHLESS = {"1617177992186PT.bin", "1617181236803PT.bin"}
FILES = capture_files()


def test_captures_are_present():
    assert len(FILES) >= 16


@pytest.mark.parametrize("path", [p for p in FILES if p.name not in LENGTHLESS], ids=str)
def test_capture_parses_and_reencodes_byte_for_byte(path):
    raw = path.read_bytes()
    message = zvt.decode_frame(raw)
    assert not isinstance(message, zvt.RawApdu)
    assert getattr(message, "unparsed", b"") == b""
    assert zvt.encode_message(message) == raw


@pytest.mark.parametrize("path", [p for p in FILES if p.name not in LENGTHLESS], ids=str)
def test_capture_through_a_connection(path):
    raw = path.read_bytes()
    conn = zvt.ZvtConnection(zvt.Role.ECR)
    conn.send(zvt.Authorization(amount=1))
    conn.receive_data(zvt.encode_message(zvt.Ack()) + raw)
    assert isinstance(conn.next_event(), zvt.Ack)
    event = conn.next_event()
    assert type(event) is type(zvt.decode_frame(raw))


@pytest.mark.parametrize("name", sorted(LENGTHLESS))
def test_lengthless_captures_are_rejected_as_apdus_but_their_body_decodes(name):
    raw = (FILES[0].parent / name).read_bytes()
    assert raw[:2] == b"\x04\x0f" and raw[2] == 0x27  # 27 is BMP 27, not a length
    with pytest.raises(zvt.RemoteProtocolError, match="length"):
        zvt.decode_frame(raw)
    message = zvt.decode_message(0x04, 0x0F, raw[2:])
    assert isinstance(message, zvt.StatusInformation)
    assert (message.result_code, message.amount, message.date) == (0, 2600, "0331")
    assert zvt.encode_message(message) == raw[:2] + bytes([len(raw) - 2]) + raw[2:]


def test_end_of_day_totals_capture():
    raw = (FILES[0].parent / "1617181236803PT.bin").read_bytes()
    message = zvt.decode_message(0x04, 0x0F, raw[2:])
    totals = message.turnover_totals()
    assert (totals.first_receipt, totals.last_receipt) == (68, 71)
    assert totals.girocard == (4, 2600) and totals.visa == (0, 0)
    assert message.unparsed == b""


def test_garbage_bmp60_is_kept_raw():
    raw = (FILES[0].parent / "1617177992186PT.bin").read_bytes()
    message = zvt.decode_message(0x04, 0x0F, raw[2:])
    assert message.time == "100532" and message.individual_totals is None
    assert message.unparsed[:4] == h("60 78 F2 76") and len(message.unparsed) == 57


def test_authorization_result_capture_fields():
    message = zvt.decode_frame((FILES[0].parent / "data081649050.bin").read_bytes())
    assert isinstance(message, zvt.StatusInformation)
    assert message.result_code == 0 and message.amount == 1 and message.currency == 978
    assert message.masked_pan == "************5726"
    assert message.card_name == "Debit Mastercard" and message.card_type == 0x2E
    assert message.terminal_id == "29001006" and message.vu_number == "100764992"
    assert (message.trace_number, message.receipt_number, message.turnover_number) == (22, 22, 22)
    assert (message.time, message.date, message.sequence_number) == ("164923", "0308", 1)
    assert message.aid == "291675" and message.additional_text == "GEN.NR.:291675"
    assert message.tlv is not None and message.tlv.find(0x07) == b"GEN.NR.:291675"
    assert message.tlv.get(0x1F12) == b"\x02"  # card technology: contactless


def test_declined_capture_has_german_vendor_text():
    message = zvt.decode_frame((FILES[0].parent / "1618046758827PT.bin").read_bytes())
    assert message.result_code == 5 and message.additional_text == "Karte abgelehnt"
    assert zvt.result_text(5).startswith("error code from network-operator")


def test_status_enquiry_completion_capture():
    message = zvt.decode_frame((FILES[0].parent / "1619070661833PT.bin").read_bytes())
    assert message == zvt.Completion(terminal_status=0xDC)
    assert zvt.terminal_status_text(0xDC) == "card inserted"


def test_intermediate_status_capture_with_vendor_display_text():
    message = zvt.decode_frame((FILES[0].parent / "data050730027.bin").read_bytes())
    assert isinstance(message, zvt.IntermediateStatus)
    assert (message.code, message.timeout) == (0x0A, 1)
    assert zvt.intermediate_text(message.code) == "Insert card"
    assert message.display_texts() == ["Karte vorhalten\neinstecken/durchziehen"]


def test_print_text_block_capture_lines():
    message = zvt.decode_frame((FILES[0].parent / "1617777384987PT.bin").read_bytes())
    lines = message.lines()
    assert lines[0] == "** KASSENSCHNITT **" and "Terminal-ID:    29001006" in lines
    assert message.tlv.get(0x1F07) == b"\x03"  # administration receipt
    assert message.ends_receipt


def test_print_text_block_capture_sent_latin1_despite_cp437_default():
    # A German vendor deviation: "HÄNDLERBELEG" arrives with Ä as C4 (ISO 8859-1), although
    # no character set was negotiated and CP437 would have Ä at 8E.
    message = zvt.decode_frame((FILES[0].parent / "data051327012.bin").read_bytes())
    assert message.lines()[0] == "** H─NDLERBELEG **"
    assert message.lines(zvt.CHARSET_ISO_8859_1)[0] == "** HÄNDLERBELEG **"
    assert "Nr:  **** **** **** 5726" in message.lines()
