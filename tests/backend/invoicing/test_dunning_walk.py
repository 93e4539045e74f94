"""One Fakturaservice invoice walked through the whole timeline on a simulated clock: each
step on its day, each letter's amounts, fee and interest, each SMS."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from medipay.clock import SimulatedClock
from medipay_backend.db import Database
from medipay_backend.domain.contacts import Address
from medipay_backend.invoicing.dunning_runner import run_all
from medipay_backend.localtime import oslo_date
from medipay_backend.models_invoicing import Claim, ClaimEvent

from .seed import REGISTERED, make_claim, run_today

PRINCIPAL = 100_000  # NOK 1,000.00
INVOICE_FEE = 4_900
RATE_BP = 1250  # late-payment interest in force in 2026
EXPECTED_DAYS = {
    "invoice-due": 14, "friendly-sms": 17, "reminder-notice": 32, "reminder-due": 46,
    "collection-handover": 50, "payment-demand": 50, "call-1": 54, "collection-sms": 57,
    "call-2": 63, "payment-demand-due": 64, "heavy-fee": 93, "call-3": 95, "notice": 97,
    "payment-remark": 111,
}


def interest(days: int, principal: int = PRINCIPAL) -> int:
    """Actual/365, rounded half up once (as the regulation's examples)."""
    numerator = principal * RATE_BP * days
    return (2 * numerator + 3_650_000) // (2 * 3_650_000)


def registry(_national_id: str) -> Address:
    return Address(REGISTERED["street"], REGISTERED["postal_code"], REGISTERED["city"])


def walk(database: Database, clock: SimulatedClock, days: int) -> list[ClaimEvent]:
    for _ in range(days + 1):
        run_today(database, clock, registry)
    return list(database.transaction(lambda s: list(s.scalars(
        sa.select(ClaimEvent).order_by(ClaimEvent.seq)))))


def test_every_step_on_its_day_with_fees_interest_letters_and_sms(
    database: Database, clock: SimulatedClock
) -> None:
    issued = oslo_date(clock.now())
    claim = database.transaction(
        lambda s: make_claim(s, clock.now(), amount=PRINCIPAL, invoice_fee=INVOICE_FEE))
    assert claim.due_date == issued + timedelta(days=14)
    assert claim.invoice_number >= 100_000 and claim.kid

    events = walk(database, clock, 120)
    days = {e.step_id: (e.on_date - issued).days for e in events}
    assert days == EXPECTED_DAYS
    by_step = {e.step_id: e for e in events}

    sms = by_step["friendly-sms"]
    assert sms.kind == "sms_pending" and sms.detail["to"] == "+4791234567"
    assert claim.kid in sms.detail["text"] and "1\u00a0052,40" not in sms.detail["text"]
    # day 17: three days of interest on the principal
    assert sms.detail["interest"] == interest(3)
    assert sms.detail["total"] == PRINCIPAL + INVOICE_FEE + interest(3)

    notice = by_step["reminder-notice"]
    assert notice.kind == "letter" and notice.amount == 3_500  # reminder fee NOK 35
    assert notice.detail["interest"] == interest(18)
    assert notice.detail["fees"] == 3_500
    assert notice.detail["total"] == PRINCIPAL + INVOICE_FEE + 3_500 + interest(18)
    assert notice.detail["pay_by"] == (issued + timedelta(days=46)).isoformat()
    assert notice.detail["address"]["street"] == REGISTERED["street"]
    assert notice.detail["address"]["source"] == "registry"

    demand = by_step["payment-demand"]
    assert demand.amount == 24_500  # light collection fee, claims NOK 500-1,000
    assert demand.detail["fees"] == 3_500 + 24_500
    assert demand.detail["interest"] == interest(36)
    assert by_step["collection-sms"].detail["interest"] == interest(43)
    heavy = by_step["heavy-fee"]
    assert heavy.detail["fee"] == 49_000 and heavy.amount == 49_000 - 24_500
    final = by_step["notice"]
    assert final.detail["fees"] == 3_500 + 49_000
    assert final.detail["interest"] == interest(83)
    for call in ("call-1", "call-2", "call-3"):
        assert by_step[call].kind == "call"
    assert by_step["collection-handover"].kind == "handover"
    assert by_step["payment-remark"].kind == "payment_remark"

    stored = database.transaction(lambda s: s.get(Claim, claim.seq))
    assert stored is not None
    assert stored.stage == "payment_remark" and stored.next_action_on is None
    assert stored.fees_charged == 3_500 + 49_000


def test_a_second_run_on_the_same_day_does_nothing(
    database: Database, clock: SimulatedClock
) -> None:
    database.transaction(lambda s: make_claim(s, clock.now()))
    clock.advance(timedelta(days=32))
    now = clock.now()
    first = database.transaction(lambda s: run_all(s, oslo_date(now), now))
    again = database.transaction(lambda s: run_all(s, oslo_date(now), now))
    # a run that comes late does the deadline; the later steps move with it
    assert dict(first.actions) == {"deadline": 1}
    assert again.claims == 0 and not again.actions


def test_fee_tables_are_dated_by_the_due_date(database: Database) -> None:
    clock = SimulatedClock(SimulatedClock().now().replace(year=2020, month=1, day=6))
    database.transaction(lambda s: make_claim(s, clock.now()))
    events = walk(database, clock, 32)
    notice = next(e for e in events if e.step_id == "reminder-notice")
    assert notice.amount == 7_000  # the NOK 70 reminder fee before October 2020
    # interest in January 2020 was 9.50 %: 18 days on NOK 1,000
    assert notice.detail["interest"] == (2 * PRINCIPAL * 950 * 18 + 3_650_000) // 7_300_000
