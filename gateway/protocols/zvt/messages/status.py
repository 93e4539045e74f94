"""Status Information (04 0F) and Intermediate Status (04 FF) from the terminal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..charsets import CHARSET_CP437, decode_text
from ..errors import LocalProtocolError, RemoteProtocolError
from ..fields import BcdInt
from ..tlv import Tlv, iter_text_lines
from .base import (
    DEFAULT_CONTEXT,
    BitmapMessage,
    CodecContext,
    Message,
    build_field,
    byte_value,
    need,
    parse_field,
)

TAG_RECEIPT_SYNC = 0x1F1F  # unique transaction identifier for lost-result recovery (ch. 4)
TAG_DISPLAY_TEXTS = 0x24
TAG_TEXT_LINE = 0x07
TAG_CHARSET = 0x14


@dataclass(frozen=True, repr=False)
class TurnoverTotals:
    """BMP 60 after End-of-Day: receipt range and (count, total) per card scheme."""

    first_receipt: int
    last_receipt: int
    girocard: tuple[int, int]
    jcb: tuple[int, int]
    eurocard: tuple[int, int]
    amex: tuple[int, int]
    visa: tuple[int, int]
    diners: tuple[int, int]
    others: tuple[int, int]


_TOTALS_SIZE = 4 + 7 * 7
_BCD2 = BcdInt(2)
_BCD6 = BcdInt(6)


def parse_turnover_totals(data: bytes) -> TurnoverTotals:
    if len(data) != _TOTALS_SIZE:
        raise RemoteProtocolError(f"BMP 60 totals must be {_TOTALS_SIZE} bytes, got {len(data)}")
    pairs = []
    for offset in range(4, _TOTALS_SIZE, 7):
        pairs.append((data[offset], parse_field(_BCD6, data[offset + 1:offset + 7], "BMP 60")))
    return TurnoverTotals(parse_field(_BCD2, data[0:2], "BMP 60"),
                          parse_field(_BCD2, data[2:4], "BMP 60"), *pairs)


@dataclass(frozen=True, repr=False)
class StatusInformation(BitmapMessage):
    """04 0F: the result of a transaction. Absent BMP 27 means result 00 (no error).

    Encoded in ascending BMP order with 27 first and 06 last, the order real terminals use."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x04, 0x0F)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = (
        (0x27, "result_code"), (0x04, "amount"), (0x0B, "trace_number"), (0x0C, "time"),
        (0x0D, "date"), (0x0E, "expiry"), (0x17, "sequence_number"), (0x19, "payment_type"),
        (0x22, "masked_pan"), (0x29, "terminal_id"), (0x2A, "vu_number"),
        (0x37, "original_trace"), (0x3B, "aid"), (0x3C, "additional_text"),
        (0x49, "currency"), (0x60, "individual_totals"), (0x87, "receipt_number"),
        (0x88, "turnover_number"), (0x8A, "card_type"), (0x8B, "card_name"),
        (0x8C, "card_type_id"), (0xA0, "result_code_as"), (0x06, "tlv"),
    )
    _DEFAULTED: ClassVar[dict[int, Any]] = {0x27: 0}

    result_code: int = 0
    amount: int | None = None
    trace_number: int | None = None
    time: str | None = None  # "HHMMSS"
    date: str | None = None  # "MMDD"
    expiry: str | None = None  # "YYMM"
    sequence_number: int | None = None
    payment_type: int | None = None
    masked_pan: str | None = None  # digits, "*" for each masked (E) digit
    terminal_id: str | None = None  # 8 digits
    vu_number: str | None = None
    original_trace: int | None = None
    aid: str | None = None
    additional_text: str | None = None
    currency: int | None = None  # None: the terminal means EUR
    individual_totals: bytes | None = None  # BMP 60; see turnover_totals()
    receipt_number: int | None = None
    turnover_number: int | None = None
    card_type: int | None = None
    card_name: str | None = None
    card_type_id: int | None = None
    result_code_as: int | None = None
    tlv: Tlv | None = None

    @property
    def receipt_sync_id(self) -> bytes | None:
        """TLV tag 1F1F, which the ECR mirrors in its next transaction command (chapter 4)."""
        value = self.tlv.find(TAG_RECEIPT_SYNC) if self.tlv is not None else None
        return value if isinstance(value, bytes) else None

    def turnover_totals(self) -> TurnoverTotals | None:
        """BMP 60 of an End-of-Day Status Information, parsed; None if absent."""
        if self.individual_totals is None:
            return None
        return parse_turnover_totals(self.individual_totals)


@dataclass(frozen=True, repr=False)
class IntermediateStatus(BitmapMessage):
    """04 FF: <status> [<timeout, BCD minutes, sets T4>] [06 <TLV>] (TLV needs the timeout)."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x04, 0xFF)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = ((0x06, "tlv"),)
    _TIMEOUT: ClassVar[BcdInt] = BcdInt(1)

    code: int
    timeout: int | None = None  # minutes
    tlv: Tlv | None = None

    def encode_data(self, ctx: CodecContext = DEFAULT_CONTEXT) -> bytes:
        head = byte_value(self.code, "intermediate status code")
        tail = self.bitmap_bytes()
        if self.timeout is None:
            if tail and self.bmp_order is None:
                # The spec requires the timeout whenever a TLV follows. Only a message decoded
                # from a terminal that skipped it (the spec's own 1F73 example does) is
                # re-encoded that way, to stay byte-exact.
                raise LocalProtocolError("IntermediateStatus needs a timeout to carry a TLV")
            return head + tail
        return head + build_field(self._TIMEOUT, self.timeout, "timeout (minutes)") + tail

    @classmethod
    def decode_data(cls, data: bytes, ctx: CodecContext = DEFAULT_CONTEXT) -> Message:
        need(data, 1, "IntermediateStatus")
        if len(data) == 1:
            return cls(code=data[0])
        failure: RemoteProtocolError | None = None
        try:
            timeout = parse_field(cls._TIMEOUT, data[1:2], "IntermediateStatus timeout")
            spec_form = cls._from_stream(data, 2, code=data[0], timeout=timeout)
            if not spec_form.unparsed or data[1] != 0x06:
                return spec_form
        except RemoteProtocolError as exc:
            if data[1] != 0x06:
                raise
            failure = exc
        # Some terminals put the TLV right after the code without the timeout byte the spec
        # requires (so does the spec's own 1F73 example): accept that if it decodes cleanly.
        try:
            without = cls._from_stream(data, 1, code=data[0], timeout=None)
        except RemoteProtocolError:
            without = None
        if without is not None and not without.unparsed:
            return without
        if failure is not None:
            raise failure
        return spec_form

    def display_texts(self, charset: int = CHARSET_CP437) -> list[str]:
        """Text lines of TLV tag 24 (tag 07 each), e.g. a vendor's own prompt for code FF."""
        if self.tlv is None:
            return []
        charset = _charset_of(self.tlv, charset)
        lines: list[str] = []
        for container in self.tlv.find_all(TAG_DISPLAY_TEXTS):
            if isinstance(container, Tlv):
                lines += [decode_text(raw, charset) for raw in iter_text_lines(container)]
        return lines


def _charset_of(tlv: Tlv, default: int) -> int:
    value = tlv.get(TAG_CHARSET)
    return value[0] if isinstance(value, bytes) and len(value) == 1 else default
