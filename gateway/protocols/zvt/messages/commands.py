"""Commands from the ECR to the terminal (chapter 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import LocalProtocolError
from ..fields import BcdDigits, BcdInt
from ..tlv import Tlv
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

CURRENCY_EUR = 978  # what the terminal assumes when BMP 49 / the CC is absent
CURRENCY_NOK = 578  # BCD 05 78
DEFAULT_PASSWORD = "000000"
# Registration config byte 0xBE: the ECR prints receipts via Print Line / Text-Block (0x80 with
# 0x02 payment and 0x04 administration receipts), wants intermediate status (0x08, so T4 keeps
# being restarted and the clinic sees prompts) and controls payment and administration
# functions (0x10, 0x20) so nobody starts a payment on the terminal behind the gateway's back.
DEFAULT_CONFIG_BYTE = 0xBE

_PASSWORD = BcdDigits(3)
_CC = BcdInt(2)

# BMPs shared by the payment commands, in the order of the spec's command descriptions.
_CARD_FIELDS = (
    (0x19, "payment_type"), (0x2D, "track1"), (0x0E, "expiry"), (0x22, "card_number"),
    (0x23, "track2"), (0x24, "track3"),
)


def _password(value: str, what: str) -> bytes:
    return build_field(_PASSWORD, value, f"{what} password (6 digits)")


@dataclass(frozen=True, repr=False)
class Registration(BitmapMessage):
    """06 00: <password> <config-byte> [<CC> [03 <service-byte>] [06 <TLV>]]."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x06, 0x00)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = ((0x03, "service_byte"), (0x06, "tlv"))

    password: str = DEFAULT_PASSWORD
    config_byte: int = DEFAULT_CONFIG_BYTE
    currency: int | None = CURRENCY_NOK
    service_byte: int | None = None
    tlv: Tlv | None = None

    def encode_data(self, ctx: CodecContext = DEFAULT_CONTEXT) -> bytes:
        head = _password(self.password, "Registration") + byte_value(self.config_byte,
                                                                      "config_byte")
        tail = self.bitmap_bytes()
        if self.currency is None:
            if tail:
                raise LocalProtocolError("Registration needs a currency when it carries BMPs")
            return head
        return head + build_field(_CC, self.currency, "currency") + tail

    @classmethod
    def decode_data(cls, data: bytes, ctx: CodecContext = DEFAULT_CONTEXT) -> Message:
        need(data, 4, "Registration")
        password = parse_field(_PASSWORD, data[:3], "Registration password")
        if len(data) == 4:
            return cls(password=password, config_byte=data[3], currency=None)
        need(data, 6, "Registration currency")
        return cls._from_stream(data, 6, password=password, config_byte=data[3],
                                currency=parse_field(_CC, data[4:6], "Registration currency"))


@dataclass(frozen=True, repr=False)
class Authorization(BitmapMessage):
    """06 01: payment. `amount` in minor units (BMP 04), `currency` BMP 49 (None = EUR)."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x06, 0x01)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = (
        (0x04, "amount"), (0x49, "currency"), *_CARD_FIELDS, (0x01, "timeout"),
        (0x02, "max_status_infos"), (0x05, "pump_number"), (0x3A, "cvv"),
        (0x3C, "additional_data"), (0x8A, "card_type"), (0x06, "tlv"),
    )

    amount: int | None
    currency: int | None = CURRENCY_NOK
    payment_type: int | None = None
    track1: str | None = None
    expiry: str | None = None  # "YYMM"
    card_number: str | None = None
    track2: str | None = None
    track3: str | None = None
    timeout: int | None = None
    max_status_infos: int | None = None
    pump_number: int | None = None
    cvv: str | None = None
    additional_data: str | None = None
    card_type: int | None = None
    tlv: Tlv | None = None


@dataclass(frozen=True, repr=False)
class LogOff(BitmapMessage):
    """06 02: the terminal resets the config byte to 86 and stops sending TLV containers."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x06, 0x02)


class _PasswordFirst(BitmapMessage):
    """Commands whose data starts with the 3-byte BCD password, then bitmaps."""

    password: str

    def encode_data(self, ctx: CodecContext = DEFAULT_CONTEXT) -> bytes:
        return _password(self.password, type(self).__name__) + self.bitmap_bytes()

    @classmethod
    def decode_data(cls, data: bytes, ctx: CodecContext = DEFAULT_CONTEXT) -> Message:
        need(data, 3, cls.__name__)
        password = parse_field(_PASSWORD, data[:3], f"{cls.__name__} password")
        return cls._from_stream(data, 3, password=password)


