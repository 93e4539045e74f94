"""APDU framing: CLASS INSTR LEN data, LEN one byte (0-254) or FF lo hi (little-endian).

`ApduBuffer` is the TCP receiver: it copes with any fragmentation and several APDUs in one
read, because it only ever looks at complete headers and lengths.
"""

from __future__ import annotations

from typing import Any

from construct import (
    Construct,
    ConstructError,
    GreedyBytes,
    Int8ub,
    Int16ul,
    Prefixed,
    SizeofError,
    Struct,
    stream_read,
    stream_write,
)

from .errors import LocalProtocolError, RemoteProtocolError

# The extended length field is two bytes, so no data block can exceed 65535 bytes.
MAX_DATA = 0xFFFF
# A one-byte length of FF means "extended length follows", so one byte covers 0..254 only.
MAX_SHORT = 0xFE


class ApduLength(Construct):
    def _parse(self, stream: Any, context: Any, path: Any) -> int:
        first = stream_read(stream, 1, path)[0]
        if first != 0xFF:
            return first
        return int(Int16ul._parsereport(stream, context, path))

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        if obj <= MAX_SHORT:
            stream_write(stream, bytes([obj]), 1, path)
        else:
            stream_write(stream, b"\xff" + obj.to_bytes(2, "little"), 3, path)
        return obj

    def _sizeof(self, context: Any, path: Any) -> int:
        raise SizeofError("variable length", path=path)


APDU = Struct("cls" / Int8ub, "instr" / Int8ub, "data" / Prefixed(ApduLength(), GreedyBytes))


def encode_apdu(cls: int, instr: int, data: bytes) -> bytes:
    if not (0 <= cls <= 0xFF and 0 <= instr <= 0xFF):
        raise LocalProtocolError(f"CLASS/INSTR must be bytes, got {cls!r}/{instr!r}")
    if len(data) > MAX_DATA:
        raise LocalProtocolError(f"APDU data of {len(data)} bytes exceeds {MAX_DATA}")
    try:
        return bytes(APDU.build({"cls": cls, "instr": instr, "data": bytes(data)}))
    except ConstructError as exc:  # pragma: no cover - guarded above
        raise LocalProtocolError(f"cannot build APDU: {exc}") from exc


def complete_length(buffer: bytes | bytearray) -> int | None:
    """Total size of the APDU at the start of `buffer` once its header is in, else None."""
    if len(buffer) < 3:
        return None
    if buffer[2] != 0xFF:
        return 3 + buffer[2]
    if len(buffer) < 5:
        return None
    return 5 + int.from_bytes(buffer[3:5], "little")


def decode_apdu(frame: bytes) -> tuple[int, int, bytes]:
    """Split one complete APDU; RemoteProtocolError unless `frame` is exactly one APDU."""
    try:
        parsed = APDU.parse(frame)
    except ConstructError as exc:
        raise RemoteProtocolError(f"truncated APDU {frame[:8].hex(' ').upper()}...") from exc
    total = complete_length(frame)
    if total != len(frame):
        raise RemoteProtocolError(
            f"APDU length field says {total} bytes but the frame has {len(frame)}"
        )
    return parsed.cls, parsed.instr, bytes(parsed.data)


class ApduBuffer:
    """Accumulates stream bytes and cuts them into whole APDUs."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def __len__(self) -> int:
        return len(self._buffer)

    def next_frame(self) -> bytes | None:
        total = complete_length(self._buffer)
        if total is None or len(self._buffer) < total:
            return None
        frame = bytes(self._buffer[:total])
        del self._buffer[:total]
        return frame
