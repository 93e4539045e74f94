"""CRC of the serial frame: CRC-16 with polynomial x^16 + x^12 + x^5 + 1, bit-reflected, initial
value 0, no final XOR (the "KERMIT" variant; the spec calls it CRC-XModem but its check values
only come out with reflected processing). Computed over the APDU and the ETX, without the
leading DLE STX, without the DLE before ETX and without stuffed DLEs; sent low byte first.
"""

from __future__ import annotations


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _table()


def crc16_kermit(data: bytes, crc: int = 0) -> int:
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def frame_crc(apdu: bytes) -> bytes:
    """The two CRC bytes that follow DLE ETX, low byte first."""
    return crc16_kermit(apdu + b"\x03").to_bytes(2, "little")
