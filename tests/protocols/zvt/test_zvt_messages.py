"""Golden vectors: APDUs printed in the spec, built and parsed byte for byte."""

from __future__ import annotations

import pytest
from zvt_helpers import h

from gateway.protocols import zvt

MSGSEQ = zvt.Tlv.of((0x1F73, h("00 00 01")))

GOLDEN = [
    # 5.1: Registration with tag 26 (permitted commands: 06 D3) and 1F73 (MsgSeqId).
    ("06 00 14 00 00 00 9E 09 78 06 0C 26 04 0A 02 06 D3 1F 73 03 00 00 00",
     zvt.Registration(config_byte=0x9E, currency=978, tlv=zvt.Tlv.of(
         (0x26, zvt.Tlv.of((0x0A, h("06 D3")))), (0x1F73, h("00 00 00"))))),
    ("06 0F 12 19 00 29 65 00 00 28 49 09 78 06 06 26 04 0A 02 06 D3",
     zvt.Completion(status_byte=0, terminal_id="65000028", currency=978,
                    tlv=zvt.Tlv.of((0x26, zvt.Tlv.of((0x0A, h("06 D3"))))))),
    # The spec prints LEN 0C here, but 20 data bytes follow (0C counts them without the TLV).
    ("06 01 14 04 00 00 00 00 01 00 49 09 78 19 44 06 06 1F 73 03 00 00 01",
     zvt.Authorization(amount=100, currency=978, payment_type=0x44, tlv=MSGSEQ)),
    ("80 00 08 06 06 1F 73 03 00 00 01", zvt.Ack(tlv=MSGSEQ)),
    ("04 FF 19 17 03 06 15 24 0D 07 0B 30 30 20 41 70 70 72 6F 76 65 64 1F 73 03 00 00 08",
     zvt.IntermediateStatus(0x17, timeout=3, tlv=zvt.Tlv.of(
         (0x24, zvt.Tlv.of((0x07, b"00 Approved"))), (0x1F73, h("00 00 08"))))),
    ("06 0F 08 06 06 1F 73 03 00 00 11", zvt.Completion(tlv=zvt.Tlv.of((0x1F73, h("00 00 11"))))),
    # Responses and short forms from chapters 2 and 3.
    ("80 00 00", zvt.Ack()),
    ("84 9C 00", zvt.Nack(zvt.PLEASE_WAIT)),
    ("84 83 00", zvt.Nack(zvt.NOT_SUPPORTED)),
    ("84 9D 07 04 00 00 00 00 05 00", zvt.Nack(zvt.PARTIAL_ISSUE, amount=500)),
    ("06 02 00", zvt.LogOff()),
    ("06 50 03 12 34 56", zvt.EndOfDay(password="123456")),
    ("06 70 00", zvt.Diagnosis()),
    ("06 B0 00", zvt.Abort()),
    ("06 B0 02 D2 02", zvt.Abort(card_output_direction=2)),
    ("05 01 03 12 34 56", zvt.StatusEnquiry(password="123456")),
    ("05 01 00", zvt.StatusEnquiry(password=None)),
    ("06 20 03 00 00 00", zvt.RepeatReceipt()),
    ("06 20 05 00 00 00 03 01", zvt.RepeatReceipt(service_byte=1)),
    ("06 30 06 00 00 00 87 00 22", zvt.Reversal(22, currency=None)),
    ("06 31 0D 00 00 00 04 00 00 00 00 10 00 49 05 78", zvt.Refund(1000)),
    ("04 0F 02 27 6C", zvt.StatusInformation(result_code=0x6C)),
    ("04 0F 03 27 6C 00", None),  # 00 is no BMP: kept as `unparsed`, still re-encodes
    ("06 1E 01 6C", zvt.AbortFromTerminal(0x6C)),
    ("06 0F 00", zvt.Completion()),
    ("06 D1 05 00 41 42 43 44", zvt.PrintLine(0, "ABCD")),
    ("06 D1 02 FF 03", zvt.PrintLine(0xFF, feed_count=3)),
    ("06 D1 01 81", zvt.PrintLine(0x81)),
    ("04 01 08 AA 24 05 17 0C 12 30 00", zvt.SetDateTimeInEcr(date="240517", time="123000")),
    ("06 C0 00", zvt.RawApdu(0x06, 0xC0)),
    ("0F CA 02 01 02", zvt.RawApdu(0x0F, 0xCA, h("01 02"))),
]


