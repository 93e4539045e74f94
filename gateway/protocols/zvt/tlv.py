"""The TLV container of BMP 06 (chapter 9): BER tags and lengths, nested constructed objects.

Lengths are BER: one byte below 0x80, `81 xx`, or `82 hi lo` (big-endian, unlike the APDU's
little-endian `FF lo hi`). A tag whose first byte has bit 6 (0x20) set is constructed: its value
is itself a list of data objects and is decoded into a nested `Tlv`.

Decoding is strict: a length that overruns its container, a truncated tag, or junk inside a
constructed object raise RemoteProtocolError. We loop over objects ourselves instead of using
construct's GreedyRange, which stops quietly at the first object it cannot parse and would turn
a truncated container into a silently shorter list.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

from construct import (
    Construct,
    ConstructError,
    GreedyBytes,
    Prefixed,
    SizeofError,
    Struct,
    ValidationError,
    stream_read,
    stream_write,
)

from .errors import LocalProtocolError, RemoteProtocolError

# The spec nests at most three levels (06 > 25 > E3 and the like). A bound keeps a hostile
# frame of thousands of nested headers from exhausting the Python stack.
MAX_TLV_DEPTH = 8
# Tags of the spec are at most two bytes (1F1F, FF04); four leaves room and keeps ints small.
MAX_TAG_BYTES = 4
# `82 hi lo` is the longest length form the spec defines.
MAX_TLV_LENGTH = 0xFFFF


class BerLength(Construct):
    """BER length: 0..7F in one byte, 81 xx, 82 hi lo. Parses to the length, or with
    `with_octets` to (length, number of length bytes) so odd forms can be kept."""

    def __init__(self, with_octets: bool = False) -> None:
        super().__init__()
        self.with_octets = with_octets

    def _parse(self, stream: Any, context: Any, path: Any) -> int | tuple[int, int]:
        first = stream_read(stream, 1, path)[0]
        if first < 0x80:
            length, octets = first, 1
        elif first == 0x81:
            length, octets = stream_read(stream, 1, path)[0], 2
        elif first == 0x82:
            length, octets = int.from_bytes(stream_read(stream, 2, path), "big"), 3
        else:
            raise ValidationError(f"invalid BER length byte {first:02X}", path=path)
        return (length, octets) if self.with_octets else length

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        length, octets = obj if isinstance(obj, tuple) else (obj, 0)
        data = encode_ber_length(length, octets)
        stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context: Any, path: Any) -> int:
        raise SizeofError("variable length", path=path)


class TagField(Construct):
    """A BER tag: one byte, or a first byte with number bits 11111 followed by more bytes
    while bit 8 is set. Parsed to the int of its bytes, e.g. 1F 1F -> 0x1F1F."""

    def _parse(self, stream: Any, context: Any, path: Any) -> int:
        raw = stream_read(stream, 1, path)
        if raw[0] & 0x1F == 0x1F:
            while True:
                if len(raw) == MAX_TAG_BYTES:
                    raise ValidationError("TLV tag longer than 4 bytes", path=path)
                raw += stream_read(stream, 1, path)
                if not raw[-1] & 0x80:
                    break
        return int.from_bytes(raw, "big")

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        data = tag_bytes(obj)
        stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context: Any, path: Any) -> int:
        raise SizeofError("variable length", path=path)


# One data object: never compiled (see fields.py) and never wrapped in GreedyRange.
_OBJECT = Struct("tag" / TagField(), "value" / Prefixed(BerLength(), GreedyBytes))
_HEADER = Struct("tag" / TagField(), "length" / BerLength(with_octets=True))


def tag_bytes(tag: int) -> bytes:
    """The wire bytes of a tag int; LocalProtocolError if it is not a well-formed BER tag."""
    if type(tag) is not int or tag < 0:
        raise LocalProtocolError(f"TLV tag must be a non-negative int, got {tag!r}")
    data = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    multi = data[0] & 0x1F == 0x1F
    well_formed = (
        len(data) <= MAX_TAG_BYTES
        and (multi or len(data) == 1)
        and (not multi or len(data) > 1)
        and all(b & 0x80 for b in data[1:-1])
        and not (len(data) > 1 and data[-1] & 0x80)
    )
    if not well_formed:
        raise LocalProtocolError(f"0x{tag:X} is not a well-formed BER tag")
    return data


def is_constructed(tag: int) -> bool:
    """Bit 6 of the first tag byte marks a constructed object."""
    first = tag >> (8 * ((max(1, (tag.bit_length() + 7) // 8)) - 1))
    return bool(first & 0x20)


def encode_ber_length(length: int, octets: int = 0) -> bytes:
    """Shortest BER length form, or the form with `octets` bytes if a decoded value used it."""
    if not 0 <= length <= MAX_TLV_LENGTH:
        raise LocalProtocolError(f"TLV length {length} does not fit the 82 hi lo form")
    if octets <= 1 and length < 0x80:
        return bytes([length])
    if octets <= 2 and length <= 0xFF:
        return bytes([0x81, length])
    return bytes([0x82]) + length.to_bytes(2, "big")


@dataclass(frozen=True)
class TlvObject:
    """One data object. `value` is bytes for primitive tags and a nested Tlv for constructed."""

    tag: int
    value: Union[bytes, Tlv]  # noqa: UP007 (forward reference inside a union)
    # Length octets seen on the wire when they were not the shortest form (0 = shortest),
    # kept only so that a decoded message re-encodes byte for byte.
    len_octets: int = field(default=0, compare=False, repr=False)

    @property
    def constructed(self) -> bool:
        return is_constructed(self.tag)

    def __repr__(self) -> str:
        return f"{self.tag:02X}={self.value!r}"


@dataclass(frozen=True)
class Tlv:
    """The BMP 06 container: an ordered list of data objects. Empty is valid (06 00 tells the
    terminal that the ECR understands TLV), so test `tlv is None`, not truthiness."""

    objects: tuple[TlvObject, ...] = ()
    len_octets: int = field(default=0, compare=False, repr=False)

    @classmethod
    def of(cls, *items: tuple[int, bytes | Tlv] | TlvObject) -> Tlv:
        """From (tag, value) pairs: `Tlv.of((0x1F1F, b""), (0x27, Tlv.of((0x14, b"\\x01"))))`."""
        return cls(tuple(i if isinstance(i, TlvObject) else TlvObject(i[0], i[1]) for i in items))

    def __repr__(self) -> str:
        return f"Tlv({', '.join(repr(o) for o in self.objects)})"

    def __iter__(self) -> Iterator[tuple[int, bytes | Tlv]]:
        return ((o.tag, o.value) for o in self.objects)

    def tags(self) -> list[int]:
        return [o.tag for o in self.objects]

    def get(self, tag: int) -> bytes | Tlv | None:
        """Value of the first top-level object with `tag`, or None."""
        return next((o.value for o in self.objects if o.tag == tag), None)

    def find_all(self, tag: int) -> list[bytes | Tlv]:
        """Values of every object with `tag`, depth first in wire order, nested ones included."""
        found: list[bytes | Tlv] = []
        for obj in self.objects:
            if obj.tag == tag:
                found.append(obj.value)
            if isinstance(obj.value, Tlv):
                found.extend(obj.value.find_all(tag))
        return found

    def find(self, tag: int) -> bytes | Tlv | None:
        """First value with `tag` anywhere in the tree (depth first), or None."""
        found = self.find_all(tag)
        return found[0] if found else None

    def replace(self, tag: int, value: bytes | Tlv) -> Tlv:
        """A copy with the top-level `tag` set to `value` (replaced in place, else appended)."""
        objects = [o for o in self.objects if o.tag != tag]
        index = next((i for i, o in enumerate(self.objects) if o.tag == tag), len(objects))
        objects.insert(index, TlvObject(tag, value))
        return Tlv(tuple(objects), self.len_octets)

    def encode(self) -> bytes:
        """The data objects (without the BMP 06 header)."""
        return b"".join(_encode_object(o) for o in self.objects)


def _encode_object(obj: TlvObject) -> bytes:
    if not isinstance(obj, TlvObject):
        raise LocalProtocolError(f"expected TlvObject, got {obj!r}")
    constructed = is_constructed(tag_int := obj.tag) if type(obj.tag) is int else False
    if isinstance(obj.value, Tlv):
        if not constructed:
            raise LocalProtocolError(f"tag 0x{obj.tag:X} is primitive but got a nested Tlv")
        body = obj.value.encode()
    elif isinstance(obj.value, bytes | bytearray):
        if constructed:
            raise LocalProtocolError(f"tag 0x{obj.tag:X} is constructed; give it a Tlv value")
        body = bytes(obj.value)
    else:
        raise LocalProtocolError(f"TLV value must be bytes or Tlv, got {obj.value!r}")
    return tag_bytes(tag_int) + encode_ber_length(len(body), obj.len_octets) + body


def decode_objects(data: bytes, depth: int = 0) -> Tlv:
    """Parse a list of data objects that must fill `data` exactly."""
    if depth > MAX_TLV_DEPTH:
        raise RemoteProtocolError(f"TLV nested deeper than {MAX_TLV_DEPTH} levels")
    stream = io.BytesIO(data)
    objects = []
    while stream.tell() < len(data):
        start = stream.tell()
        try:
            header = _HEADER.parse_stream(stream)
            stream.seek(start)
            parsed = _OBJECT.parse_stream(stream)
        except ConstructError as exc:
            raise RemoteProtocolError(
                f"truncated or malformed TLV object at offset {start}: {_why(exc)}"
            ) from exc
        tag, (length, octets) = header.tag, header.length
        value: bytes | Tlv = parsed.value
        if is_constructed(tag):
            value = decode_objects(parsed.value, depth + 1)
        minimal = len(encode_ber_length(length))
        objects.append(TlvObject(tag, value, octets if octets != minimal else 0))
    return Tlv(tuple(objects))


def _why(exc: ConstructError) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def iter_text_lines(tlv: Tlv, tags: Iterable[int] = (0x07,)) -> Iterator[bytes]:
    """Raw text-line values (tag 07 by default) in wire order, nested containers included."""
    wanted = set(tags)
    for obj in tlv.objects:
        if obj.tag in wanted and isinstance(obj.value, bytes):
            yield obj.value
        elif isinstance(obj.value, Tlv):
            yield from iter_text_lines(obj.value, wanted)
