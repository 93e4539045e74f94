"""Test people: valid national ID numbers and D-numbers, order bodies."""

from __future__ import annotations

from datetime import date
from typing import Any

from stdnum.no import fodselsnummer


def national_id(born: date, serial: int = 0, d_number: bool = False) -> str:
    """A fødselsnummer (or D-number) with correct check digits for someone born on `born`."""
    if 1900 <= born.year <= 1999:
        first, last = 0, 499  # individual numbers of people born in the 1900s
    elif 2000 <= born.year <= 2039:
        first, last = 500, 999
    else:
        raise ValueError("test people are born 1900-2039")
    day = born.day + (40 if d_number else 0)
    span = last - first + 1
    for step in range(span):
        individual = first + (serial + step) % span
        base = f"{day:02d}{born.month:02d}{born.year % 100:02d}{individual:03d}"
        check1 = fodselsnummer.calc_check_digit1(base)
        if not (len(check1) == 1 and check1.isdigit()):
            continue
        check2 = fodselsnummer.calc_check_digit2(base + check1)
        if len(check2) == 1 and check2.isdigit():
            return base + check1 + check2
    raise AssertionError("no valid number found")


ADULT = national_id(date(1985, 3, 14), 1)
ADULT_2 = national_id(date(1990, 7, 2), 2)
D_NUMBER = national_id(date(1979, 11, 30), 3, d_number=True)
TEEN_17 = national_id(date(2008, 6, 1), 4)  # 17 in January 2026
CHILD_10 = national_id(date(2015, 8, 20), 5)
ORG_NUMBER = "974760673"  # a well-formed organisation number (MOD11)
BANK_ACCOUNT = "86011117947"
ADDRESS = {"street": "Storgata 1", "postal_code": "0155", "city": "Oslo"}


def order(n: int = 1, **overrides: Any) -> dict[str, Any]:
    """A plausible order for an adult patient with mobile, address and national ID."""
    body: dict[str, Any] = {
        "idempotency_key": f"bill-{n:06d}",
        "external_reference": f"RK-{n}",
        "amount": 45_000 + n,
        "patient": {
            "name": "Kari Nordmann",
            "national_id": ADULT,
            "mobile": "+47 912 34 567",
            "email": "kari@example.no",
            "address": dict(ADDRESS),
        },
    }
    body.update(overrides)
    return body
