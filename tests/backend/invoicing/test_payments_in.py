"""Incoming payments: OCR files matched by KID, allocation (costs, interest, invoice fee,
principal), partial and overpayment, the suspense list, the Nets sample, payment at every
stage of dunning."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from medipay.clock import SimulatedClock
from medipay_backend.db import Database
from medipay_backend.domain.ocr import OcrHeader, OcrTotalsError, OcrTransaction, ocr_text
from medipay_backend.invoicing.dunning_runner import run_all
from medipay_backend.invoicing.payments_in import import_ocr, record_payment
from medipay_backend.localtime import oslo_date
from medipay_backend.models_invoicing import Claim, IncomingPayment, SuspenseItem

from .seed import make_claim, run_today
from .test_dunning_walk import EXPECTED_DAYS, interest

SAMPLE = Path("/work/shared/testdata/ocr_giro_sample_from_nets.txt")
_NUMBERS = itertools.count(1)


def ocr_file(day: date, *payments: tuple[str, int]) -> str:
    header = OcrHeader(
        transmission_number=f"{next(_NUMBERS):07d}", data_recipient="00010200",
        agreement_id="000000001", assignment_number="0000001",
        assignment_account="15030000003", nets_date=day,
    )
    return ocr_text(header, [OcrTransaction(kid, amount, day) for kid, amount in payments])


def _claim(database: Database, seq: int) -> Claim:
    claim = database.transaction(lambda s: s.get(Claim, seq))
    assert claim is not None
    return claim


def test_full_payment_before_the_due_date_closes_the_claim(
    database: Database, clock: SimulatedClock
) -> None:
    claim = database.transaction(lambda s: make_claim(s, clock.now()))
    day = oslo_date(clock.now()) + timedelta(days=10)
    text = ocr_file(day, (claim.kid, 104_900))
    summary = database.transaction(lambda s: import_ocr(s, text, clock.now()))
    assert (summary.payments, summary.matched, summary.to_suspense) == (1, 1, 0)
    paid = _claim(database, claim.seq)
    assert paid.state == "paid" and paid.closed_on == day
    payment = database.transaction(lambda s: s.scalars(sa.select(IncomingPayment)).one())
    assert (payment.principal, payment.invoice_fee, payment.to_clinic) == (100_000, 4_900,
                                                                            104_900)
    again = database.transaction(lambda s: import_ocr(s, text, clock.now()))
    assert (again.payments, again.duplicates) == (0, 1)


def test_partial_payment_covers_costs_then_interest_then_principal(
    database: Database, clock: SimulatedClock
) -> None:
    issued = oslo_date(clock.now())
    claim = database.transaction(lambda s: make_claim(s, clock.now()))
    for _ in range(33):
        run_today(database, clock)
    day = issued + timedelta(days=33)  # reminder fee charged on day 32
    owed_interest = interest(19)
    text = ocr_file(day, (claim.kid, 50_000))
    database.transaction(lambda s: import_ocr(s, text, clock.now()))
    payment = database.transaction(lambda s: s.scalars(sa.select(IncomingPayment)).one())
    assert payment.fees == 3_500 and payment.interest == owed_interest
    assert payment.invoice_fee == 4_900
    assert payment.principal == 50_000 - 3_500 - owed_interest - 4_900
    assert payment.to_provider == 3_500 + owed_interest
    assert payment.to_clinic == 4_900 + payment.principal
    still = _claim(database, claim.seq)
    assert still.state == "open" and still.paid_principal == payment.principal


def test_overpayment_and_unknown_kid_go_to_suspense(
    database: Database, clock: SimulatedClock
) -> None:
    claim = database.transaction(lambda s: make_claim(s, clock.now(), route="bought"))
    day = oslo_date(clock.now()) + timedelta(days=2)
    unknown = "12345678903"
    text = ocr_file(day, (claim.kid, 110_000), (unknown, 20_000))
    summary = database.transaction(lambda s: import_ocr(s, text, clock.now()))
    assert summary.to_suspense == 5_100 + 20_000
    items = database.transaction(lambda s: sorted(
        (i.reason, i.amount) for i in s.scalars(sa.select(SuspenseItem))))
    assert items == [("overpayment", 5_100), ("unknown_kid", 20_000)]
    payment = database.transaction(lambda s: s.scalars(
        sa.select(IncomingPayment).where(IncomingPayment.kid == claim.kid)).one())
    # a bought claim: all proceeds are the provider's
    assert (payment.to_provider, payment.to_clinic) == (104_900, 0)


def test_the_nets_sample_imports(database: Database, clock: SimulatedClock) -> None:
    text = SAMPLE.read_text(encoding="latin-1")
    summary = database.transaction(lambda s: import_ocr(s, text, clock.now()))
    assert summary.payments > 0 and summary.matched == 0
    assert summary.to_suspense == summary.amount  # no claims: everything waits in suspense
    again = database.transaction(lambda s: import_ocr(s, text, clock.now()))
    assert again.payments == 0 and again.duplicates == summary.payments


def test_a_file_that_disagrees_with_itself_is_refused(
    database: Database, clock: SimulatedClock
) -> None:
    claim = database.transaction(lambda s: make_claim(s, clock.now()))
    text = ocr_file(oslo_date(clock.now()), (claim.kid, 1_000))
    broken = text.replace("00000000000001000", "00000000000002000", 1)
    with pytest.raises(OcrTotalsError):
        database.transaction(lambda s: import_ocr(s, broken, clock.now()))
    assert database.transaction(lambda s: s.scalar(
        sa.select(sa.func.count()).select_from(IncomingPayment))) == 0


@pytest.mark.parametrize("day", sorted(set(EXPECTED_DAYS.values())) + [120])
def test_payment_in_full_at_every_stage_stops_dunning(
    database: Database, clock: SimulatedClock, day: int
) -> None:
    issued = oslo_date(clock.now())
    claim = database.transaction(lambda s: make_claim(s, clock.now()))
    for _ in range(day + 1):
        run_today(database, clock)
    paid_on = issued + timedelta(days=day)
    owed = _claim(database, claim.seq)
    fees = owed.fees_charged
    late = interest(max(0, day - 14))
    total = fees + late + 104_900
    database.transaction(lambda s: record_payment(
        s, source="ocr", source_ref=f"test:{day}", kid=claim.kid, amount=total,
        paid_on=paid_on, now=clock.now()))
    closed = _claim(database, claim.seq)
    assert closed.state == "paid" and closed.paid_interest == late
    assert closed.paid_fees == fees
    clock.advance(timedelta(days=30))
    now = clock.now()
    summary = database.transaction(lambda s: run_all(s, oslo_date(now), now))
    assert summary.claims == 0
