"""Commands from the terminal to the ECR that end or accompany a transaction (chapter 3)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from ..charsets import CHARSET_CP437, decode_text, decode_zvt7, encode_text, encode_zvt7
from ..errors import LocalProtocolError, RemoteProtocolError
from ..fields import lllvar
from ..tlv import Tlv, TlvObject
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
from .status import _charset_of

TAG_PRINT_TEXTS = 0x25
TAG_ATTRIBUTE = 0x09
TAG_TEXT_LINE = 0x07
TAG_RECEIPT_TYPE = 0x1F07
ATTRIBUTE_LINEFEED = 0xFF
_LLL = lllvar()


def is_last_line(attribute: int) -> bool:
    """Attribute 1xxx xxxx (but not 80 or FF): last line of a receipt (cut/switch copy here)."""
    return bool(attribute & 0x80) and attribute not in (0x80, ATTRIBUTE_LINEFEED)


@dataclass(frozen=True, repr=False)
class Completion(BitmapMessage):
    """06 0F: the terminal hands master rights back.

    Two layouts: bitmaps [27][0C][AA][19][29][49][06], or after a Status Enquiry
    [<SW version, LLLVAR 7-bit ZVT text>] <terminal status> [06]. The connection tells the
    decoder which one to expect; a Completion decoded without context is tried both ways."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x06, 0x0F)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = (
        (0x27, "result_code"), (0x0C, "time"), (0xAA, "date"), (0x19, "status_byte"),
        (0x29, "terminal_id"), (0x49, "currency"), (0x06, "tlv"),
    )
    _BITMAP_ONLY: ClassVar[tuple[str, ...]] = (
        "result_code", "time", "date", "status_byte", "terminal_id", "currency",
    )

    status_byte: int | None = None
    terminal_id: str | None = None
    tlv: Tlv | None = None
    result_code: int | None = None
    time: str | None = None  # "HHMMSS"
    date: str | None = None  # "YYMMDD" (BMP AA)
    currency: int | None = None
    sw_version: str | None = None  # Status Enquiry layout only
    terminal_status: int | None = None  # Status Enquiry layout only (see terminal_status_text)

    def encode_data(self, ctx: CodecContext = DEFAULT_CONTEXT) -> bytes:
        if self.terminal_status is None:
            if self.sw_version is not None:
                raise LocalProtocolError("Completion with sw_version needs terminal_status")
            return self.bitmap_bytes()
        mixed = [name for name in self._BITMAP_ONLY if getattr(self, name) is not None]
        if mixed:
            raise LocalProtocolError(f"Status Enquiry Completion cannot carry {mixed}")
        head = b""
        if self.sw_version is not None:
            if not isinstance(self.sw_version, str):
                raise LocalProtocolError(f"sw_version must be text, got {self.sw_version!r}")
            head = build_field(_LLL, encode_zvt7(self.sw_version), "sw_version")
        return head + byte_value(self.terminal_status, "terminal_status") + self.bitmap_bytes()

    @classmethod
    def decode_data(cls, data: bytes, ctx: CodecContext = DEFAULT_CONTEXT) -> Message:
        if not data:
            return cls(bmp_order=())
        tries = [cls._enquiry_form, cls._bitmap_form]
        if not ctx.status_enquiry_completion:
            tries.reverse()
        first: Completion | None = None
        for attempt in tries:
            try:
                result = attempt(data)
            except RemoteProtocolError:
                continue
            if not result.unparsed:
                return result
            first = first or result
        if first is None:
            raise RemoteProtocolError(f"undecodable Completion {data.hex(' ').upper()}")
        return first

    @classmethod
    def _bitmap_form(cls, data: bytes) -> Completion:
        return cls._from_stream(data, 0)

    @classmethod
    def _enquiry_form(cls, data: bytes) -> Completion:
        pos, sw_version = 0, None
        if len(data) >= 4 and all(0xF0 <= b <= 0xF9 for b in data[:3]):
            raw = parse_field(_LLL, data, "Completion software version")
            sw_version = decode_zvt7(raw)
            pos = 3 + len(raw)
        need(data[pos:], 1, "Completion terminal status")
        completion = cls._from_stream(data, pos + 1, sw_version=sw_version,
                                      terminal_status=data[pos])
        if any(getattr(completion, name) is not None for name in cls._BITMAP_ONLY):
            raise RemoteProtocolError("bitmap fields in a Status Enquiry Completion")
        return completion


