"""Rules for card data the backend may hold. It never stores a full PAN (DESIGN.md section 3).

A masked PAN may show at most the first 6 and the last 4 digits; every digit between them is
replaced by a mask character. Spaces and dashes may group the characters as on a receipt.
"""

from __future__ import annotations

import re

MASK_CHARACTERS = "*Xx#"
# The most a masked PAN may reveal: the issuer prefix (BIN) and the last four digits.
MAX_LEADING_DIGITS = 6
MAX_TRAILING_DIGITS = 4

_ALLOWED = re.compile(rf"^[0-9{re.escape(MASK_CHARACTERS)} -]*$")
_SHAPE = re.compile(
    rf"^(?P<lead>[0-9]*)(?P<mask>[{re.escape(MASK_CHARACTERS)}]+)(?P<trail>[0-9]*)$"
)


def masked_pan_error(value: str) -> str | None:
    """Why `value` is not an acceptable masked PAN, or None if it is.

    The reason never quotes the value, since a rejected value may be a real card number.
    """
    if not _ALLOWED.match(value):
        return "may contain only digits, mask characters (* X x #), spaces and dashes"
    compact = value.replace(" ", "").replace("-", "")
    if not compact:
        return "is empty"
    if compact.isdigit():
        if len(compact) <= MAX_TRAILING_DIGITS:
            return None
        return "shows too many digits: it looks like an unmasked card number"
    shape = _SHAPE.match(compact)
    if shape is None:
        return "has digits between masked positions; show only the first 6 and last 4"
    if len(shape["lead"]) > MAX_LEADING_DIGITS:
        return f"shows more than the first {MAX_LEADING_DIGITS} digits"
    if len(shape["trail"]) > MAX_TRAILING_DIGITS:
        return f"shows more than the last {MAX_TRAILING_DIGITS} digits"
    return None
