"""Typed ZVT messages and the APDU-level codec (`decode_message`, `encode_message`)."""

from __future__ import annotations

from ..apdu import decode_apdu, encode_apdu
from ..errors import LocalProtocolError
from .base import DEFAULT_CONTEXT, BitmapMessage, CodecContext, Message
from .commands import (
    CURRENCY_EUR,
    CURRENCY_NOK,
    DEFAULT_CONFIG_BYTE,
    Abort,
    Authorization,
    Diagnosis,
    EndOfDay,
    LogOff,
    Refund,
    Registration,
    RepeatReceipt,
    Reversal,
    StatusEnquiry,
)
from .responses import (
    NOT_SUPPORTED,
    PARTIAL_ISSUE,
    PLEASE_WAIT,
    PRINTER_NOT_READY,
    Ack,
    Nack,
    RawApdu,
    reply_to_unsupported,
)
from .status import IntermediateStatus, StatusInformation, TurnoverTotals, parse_turnover_totals
from .terminal import (
    AbortFromTerminal,
    Completion,
    PrintItem,
    PrintLine,
    PrintTextBlock,
    SetDateTimeInEcr,
)

MESSAGE_TYPES: dict[tuple[int, int], type[Message]] = {
    t.CLASS_INSTR: t
    for t in (
        Registration, Authorization, LogOff, Reversal, Refund, EndOfDay, Diagnosis, Abort,
        StatusEnquiry, RepeatReceipt, StatusInformation, IntermediateStatus, Completion,
        AbortFromTerminal, PrintLine, PrintTextBlock, SetDateTimeInEcr,
    )
}


def decode_message(cls: int, instr: int, data: bytes,
                   ctx: CodecContext = DEFAULT_CONTEXT) -> Message:
    """Typed message for one APDU's parts; unknown control fields give RawApdu."""
    if cls == 0x80 and instr == 0x00:
        return Ack.decode_data(data, ctx)
    if cls == 0x84:
        if instr == 0x00:
            ack = Ack.decode_data(data, ctx)
            assert isinstance(ack, Ack)
            return Ack(tlv=ack.tlv, via_84=True, raw_bitmaps=ack.raw_bitmaps,
                       unparsed=ack.unparsed, bmp_order=ack.bmp_order)
        nack = Nack.decode_data(data, ctx)
        assert isinstance(nack, Nack)
        return Nack(code=instr, amount=nack.amount, tlv=nack.tlv, raw_bitmaps=nack.raw_bitmaps,
                    unparsed=nack.unparsed, bmp_order=nack.bmp_order)
    kind = MESSAGE_TYPES.get((cls, instr))
    if kind is None:
        return RawApdu(cls, instr, data)
    return kind.decode_data(data, ctx)


def decode_frame(frame: bytes, ctx: CodecContext = DEFAULT_CONTEXT) -> Message:
    """Typed message for exactly one complete APDU (TCP form)."""
    return decode_message(*decode_apdu(frame), ctx)


def encode_message(message: Message, ctx: CodecContext = DEFAULT_CONTEXT) -> bytes:
    """The APDU bytes of a message; LocalProtocolError if a field is invalid."""
    if not isinstance(message, Message):
        raise LocalProtocolError(f"not a ZVT message: {message!r}")
    if isinstance(message, RawApdu) and (
        message.cls in (0x80, 0x84) or (message.cls, message.instr) in MESSAGE_TYPES
    ):
        raise LocalProtocolError(
            f"{message.cls:02X} {message.instr:02X} has a typed message; send that instead"
        )
    cls, instr = message.control_field()
    return encode_apdu(cls, instr, message.encode_data(ctx))


__all__ = [
    "CURRENCY_EUR", "CURRENCY_NOK", "DEFAULT_CONFIG_BYTE", "DEFAULT_CONTEXT", "MESSAGE_TYPES",
    "NOT_SUPPORTED", "PARTIAL_ISSUE", "PLEASE_WAIT", "PRINTER_NOT_READY",
    "Abort", "AbortFromTerminal", "Ack", "Authorization", "BitmapMessage", "CodecContext",
    "Completion", "Diagnosis", "EndOfDay", "IntermediateStatus", "LogOff", "Message", "Nack",
    "PrintItem", "PrintLine", "PrintTextBlock", "RawApdu", "Refund", "Registration",
    "RepeatReceipt", "Reversal", "SetDateTimeInEcr", "StatusEnquiry", "StatusInformation",
    "TurnoverTotals", "decode_frame", "decode_message", "encode_message",
    "parse_turnover_totals", "reply_to_unsupported",
]
