"""Responses (80 00 / 84 xx) and raw APDUs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import LocalProtocolError
from ..tlv import Tlv
from .base import DEFAULT_CONTEXT, BitmapMessage, CodecContext, Message

# 84 9C: from the ECR answering Status Information, "repeat it in 2 s" (the spec's meaning);
# from a terminal answering a command, "busy, keep waiting" (what some terminals do).
PLEASE_WAIT = 0x9C
# 84 83: the spec's answer to a command or bitmap the receiver does not support (2.66, ch. 13).
NOT_SUPPORTED = 0x83
# 84 9D: the ECR could only issue part of the goods; the amount issued follows in BMP 04.
PARTIAL_ISSUE = 0x9D
# 84 CC: the ECR cannot print (answer to Print Line / Print Text-Block).
PRINTER_NOT_READY = 0xCC


@dataclass(frozen=True, repr=False)
class Ack(BitmapMessage):
    """Positive response 80 00 (or 84 00, which the spec also counts as positive).

    With message sequence ids the response carries BMP 06 (tag 1F73)."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x80, 0x00)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = ((0x06, "tlv"),)

    tlv: Tlv | None = None
    # True when received as 84 00; kept so it re-encodes the same way. Not part of equality.
    via_84: bool = field(default=False, compare=False)

    def control_field(self) -> tuple[int, int]:
        return (0x84, 0x00) if self.via_84 else self.CLASS_INSTR


@dataclass(frozen=True, repr=False)
class Nack(BitmapMessage):
    """Negative response 84 xx. `code` is a result code (see `result_text`)."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x84, 0x00)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = ((0x04, "amount"), (0x06, "tlv"))

    code: int = NOT_SUPPORTED
    amount: int | None = None  # only with PARTIAL_ISSUE
    tlv: Tlv | None = None

    def control_field(self) -> tuple[int, int]:
        if type(self.code) is not int or not 0 <= self.code <= 0xFF:
            raise LocalProtocolError(f"Nack code must be an int 0..255, got {self.code!r}")
        return (0x84, self.code)

    @property
    def please_wait(self) -> bool:
        return self.code == PLEASE_WAIT


@dataclass(frozen=True, repr=False)
class RawApdu(Message):
    """Any APDU this package does not model (vendor commands, 06 D8 dial-up, 08 xx service ...).

    Received ones are never an error by themselves; a terminal answers unknown commands with
    `Nack(NOT_SUPPORTED)` (see `reply_to_unsupported`)."""

    cls: int
    instr: int
    data: bytes = b""

    def control_field(self) -> tuple[int, int]:
        return (self.cls, self.instr)

    def encode_data(self, ctx: CodecContext = DEFAULT_CONTEXT) -> bytes:
        if not isinstance(self.data, bytes | bytearray):
            raise LocalProtocolError(f"RawApdu data must be bytes, got {self.data!r}")
        return bytes(self.data)


def reply_to_unsupported(event: Any = None) -> Nack:
    """The spec's answer to a command (or a bitmap in it) the receiver does not support."""
    return Nack(NOT_SUPPORTED)
