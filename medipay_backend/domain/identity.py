"""Norwegian national identity numbers and ages (pure; today's date is a parameter).

A fødselsnummer and a D-number (given to people without one; day of birth + 40) are both
11 digits with two MOD11 check digits; python-stdnum computes those. Its `validate` compares
with the machine's date, which rules in this package may not read, so the "not born yet"
check is made here against the date the caller passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from stdnum.exceptions import ValidationError
from stdnum.no import fodselsnummer

IdKind = Literal["fodselsnummer", "d-number"]
# Age limits of the invoicing rules: under 16 is billed to the guardians; under 18 a minor.
GUARDIAN_AGE = 16
ADULT_AGE = 18


@dataclass(frozen=True)
class NationalId:
    number: str
    kind: IdKind
    birth_date: date


class InvalidNationalId(ValueError):
    """The value is not a fødselsnummer or D-number; the message never repeats the value."""


def parse_national_id(value: str, today: date) -> NationalId:
    number = fodselsnummer.compact(value)
    if len(number) != 11 or not number.isdigit():
        raise InvalidNationalId("must be 11 digits")
    if (
        number[-2] != fodselsnummer.calc_check_digit1(number)
        or number[-1] != fodselsnummer.calc_check_digit2(number)
    ):
        raise InvalidNationalId("has wrong check digits")
    if int(number[2:4]) > 12:
        # H-numbers (month + 40) and synthetic test numbers identify no registered person.
        raise InvalidNationalId("is not a fødselsnummer or D-number")
    try:
        birth = fodselsnummer.get_birth_date(number)
    except ValidationError as exc:
        raise InvalidNationalId("does not hold a valid date of birth") from exc
    if birth > today:
        raise InvalidNationalId("has a date of birth in the future")
    kind: IdKind = "d-number" if int(number[0]) >= 4 else "fodselsnummer"
    return NationalId(number=number, kind=kind, birth_date=birth)


def age_on(birth_date: date, day: date) -> int:
    """Whole years of age on `day` (a birthday on 29 February counts from 1 March)."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years
