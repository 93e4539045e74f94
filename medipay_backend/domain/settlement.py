"""Settlement arithmetic for one clinic and one settlement stream.

Given the stream's items since the last settlement (payments and credits), the agreement's
fee rule and what was carried forward last time, compute the Balance Report and the OCR
transactions that go with it. The Balance Report's total is the payout, by construction.

Rules:
  * Fee per payment = price per transaction + amount * percent, where the percent part is in
    basis points (1 % = 100 bp) and rounded half up to whole øre per transaction. Rounding per
    transaction (not on the sum) makes every report line add up to the report total.
  * Credits (refunds) carry no fee and are deducted in full.
  * A carried-in amount is what a previous settlement left negative (<= 0); it is deducted.
  * If the result is negative, nothing is paid and the result is carried to the next
    settlement.
  * The OCR file lists every item with its KID and gross amount (credits as reversals);
    POS terminal payments are never in it (seed section 2.8).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import Enum

from .ocr import OcrTransaction, kid_is_valid

BASIS_POINTS = 10_000


class SettlementError(Exception):
    """Base of the errors of this module."""


class InvalidItemError(SettlementError):
    """An item has a bad amount, a missing or invalid KID, or a repeated id."""


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


@dataclass(frozen=True, slots=True)
class BalanceReport:
    clinic_id: str
    stream: SettlementStream
    settlement_date: date
    currency: str
    lines: tuple[ReportLine, ...]
    gross: int  # sum of payments
    fees: int
    credits: int  # sum of credits, as a positive number
    carried_in: int  # <= 0, from the previous settlement
    total: int  # paid to the clinic's bank account, >= 0
    carried_forward: int  # <= 0, to the next settlement

    @property
    def payout(self) -> int:
        return self.total


@dataclass(frozen=True, slots=True)
class Settlement:
    report: BalanceReport
    ocr_transactions: tuple[OcrTransaction, ...]


def settle(
    clinic_id: str,
    stream: SettlementStream,
    items: Iterable[SettlementItem],
    fee_rule: FeeRule,
    settlement_date: date,
    carried_in: int = 0,
    currency: str = "NOK",
) -> Settlement:
    """The Balance Report and OCR transactions for one clinic's stream."""
    if carried_in > 0:
        raise SettlementError("only a negative result is carried forward")
    lines: list[ReportLine] = []
    ocr: list[OcrTransaction] = []
    seen: set[str] = set()
    gross = fees = credits = 0
    for item in items:
        _check_item(item, stream, seen)
        if item.kind is ItemKind.PAYMENT:
            fee = fee_rule.fee(item.amount)
            gross += item.amount
            fees += fee
            lines.append(ReportLine(item, fee, item.amount - fee))
        else:
            credits += item.amount
            lines.append(ReportLine(item, 0, -item.amount))
        if stream is not SettlementStream.POS and item.kid is not None:
            reversal = item.kind is ItemKind.CREDIT
            ocr.append(OcrTransaction(item.kid, item.amount, item.day, reversal))
    result = gross - fees - credits + carried_in
    report = BalanceReport(
        clinic_id=clinic_id,
        stream=stream,
        settlement_date=settlement_date,
        currency=currency,
        lines=tuple(lines),
        gross=gross,
        fees=fees,
        credits=credits,
        carried_in=carried_in,
        total=max(result, 0),
        carried_forward=min(result, 0),
    )
    return Settlement(report, tuple(ocr))


def _check_item(item: SettlementItem, stream: SettlementStream, seen: set[str]) -> None:
    if STREAM_OF[item.source] is not stream:
        raise StreamMismatchError(f"item {item.id!r} from {item.source.value} is not {stream}")
    if item.id in seen:
        raise InvalidItemError(f"item {item.id!r} appears twice")
    seen.add(item.id)
    if not isinstance(item.amount, int) or isinstance(item.amount, bool) or item.amount <= 0:
        raise InvalidItemError(f"item {item.id!r}: amount must be > 0 øre")
    if stream is not SettlementStream.POS and (item.kid is None or not kid_is_valid(item.kid)):
        raise InvalidItemError(f"item {item.id!r}: a valid KID is needed for the OCR file")
