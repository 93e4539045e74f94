"""Settlement arithmetic for one clinic and one settlement stream.

The rules for pricing each item (a payment or a credit) of a stream since its last
settlement, and for closing the sums into the Balance Report. Nothing here keeps anything per
item, so a settlement of a million items needs no more memory than one of ten: the runner
prices the items inside the database (`settlement/items.py`, the same rule in SQL, proven
equal by property tests) and hands the sums to `balance_report`. The report's total is the
payout, by construction.

Rules:
  * Fee per payment = price per transaction + amount * percent, where the percent part is in
    basis points (1 % = 100 bp) and rounded half up to whole øre per transaction. Rounding per
    transaction (not on the sum) makes every report line add up to the report total.
  * Credits (refunds) carry no fee and are deducted in full.
  * A carried-in amount is what a previous settlement left negative (<= 0); it is deducted.
  * If the result is negative, nothing is paid and the result is carried to the next
    settlement.
  * The OCR file lists every item with its KID and gross amount (credits as reversals);
    POS terminal payments are never in it (seed section 2.8), so every other item needs a
    valid KID.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum

from .ocr import kid_is_valid

BASIS_POINTS = 10_000


class SettlementError(Exception):
    """Base of the errors of this module."""


class InvalidItemError(SettlementError):
    """An item has a bad amount or a missing or invalid KID."""


class StreamMismatchError(SettlementError):
    """An item belongs to another settlement stream."""


class SettlementStream(Enum):
    """Separate payouts per clinic (seed section 2.4)."""

    CHECKOUT = "checkout"  # card + Vipps + invoices the provider bought
    FAKTURASERVICE = "fakturaservice"  # clinic-owned claims, paid once the patient has paid
    POS = "pos"  # terminal payments


class Source(Enum):
    CARD = "card"
    VIPPS = "vipps"
    BOUGHT_INVOICE = "bought_invoice"
    FAKTURASERVICE = "fakturaservice"
    POS = "pos"


STREAM_OF: dict[Source, SettlementStream] = {
    Source.CARD: SettlementStream.CHECKOUT,
    Source.VIPPS: SettlementStream.CHECKOUT,
    Source.BOUGHT_INVOICE: SettlementStream.CHECKOUT,
    Source.FAKTURASERVICE: SettlementStream.FAKTURASERVICE,
    Source.POS: SettlementStream.POS,
}


class ItemKind(Enum):
    PAYMENT = "payment"
    CREDIT = "credit"


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator to the nearest int, halves up (both >= 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True, slots=True)
class FeeRule:
    """The agreement's price: øre per payment plus basis points of its amount."""

    per_transaction: int = 0
    percent_bp: int = 0

    def __post_init__(self) -> None:
        if self.per_transaction < 0 or self.percent_bp < 0:
            raise SettlementError("fees cannot be negative")

    def fee(self, amount: int) -> int:
        return self.per_transaction + round_half_up(amount * self.percent_bp, BASIS_POINTS)


@dataclass(frozen=True, slots=True)
class SettlementItem:
    id: str
    source: Source
    kind: ItemKind
    amount: int  # øre, > 0 (a credit is a positive amount deducted)
    day: date
    kid: str | None = None  # required except for POS


@dataclass(frozen=True, slots=True)
class ReportLine:
    item: SettlementItem
    fee: int
    net: int  # payment: amount - fee; credit: -amount


def check_item(item: SettlementItem, stream: SettlementStream) -> None:
    """Raise if `item` cannot be settled in `stream`.

    Repeated ids are not looked for: the ledger's key makes transfer ids unique, and a set of
    every id seen would grow with the number of items.
    """
    if STREAM_OF[item.source] is not stream:
        raise StreamMismatchError(f"item {item.id!r} from {item.source.value} is not {stream}")
    if not isinstance(item.amount, int) or isinstance(item.amount, bool) or item.amount <= 0:
        raise InvalidItemError(f"item {item.id!r}: amount must be > 0 øre")
    if stream is not SettlementStream.POS and (item.kid is None or not kid_is_valid(item.kid)):
        raise InvalidItemError(f"item {item.id!r}: a valid KID is needed for the OCR file")


def price(item: SettlementItem, stream: SettlementStream, rule: FeeRule) -> ReportLine:
    """The item's line of the report: a payment pays its fee, a credit is deducted in full."""
    check_item(item, stream)
    if item.kind is ItemKind.PAYMENT:
        fee = rule.fee(item.amount)
        return ReportLine(item, fee, item.amount - fee)
    return ReportLine(item, 0, -item.amount)


@dataclass(frozen=True, slots=True)
class Totals:
    """Running sums of a settlement's lines: all the report needs, whatever the item count."""

    count: int = 0
    gross: int = 0  # sum of payments
    fees: int = 0
    credits: int = 0  # sum of credits, as a positive number

    def __post_init__(self) -> None:
        if min(self.count, self.gross, self.fees, self.credits) < 0:
            raise SettlementError(f"sums cannot be negative: {self}")

    def add(self, line: ReportLine) -> Totals:
        if line.item.kind is ItemKind.PAYMENT:
            return Totals(self.count + 1, self.gross + line.item.amount, self.fees + line.fee,
                          self.credits)
        return Totals(self.count + 1, self.gross, self.fees, self.credits + line.item.amount)


@dataclass(frozen=True, slots=True)
class BalanceReport:
    clinic_id: str
    stream: SettlementStream
    settlement_date: date
    currency: str
    count: int  # items settled
    gross: int  # sum of payments
    fees: int
    credits: int  # sum of credits, as a positive number
    carried_in: int  # <= 0, from the previous settlement
    total: int  # paid to the clinic's bank account, >= 0
    carried_forward: int  # <= 0, to the next settlement

    @property
    def payout(self) -> int:
        return self.total


def balance_report(
    clinic_id: str,
    stream: SettlementStream,
    settlement_date: date,
    totals: Totals,
    carried_in: int = 0,
    currency: str = "NOK",
) -> BalanceReport:
    """Close the sums: pay what is positive, carry forward what is negative."""
    if carried_in > 0:
        raise SettlementError("only a negative result is carried forward")
    result = totals.gross - totals.fees - totals.credits + carried_in
    return BalanceReport(
        clinic_id=clinic_id,
        stream=stream,
        settlement_date=settlement_date,
        currency=currency,
        count=totals.count,
        gross=totals.gross,
        fees=totals.fees,
        credits=totals.credits,
        carried_in=carried_in,
        total=max(result, 0),
        carried_forward=min(result, 0),
    )
