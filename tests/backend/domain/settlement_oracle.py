"""The settlement arithmetic as it was before it streamed: every line kept in memory.

A test oracle, kept verbatim in its rules (its own fee rounding included), so that the
streaming pieces of `domain.settlement` and the SQL of `settlement.runner` can be proven to
give the same lines, sums and errors. Not used by the product.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hypothesis import strategies as st

from medipay_backend.domain.ocr import OcrTransaction, kid_is_valid
from medipay_backend.domain.settlement import (
    STREAM_OF,
    FeeRule,
    InvalidItemError,
    ItemKind,
    SettlementError,
    SettlementItem,
    SettlementStream,
    StreamMismatchError,
)


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True)
class OracleLine:
    item: SettlementItem
    fee: int
    net: int


@dataclass(frozen=True)
class OracleSettlement:
    lines: tuple[OracleLine, ...]
    gross: int
    fees: int
    credits: int
    carried_in: int
    total: int
    carried_forward: int
    ocr_transactions: tuple[OcrTransaction, ...]


def settle(
    stream: SettlementStream, items: Iterable[SettlementItem], rule: FeeRule,
    carried_in: int = 0,
) -> OracleSettlement:
    if carried_in > 0:
        raise SettlementError("only a negative result is carried forward")
    lines: list[OracleLine] = []
    ocr: list[OcrTransaction] = []
    seen: set[str] = set()
    gross = fees = credits = 0
    for item in items:
        _check_item(item, stream, seen)
        if item.kind is ItemKind.PAYMENT:
            fee = rule.per_transaction + _round_half_up(item.amount * rule.percent_bp, 10_000)
            gross += item.amount
            fees += fee
            lines.append(OracleLine(item, fee, item.amount - fee))
        else:
            credits += item.amount
            lines.append(OracleLine(item, 0, -item.amount))
        if stream is not SettlementStream.POS and item.kid is not None:
            reversal = item.kind is ItemKind.CREDIT
            ocr.append(OcrTransaction(item.kid, item.amount, item.day, reversal))
    result = gross - fees - credits + carried_in
    return OracleSettlement(tuple(lines), gross, fees, credits, carried_in, max(result, 0),
                            min(result, 0), tuple(ocr))


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


# Strategies that hit the rounding rule's edges: with these percents an amount ending in the
# listed øre (or, at 50 %, any odd amount) is exactly half an øre of fee, where half up and
# other roundings part ways.
HALVING_PERCENTS = (1, 2, 4, 5, 8, 16, 25, 50, 125, 175, 5000)
HALVING_ENDINGS = (5000, 2500, 7500, 1250, 625, 200, 1, 3, 9999)


def fee_rules(max_per: int = 10**6) -> st.SearchStrategy[FeeRule]:
    percent = st.one_of(st.integers(0, 10_000), st.sampled_from(HALVING_PERCENTS))
    return st.builds(FeeRule, st.integers(0, max_per), percent)


def amounts(low: int, high: int) -> st.SearchStrategy[int]:
    """Amounts in [low, high], often ending just where a fee is half an øre."""
    edges = st.builds(lambda tens, end: tens * 10_000 + end,
                      st.integers(0, high // 10_000 - 1), st.sampled_from(HALVING_ENDINGS))
    return st.one_of(st.integers(low, min(high, 10**7)), st.integers(low, high), edges)
