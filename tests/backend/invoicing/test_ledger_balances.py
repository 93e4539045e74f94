"""The ledger agrees with the invoicing tables after every step that changes a claim or the
suspense list: the clinic's Fakturaservice memo holds exactly the outstanding report's
principal + invoice fee, and the suspense account exactly the money of the open suspense
items. The ledger's invariants are checked (a full replay) after every step. A bought
claim's invoice fee is revenue of its own."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay.clock import SimulatedClock
from medipay_backend.credits import credit_order
from medipay_backend.db import Database
from medipay_backend.domain.kid import make_kid
from medipay_backend.invoicing import claims, payments_in
from medipay_backend.invoicing.ledger_posts import release_credited, release_withdrawn
from medipay_backend.invoicing.payments_in import record_payment
from medipay_backend.invoicing.reports import outstanding_claims
from medipay_backend.invoicing.suspense import (
    DestinationRequired,
    InvalidDestination,
    SuspenseItemResolved,
    apply_item,
    mark_handled,
    not_booked_out,
    refund_item,
)
from medipay_backend.ledger import chart
from medipay_backend.ledger.chart import AccountCode, Channel, TransferCode
from medipay_backend.ledger_store import replay
from medipay_backend.localtime import oslo_date
from medipay_backend.models_invoicing import Claim, ClaimEvent, IncomingPayment, SuspenseItem
from medipay_backend.models_ledger import LedgerAccount, LedgerTransfer
from medipay_backend.models_orders import Invoice
from medipay_backend.settlement import sources

from .seed import CLINIC, make_claim, run_today

OWED = 104_900  # principal 100 000 + invoice fee 4 900
CLAIMS = "/v1/invoicing/claims"
OTHER_CLINIC = "clinic-2"


def _net_debit(session: Session, account_id: str) -> int:
    row = session.get(LedgerAccount, account_id)
    return 0 if row is None else row.debits_posted - row.credits_posted


def _memo_and_report(database: Database, clock: SimulatedClock,
                     clinic_id: str = CLINIC) -> tuple[int, int]:
    """(the clinic's memo balance, the outstanding report's principal + invoice fee today),
    after a full replay of the ledger (which raises if an invariant is broken)."""
    today = oslo_date(clock.now())

    def read(session: Session) -> tuple[int, int]:
        replay(session)
        report = sum(row.receivable for row in outstanding_claims(session, clinic_id, today))
        return _net_debit(session, chart.administered_claims_id(clinic_id)), report

    return database.transaction(read)


def _memo(database: Database, clock: SimulatedClock, clinic_id: str = CLINIC) -> int:
    memo, report = _memo_and_report(database, clock, clinic_id)
    assert memo == report
    return memo


def _pay(database: Database, clock: SimulatedClock, claim: Claim, ref: str,
         amount: int) -> IncomingPayment:
    now = clock.now()
    payment, new = database.transaction(lambda s: record_payment(
        s, source="ocr", source_ref=ref, kid=claim.kid, amount=amount, paid_on=oslo_date(now),
        now=now))
    assert new
    return payment


def _act(database: Database, clock: SimulatedClock, claim: Claim, action: str,
         **kw: Any) -> None:
    now = clock.now()
    database.transaction(lambda s: getattr(claims, action)(
        s, s.get_one(Claim, claim.seq), oslo_date(now), now, **kw))


def _order_of(session: Session, claim: Claim) -> str:
    return str(session.scalar(sa.select(Invoice.order_id).where(Invoice.id == claim.invoice_id)))


def _claim(database: Database, seq: int) -> Claim:
    return database.transaction(lambda s: s.get_one(Claim, seq))


async def test_the_memo_follows_every_payment_credit_stop_and_delete(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock,
) -> None:
    made = database.transaction(lambda s: [make_claim(s, clock.now()) for _ in range(6)])
    a, b, c, d, e, f = made
    other = database.transaction(lambda s: make_claim(s, clock.now(), clinic_id=OTHER_CLINIC))
    bought = database.transaction(lambda s: make_claim(s, clock.now(), route="bought"))
    assert _memo(database, clock) == 6 * OWED
    assert _memo(database, clock, OTHER_CLINIC) == OWED

    # A partial payment: the invoice fee first, then principal; both leave the memo.
    _pay(database, clock, a, "t:a1", 40_000)
    assert _memo(database, clock) == 6 * OWED - 40_000
    # Paid in full: the claim closes and its memo is gone.
    _pay(database, clock, b, "t:b1", OWED)
    assert _claim(database, b.seq).state == "paid"
    assert _memo(database, clock) == 5 * OWED - 40_000

    # Past the reminder: a dunning fee and interest are owed too, and a payment covers those
    # first; only its principal and invoice fee part leaves the memo.
    for _ in range(33):
        run_today(database, clock)
    assert _claim(database, c.seq).fees_charged > 0
    before = _memo(database, clock)
    paid = _pay(database, clock, c, "t:c1", 50_000)
    assert paid.fees > 0 and paid.interest > 0
    assert _memo(database, clock) == before - paid.principal - paid.invoice_fee

    # Credit notes through the operator API: part of the principal, then everything left.
    d_number = d.invoice_number
    part = await client.post(f"{CLAIMS}/{d_number}/credit-notes",
                             headers={**admin_headers, "Idempotency-Key": "d-1"},
                             json={"amount": 30_000, "reason": "feil takst"})
    assert part.status_code == 201, part.text
    assert _memo(database, clock) == before - paid.principal - paid.invoice_fee - 30_000
    before = _memo(database, clock)
    full = await client.post(f"{CLAIMS}/{d_number}/credit-notes",
                             headers={**admin_headers, "Idempotency-Key": "d-2"},
                             json={"amount": None, "reason": "feil pasient"})
    assert full.status_code == 201 and full.json()["state"] == "credited"
    assert _memo(database, clock) == before - (OWED - 30_000)
    # Its retry after a lost answer finds the note, not a closed claim, and books nothing.
    retry = await client.post(f"{CLAIMS}/{d_number}/credit-notes",
                              headers={**admin_headers, "Idempotency-Key": "d-2"},
                              json={"amount": None, "reason": "feil pasient"})
    assert retry.status_code == 201 and retry.json() == full.json()
    assert _memo(database, clock) == before - (OWED - 30_000)

    # A credit note reaching into the invoice fee, then the clinic stops what is left.
    before = _memo(database, clock)
    _act(database, clock, e, "credit", amount=102_000, reason="delvis kreditert")
    assert _memo(database, clock) == before - 102_000
    stopped = await client.post(f"{CLAIMS}/{e.invoice_number}/stop", headers=admin_headers,
                                json={"delete": False, "reason": "klinikken tar over"})
    assert stopped.status_code == 200 and stopped.json()["state"] == "stopped"
    assert _memo(database, clock) == before - OWED

    # A credit made on the order (credits.credit_order) releases the memo once, not twice.
    before = _memo(database, clock)
    now = clock.now()
    database.transaction(lambda s: credit_order(
        s, clinic_id=CLINIC, order_id=_order_of(s, f), amount=10_000,
        reason="rabatt", idempotency_key="memo-f", actor="test", now=now))
    assert _memo(database, clock) == before - 10_000

    # Delete the partly paid claim, and stop the one with fees owed.
    before = _memo(database, clock)
    _act(database, clock, a, "stop", delete=True, reason="gjeld slettet")
    assert _memo(database, clock) == before - (OWED - 40_000)
    _act(database, clock, c, "stop", delete=False, reason="klinikken tar over")
    _act(database, clock, f, "stop", delete=True, reason="gjeld slettet")
    assert _memo(database, clock) == 0

    # Money for a closed claim waits in suspense: the memo does not move. Neither does a
    # second stop (refused) or a repeated release.
    _pay(database, clock, a, "t:a2", 5_000)
    with pytest.raises(claims.ClaimActionError):
        _act(database, clock, c, "stop", delete=True, reason="igjen")
    now = clock.now()

    def again(session: Session) -> list[bool]:
        claim = session.get_one(Claim, d.seq)
        note = session.scalars(sa.select(ClaimEvent).where(
            ClaimEvent.claim_seq == d.seq, ClaimEvent.kind == "credit_note")).first()
        assert note is not None
        return [release_withdrawn(session, session.get_one(Claim, a.seq), now),
                release_credited(session, claim, note.seq, note.amount, now)]

    assert database.transaction(again) == [False, False]
    assert _memo(database, clock) == 0
    # The other clinic's memo is untouched by all of this, and a bought claim has none.
    assert _memo(database, clock, OTHER_CLINIC) == OWED
    assert other.clinic_id == OTHER_CLINIC
    assert database.transaction(lambda s: s.scalar(sa.select(sa.func.count()).where(
        LedgerTransfer.id.like(f"fs:{bought.invoice_id}:%")))) == 0

    def releases(session: Session) -> list[tuple[str, int, int]]:
        return [(t.id.split(":", 2)[2], t.amount, t.code) for t in session.scalars(
            sa.select(LedgerTransfer).where(LedgerTransfer.id.like("fs:%"),
                                            LedgerTransfer.code.in_((23, 24)))
            .order_by(LedgerTransfer.seq))]

    kinds = [(name.split(":")[0], code) for name, _, code in database.transaction(releases)]
    assert kinds == [("credit", TransferCode.CLAIM_CREDITED)] * 3 + [
        ("withdrawn", TransferCode.CLAIM_WITHDRAWN)] * 4


def _open_suspense(session: Session) -> int:
    """Money the open suspense items hold (a reversal holds none: the bank took it back)."""
    return int(session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(SuspenseItem.amount), 0))
        .where(SuspenseItem.resolved_at.is_(None), SuspenseItem.reason != "reversal")) or 0)


def _suspense_agrees(database: Database) -> int:
    def read(session: Session) -> int:
        replay(session)
        held = -_net_debit(session, chart.suspense_id())
        assert held == _open_suspense(session)
        return held

    return database.transaction(read)


def test_the_suspense_account_holds_what_the_open_items_hold(
    database: Database, clock: SimulatedClock,
) -> None:
    claim = database.transaction(lambda s: make_claim(s, clock.now(), amount=20_000))
    now, today = clock.now(), oslo_date(clock.now())

    def arrive(ref: str, kid: str, amount: int) -> None:
        database.transaction(lambda s: record_payment(
            s, source="ocr", source_ref=ref, kid=kid, amount=amount, paid_on=today, now=now))

    for n, amount in enumerate((11_000, 22_000, 33_000, 44_000)):
        arrive(f"s:{n}", make_kid(880_000 + n, "mod10"), amount)
    arrive("s:over", claim.kid, 24_900 + 7_000)  # pays the claim, 7 000 too much
    assert _suspense_agrees(database) == 110_000 + 7_000

    def items(session: Session) -> list[int]:
        return list(session.scalars(sa.select(SuspenseItem.seq).where(
            SuspenseItem.resolved_at.is_(None)).order_by(SuspenseItem.seq)))

    first, second, third, fourth, over = database.transaction(items)
    database.transaction(lambda s: refund_item(s, first, "86011117947", None, now))
    assert _suspense_agrees(database) == 106_000
    # Refunding twice is refused and moves nothing.
    with pytest.raises(SuspenseItemResolved, match="already refunded"):
        database.transaction(lambda s: refund_item(s, first, "86011117947", None, now))
    assert _suspense_agrees(database) == 106_000
    refunds = database.transaction(lambda s: s.scalar(
        sa.select(sa.func.sum(LedgerTransfer.amount))
        .where(LedgerTransfer.code == TransferCode.SUSPENSE_RETURN)))
    assert refunds == 11_000

    # Part of an item applied to a new claim: the rest stays as a remainder item.
    target = database.transaction(lambda s: make_claim(s, now, amount=10_000))
    database.transaction(lambda s: apply_item(s, second, target.invoice_number, 14_900, None,
                                              now))
    assert _suspense_agrees(database) == 106_000 - 14_900
    (remainder,) = [seq for seq in database.transaction(items) if seq > over]
    database.transaction(lambda s: refund_item(s, remainder, "86011117947", "rest", now))
    database.transaction(lambda s: refund_item(s, over, "86011117947", None, now))
    assert _suspense_agrees(database) == 33_000 + 44_000

    # Handled by hand: the operator must say where the money went, and it leaves suspense
    # for there at once; without a destination nothing changes.
    with pytest.raises(DestinationRequired):
        database.transaction(lambda s: mark_handled(s, fourth, "betalt tilbake manuelt", now))
    with pytest.raises(InvalidDestination):
        database.transaction(lambda s: mark_handled(s, fourth, "betalt", now, to="bank",
                                                    reference="linje 1\nlinje 2"))
    assert _suspense_agrees(database) == 33_000 + 44_000
    database.transaction(lambda s: mark_handled(s, fourth, "betalt tilbake manuelt", now,
                                                to="bank", reference="nettbank 4711"))
    assert _suspense_agrees(database) == 33_000
    bank_before = database.transaction(lambda s: _net_debit(s, chart.bank_id()))
    # A repeat books nothing; another destination or reference for the same item is refused.
    database.transaction(lambda s: mark_handled(s, fourth, "igjen", now, to="bank",
                                                reference="nettbank 4711"))
    with pytest.raises(SuspenseItemResolved, match="already booked out"):
        database.transaction(lambda s: mark_handled(s, fourth, "igjen", now, to="bank",
                                                    reference="nettbank 4712"))
    with pytest.raises(SuspenseItemResolved, match="already refunded"):
        database.transaction(lambda s: mark_handled(s, first, "x", now, to="bank",
                                                    reference="y"))
    assert database.transaction(lambda s: _net_debit(s, chart.bank_id())) == bank_before
    booked = database.transaction(lambda s: s.scalars(sa.select(LedgerTransfer).where(
        LedgerTransfer.code == TransferCode.SUSPENSE_BOOKED_OUT)).all())
    assert [(t.id, t.debit_account_id, t.credit_account_id, t.amount) for t in booked] == [
        (f"fs:suspense-{fourth}:booked-out", chart.suspense_id(), chart.bank_id(), 44_000)]

    # An item marked handled before a destination was required (as the old rule stored it)
    # kept its money in suspense: it is listed, and booking it out later closes the gap.
    def handled_the_old_way(session: Session) -> None:
        item = session.get_one(SuspenseItem, third)
        item.resolved_at, item.resolution, item.note = now, "handled", "ordnet i banken"

    database.transaction(handled_the_old_way)

    def gap(session: Session) -> tuple[int, int, list[int]]:
        return (-_net_debit(session, chart.suspense_id()), _open_suspense(session),
                [item.seq for item in not_booked_out(session)])

    assert database.transaction(gap) == (33_000, 0, [third])
    database.transaction(lambda s: mark_handled(s, third, "bokført", now, to="bank",
                                                reference="nettbank 4713"))
    assert database.transaction(gap) == (0, 0, [])
    assert database.transaction(lambda s: s.get_one(SuspenseItem, third).note) == (
        "ordnet i banken; bokført")
    assert _suspense_agrees(database) == 0


def _revenue(session: Session) -> dict[str, int]:
    names = {"fees": chart.revenue_id(AccountCode.REVENUE_DUNNING_FEES),
             "interest": chart.revenue_id(AccountCode.REVENUE_INTEREST),
             "invoice_fees": chart.invoice_fee_revenue_id()}
    return {name: -_net_debit(session, account) for name, account in names.items()}


def test_a_bought_claims_invoice_fee_is_revenue_of_its_own(
    database: Database, clock: SimulatedClock,
) -> None:
    first = database.transaction(lambda s: make_claim(s, clock.now(), route="bought"))
    for _ in range(33):
        run_today(database, clock)
    paid = _pay(database, clock, first, "t:b1", OWED + 100_000)
    assert _claim(database, first.seq).state == "paid"
    assert paid.fees > 0 and paid.interest > 0 and paid.invoice_fee == 4_900
    assert database.transaction(_revenue) == {
        "fees": paid.fees, "interest": paid.interest, "invoice_fees": 4_900}

    # The overpayment applied to a second bought claim: its invoice fee comes from suspense.
    second = database.transaction(lambda s: make_claim(s, clock.now(), route="bought"))
    now = clock.now()
    (item,) = database.transaction(lambda s: list(s.scalars(sa.select(SuspenseItem.seq))))
    database.transaction(lambda s: apply_item(s, item, second.invoice_number, None, None, now))
    assert database.transaction(_revenue) == {
        "fees": paid.fees, "interest": paid.interest, "invoice_fees": 2 * 4_900}
    assert _suspense_agrees(database) == 0
    assert database.transaction(lambda s: _net_debit(s, chart.purchased_claims_id())) == (
        100_000 - (paid.overpayment - 4_900))  # the first paid down, the second in part


def test_a_payment_booked_before_invoice_fees_had_an_account_is_left_as_booked(
    database: Database, clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Payments posted when a bought claim's invoice fee went with the dunning fees keep that
    booking: re-posting one (a suspense item's source payment is) repeats it instead of
    booking the invoice fee a second time."""
    claim = database.transaction(lambda s: make_claim(s, clock.now(), route="bought"))

    def old_rule(session: Session, payment: IncomingPayment, claim: Claim | None,
                 now: datetime) -> int:
        assert claim is not None
        invoice = session.scalars(sa.select(Invoice).where(Invoice.id == claim.invoice_id)).one()
        sources.post_purchase(session, invoice, now)
        covered = payment.fees + payment.interest + payment.invoice_fee + payment.principal
        return sources.fs_payment(
            session, payment.source_ref, claim.clinic_id, payment.principal, claim.kid,
            payment.created_at, now, fees=payment.fees + payment.invoice_fee,
            interest=payment.interest, overpayment=payment.amount - covered,
            clinic_owned=False, channel=Channel.GIRO)

    monkeypatch.setattr(payments_in, "post_incoming", old_rule)
    _pay(database, clock, claim, "t:old", OWED + 3_000)
    monkeypatch.undo()
    assert database.transaction(_revenue) == {"fees": 4_900, "interest": 0, "invoice_fees": 0}

    (item,) = database.transaction(lambda s: list(s.scalars(sa.select(SuspenseItem.seq))))
    now = clock.now()
    database.transaction(lambda s: refund_item(s, item, "86011117947", None, now))
    assert database.transaction(_revenue) == {"fees": 4_900, "interest": 0, "invoice_fees": 0}
    assert _suspense_agrees(database) == 0
