"""Text of SMPP messages by data_coding: 0 (GSM 03.38 default alphabet, one septet per octet,
as smpplib sends it), 3 (Latin-1) and 8 (UCS-2)."""

from __future__ import annotations

from smpplib.gsm import GSM_CHARACTER_TABLE

_ESCAPE = 0x1B


def decode_gsm(data: bytes) -> str:
    """GSM 03.38 in unpacked octets; 0x1B escapes into the extension table (€, [, ] ...)."""
    out: list[str] = []
    escaped = False
    for octet in data:
        if octet == _ESCAPE and not escaped:
            escaped = True
            continue
        index = octet + 0x80 if escaped else octet
        escaped = False
        out.append(GSM_CHARACTER_TABLE[index] if index < len(GSM_CHARACTER_TABLE) else "?")
    return "".join(out)


def decode_text(data: bytes, data_coding: int) -> str:
    if data_coding == 8:
        return data.decode("utf-16-be", "replace")
    if data_coding == 3:
        return data.decode("latin-1")
    return decode_gsm(data)
