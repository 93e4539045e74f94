"""Dated tables of dunning fees and late-payment interest rates.

Fees and rates are set by Norwegian regulation and change over time, so they are data: a
table of entries, each valid from a date until the next entry starts. A lookup takes the date
that decides the rate (see `fee_on` and `interest_rate_on`), never "today" from a clock.

Money is in øre; interest rates are in basis points per year (1 % = 100 bp), so no floats.
The defaults below are public figures from Norwegian regulation (the collection regulation
for fees, the late-payment interest regulation for rates); extend the tables when a new
period is announced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Generic, TypeVar

T = TypeVar("T")


class RatesError(Exception):
    """Base of the errors of this module."""


class InvalidTableError(RatesError):
    """A table's entries are empty, unordered, or hold a negative amount."""


class NoRateError(RatesError):
    """A lookup asked for a date before the table's first entry."""


@dataclass(frozen=True, slots=True)
class Dated(Generic[T]):
    valid_from: date
    value: T


@dataclass(frozen=True, slots=True)
class RateTable(Generic[T]):
    """Entries in strictly increasing `valid_from` order; each applies until the next one."""

    name: str
    entries: tuple[Dated[T], ...]

    def __post_init__(self) -> None:
        if not self.entries:
            raise InvalidTableError(f"{self.name}: a table needs at least one entry")
        for earlier, later in zip(self.entries, self.entries[1:], strict=False):
            if not earlier.valid_from < later.valid_from:
                raise InvalidTableError(
                    f"{self.name}: {later.valid_from} does not follow {earlier.valid_from}"
                )

    def at(self, day: date) -> T:
        """The value in force on `day`."""
        found: Dated[T] | None = None
        for entry in self.entries:
            if entry.valid_from > day:
                break
            found = entry
        if found is None:
            raise NoRateError(f"{self.name}: nothing in force on {day}")
        return found.value

    def periods(self, start: date, end: date) -> list[tuple[date, date, T]]:
        """The half-open sub-periods [a, b) of [start, end) with the value of each.

        Used to accrue interest period by period instead of day by day.
        """
        if end <= start:
            return []
        result: list[tuple[date, date, T]] = []
        boundaries = [e.valid_from for e in self.entries[1:] if start < e.valid_from < end]
        cuts = [start, *boundaries, end]
        for a, b in zip(cuts, cuts[1:], strict=False):
            result.append((a, b, self.at(a)))
        return result


def table(name: str, entries: Sequence[tuple[date, T]]) -> RateTable[T]:
    """Build a table from (valid_from, value) pairs."""
    return RateTable(name, tuple(Dated(d, v) for d, v in entries))


# -- fees ---------------------------------------------------------------------------------


class FeeKind(Enum):
    """The fees charged to a debtor during dunning (they go to the provider)."""

    REMINDER = "reminder"  # purregebyr: on the reminder / collection notice
    COLLECTION_LIGHT = "collection_light"  # lett salær: with the payment demand
    COLLECTION_HEAVY = "collection_heavy"  # tungt salær: replaces the light fee later


@dataclass(frozen=True, slots=True)
class Bracket:
    """A fee for claims up to and including `up_to` øre (None: no upper bound)."""

    up_to: int | None
    fee: int


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """The fees in force for one period. Collection fees depend on the size of the claim."""

    reminder: int
    light: tuple[Bracket, ...]
    heavy: tuple[Bracket, ...]

    def __post_init__(self) -> None:
        if self.reminder < 0:
            raise InvalidTableError("the reminder fee is negative")
        for brackets in (self.light, self.heavy):
            if not brackets or brackets[-1].up_to is not None:
                raise InvalidTableError("brackets must end with an open upper bound")
            bounds: list[int] = []
            for bracket in brackets[:-1]:
                if bracket.up_to is None:
                    raise InvalidTableError("only the last bracket may be open")
                bounds.append(bracket.up_to)
            if any(a >= b for a, b in zip(bounds, bounds[1:], strict=False)):
                raise InvalidTableError("bracket bounds must increase strictly")
            if any(b.fee < 0 for b in brackets):
                raise InvalidTableError("a bracket fee is negative")

    def fee(self, kind: FeeKind, claim: int) -> int:
        """The fee of `kind` for a claim of `claim` øre (principal outstanding)."""
        if claim < 0:
            raise RatesError(f"claim {claim} øre is negative")
        if kind is FeeKind.REMINDER:
            return self.reminder
        brackets = self.light if kind is FeeKind.COLLECTION_LIGHT else self.heavy
        for bracket in brackets:
            if bracket.up_to is None or claim <= bracket.up_to:
                return bracket.fee
        raise InvalidTableError("unreachable: the last bracket is open")  # pragma: no cover