@dataclass(frozen=True, repr=False)
class Reversal(_PasswordFirst):
    """06 30: reverse the payment with `receipt_number` (BMP 87)."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x06, 0x30)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = (
        (0x87, "receipt_number"), (0x04, "amount"), (0x49, "currency"), *_CARD_FIELDS,
        (0x3C, "additional_data"), (0x06, "tlv"),
    )

    receipt_number: int | None
    password: str = DEFAULT_PASSWORD
    amount: int | None = None
    currency: int | None = CURRENCY_NOK
    payment_type: int | None = None
    track1: str | None = None
    expiry: str | None = None
    card_number: str | None = None
    track2: str | None = None
    track3: str | None = None
    additional_data: str | None = None
    tlv: Tlv | None = None


@dataclass(frozen=True, repr=False)
class Refund(_PasswordFirst):
    """06 31: refund `amount` to a card."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x06, 0x31)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = (
        (0x04, "amount"), (0x49, "currency"), *_CARD_FIELDS, (0x3B, "aid"),
        (0x3C, "additional_data"), (0x8A, "card_type"), (0x06, "tlv"),
    )

    amount: int | None
    password: str = DEFAULT_PASSWORD
    currency: int | None = CURRENCY_NOK
    payment_type: int | None = None
    track1: str | None = None
    expiry: str | None = None
    card_number: str | None = None
    track2: str | None = None
    track3: str | None = None
    aid: str | None = None
    additional_data: str | None = None
    card_type: int | None = None
    tlv: Tlv | None = None


@dataclass(frozen=True, repr=False)
class EndOfDay(_PasswordFirst):
    """06 50: the terminal sends its stored turnover to the host."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x06, 0x50)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = ((0x06, "tlv"),)

    password: str = DEFAULT_PASSWORD
    tlv: Tlv | None = None


@dataclass(frozen=True, repr=False)
class RepeatReceipt(_PasswordFirst):
    """06 20: repeat the last receipt; service byte bit 0 asks for the Status Information again,
    which is how an ECR resynchronises after an inconclusive transaction."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x06, 0x20)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = ((0x03, "service_byte"), (0x06, "tlv"))

    password: str = DEFAULT_PASSWORD
    service_byte: int | None = None
    tlv: Tlv | None = None


@dataclass(frozen=True, repr=False)
class Diagnosis(BitmapMessage):
    """06 70: the terminal sends a diagnosis to its host (TLV tag 1B selects the type)."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x06, 0x70)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = ((0x06, "tlv"),)

    tlv: Tlv | None = None


@dataclass(frozen=True, repr=False)
class Abort(BitmapMessage):
    """06 B0 from the ECR: stop the running command (allowed while the terminal is master)."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x06, 0xB0)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = (
        (0xD2, "card_output_direction"), (0xFA, "card_reader_activation"),
    )

    card_output_direction: int | None = None
    card_reader_activation: int | None = None


@dataclass(frozen=True, repr=False)
class StatusEnquiry(BitmapMessage):
    """05 01: [<password> [03 <service-byte>] [06 <TLV>]]; answered by a special Completion."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0x05, 0x01)
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = ((0x03, "service_byte"), (0x06, "tlv"))

    password: str | None = DEFAULT_PASSWORD
    service_byte: int | None = None
    tlv: Tlv | None = None

    def encode_data(self, ctx: CodecContext = DEFAULT_CONTEXT) -> bytes:
        tail = self.bitmap_bytes()
        if self.password is None:
            if tail:
                raise LocalProtocolError("StatusEnquiry needs the password to carry BMPs")
            return b""
        return _password(self.password, "StatusEnquiry") + tail

    @classmethod
    def decode_data(cls, data: bytes, ctx: CodecContext = DEFAULT_CONTEXT) -> Message:
        if not data:
            return cls(password=None)
        need(data, 3, "StatusEnquiry")
        password = parse_field(_PASSWORD, data[:3], "StatusEnquiry password")
        return cls._from_stream(data, 3, password=password)