@pytest.mark.parametrize(("wire", "message"), GOLDEN, ids=[g[0][:20] for g in GOLDEN])
def test_golden_vector(wire, message):
    raw = h(wire)
    decoded = zvt.decode_frame(raw)
    if message is not None:
        assert decoded == message
        assert zvt.encode_message(message) == raw
    assert zvt.encode_message(decoded) == raw


def test_ack_via_84_00_is_positive():
    ack = zvt.decode_frame(h("84 00 00"))
    assert ack == zvt.Ack() and ack.via_84
    assert zvt.encode_message(ack) == h("84 00 00")


def test_extended_length_apdu():
    text = "x" * 300
    raw = zvt.encode_message(zvt.PrintLine(0, text))
    assert raw[:5] == h("06 D1 FF 2D 01")  # 301 data bytes, little-endian
    assert zvt.decode_frame(raw) == zvt.PrintLine(0, text)
    assert zvt.encode_message(zvt.PrintLine(0, "y" * 253))[2] == 0xFE  # 254 still short form
    assert zvt.encode_message(zvt.PrintLine(0, "y" * 254))[2:5] == h("FF FF 00")


def test_amount_and_currency_encoding():
    raw = zvt.encode_message(zvt.Authorization(amount=123456789012))
    assert raw == h("06 01 0A 04 12 34 56 78 90 12 49 05 78")
    assert zvt.CURRENCY_NOK == 578 and zvt.CURRENCY_EUR == 978
    assert zvt.encode_message(zvt.Authorization(amount=1, currency=None)) == h(
        "06 01 07 04 00 00 00 00 00 01")


def test_masked_pan_round_trip_with_f_padding():
    info = zvt.StatusInformation(masked_pan="123456*****1234")
    raw = zvt.encode_message(info)
    assert h("22 F0 F8 12 34 56 EE EE E1 23 4F") in raw
    assert zvt.decode_frame(raw).masked_pan == "123456*****1234"


@pytest.mark.parametrize("bad", [
    zvt.Authorization(amount=-1), zvt.Authorization(amount=10**12),
    zvt.Authorization(amount=1, currency=10000), zvt.Registration(password="12345"),
    zvt.Registration(password="12345a"), zvt.Registration(config_byte=256),
    zvt.Registration(currency=None, service_byte=1), zvt.IntermediateStatus(300),
    zvt.StatusInformation(masked_pan="12x4"), zvt.StatusInformation(terminal_id="123"),
    zvt.StatusInformation(vu_number="x" * 16), zvt.PrintLine(0xFF, "text"),
    zvt.PrintTextBlock(tlv=None), zvt.Completion(sw_version="1.0"),
    zvt.Completion(terminal_status=0, status_byte=1), zvt.Nack(code=300),
    zvt.RawApdu(0x06, 0x01, b""), zvt.RawApdu(0x80, 0x00, b""),
    zvt.StatusInformation(tlv=zvt.Tlv.of((0x25, b"primitive value for constructed tag"))),
    zvt.StatusInformation(tlv=zvt.Tlv.of((0x07, zvt.Tlv()))),
    zvt.StatusInformation(raw_bitmaps=((0x5A, 1),)),
    zvt.PrintLine(0, "ø"),  # no ø in CP437
])
def test_invalid_messages_raise_local_protocol_error(bad):
    with pytest.raises(zvt.LocalProtocolError):
        zvt.encode_message(bad)


@pytest.mark.parametrize("wire", [
    "06 00 02 00 00", "06 00 05 00 00 00 BE 09", "04 FF 00", "06 1E 00", "06 D1 00",
    "06 D1 04 FF 01 02 03", "04 FF 02 01 AB", "06 00 04 12 3A 56 BE", "06 D3 00",
    "04 0F 06 06 04 25 05 07 01",  # TLV length overruns its container
])
def test_malformed_messages_raise_remote_protocol_error(wire):
    with pytest.raises(zvt.RemoteProtocolError):
        zvt.decode_frame(h(wire))


def test_result_and_intermediate_texts():
    assert zvt.result_text(0x6C) == "abort via timeout or abort-key"
    assert zvt.result_text(0x9C) == "please wait"
    assert zvt.result_text(0x42).endswith("(66)")
    assert zvt.result_text(0x82).startswith("unknown")
    assert zvt.intermediate_text(0x0E) == "Please wait..."
    assert zvt.intermediate_text(0x55) == "Incorrect PIN Please remove card!"
    assert zvt.intermediate_text(0x15, "de") == "Geheimzahl falsch"
    assert zvt.intermediate_text(0x4A).startswith("unknown")
