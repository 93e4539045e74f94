"""The chart of accounts and the business postings, played through a day of a clinic."""

from __future__ import annotations

from datetime import timedelta

import pytest

from medipay_backend.domain.allocation import ClaimOwner, Outstanding, allocate
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.ledger import (
    AccountFlags,
    Applied,
    InvalidAccountError,
    Ledger,
    Rejected,
    RejectReason,
    chart,
    post_pending,
    postings,
    void_pending,
)
from medipay_backend.ledger.chart import AccountCode, Channel

from .support import T0

CLINIC = "clinic-1"
CHECKOUT = SettlementStream.CHECKOUT
FAKTURASERVICE = SettlementStream.FAKTURASERVICE


def test_chart_ids_and_flags() -> None:
    accounts = {a.id: a for a in chart.provider_accounts() + chart.clinic_accounts(CLINIC)}
    assert chart.payable_id(CLINIC, CHECKOUT) == "clinic:clinic-1:checkout:payable"
    assert chart.clearing_id(Channel.VIPPS) == "provider:clearing:vipps"
    for stream in SettlementStream:
        payable = accounts[chart.payable_id(CLINIC, stream)]
        assert payable.code == AccountCode.CLINIC_PAYABLE
        assert payable.flags == AccountFlags.NONE  # a negative result is carried forward
    assert accounts[chart.purchased_claims_id()].flags == (
        AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
    )
    assert accounts[chart.suspense_id()].flags == AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    assert len(accounts) == len(chart.provider_accounts()) + len(chart.clinic_accounts(CLINIC))
    with pytest.raises(InvalidAccountError):
        chart.payable_id("bad:id", CHECKOUT)
    with pytest.raises(InvalidAccountError):
        chart.revenue_id(AccountCode.BANK)


def applied(ledger: Ledger, *transfers: object) -> None:
    for transfer in transfers:
        result = ledger.apply(transfer)  # type: ignore[arg-type]
        assert isinstance(result, Applied), result


def test_card_payment_capture_fee_and_payout(business_ledger: Ledger) -> None:
    book = business_ledger
    payable = chart.payable_id(CLINIC, CHECKOUT)
    auth = postings.payment("auth-1", CLINIC, CHECKOUT, Channel.CARD, 50_000, T0, pending=True)
    applied(book, auth)
    assert book.balance(payable).credits_pending == 50_000
    applied(book, post_pending(auth, "capture-1", T0 + timedelta(minutes=2)))
    cancelled = postings.payment("auth-2", CLINIC, CHECKOUT, Channel.VIPPS, 9_900, T0,
                                 pending=True)
    applied(book, cancelled, void_pending(cancelled, "cancel-2", T0))
    applied(
        book,
        postings.refund("refund-1", CLINIC, CHECKOUT, Channel.CARD, 10_000, T0),
        postings.settlement_fee("fee-1", CLINIC, CHECKOUT, 1_200, T0),
    )
    assert book.balance(payable).net_credit == 50_000 - 10_000 - 1_200
    applied(
        book,
        postings.payout("payout-1", CLINIC, CHECKOUT, 38_800, T0),
        postings.funds_received("acq-1", Channel.CARD, 40_000, T0),
    )
    assert book.balance(payable).net_credit == 0
    assert book.balance(chart.bank_id()).net_debit == 40_000 - 38_800
    revenue = chart.revenue_id(AccountCode.REVENUE_SETTLEMENT_FEES)
    assert book.balance(revenue).net_credit == 1_200


def test_refund_larger_than_the_payable_is_carried(business_ledger: Ledger) -> None:
    applied(business_ledger, postings.refund("r", CLINIC, CHECKOUT, Channel.CARD, 500, T0))
    assert business_ledger.balance(chart.payable_id(CLINIC, CHECKOUT)).net_credit == -500


def test_fakturaservice_payment_split_by_allocation(business_ledger: Ledger) -> None:
    book = business_ledger
    owed = Outstanding(fees=3_500, interest=120, invoice_fee=4_900, principal=60_000)
    applied(book, postings.claim_registered("claim-1", CLINIC, 64_900, T0))
    split = allocate(70_000, owed, ClaimOwner.CLINIC)
    transfers = postings.patient_payment(
        "pay-1", CLINIC, T0,
        fees=split.fees, interest=split.interest,
        principal=split.invoice_fee + split.principal, overpayment=split.overpayment,
        clinic_owned=True, reference="KID 0000000018",
    )
    applied(book, *transfers)
    assert book.balance(chart.payable_id(CLINIC, FAKTURASERVICE)).net_credit == split.to_clinic
    fees = chart.revenue_id(AccountCode.REVENUE_DUNNING_FEES)
    interest = chart.revenue_id(AccountCode.REVENUE_INTEREST)
    assert book.balance(fees).net_credit + book.balance(interest).net_credit == split.to_provider
    assert book.balance(chart.suspense_id()).net_credit == split.overpayment == 1_480
    giro = chart.clearing_id(Channel.GIRO)
    assert book.balance(giro).net_debit == 70_000
    # The claims memo is settled: nothing outstanding for the clinic any more.
    assert book.balance(chart.administered_claims_id(CLINIC)).net_debit == 0


def test_bought_claim_cannot_be_collected_twice(business_ledger: Ledger) -> None:
    book = business_ledger
    applied(book, postings.claim_purchase("buy-1", CLINIC, 30_000, T0))
    first = postings.patient_payment(
        "pay-1", CLINIC, T0, fees=0, interest=0, principal=30_000, overpayment=0,
        clinic_owned=False,
    )
    applied(book, *first)
    again = postings.patient_payment(
        "pay-2", CLINIC, T0, fees=0, interest=0, principal=1, overpayment=0, clinic_owned=False,
    )
    result = book.apply(again[0])
    assert isinstance(result, Rejected) and result.reason is RejectReason.EXCEEDS_DEBITS
    assert [t.id for t in first] == ["pay-1:principal"]