@dataclass(frozen=True, repr=False)
class AbortFromTerminal(BitmapMessage):
    """06 1E: the command failed; <result-code> [06 <TLV>] (TLV 1F16/1F17: vendor error)."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x06, 0x1E)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = ((0x06, "tlv"),)

    result_code: int
    tlv: Tlv | None = None

    def encode_data(self, ctx: CodecContext = DEFAULT_CONTEXT) -> bytes:
        return byte_value(self.result_code, "result_code") + self.bitmap_bytes()

    @classmethod
    def decode_data(cls, data: bytes, ctx: CodecContext = DEFAULT_CONTEXT) -> Message:
        need(data, 1, "AbortFromTerminal")
        return cls._from_stream(data, 1, result_code=data[0])


@dataclass(frozen=True, repr=False)
class PrintLine(Message):
    """06 D1: one receipt line. Attribute FF means "feed `feed_count` lines" instead of text."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x06, 0xD1)

    attribute: int
    text: str = ""
    feed_count: int | None = None

    @property
    def is_last_line(self) -> bool:
        return is_last_line(self.attribute)

    def encode_data(self, ctx: CodecContext = DEFAULT_CONTEXT) -> bytes:
        head = byte_value(self.attribute, "attribute")
        if self.attribute == ATTRIBUTE_LINEFEED:
            if self.text:
                raise LocalProtocolError("a linefeed PrintLine (attribute FF) carries no text")
            count = self.feed_count
            return head + (b"" if count is None else byte_value(count, "feed_count"))
        if self.feed_count is not None:
            raise LocalProtocolError("feed_count needs attribute FF")
        if not isinstance(self.text, str):
            raise LocalProtocolError(f"PrintLine text must be str, got {self.text!r}")
        return head + encode_text(self.text, ctx.charset)

    @classmethod
    def decode_data(cls, data: bytes, ctx: CodecContext = DEFAULT_CONTEXT) -> Message:
        need(data, 1, "PrintLine")
        if data[0] == ATTRIBUTE_LINEFEED:
            if len(data) > 2:
                raise RemoteProtocolError("linefeed PrintLine with more than a count byte")
            return cls(attribute=data[0], feed_count=data[1] if len(data) == 2 else None)
        return cls(attribute=data[0], text=decode_text(data[1:], ctx.charset))


@dataclass(frozen=True, repr=False)
class PrintItem:
    attribute: int
    text: str


@dataclass(frozen=True, repr=False)
class PrintTextBlock(BitmapMessage):
    """06 D3: several receipt lines as TLV tag 25 holding attributes (09) and lines (07).

    `charset` is the set the connection negotiated when this block arrived (a tag 14 in the
    block overrides it); it is not part of the wire bytes or of equality."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x06, 0xD3)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = ((0x06, "tlv"),)

    tlv: Tlv | None
    charset: int = field(default=CHARSET_CP437, compare=False)

    def encode_data(self, ctx: CodecContext = DEFAULT_CONTEXT) -> bytes:
        if self.tlv is None:
            raise LocalProtocolError("PrintTextBlock needs a TLV container")
        return self.bitmap_bytes()

    @classmethod
    def decode_data(cls, data: bytes, ctx: CodecContext = DEFAULT_CONTEXT) -> Message:
        block = cls._from_stream(data, 0, charset=ctx.charset)
        if block.tlv is None:
            raise RemoteProtocolError("Print Text-Block without TLV container")
        return block

    def items(self, charset: int | None = None) -> list[PrintItem]:
        """(attribute, text) for every text line, in order; an attribute holds until replaced."""
        if self.tlv is None:
            return []
        charset = _charset_of(self.tlv, self.charset if charset is None else charset)
        found: list[PrintItem] = []
        for container in self.tlv.find_all(TAG_PRINT_TEXTS):
            if not isinstance(container, Tlv):
                continue
            attribute = 0
            for tag, value in container:
                if tag == TAG_ATTRIBUTE and isinstance(value, bytes) and value:
                    attribute = value[0]
                elif tag == TAG_TEXT_LINE and isinstance(value, bytes):
                    found.append(PrintItem(attribute, decode_text(value, charset)))
        return found

    def lines(self, charset: int | None = None) -> list[str]:
        return [item.text for item in self.items(charset)]

    @property
    def ends_receipt(self) -> bool:
        """True if the block's last attribute (tag 09) marks the end of a receipt."""
        attributes = [v for v in (self.tlv.find_all(TAG_ATTRIBUTE) if self.tlv else [])
                      if isinstance(v, bytes) and v]
        return bool(attributes) and is_last_line(attributes[-1][0])

    @classmethod
    def from_lines(cls, lines: Iterable[str], *, charset: int = CHARSET_CP437,
                   receipt_type: int | None = None, last: bool = True) -> PrintTextBlock:
        """Build a block: lines as tag 07 in tag 25, closed with attribute 0x81 if `last`."""
        objects: list[TlvObject] = [TlvObject(TAG_TEXT_LINE, encode_text(line, charset))
                                    for line in lines]
        if last:
            objects.append(TlvObject(TAG_ATTRIBUTE, b"\x81"))
        top: list[TlvObject] = []
        if receipt_type is not None:
            top.append(TlvObject(TAG_RECEIPT_TYPE, byte_value(receipt_type, "receipt_type")))
        top.append(TlvObject(TAG_PRINT_TEXTS, Tlv(tuple(objects))))
        return cls(tlv=Tlv(tuple(top)), charset=charset)


@dataclass(frozen=True, repr=False)
class SetDateTimeInEcr(BitmapMessage):
    """04 01: AA <date YYMMDD> 0C <time HHMMSS>; the ECR may set its clock from it."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x04, 0x01)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = ((0xAA, "date"), (0x0C, "time"))

    date: str | None = None
    time: str | None = None
