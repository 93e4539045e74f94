"""Late-payment interest: actual/365 across rate periods, one rounding at the end."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medipay_backend.domain.interest import (
    InvalidPeriodError,
    InvalidPrincipalError,
    accrued_interest,
    exact_interest,
    interest_on_balances,
    late_interest,
    round_half_up,
)
from medipay_backend.domain.rates import table

FLAT = table("flat 10 %", [(date(2000, 1, 1), 1000)])
STEPPED = table("stepped", [(date(2000, 1, 1), 800), (date(2024, 7, 1), 1250)])

days = st.dates(date(2019, 1, 1), date(2027, 12, 31))
principals = st.integers(0, 10**11)


def test_a_year_at_ten_percent() -> None:
    assert accrued_interest(100_000, date(2023, 1, 1), date(2024, 1, 1), FLAT) == 10_000


def test_a_leap_year_earns_366_days() -> None:
    assert accrued_interest(365_000, date(2024, 1, 1), date(2025, 1, 1), FLAT) == 36_600


def test_a_period_across_a_rate_change_uses_both_rates() -> None:
    # 10 days at 8 % and 10 days at 12.5 % on NOK 10,000.
    expected = Fraction(1_000_000 * (800 * 10 + 1250 * 10), 3_650_000)
    start, end = date(2024, 6, 21), date(2024, 7, 11)
    assert exact_interest(1_000_000, start, end, STEPPED) == expected
    assert accrued_interest(1_000_000, start, end, STEPPED) == round_half_up(
        expected.numerator, expected.denominator
    ) == 5_616


def test_late_interest_counts_days_after_the_due_date() -> None:
    due = date(2024, 3, 1)
    assert late_interest(1_000_000, due, due, FLAT) == 0
    assert late_interest(1_000_000, due, due - timedelta(days=3), FLAT) == 0
    one_day = Fraction(1_000_000 * 1000, 3_650_000)
    assert late_interest(1_000_000, due, due + timedelta(days=1), FLAT) == round(one_day)
    assert late_interest(1_000_000, due, due + timedelta(days=30), FLAT) == accrued_interest(
        1_000_000, date(2024, 3, 2), date(2024, 4, 1), FLAT  # 30 days: 2-31 March
    )


def test_round_half_up() -> None:
    assert [round_half_up(n, 2) for n in range(6)] == [0, 1, 1, 2, 2, 3]


def test_invalid_inputs() -> None:
    with pytest.raises(InvalidPrincipalError):
        accrued_interest(-1, date(2024, 1, 1), date(2024, 2, 1), FLAT)
    with pytest.raises(InvalidPeriodError):
        accrued_interest(1, date(2024, 2, 1), date(2024, 1, 1), FLAT)
    with pytest.raises(InvalidPeriodError):
        interest_on_balances([(date(2024, 2, 1), 1), (date(2024, 1, 1), 1)], date(2024, 3, 1))


@given(principal=principals, start=days, length=st.integers(0, 800), cut=st.integers(0, 800))
def test_splitting_a_period_changes_the_total_by_at_most_one_ore(
    principal: int, start: date, length: int, cut: int
) -> None:
    end = start + timedelta(days=length)
    middle = start + timedelta(days=min(cut, length))
    whole = accrued_interest(principal, start, end)
    parts = accrued_interest(principal, start, middle) + accrued_interest(principal, middle, end)
    assert abs(parts - whole) <= 1
    # The exact amounts add up exactly; only the rounding differs.
    assert exact_interest(principal, start, middle) + exact_interest(
        principal, middle, end
    ) == exact_interest(principal, start, end)
    assert abs(whole - exact_interest(principal, start, end)) <= Fraction(1, 2)


@given(start=days, length=st.integers(0, 3000))
def test_zero_principal_earns_nothing(start: date, length: int) -> None:
    assert accrued_interest(0, start, start + timedelta(days=length)) == 0


@given(principal=principals, start=days, length=st.integers(0, 800), more=st.integers(0, 50))
def test_interest_grows_with_time_and_principal(
    principal: int, start: date, length: int, more: int
) -> None:
    end = start + timedelta(days=length)
    base = accrued_interest(principal, start, end)
    assert accrued_interest(principal, start, end + timedelta(days=more)) >= base
    assert accrued_interest(principal + more, start, end) >= base


@given(principal=principals, start=days, length=st.integers(1, 800), cut=st.integers(0, 800))
def test_a_constant_balance_schedule_matches_a_single_call(
    principal: int, start: date, length: int, cut: int
) -> None:
    end = start + timedelta(days=length)
    middle = start + timedelta(days=min(cut, length))
    schedule = [(start, principal), (middle, principal)]
    assert interest_on_balances(schedule, end) == accrued_interest(principal, start, end)


def test_a_part_payment_lowers_the_interest_from_its_day() -> None:
    schedule = [(date(2023, 1, 1), 100_000), (date(2023, 7, 2), 50_000)]
    # 182 days on 1000 kr and 183 days on 500 kr at 10 %.
    expected = round_half_up(1000 * (100_000 * 182 + 50_000 * 183), 3_650_000)
    assert interest_on_balances(schedule, date(2024, 1, 1), FLAT) == expected
