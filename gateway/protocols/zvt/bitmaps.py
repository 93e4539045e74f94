"""Every bitmap (BMP) of the spec's chapter 13, with its encoding, and the bitmap stream codec.

A BMP is one byte naming the field, then the field in its own format: fixed binary, packed BCD,
FxFy-prefixed LLVAR/LLLVAR, fixed ASCII, or the BER-prefixed TLV container of BMP 06.

Decoding a stream stops at the first byte that is not a BMP of the spec, or at a BMP whose
content does not decode: a receiver cannot know where an unknown field ends, so the rest is
handed back untouched (`unparsed`) and the message keeps it verbatim. The one exception is
BMP 06: its TLV content is self-delimiting, so a broken TLV is corrupt data (it may hide the
receipt-number resync tag 1F1F) and raises RemoteProtocolError.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from construct import (
    Adapter,
    Bytes,
    Construct,
    ConstructError,
    GreedyBytes,
    Int8ub,
    Int32ub,
    Prefixed,
)

from .errors import LocalProtocolError
from .fields import (
    BcdDigits,
    BcdInt,
    MaskedDigits,
    NulText,
    PaddedDigits,
    PaddedText,
    Text,
    lllvar,
    llvar,
)
from .tlv import BerLength, Tlv, decode_objects, encode_ber_length


class TlvContainer(Adapter):
    """BMP 06: BER length, then data objects (length-checked; decode errors propagate)."""

    def __init__(self) -> None:
        super().__init__(Prefixed(BerLength(), GreedyBytes))

    def _decode(self, obj: bytes, context: Any, path: Any) -> Tlv:
        return decode_objects(obj)

    def _encode(self, obj: Any, context: Any, path: Any) -> bytes:
        if not isinstance(obj, Tlv):
            raise LocalProtocolError(f"BMP 06 needs a Tlv, got {obj!r}")
        return obj.encode()

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        # Prefixed would always write the shortest length; honour a decoded odd form instead.
        body = self._encode(obj, context, path)
        header = encode_ber_length(len(body), obj.len_octets)
        stream.write(header + body)
        return obj


@dataclass(frozen=True)
class BmpSpec:
    bmp: int
    name: str
    con: Construct
    kind: str  # human-readable format, as in the spec's table


def _spec(bmp: int, name: str, con: Construct, kind: str) -> BmpSpec:
    return BmpSpec(bmp, name, con, kind)


_BYTE = Int8ub
BMPS: dict[int, BmpSpec] = {s.bmp: s for s in [
    _spec(0x01, "timeout", _BYTE, "1 byte binary (seconds)"),
    _spec(0x02, "max_status_infos", _BYTE, "1 byte binary"),
    _spec(0x03, "service_byte", _BYTE, "1 byte binary, bit field"),
    _spec(0x04, "amount", BcdInt(6), "6 byte BCD, minor units"),
    _spec(0x05, "pump_number", _BYTE, "1 byte binary"),
    _spec(0x06, "tlv", TlvContainer(), "TLV container, BER length"),
    _spec(0x0B, "trace_number", BcdInt(3), "3 byte BCD"),
    _spec(0x0C, "time", BcdDigits(3), "3 byte BCD HHMMSS"),
    _spec(0x0D, "date", BcdDigits(2), "2 byte BCD MMDD"),
    _spec(0x0E, "expiry", BcdDigits(2), "2 byte BCD YYMM"),
    _spec(0x17, "sequence_number", BcdInt(2), "2 byte BCD"),
    _spec(0x19, "type_byte", _BYTE, "1 byte binary (status/payment/card type)"),
    _spec(0x22, "pan", llvar(MaskedDigits()), "LLVAR BCD, E = masked digit, F pad"),
    _spec(0x23, "track2", llvar(MaskedDigits()), "LLVAR BCD, E = masked digit"),
    _spec(0x24, "track3", lllvar(MaskedDigits()), "LLLVAR BCD, E = masked digit"),
    _spec(0x27, "result_code", _BYTE, "1 byte binary"),
    _spec(0x29, "terminal_id", BcdDigits(4), "4 byte BCD"),
    _spec(0x2A, "vu_number", PaddedText(15, " "), "15 byte ASCII"),
    _spec(0x2D, "track1", llvar(Text()), "LLVAR unpacked"),
    _spec(0x2E, "sync_chip_data", lllvar(), "LLLVAR binary"),
    _spec(0x37, "original_trace", BcdInt(3), "3 byte BCD"),
    _spec(0x3A, "cvv", PaddedDigits(2), "2 byte BCD, F padded"),
    _spec(0x3B, "aid", PaddedText(8, "\x00"), "8 byte ASCII, NUL padded"),
    _spec(0x3C, "additional_text", lllvar(Text()), "LLLVAR ASCII"),
    _spec(0x3D, "password", BcdDigits(3), "3 byte BCD"),
    _spec(0x49, "currency", BcdInt(2), "2 byte BCD"),
    _spec(0x4C, "blocked_goods_groups", llvar(), "LLVAR BCD product codes"),
    _spec(0x60, "individual_totals", lllvar(), "LLLVAR"),
    _spec(0x70, "image_request_id", Int32ub, "4 byte big-endian"),
    _spec(0x71, "image_size", Int32ub, "4 byte big-endian"),
    _spec(0x72, "image_mime_type", _BYTE, "1 byte"),
    _spec(0x73, "image_encoding", _BYTE, "1 byte"),
    _spec(0x74, "image_chunks", _BYTE, "1 byte"),
    _spec(0x75, "image_chunk_index", _BYTE, "1 byte"),
    _spec(0x87, "receipt_number", BcdInt(2), "2 byte BCD"),
    _spec(0x88, "turnover_number", BcdInt(3), "3 byte BCD"),
    _spec(0x8A, "card_type", _BYTE, "1 byte binary"),
    _spec(0x8B, "card_name", llvar(NulText()), "LLVAR ASCII, NUL terminated"),
    _spec(0x8C, "card_type_id", _BYTE, "1 byte binary"),
    _spec(0x9A, "geldkarte_record", lllvar(), "LLLVAR"),
    _spec(0xA0, "result_code_as", _BYTE, "1 byte binary"),
    _spec(0xA7, "chip_data", llvar(), "LLVAR"),
    _spec(0xAA, "date_long", BcdDigits(3), "3 byte BCD YYMMDD"),
    _spec(0xAF, "ef_info", lllvar(), "LLLVAR"),
    _spec(0xBA, "aid_parameter", Bytes(5), "5 byte binary"),
    _spec(0xD0, "algorithm_key", _BYTE, "1 byte binary"),
    _spec(0xD1, "card_offset_pin_data", llvar(), "LLVAR"),
    _spec(0xD2, "card_output_direction", _BYTE, "1 byte binary"),
    _spec(0xD3, "dukpt_key_id", _BYTE, "1 byte binary"),
    _spec(0xE0, "input_min_length", _BYTE, "1 byte binary"),
    *[_spec(0xE0 + n, f"text2_line{n}", llvar(Text()), "LLVAR text") for n in range(1, 9)],
    _spec(0xE9, "input_max_length", _BYTE, "1 byte binary"),
    _spec(0xEA, "echo_input", _BYTE, "1 byte binary"),
    _spec(0xEB, "mac", Bytes(8), "8 byte binary"),
    _spec(0xF0, "display_duration", _BYTE, "1 byte binary (seconds)"),
    *[_spec(0xF0 + n, f"text1_line{n}", llvar(Text()), "LLVAR text") for n in range(1, 9)],
    _spec(0xF9, "beep_tones", _BYTE, "1 byte binary"),
    _spec(0xFA, "card_reader_activation", _BYTE, "1 byte binary"),
    _spec(0xFB, "confirm_input", _BYTE, "1 byte binary"),
    _spec(0xFC, "dialog_control", _BYTE, "1 byte binary"),
    _spec(0xFD, "display_device", _BYTE, "1 byte binary"),
]}

BmpItem = tuple[int, Any]


def decode_stream(data: bytes, start: int = 0) -> tuple[list[BmpItem], bytes]:
    """Decode BMPs from `start`; returns the items and the undecodable rest (often b"")."""
    stream = io.BytesIO(data)
    stream.seek(start)
    items: list[BmpItem] = []
    pos = start
    while pos < len(data):
        spec = BMPS.get(data[pos])
        if spec is None:
            break
        stream.seek(pos + 1)
        try:
            value = spec.con.parse_stream(stream)
        except ConstructError:
            break  # undecodable content: kept raw from this BMP on (see module docstring)
        items.append((spec.bmp, value))
        pos = stream.tell()
    return items, data[pos:]


def encode_item(bmp: int, value: Any) -> bytes:
    spec = BMPS.get(bmp)
    if spec is None:
        raise LocalProtocolError(f"BMP {bmp:02X} is not a bitmap of the spec")
    try:
        return bytes([bmp]) + spec.con.build(value)
    except ConstructError as exc:
        raise LocalProtocolError(f"BMP {bmp:02X} ({spec.name}): {_first_line(exc)}") from exc


def encode_stream(items: Iterable[BmpItem]) -> bytes:
    return b"".join(encode_item(bmp, value) for bmp, value in items)


def decode_value(bmp: int, content: bytes) -> Any:
    """Decode one BMP's content (everything after the BMP byte) on its own; for tests/tools."""
    items, rest = decode_stream(bytes([bmp]) + content)
    if len(items) != 1 or rest:
        from .errors import RemoteProtocolError

        raise RemoteProtocolError(f"not a complete BMP {bmp:02X}: {content.hex().upper()}")
    return items[0][1]


def _first_line(exc: Exception) -> str:
    text = str(exc)
    return text.splitlines()[-1] if text else type(exc).__name__
