"""Stop and delete on the clinic's request, complaints pausing dunning, credit notes, and the
outstanding-claims report at past dates."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from medipay.clock import SimulatedClock
from medipay_backend.db import Database
from medipay_backend.invoicing import claims
from medipay_backend.invoicing.payments_in import record_payment
from medipay_backend.invoicing.reports import outstanding_claims
from medipay_backend.localtime import oslo_date
from medipay_backend.models_invoicing import Claim, ClaimEvent

from .seed import CLINIC, make_claim, run_today


def run_days(database: Database, clock: SimulatedClock, days: int) -> None:
    for _ in range(days):
        run_today(database, clock)


def act(database: Database, clock: SimulatedClock, seq: int, action: str, **kw: object) -> None:
    now = clock.now()

    def work(session: sa.orm.Session) -> None:
        claim = session.get(Claim, seq)
        assert claim is not None
        getattr(claims, action)(session, claim, oslo_date(now), now, **kw)

    database.transaction(work)


def steps(database: Database, seq: int) -> list[str]:
    return database.transaction(lambda s: [e.step_id or "" for e in s.scalars(
        sa.select(ClaimEvent).where(ClaimEvent.claim_seq == seq,
                                    ClaimEvent.step_id.is_not(None)))])


def test_a_stopped_claim_in_collection_gets_nothing_more(
    database: Database, clock: SimulatedClock
) -> None:
    claim = database.transaction(lambda s: make_claim(s, clock.now()))
    run_days(database, clock, 52)
    assert "payment-demand" in steps(database, claim.seq)
    before = len(steps(database, claim.seq))
    act(database, clock, claim.seq, "stop", delete=False, reason="clinic request")
    run_days(database, clock, 60)
    assert len(steps(database, claim.seq)) == before
    with pytest.raises(claims.ClaimActionError):
        act(database, clock, claim.seq, "stop", delete=True, reason="again")


def test_a_complaint_pauses_dunning_until_resolved(
    database: Database, clock: SimulatedClock
) -> None:
    claim = database.transaction(lambda s: make_claim(s, clock.now()))
    run_days(database, clock, 20)
    act(database, clock, claim.seq, "complain", note="wrong amount")
    run_days(database, clock, 30)  # days 20-49: the reminder (day 32) does not go out
    assert "reminder-notice" not in steps(database, claim.seq)
    act(database, clock, claim.seq, "resolve_complaint", note="amount confirmed")
    run_days(database, clock, 1)
    assert "reminder-notice" in steps(database, claim.seq)


def test_partial_and_full_credit_notes(database: Database, clock: SimulatedClock) -> None:
    claim = database.transaction(lambda s: make_claim(s, clock.now()))
    act(database, clock, claim.seq, "credit", amount=40_000, reason="discount")
    partly = database.transaction(lambda s: s.get(Claim, claim.seq))
    assert partly is not None and partly.state == "open"
    assert partly.credited_principal == 40_000
    act(database, clock, claim.seq, "credit", amount=None, reason="treatment cancelled")
    closed = database.transaction(lambda s: s.get(Claim, claim.seq))
    assert closed is not None and closed.state == "credited"
    assert (closed.credited_principal, closed.credited_invoice_fee) == (100_000, 4_900)
    with pytest.raises(claims.ClaimActionError):
        act(database, clock, claim.seq, "credit", amount=1, reason="too late")


def test_outstanding_report_at_any_date(database: Database, clock: SimulatedClock) -> None:
    issued = oslo_date(clock.now())
    first = database.transaction(lambda s: make_claim(s, clock.now()))
    second = database.transaction(lambda s: make_claim(s, clock.now(), amount=50_000))
    database.transaction(lambda s: make_claim(s, clock.now(), route="bought"))
    run_days(database, clock, 40)
    paid_on = oslo_date(clock.now())
    database.transaction(lambda s: record_payment(
        s, source="ocr", source_ref="t1", kid=second.kid, amount=1_000_000,
        paid_on=paid_on, now=clock.now()))

    def report(day: int) -> list[tuple[int, int, int, str]]:
        at = issued + timedelta(days=day)
        return [(r.invoice_number, r.receivable, r.age_days, r.stage)
                for r in database.transaction(lambda s: outstanding_claims(s, CLINIC, at))]

    assert report(-1) == []
    assert report(5) == [(first.invoice_number, 104_900, -9, "invoiced"),
                         (second.invoice_number, 54_900, -9, "invoiced")]
    assert report(35) == [(first.invoice_number, 104_900, 21, "reminded"),
                          (second.invoice_number, 54_900, 21, "reminded")]
    assert report(40) == [(first.invoice_number, 104_900, 26, "reminded")]
    rows = database.transaction(
        lambda s: outstanding_claims(s, CLINIC, issued + timedelta(days=35)))
    assert rows[0].provider_fees == 3_500
