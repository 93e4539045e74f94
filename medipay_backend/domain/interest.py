"""Late-payment interest (forsinkelsesrente) accrued day by day across rate periods.

Day count: actual/365. Each calendar day in the period earns `principal * rate / 365`, with
the rate in force on that day (so a period that crosses 1 January or 1 July uses both rates,
and a leap year's 366 days earn 366/365 of the annual rate).

Rounding rule, exactly: the interest of every day is summed as an exact fraction (the
numerator `sum(principal * rate_bp)` over the denominator 365 * 10 000), and only the total
is rounded, once, half up, to whole øre. Consequences the tests check:
  * zero principal or an empty period gives 0;
  * splitting a period in two and adding the rounded parts differs from the rounded whole by
    at most 1 øre (each rounding is off by at most half an øre); splitting into n parts by at
    most n // 2 øre. So always compute a claim's interest in one call from the due date (with
    `interest_on_balances` when the principal changed) instead of adding daily roundings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from fractions import Fraction

from .rates import DEFAULT_INTEREST, RateTable

DAYS_PER_YEAR = 365  # actual/365 "fixed": the divisor does not change in leap years
BASIS_POINTS = 10_000
DENOMINATOR = DAYS_PER_YEAR * BASIS_POINTS


class InterestError(Exception):
    """Base of the errors of this module."""


class InvalidPrincipalError(InterestError):
    """A principal is negative or not an int of øre."""


class InvalidPeriodError(InterestError):
    """Balance changes are out of order or the period ends before it starts."""


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest int, halves away from zero (both >= 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


def _check_principal(principal: int) -> None:
    if not isinstance(principal, int) or isinstance(principal, bool) or principal < 0:
        raise InvalidPrincipalError(f"principal must be a non-negative int of øre: {principal!r}")


def interest_numerator(
    principal: int, start: date, end: date, rates: RateTable[int] = DEFAULT_INTEREST
) -> int:
    """The exact interest on days start <= day < end, times `DENOMINATOR` (an int)."""
    _check_principal(principal)
    if end < start:
        raise InvalidPeriodError(f"period ends {end} before it starts {start}")
    total = 0
    for a, b, rate in rates.periods(start, end):
        if rate < 0:
            raise InterestError(f"negative rate {rate} bp from {a}")
        total += principal * rate * (b - a).days
    return total


def exact_interest(
    principal: int, start: date, end: date, rates: RateTable[int] = DEFAULT_INTEREST
) -> Fraction:
    """The unrounded interest in øre on days start <= day < end."""
    return Fraction(interest_numerator(principal, start, end, rates), DENOMINATOR)


def accrued_interest(
    principal: int, start: date, end: date, rates: RateTable[int] = DEFAULT_INTEREST
) -> int:
    """Interest in whole øre on `principal` øre for the days start <= day < end."""
    return round_half_up(interest_numerator(principal, start, end, rates), DENOMINATOR)


def late_interest(
    principal: int, due_date: date, paid_on: date, rates: RateTable[int] = DEFAULT_INTEREST
) -> int:
    """Interest for paying on `paid_on` a claim due on `due_date`.

    Interest runs from the day after the due date up to and including the day of payment:
    paying on the due date costs nothing, one day late costs one day.
    """
    if paid_on <= due_date:
        _check_principal(principal)
        return 0
    one_day = timedelta(days=1)
    return accrued_interest(principal, due_date + one_day, paid_on + one_day, rates)


def interest_on_balances(
    balances: Sequence[tuple[date, int]], end: date, rates: RateTable[int] = DEFAULT_INTEREST
) -> int:
    """Interest in whole øre on a principal that changes over time, rounded once.

    `balances` holds (from_day, principal) in increasing date order: each principal applies
    from its day until the next entry's day, the last one until `end` (exclusive).
    """
    total = 0
    for index, (start, principal) in enumerate(balances):
        stop = balances[index + 1][0] if index + 1 < len(balances) else end
        if stop < start:
            raise InvalidPeriodError(f"balance changes out of order at {start}")
        total += interest_numerator(principal, start, stop, rates)
    return round_half_up(total, DENOMINATOR)
