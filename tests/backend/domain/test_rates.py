"""Dated fee and interest tables."""

from __future__ import annotations

from datetime import date

import pytest

from medipay_backend.domain.rates import (
    DEFAULT_FEES,
    DEFAULT_INTEREST,
    Bracket,
    FeeKind,
    FeeSchedule,
    InvalidTableError,
    NoRateError,
    RatesError,
    fee_on,
    interest_rate_on,
    table,
)


def test_reminder_fee_was_35_kroner_in_2021() -> None:
    assert fee_on(FeeKind.REMINDER, date(2021, 6, 1), 100_000) == 3_500


def test_reminder_fee_depends_on_the_due_date() -> None:
    assert fee_on(FeeKind.REMINDER, date(2020, 9, 30), 100_000) == 7_000
    assert fee_on(FeeKind.REMINDER, date(2020, 10, 1), 100_000) == 3_500


@pytest.mark.parametrize(
    ("claim", "light", "heavy"),
    [
        (1, 17_500, 35_000),
        (50_000, 17_500, 35_000),  # up to and including NOK 500
        (50_001, 24_500, 49_000),
        (250_000, 28_000, 56_000),
        (5_000_000, 112_000, 224_000),
        (25_000_001, 504_000, 1_008_000),
    ],
)
def test_collection_fees_by_claim_size(claim: int, light: int, heavy: int) -> None:
    day = date(2024, 3, 1)
    assert fee_on(FeeKind.COLLECTION_LIGHT, day, claim) == light
    assert fee_on(FeeKind.COLLECTION_HEAVY, day, claim) == heavy


def test_heavy_fee_is_twice_the_light_fee() -> None:
    for entry in DEFAULT_FEES.entries:
        for light, heavy in zip(entry.value.light, entry.value.heavy, strict=True):
            assert (light.up_to, 2 * light.fee) == (heavy.up_to, heavy.fee)


def test_interest_rates_by_half_year() -> None:
    assert interest_rate_on(date(2021, 3, 1)) == 800
    assert interest_rate_on(date(2022, 6, 30)) == 850
    assert interest_rate_on(date(2022, 7, 1)) == 925
    assert interest_rate_on(date(2024, 1, 1)) == 1250
    assert interest_rate_on(date(2030, 1, 1)) == 1250  # the last entry until a new one
    with pytest.raises(NoRateError):
        interest_rate_on(date(2018, 12, 31))
    for entry in DEFAULT_INTEREST.entries:
        assert (entry.valid_from.month, entry.valid_from.day) in ((1, 1), (7, 1))


def test_periods_split_at_entry_boundaries() -> None:
    rates = table("t", [(date(2024, 1, 1), 100), (date(2024, 7, 1), 200)])
    assert rates.periods(date(2024, 6, 29), date(2024, 7, 3)) == [
        (date(2024, 6, 29), date(2024, 7, 1), 100),
        (date(2024, 7, 1), date(2024, 7, 3), 200),
    ]
    assert rates.periods(date(2024, 7, 3), date(2024, 7, 3)) == []


def test_invalid_tables() -> None:
    with pytest.raises(InvalidTableError):
        table("empty", [])
    with pytest.raises(InvalidTableError):
        table("unordered", [(date(2024, 7, 1), 1), (date(2024, 1, 1), 2)])
    with pytest.raises(InvalidTableError):
        FeeSchedule(3500, (Bracket(100, 1),), (Bracket(None, 2),))  # light not open-ended
    with pytest.raises(InvalidTableError):
        FeeSchedule(3500, (Bracket(200, 1), Bracket(100, 1), Bracket(None, 1)),
                    (Bracket(None, 2),))
    with pytest.raises(InvalidTableError):
        FeeSchedule(-1, (Bracket(None, 1),), (Bracket(None, 2),))
    with pytest.raises(RatesError):
        fee_on(FeeKind.COLLECTION_LIGHT, date(2024, 1, 1), -1)
