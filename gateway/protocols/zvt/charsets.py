"""The character sets of the spec (chapter 15 and TLV tag 14).

The default 8-bit ZVT set is CP437 (OEM-US). Every byte maps to a distinct character, so
decoding is lossless and re-encoding byte-exact. The spec's table draws glyphs (☺ ☻ ♥ ... ▼, ⌂)
for 0x01-0x1F and 0x7F: that is how a display shows those bytes. We decode them as the control
characters instead, because terminals use 0A as a line break inside display texts (see the
captures); `display_glyphs()` gives the drawn form when a caller wants to show it.

Norwegian letters: æ Æ å Å exist in CP437 but ø and Ø do not; a receipt with ø needs
ISO 8859-1 or -15 negotiated through tag 14 at Registration. Encoding ø in CP437 raises
LocalProtocolError instead of silently printing a substitute.
"""

from __future__ import annotations

from .errors import LocalProtocolError, RemoteProtocolError

CHARSET_ASCII = 0x00  # "ASCII 7 bit common character-set" (not the 7-bit ZVT set)
CHARSET_ISO_8859_1 = 0x01
CHARSET_ISO_8859_15 = 0x0F
CHARSET_UTF8 = 0xFE
CHARSET_CP437 = 0xFF  # the ZVT default, which every terminal must support

_SPEC_LOW_GLYPHS = (
    "\x00☺☻♥♦♣♠•◘○◙♂♀♪♫☼"
    "►◄↕‼¶§▬↨↑↓→←∟↔▲▼"
)
_CP437_DECODE: str = bytes(range(256)).decode("cp437")
_GLYPHS = str.maketrans({chr(i): _SPEC_LOW_GLYPHS[i] for i in range(1, 0x20)} | {"\x7f": "⌂"})
_CP437_ENCODE: dict[str, int] = {ch: i for i, ch in enumerate(_CP437_DECODE)}
assert len(_CP437_DECODE) == 256 and len(_CP437_ENCODE) == 256

# The 7-bit ZVT set (15.1): ASCII with German letters in place of [ \ ] { | } ~.
_ZVT7_SWAPS = {0x5B: "Ä", 0x5C: "Ö", 0x5D: "Ü", 0x7B: "ä", 0x7C: "ö", 0x7D: "ü", 0x7E: "ß"}
_ZVT7_DECODE: str = "".join(_ZVT7_SWAPS.get(i, chr(i)) for i in range(0x80))
_ZVT7_ENCODE: dict[str, int] = {ch: i for i, ch in enumerate(_ZVT7_DECODE)}

# Python codec names for tag 14 values 0x01-0x10 (ISO 8859-12 was never published).
_ISO_CODECS = {n: f"iso8859_{n}" for n in range(1, 17) if n != 12}


def display_glyphs(text: str) -> str:
    """Control characters 01-1F and 7F replaced by the glyphs the spec's CP437 table draws."""
    return text.translate(_GLYPHS)


def charset_name(charset: int) -> str:
    if charset == CHARSET_CP437:
        return "CP437 (ZVT 8-bit)"
    if charset == CHARSET_UTF8:
        return "UTF-8"
    if charset == CHARSET_ASCII:
        return "ASCII"
    if charset in _ISO_CODECS:
        return f"ISO 8859-{charset}"
    return f"unknown charset 0x{charset:02X}"


def is_supported(charset: int) -> bool:
    return charset in (CHARSET_CP437, CHARSET_UTF8, CHARSET_ASCII) or charset in _ISO_CODECS


def decode_text(data: bytes, charset: int = CHARSET_CP437) -> str:
    """Bytes from the peer to text; RemoteProtocolError if they are invalid in that set."""
    if charset == CHARSET_CP437:
        return "".join([_CP437_DECODE[b] for b in data])
    codec = _codec(charset, RemoteProtocolError)
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"text is not valid {charset_name(charset)}: {exc}") from exc


def encode_text(text: str, charset: int = CHARSET_CP437) -> bytes:
    """Text to bytes; LocalProtocolError naming the first character the set cannot carry."""
    if charset == CHARSET_CP437:
        try:
            return bytes([_CP437_ENCODE[ch] for ch in text])
        except KeyError as exc:
            raise LocalProtocolError(
                f"{exc.args[0]!r} cannot be sent in CP437; negotiate ISO 8859-1/-15 (tag 14)"
            ) from exc
    codec = _codec(charset, LocalProtocolError)
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"text cannot be sent in {charset_name(charset)}: {exc}") from exc


def decode_zvt7(data: bytes) -> str:
    """The 7-bit ZVT set, used e.g. for the software version in a Status Enquiry Completion."""
    try:
        return "".join([_ZVT7_DECODE[b] for b in data])
    except IndexError as exc:
        raise RemoteProtocolError("byte above 0x7F in a 7-bit ZVT text") from exc


def encode_zvt7(text: str) -> bytes:
    try:
        return bytes([_ZVT7_ENCODE[ch] for ch in text])
    except KeyError as exc:
        raise LocalProtocolError(f"{exc.args[0]!r} is not in the 7-bit ZVT set") from exc


def _codec(charset: int, error: type[Exception]) -> str:
    if charset == CHARSET_UTF8:
        return "utf-8"
    if charset == CHARSET_ASCII:
        return "ascii"
    if charset in _ISO_CODECS:
        return _ISO_CODECS[charset]
    raise error(f"{charset_name(charset)} is not a character set of the spec")
