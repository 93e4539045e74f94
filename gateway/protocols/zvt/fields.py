"""construct building blocks for ZVT field encodings: BCD, FxFy lengths, masked digits, text.

Adapters raise construct's ValidationError on bad input; the message layer turns every
ConstructError into our own RemoteProtocolError/LocalProtocolError. We never call `.compile()`:
a compiled `Prefixed` does not notice when fewer bytes follow than the length announced, and
that is exactly the check a truncated frame needs (see tests/protocols/zvt/test_zvt_traps.py).
"""

from __future__ import annotations

from typing import Any

from construct import (
    Adapter,
    Bytes,
    Construct,
    GreedyBytes,
    SizeofError,
    ValidationError,
    stream_read,
    stream_write,
)

from .charsets import CHARSET_CP437, decode_text, encode_text

_DIGITS = frozenset("0123456789")


def _fail(message: str, path: Any) -> ValidationError:
    return ValidationError(message, path=path)


class BcdDigits(Adapter):
    """`nbytes` packed BCD bytes <-> a string of exactly 2*nbytes decimal digits."""

    def __init__(self, nbytes: int) -> None:
        super().__init__(Bytes(nbytes))
        self.nbytes = nbytes

    def _decode(self, obj: bytes, context: Any, path: Any) -> str:
        text = obj.hex()
        if not text.isdigit():
            raise _fail(f"not packed BCD: {text.upper()}", path)
        return text

    def _encode(self, obj: Any, context: Any, path: Any) -> bytes:
        if not isinstance(obj, str) or len(obj) != 2 * self.nbytes or not set(obj) <= _DIGITS:
            raise _fail(f"expected {2 * self.nbytes} decimal digits, got {obj!r}", path)
        return bytes.fromhex(obj)


class BcdInt(Adapter):
    """`nbytes` packed BCD bytes <-> a non-negative int below 10**(2*nbytes)."""

    def __init__(self, nbytes: int) -> None:
        super().__init__(BcdDigits(nbytes))
        self.digits = 2 * nbytes

    def _decode(self, obj: str, context: Any, path: Any) -> int:
        return int(obj)

    def _encode(self, obj: Any, context: Any, path: Any) -> str:
        if type(obj) is not int or not 0 <= obj < 10**self.digits:
            raise _fail(f"expected an int 0..{10**self.digits - 1}, got {obj!r}", path)
        return f"{obj:0{self.digits}d}"


# Nibble values of BCD fields that may carry masked digits or track separators: 0-9 as digits,
# A-D as letters (D is the track separator), E shown as "*" (the spec's masked digit).
_NIBBLE_CHARS = "0123456789ABCD*"
_CHAR_NIBBLES = {ch: i for i, ch in enumerate(_NIBBLE_CHARS)}


class MaskedDigits(Adapter):
    """PAN / track data: packed nibbles, "E" masks a digit ("*"), an odd count ends in F."""

    def __init__(self) -> None:
        super().__init__(GreedyBytes)

    def _decode(self, obj: bytes, context: Any, path: Any) -> str:
        nibbles = obj.hex().upper()
        if nibbles.endswith("F"):
            nibbles = nibbles[:-1]
        if "F" in nibbles:
            raise _fail(f"F inside packed digits: {obj.hex().upper()}", path)
        return nibbles.replace("E", "*")

    def _encode(self, obj: Any, context: Any, path: Any) -> bytes:
        if not isinstance(obj, str) or not set(obj) <= _CHAR_NIBBLES.keys():
            raise _fail(f"expected digits, A-D or '*', got {obj!r}", path)
        nibbles = obj.replace("*", "E") + ("F" if len(obj) % 2 else "")
        return bytes.fromhex(nibbles)


class PaddedDigits(Adapter):
    """Fixed `nbytes` of digits right-padded with F (CVV/CVC, BMP 3A)."""

    def __init__(self, nbytes: int) -> None:
        super().__init__(Bytes(nbytes))
        self.width = 2 * nbytes

    def _decode(self, obj: bytes, context: Any, path: Any) -> str:
        digits = obj.hex().upper().rstrip("F")
        if not set(digits) <= _DIGITS:
            raise _fail(f"not F-padded digits: {obj.hex().upper()}", path)
        return digits

    def _encode(self, obj: Any, context: Any, path: Any) -> bytes:
        if not isinstance(obj, str) or len(obj) > self.width or not set(obj) <= _DIGITS:
            raise _fail(f"expected up to {self.width} digits, got {obj!r}", path)
        return bytes.fromhex(obj.ljust(self.width, "F"))


