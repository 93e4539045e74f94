"""What every ZVT message shares: APDU identity, the bitmap tail, responses and raw APDUs.

Each message is a frozen dataclass that is both something you can send and an event you receive.
Messages made of bitmaps keep, besides their named fields:
- `raw_bitmaps`: (BMP, decoded value) pairs of spec BMPs the message does not name,
- `unparsed`: bytes from the first BMP we could not decode (vendor extensions), verbatim,
- `bmp_order`: the wire order seen on decode (not compared), so a decoded message re-encodes
  byte for byte even when the terminal used an unusual order.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from construct import Construct, ConstructError

from .. import bitmaps
from ..charsets import CHARSET_CP437
from ..errors import LocalProtocolError, RemoteProtocolError

M = TypeVar("M", bound="BitmapMessage")


@dataclass(frozen=True, repr=False)
class CodecContext:
    """What decoding/encoding needs beyond the bytes: the negotiated character set, and whether
    a Completion answers a Status Enquiry (that Completion has its own layout; None = guess)."""

    charset: int = CHARSET_CP437
    status_enquiry_completion: bool | None = None


DEFAULT_CONTEXT = CodecContext()


class Message:
    """Base of all messages. `CLASS_INSTR` is the control field; Nack and RawApdu vary it."""

    CLASS_INSTR: ClassVar[tuple[int, int]] = (0, 0)

    def control_field(self) -> tuple[int, int]:
        return self.CLASS_INSTR

    def __repr__(self) -> str:
        # Only fields that differ from their defaults: a Status Information has two dozen.
        shown = []
        for f in fields(self):  # type: ignore[arg-type]
            if not f.repr:
                continue
            value = getattr(self, f.name)
            if f.default is not MISSING and value == f.default:
                continue
            shown.append(f"{f.name}={_short(f.name, value)}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def encode_data(self, ctx: CodecContext = DEFAULT_CONTEXT) -> bytes:
        raise NotImplementedError

    @classmethod
    def decode_data(cls, data: bytes, ctx: CodecContext = DEFAULT_CONTEXT) -> Message:
        raise NotImplementedError


_HEX_FIELDS = ("code", "byte", "type", "status", "attribute", "charset", "cls", "instr")


def _short(name: str, value: Any) -> str:
    if type(value) is int and name.endswith(_HEX_FIELDS):
        return f"0x{value:02X}"
    return repr(value)


def parse_field(con: Construct, data: bytes, what: str) -> Any:
    try:
        return con.parse(data)
    except ConstructError as exc:
        raise RemoteProtocolError(f"{what}: cannot decode {data.hex(' ').upper()}") from exc


def build_field(con: Construct, value: Any, what: str) -> bytes:
    try:
        return bytes(con.build(value))
    except ConstructError as exc:
        raise LocalProtocolError(f"{what}: invalid value {value!r}") from exc


def byte_value(value: Any, what: str) -> bytes:
    if type(value) is not int or not 0 <= value <= 0xFF:
        raise LocalProtocolError(f"{what} must be an int 0..255, got {value!r}")
    return bytes([value])


def need(data: bytes, count: int, what: str) -> None:
    if len(data) < count:
        raise RemoteProtocolError(f"{what}: needs {count} bytes, got {data.hex(' ').upper()!r}")


@dataclass(frozen=True, kw_only=True, repr=False)
class BitmapMessage(Message):
    raw_bitmaps: tuple[tuple[int, Any], ...] = ()
    unparsed: bytes = b""
    bmp_order: tuple[int, ...] | None = field(default=None, compare=False, repr=False)

    # (BMP, field name) in the order a fresh message is encoded.
    _FIELDS: ClassVar[tuple[tuple[int, str], ...]] = ()
    # Fields whose value stands for "BMP absent" when the decoded wire order lacks the BMP.
    _DEFAULTED: ClassVar[dict[int, Any]] = {}

    @classmethod
    def _from_stream(cls: type[M], data: bytes, start: int, **fixed: Any) -> M:
        items, unparsed = bitmaps.decode_stream(data, start)
        names = dict(cls._FIELDS)
        kwargs: dict[str, Any] = {name: None for bmp, name in cls._FIELDS
                                  if bmp not in cls._DEFAULTED}
        seen: set[str] = set()
        extras = []
        for bmp, value in items:
            name = names.get(bmp)
            if name is not None and name not in seen:
                kwargs[name] = value
                seen.add(name)
            else:
                extras.append((bmp, value))
        kwargs.update(fixed)
        return cls(**kwargs, raw_bitmaps=tuple(extras), unparsed=unparsed,
                   bmp_order=tuple(bmp for bmp, _ in items))

    def _items(self) -> list[tuple[int, Any]]:
        present = []
        for bmp, name in self._FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if (self.bmp_order is not None and bmp in self._DEFAULTED
                    and bmp not in self.bmp_order and value == self._DEFAULTED[bmp]):
                continue
            present.append((bmp, value))
        for item in self.raw_bitmaps:
            if not (isinstance(item, tuple) and len(item) == 2):
                raise LocalProtocolError(f"raw_bitmaps entries are (bmp, value), got {item!r}")
        items = present + list(self.raw_bitmaps)
        order = self.bmp_order
        if order is None or Counter(bmp for bmp, _ in items) != Counter(order):
            return items
        queues: dict[int, deque[Any]] = defaultdict(deque)
        for bmp, value in items:
            queues[bmp].append(value)
        return [(bmp, queues[bmp].popleft()) for bmp in order]

    def bitmap_bytes(self) -> bytes:
        if not isinstance(self.unparsed, bytes):
            raise LocalProtocolError(f"unparsed must be bytes, got {self.unparsed!r}")
        return bitmaps.encode_stream(self._items()) + self.unparsed

    def encode_data(self, ctx: CodecContext = DEFAULT_CONTEXT) -> bytes:
        return self.bitmap_bytes()

    @classmethod
    def decode_data(cls, data: bytes, ctx: CodecContext = DEFAULT_CONTEXT) -> Message:
        return cls._from_stream(data, 0)


def field_names(message: Any) -> list[str]:
    return [f.name for f in fields(message)]
