"""Contact details on an order: mobile numbers, e-mail, postal addresses, organisation numbers.

Each check returns a normalised value or raises `ContactError` with a reason that never
repeats the value (it may be personal data).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum.exceptions import ValidationError
from stdnum.no import orgnr

NORWAY = "NO"
_SEPARATORS = re.compile(r"[ \-.()]")
# E.164: a country code and subscriber number, at most 15 digits in all.
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Norwegian mobile numbers are eight digits starting with 4 or 9 (Nkom's numbering plan).
_NO_MOBILE = re.compile(r"^[49][0-9]{7}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_NO_POSTAL_CODE = re.compile(r"^[0-9]{4}$")


class ContactError(ValueError):
    pass


def normalise_mobile(value: str) -> str:
    """A mobile number as E.164 (`+4791234567`); Norwegian numbers may omit +47."""
    compact = _SEPARATORS.sub("", value)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+"):
        compact = "+47" + compact
    if not _E164.match(compact):
        raise ContactError("is not a phone number (8 digits, or + and a country code)")
    if compact.startswith("+47") and not _NO_MOBILE.match(compact[3:]):
        raise ContactError("is not a Norwegian mobile number (8 digits starting with 4 or 9)")
    return compact


def normalise_email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ContactError("is not an e-mail address")
    return value


def normalise_org_number(value: str) -> str:
    try:
        return str(orgnr.validate(value))
    except ValidationError as exc:
        raise ContactError("is not a valid Norwegian organisation number") from exc


@dataclass(frozen=True)
class Address:
    street: str
    postal_code: str
    city: str
    country: str = NORWAY


def address_errors(address: Address) -> dict[str, str]:
    """Problems with a postal address, by field name."""
    errors: dict[str, str] = {}
    if not address.street.strip():
        errors["street"] = "is empty"
    if not address.city.strip():
        errors["city"] = "is empty"
    if address.country == NORWAY and not _NO_POSTAL_CODE.match(address.postal_code):
        errors["postal_code"] = "must be four digits in Norway"
    elif not address.postal_code.strip():
        errors["postal_code"] = "is empty"
    return errors