class Text(Adapter):
    """Text in the ZVT 8-bit set; every byte maps to one character, so this never fails."""

    def __init__(self, subcon: Construct = GreedyBytes) -> None:
        super().__init__(subcon)

    def _decode(self, obj: bytes, context: Any, path: Any) -> str:
        return decode_text(obj, CHARSET_CP437)

    def _encode(self, obj: Any, context: Any, path: Any) -> bytes:
        if not isinstance(obj, str):
            raise _fail(f"expected text, got {obj!r}", path)
        return encode_text(obj, CHARSET_CP437)


class PaddedText(Adapter):
    """Fixed-width text padded on the right (VU number with spaces, AID with NUL bytes).

    The padding is stripped on decode and added on encode, so trailing pad characters of the
    text itself do not survive a round trip (they are indistinguishable from padding).
    """

    def __init__(self, nbytes: int, pad: str) -> None:
        super().__init__(Bytes(nbytes))
        self.nbytes = nbytes
        self.pad = pad

    def _decode(self, obj: bytes, context: Any, path: Any) -> str:
        return decode_text(obj, CHARSET_CP437).rstrip(self.pad)

    def _encode(self, obj: Any, context: Any, path: Any) -> bytes:
        if not isinstance(obj, str):
            raise _fail(f"expected text, got {obj!r}", path)
        data = encode_text(obj.rstrip(self.pad), CHARSET_CP437)
        if len(data) > self.nbytes:
            raise _fail(f"text longer than {self.nbytes} bytes: {obj!r}", path)
        return data.ljust(self.nbytes, encode_text(self.pad, CHARSET_CP437))


class NulText(Adapter):
    """Null-terminated text (card name, BMP 8B): one trailing NUL is dropped / appended."""

    def __init__(self) -> None:
        super().__init__(GreedyBytes)

    def _decode(self, obj: bytes, context: Any, path: Any) -> str:
        return decode_text(obj[:-1] if obj.endswith(b"\x00") else obj, CHARSET_CP437)

    def _encode(self, obj: Any, context: Any, path: Any) -> bytes:
        if not isinstance(obj, str):
            raise _fail(f"expected text, got {obj!r}", path)
        return encode_text(obj, CHARSET_CP437) + b"\x00"


class FxVar(Construct):
    """LLVAR / LLLVAR: `ndigits` bytes F0-F9 give the decimal length of what follows.

    Reads exactly the announced number of bytes (stream_read raises on a short read) and hands
    them to `subcon`, so a length that overruns the data is an error, never a shorter value.
    """

    def __init__(self, ndigits: int, subcon: Construct) -> None:
        super().__init__()
        self.ndigits = ndigits
        self.subcon = subcon

    def _parse(self, stream: Any, context: Any, path: Any) -> Any:
        header = stream_read(stream, self.ndigits, path)
        length = 0
        for byte in header:
            if byte & 0xF0 != 0xF0 or byte & 0x0F > 9:
                raise _fail(f"bad LL-VAR length bytes {header.hex().upper()}", path)
            length = length * 10 + (byte & 0x0F)
        return self.subcon.parse(stream_read(stream, length, path))

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        data = self.subcon.build(obj)
        if len(data) >= 10**self.ndigits:
            raise _fail(f"{len(data)} bytes do not fit a {self.ndigits}-digit length", path)
        digits = f"{len(data):0{self.ndigits}d}"
        stream_write(stream, bytes(0xF0 | int(d) for d in digits) + data, self.ndigits + len(data),
                     path)
        return obj

    def _sizeof(self, context: Any, path: Any) -> int:
        raise SizeofError("variable length", path=path)


def llvar(subcon: Construct = GreedyBytes) -> FxVar:
    return FxVar(2, subcon)


def lllvar(subcon: Construct = GreedyBytes) -> FxVar:
    return FxVar(3, subcon)
