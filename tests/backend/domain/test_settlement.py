"""Settlement arithmetic: fees, credits, carry-forward and the Balance Report, item by item,
and proven equal to the old in-memory `settle` (the oracle)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn

from medipay_backend.domain.settlement import (
    STREAM_OF,
    BalanceReport,
    FeeRule,
    InvalidItemError,
    ItemKind,
    ReportLine,
    SettlementError,
    SettlementItem,
    SettlementStream,
    Source,
    StreamMismatchError,
    Totals,
    balance_report,
    price,
)

from . import settlement_oracle as oracle

DAY = date(2026, 1, 5)
RULE = FeeRule(per_transaction=150, percent_bp=175)  # NOK 1.50 + 1.75 %


def kid(n: int) -> str:
    base = str(n).zfill(9)
    return base + luhn.calc_check_digit(base)


def item(n: int, amount: int, source: Source = Source.CARD,
         kind: ItemKind = ItemKind.PAYMENT) -> SettlementItem:
    return SettlementItem(f"item-{n}", source, kind, amount, DAY,
                          None if source is Source.POS else kid(n))


def settle(stream: SettlementStream, items: Iterable[SettlementItem], rule: FeeRule,
           carried_in: int = 0) -> tuple[list[ReportLine], BalanceReport]:
    """Price every item and fold it into the running totals, as a caller streams them."""
    lines: list[ReportLine] = []
    totals = Totals()
    for each in items:
        line = price(each, stream, rule)
        lines.append(line)
        totals = totals.add(line)
    return lines, balance_report("c", stream, DAY, totals, carried_in)


def test_fee_rule_rounds_half_up_per_transaction() -> None:
    assert RULE.fee(10_000) == 150 + 175
    assert FeeRule(0, 175).fee(200) == 4  # 3.5 øre -> 4
    assert FeeRule(0, 175).fee(199) == 3  # 3.4825 øre -> 3
    assert FeeRule(0, 0).fee(123_456) == 0
    with pytest.raises(SettlementError):
        FeeRule(-1, 0)


def test_a_checkout_settlement() -> None:
    items = [
        item(1, 50_000),
        item(2, 20_000, Source.VIPPS),
        item(3, 64_900, Source.BOUGHT_INVOICE),
        item(4, 10_000, kind=ItemKind.CREDIT),
    ]
    lines, report = settle(SettlementStream.CHECKOUT, items, RULE)
    fees = [150 + 875, 150 + 350, 150 + 1136]  # 1.75 % of 649.00 is 11.3575 -> 11.36
    assert (report.count, report.gross, report.fees, report.credits) == (
        4, 134_900, sum(fees), 10_000)
    assert report.total == report.payout == 134_900 - sum(fees) - 10_000
    assert report.carried_forward == 0
    assert [line.net for line in lines] == [
        50_000 - fees[0], 20_000 - fees[1], 64_900 - fees[2], -10_000,
    ]


def test_credits_larger_than_payments_are_carried_forward() -> None:
    items = [item(1, 1_000), item(2, 5_000, kind=ItemKind.CREDIT)]
    _, first = settle(SettlementStream.CHECKOUT, items, RULE)
    assert first.total == 0
    assert first.carried_forward == 1_000 - RULE.fee(1_000) - 5_000
    _, later = settle(SettlementStream.CHECKOUT, [item(3, 10_000)], RULE,
                      carried_in=first.carried_forward)
    assert later.total == 10_000 - RULE.fee(10_000) + first.carried_forward


def test_pos_items_need_no_kid() -> None:
    _, report = settle(SettlementStream.POS, [item(1, 5_000, Source.POS)], RULE)
    assert report.total == 5_000 - RULE.fee(5_000)


def test_fakturaservice_without_fees() -> None:
    _, report = settle(SettlementStream.FAKTURASERVICE,
                       [item(1, 64_900, Source.FAKTURASERVICE)], FeeRule())
    assert report.total == 64_900


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (item(1, 100, Source.FAKTURASERVICE), StreamMismatchError),
        (item(1, 100, Source.POS), StreamMismatchError),
        (item(1, 0), InvalidItemError),
        (SettlementItem("x", Source.CARD, ItemKind.PAYMENT, 100, DAY), InvalidItemError),
        (SettlementItem("x", Source.CARD, ItemKind.PAYMENT, 100, DAY, "12345683"),
         InvalidItemError),
    ],
)
def test_invalid_items(bad: SettlementItem, error: type[Exception]) -> None:
    with pytest.raises(error):
        price(bad, SettlementStream.CHECKOUT, RULE)


def test_a_positive_carry_and_negative_sums_are_refused() -> None:
    with pytest.raises(SettlementError):
        balance_report("c", SettlementStream.CHECKOUT, DAY, Totals(), carried_in=1)
    with pytest.raises(SettlementError):
        Totals(count=1, gross=-1)


@st.composite
def settlements(draw: st.DrawFn) -> tuple[SettlementStream, list[SettlementItem], FeeRule, int]:
    """Valid items of one stream, with amounts up to ten million kroner."""
    stream = draw(st.sampled_from(SettlementStream))
    sources = [s for s, owner in STREAM_OF.items() if owner is stream]
    count = draw(st.integers(0, 25))
    items = [
        item(n, draw(st.integers(1, 10**9)), draw(st.sampled_from(sources)),
             draw(st.sampled_from(ItemKind)))
        for n in range(count)
    ]
    rule = FeeRule(draw(st.integers(0, 1_000)), draw(st.integers(0, 1_000)))
    return stream, items, rule, draw(st.integers(-(10**9), 0))


@given(settlements())
def test_the_report_total_is_the_payout(
    case: tuple[SettlementStream, list[SettlementItem], FeeRule, int],
) -> None:
    stream, items, rule, carried_in = case
    lines, report = settle(stream, items, rule, carried_in)
    result_amount = report.gross - report.fees - report.credits + report.carried_in
    assert report.total == report.payout == max(result_amount, 0)
    assert report.carried_forward == min(result_amount, 0)
    assert report.total >= 0 >= report.carried_forward
    # The lines add up to the report.
    assert sum(line.net for line in lines) + carried_in == (
        report.total + report.carried_forward
    )
    assert sum(line.fee for line in lines) == report.fees
    assert report.count == len(items)


@st.composite
def any_items(draw: st.DrawFn) -> tuple[SettlementStream, list[SettlementItem], FeeRule, int]:
    """Items a stream may or may not accept: other streams' sources, zero amounts, missing or
    wrong KIDs, and amounts far beyond any payment (where a fee could overflow 64 bits)."""
    stream = draw(st.sampled_from(SettlementStream))
    count = draw(st.integers(0, 12))
    items = []
    for n in range(count):
        source = draw(st.sampled_from(Source)) if draw(st.integers(0, 9)) == 0 else draw(
            st.sampled_from([s for s, owner in STREAM_OF.items() if owner is stream]))
        amount = draw(oracle.amounts(0, 2**62))
        kid_text = draw(st.sampled_from([kid(n), kid(n), kid(n), None, kid(n)[:-1] + "x",
                                         "12345683"]))
        items.append(SettlementItem(f"item-{n}", source, draw(st.sampled_from(ItemKind)),
                                    amount, DAY, kid_text))
    return stream, items, draw(oracle.fee_rules()), draw(st.integers(-(10**12), 0))


@given(any_items())
def test_item_by_item_equals_the_old_settle(
    case: tuple[SettlementStream, list[SettlementItem], FeeRule, int],
) -> None:
    stream, items, rule, carried_in = case
    try:
        expected = oracle.settle(stream, items, rule, carried_in)
    except SettlementError as exc:
        with pytest.raises(type(exc)) as raised:
            settle(stream, items, rule, carried_in)
        assert str(raised.value) == str(exc)
        return
    lines, report = settle(stream, items, rule, carried_in)
    assert [(line.item, line.fee, line.net) for line in lines] == [
        (line.item, line.fee, line.net) for line in expected.lines
    ]
    assert (report.count, report.gross, report.fees, report.credits, report.carried_in,
            report.total, report.carried_forward) == (
        len(expected.lines), expected.gross, expected.fees, expected.credits,
        expected.carried_in, expected.total, expected.carried_forward)
