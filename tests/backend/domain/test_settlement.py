"""Settlement arithmetic: fees, credits, carry-forward, the Balance Report and its OCR lines."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn

from medipay_backend.domain.ocr import OcrHeader, OcrTransaction, ocr_text, parse_ocr
from medipay_backend.domain.settlement import (
    STREAM_OF,
    FeeRule,
    InvalidItemError,
    ItemKind,
    SettlementError,
    SettlementItem,
    SettlementStream,
    Source,
    StreamMismatchError,
    settle,
)

DAY = date(2026, 1, 5)
RULE = FeeRule(per_transaction=150, percent_bp=175)  # NOK 1.50 + 1.75 %


def kid(n: int) -> str:
    base = str(n).zfill(9)
    return base + luhn.calc_check_digit(base)


def item(n: int, amount: int, source: Source = Source.CARD,
         kind: ItemKind = ItemKind.PAYMENT) -> SettlementItem:
    return SettlementItem(f"item-{n}", source, kind, amount, DAY,
                          None if source is Source.POS else kid(n))


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
    result = settle("clinic-1", SettlementStream.CHECKOUT, items, RULE, DAY)
    report = result.report
    fees = [150 + 875, 150 + 350, 150 + 1136]  # 1.75 % of 649.00 is 11.3575 -> 11.36
    assert report.gross == 134_900
    assert report.fees == sum(fees)
    assert report.credits == 10_000
    assert report.total == report.payout == 134_900 - sum(fees) - 10_000
    assert report.carried_forward == 0
    assert [line.net for line in report.lines] == [
        50_000 - fees[0], 20_000 - fees[1], 64_900 - fees[2], -10_000,
    ]
    assert [(t.kid, t.amount, t.reversal) for t in result.ocr_transactions] == [
        (kid(1), 50_000, False), (kid(2), 20_000, False), (kid(3), 64_900, False),
        (kid(4), 10_000, True),
    ]


def test_credits_larger_than_payments_are_carried_forward() -> None:
    items = [item(1, 1_000), item(2, 5_000, kind=ItemKind.CREDIT)]
    first = settle("c", SettlementStream.CHECKOUT, items, RULE, DAY).report
    assert first.total == 0
    assert first.carried_forward == 1_000 - RULE.fee(1_000) - 5_000
    later = settle("c", SettlementStream.CHECKOUT, [item(3, 10_000)], RULE, DAY,
                   carried_in=first.carried_forward).report
    assert later.total == 10_000 - RULE.fee(10_000) + first.carried_forward


def test_pos_items_never_reach_the_ocr_file() -> None:
    result = settle("c", SettlementStream.POS, [item(1, 5_000, Source.POS)], RULE, DAY)
    assert result.ocr_transactions == ()
    assert result.report.total == 5_000 - RULE.fee(5_000)


def test_fakturaservice_without_fees() -> None:
    result = settle("c", SettlementStream.FAKTURASERVICE,
                    [item(1, 64_900, Source.FAKTURASERVICE)], FeeRule(), DAY)
    assert result.report.total == 64_900


@pytest.mark.parametrize(
    ("items", "error"),
    [
        ([item(1, 100, Source.FAKTURASERVICE)], StreamMismatchError),
        ([item(1, 100, Source.POS)], StreamMismatchError),
        ([item(1, 100), item(1, 200)], InvalidItemError),
        ([item(1, 0)], InvalidItemError),
        ([SettlementItem("x", Source.CARD, ItemKind.PAYMENT, 100, DAY)], InvalidItemError),
        ([SettlementItem("x", Source.CARD, ItemKind.PAYMENT, 100, DAY, "12345683")],
         InvalidItemError),
    ],
)
def test_invalid_items(items: list[SettlementItem], error: type[Exception]) -> None:
    with pytest.raises(error):
        settle("c", SettlementStream.CHECKOUT, items, RULE, DAY)


def test_a_positive_carry_is_refused() -> None:
    with pytest.raises(SettlementError):
        settle("c", SettlementStream.CHECKOUT, [], RULE, DAY, carried_in=1)


def test_the_ocr_transactions_make_a_valid_file() -> None:
    result = settle("c", SettlementStream.CHECKOUT,
                    [item(n, 1_000 * n) for n in range(1, 6)], RULE, DAY)
    header = OcrHeader("0000001", "00010200", "001008566", "0000001", "99991042764", DAY)
    parsed = parse_ocr(ocr_text(header, result.ocr_transactions))
    assert [(p.kid, p.amount) for p in parsed.payments] == [
        (t.kid, t.amount) for t in result.ocr_transactions
    ]


@st.composite
def settlements(draw: st.DrawFn) -> tuple[SettlementStream, list[SettlementItem], FeeRule, int]:
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
    result = settle("c", stream, items, rule, DAY, carried_in=carried_in)
    report = result.report
    result_amount = report.gross - report.fees - report.credits + report.carried_in
    assert report.total == report.payout == max(result_amount, 0)
    assert report.carried_forward == min(result_amount, 0)
    assert report.total >= 0 >= report.carried_forward
    # The lines add up to the report.
    assert sum(line.net for line in report.lines) + carried_in == (
        report.total + report.carried_forward
    )
    assert sum(line.fee for line in report.lines) == report.fees
    # Every non-POS item is in the OCR list, in order, with its gross amount; no POS item is.
    expected = (
        []
        if stream is SettlementStream.POS
        else [OcrTransaction(i.kid or "", i.amount, i.day, i.kind is ItemKind.CREDIT)
              for i in items]
    )
    assert list(result.ocr_transactions) == expected