def _brackets(rows: Sequence[tuple[int | None, int]]) -> tuple[Bracket, ...]:
    """Rows in whole kroner -> brackets in øre."""
    return tuple(Bracket(None if up is None else up * 100, fee * 100) for up, fee in rows)


# Figures in NOK from Norwegian regulation. Until 30 Sep 2020: reminder fee 1/10 of the
# collection rate (NOK 700), light fee from half a rate. From 1 Oct 2020 the reminder fee was
# halved to NOK 35 and the light fees cut by claim size; the heavy fee is twice the light one.
# Which entry applies is decided by the claim's due date (the 2020 change applied to claims
# falling due from 1 Oct 2020), so look fees up by the invoice's due date.
DEFAULT_FEES: RateTable[FeeSchedule] = table(
    "collection fees",
    [
        (
            date(2017, 1, 1),
            FeeSchedule(
                reminder=7000,
                light=_brackets(
                    [(2_500, 350), (10_000, 700), (50_000, 1_400), (250_000, 2_800), (None, 5_600)]
                ),
                heavy=_brackets(
                    [(2_500, 700), (10_000, 1_400), (50_000, 2_800), (250_000, 5_600),
                     (None, 11_200)]
                ),
            ),
        ),
        (
            date(2020, 10, 1),
            FeeSchedule(
                reminder=3500,
                light=_brackets(
                    [(500, 175), (1_000, 245), (2_500, 280), (10_000, 560), (50_000, 1_120),
                     (250_000, 2_520), (None, 5_040)]
                ),
                heavy=_brackets(
                    [(500, 350), (1_000, 490), (2_500, 560), (10_000, 1_120), (50_000, 2_240),
                     (250_000, 5_040), (None, 10_080)]
                ),
            ),
        ),
    ],
)


def fee_on(
    kind: FeeKind, due_date: date, claim: int, fees: RateTable[FeeSchedule] = DEFAULT_FEES
) -> int:
    """The fee in øre for a claim of `claim` øre that fell due on `due_date`."""
    return fees.at(due_date).fee(kind, claim)


# -- late-payment interest (forsinkelsesrente) --------------------------------------------

# Basis points per year, set each half-year from 1 January and 1 July by Norwegian regulation
# (Norges Bank's policy rate plus at least 8 percentage points).
DEFAULT_INTEREST: RateTable[int] = table(
    "late-payment interest",
    [
        (date(2019, 1, 1), 875),
        (date(2019, 7, 1), 925),
        (date(2020, 1, 1), 950),
        (date(2020, 7, 1), 800),
        (date(2021, 1, 1), 800),
        (date(2021, 7, 1), 800),
        (date(2022, 1, 1), 850),
        (date(2022, 7, 1), 925),
        (date(2023, 1, 1), 1075),
        (date(2023, 7, 1), 1175),
        (date(2024, 1, 1), 1250),
        (date(2024, 7, 1), 1250),
        (date(2025, 1, 1), 1250),
    ],
)


def interest_rate_on(day: date, rates: RateTable[int] = DEFAULT_INTEREST) -> int:
    """The late-payment interest rate in basis points per year in force on `day`."""
    return rates.at(day)
