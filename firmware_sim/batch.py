"""The open batch: stored transactions since the last End-of-Day, and their totals.

Pure functions over `TerminalState.batch`. A reversal does not edit the payment it reverses:
both stay in the batch and the totals leave out reversed payments (and the reversals).

What End-of-Day reports (BMP 04 and BMP 60, spec 3.1.3) is the payment turnover: payments that
were not reversed, per card scheme. Refunds cannot be expressed in those unsigned BCD fields;
they appear on the End-of-Day receipt and in `Totals.refunds`.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_sim.cards import TOTALS_BUCKETS, bucket_for_type
from firmware_sim.codes import (
    RESULT_ALREADY_REVERSED,
    RESULT_AMOUNT_WRONG,
    RESULT_REVERSAL_NOT_POSSIBLE,
)
from firmware_sim.state import Booking
from gateway.protocols import zvt
from gateway.protocols.zvt.messages import parse_turnover_totals

# BMP 60 counts are one binary byte per scheme.
MAX_COUNT_IN_BMP60 = 0xFF


@dataclass(frozen=True)
class SchemeTotal:
    count: int = 0
    amount: int = 0


@dataclass(frozen=True)
class Totals:
    first_receipt: int
    last_receipt: int
    payments: dict[str, SchemeTotal]  # by BMP 60 bucket
    refunds: SchemeTotal
    reversals: SchemeTotal

    @property
    def count(self) -> int:
        return sum(total.count for total in self.payments.values())

    @property
    def amount(self) -> int:
        return sum(total.amount for total in self.payments.values())

    def to_json(self) -> dict[str, object]:
        return {
            "first_receipt": self.first_receipt,
            "last_receipt": self.last_receipt,
            "count": self.count,
            "amount": self.amount,
            "payments": {name: {"count": t.count, "amount": t.amount}
                         for name, t in self.payments.items() if t.count},
            "refunds": {"count": self.refunds.count, "amount": self.refunds.amount},
            "reversals": {"count": self.reversals.count, "amount": self.reversals.amount},
        }


def bucket_of(booking: Booking) -> str:
    return bucket_for_type(booking.card_type)


def reversed_receipts(batch: list[Booking]) -> set[int]:
    return {b.original_receipt for b in batch
            if b.kind == "reversal" and b.original_receipt is not None}


def totals(batch: list[Booking]) -> Totals:
    undone = reversed_receipts(batch)
    counts = {name: [0, 0] for name in TOTALS_BUCKETS}
    refunds = [0, 0]
    reversals = [0, 0]
    for booking in batch:
        if booking.kind == "purchase" and booking.receipt not in undone:
            slot = counts[bucket_of(booking)]
        elif booking.kind == "refund":
            slot = refunds
        elif booking.kind == "reversal":
            slot = reversals
        else:
            continue
        slot[0] += 1
        slot[1] += booking.amount
    receipts = [b.receipt for b in batch if b.receipt is not None]
    return Totals(
        first_receipt=receipts[0] if receipts else 0,
        last_receipt=receipts[-1] if receipts else 0,
        payments={name: SchemeTotal(*pair) for name, pair in counts.items()},
        refunds=SchemeTotal(*refunds),
        reversals=SchemeTotal(*reversals),
    )


def _bcd(value: int, digits: int) -> bytes:
    text = f"{value:0{digits}d}"
    return bytes.fromhex(text)


def bmp60(summary: Totals) -> bytes:
    """BMP 60 of the End-of-Day Status Information: receipt range, then (count, total) for
    each of the spec's seven scheme slots."""
    data = _bcd(summary.first_receipt, 4) + _bcd(summary.last_receipt, 4)
    for name in TOTALS_BUCKETS:
        total = summary.payments[name]
        data += bytes([min(total.count, MAX_COUNT_IN_BMP60)]) + _bcd(total.amount, 12)
    return data


def find_reversible(batch: list[Booking], receipt: int | None,
                    amount: int | None) -> Booking | int:
    """The payment a Reversal (06 30) may undo, or the result code why it may not: only
    payments of the open batch can be reversed, once, and a given amount must match."""
    if receipt is None:
        return RESULT_REVERSAL_NOT_POSSIBLE
    for booking in batch:
        if booking.kind == "purchase" and booking.receipt == receipt:
            if receipt in reversed_receipts(batch):
                return RESULT_ALREADY_REVERSED
            if amount is not None and amount != booking.amount:
                return RESULT_AMOUNT_WRONG
            return booking
    return RESULT_REVERSAL_NOT_POSSIBLE


def turnover_totals(summary: Totals) -> zvt.TurnoverTotals:
    """The same totals in the codec's type, for comparing with what an ECR decoded."""
    return parse_turnover_totals(bmp60(summary))
