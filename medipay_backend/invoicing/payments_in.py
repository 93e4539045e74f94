"""Incoming payments: OCR giro files from the bank, and single payments (card, Vipps).

A payment is matched to an open claim by KID and split by `allocate` (costs, interest,
invoice fee, principal). What cannot be placed goes to the suspense list for manual handling:
an unknown, ambiguous or invalid KID, a reversal, a payment to a closed claim (all of it), or
the part of a payment above what was owed. Every payment has a `source_ref` that is unique,
so importing the same file twice records nothing new. Each payment is posted to the ledger in
the same transaction, as it was allocated (`ledger_posts`): the clinic's part of a
Fakturaservice claim then waits for the clinic's next settlement of stream fakturaservice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.domain.allocation import Allocation, allocate
from medipay_backend.domain.ocr import OcrPayment, parse_ocr
from medipay_backend.domain.rates import DEFAULT_INTEREST, RateTable
from medipay_backend.invoicing.balance import outstanding, owner_of
from medipay_backend.invoicing.dunning_runner import principal_changes
from medipay_backend.invoicing.ledger_posts import post_incoming
from medipay_backend.models_invoicing import Claim, ClaimEvent, IncomingPayment, SuspenseItem


@dataclass
class ImportSummary:
    transmission: str = ""
    payments: int = 0
    duplicates: int = 0
    matched: int = 0
    amount: int = 0
    to_suspense: int = 0
    suspense_reasons: Counter[str] = field(default_factory=Counter)


def _suspense(
    session: Session, payment: IncomingPayment, reason: str, amount: int, now: datetime
) -> None:
    session.add(SuspenseItem(payment_seq=payment.seq, reason=reason, kid=payment.kid,
                             amount=amount, resolved_at=None, note=None, created_at=now))


def _apply(session: Session, claim: Claim, payment: IncomingPayment, paid_on: date,
           now: datetime, rates: RateTable[int]) -> Allocation:
    owed = outstanding(claim, principal_changes(session, claim.seq), paid_on, rates)
    split = allocate(payment.amount, owed, owner_of(claim))
    payment.fees, payment.interest = split.fees, split.interest
    payment.invoice_fee, payment.principal = split.invoice_fee, split.principal
    payment.overpayment = split.overpayment
    payment.to_provider, payment.to_clinic = split.to_provider, split.to_clinic
    claim.paid_fees += split.fees
    claim.paid_interest += split.interest
    claim.paid_invoice_fee += split.invoice_fee
    claim.paid_principal += split.principal
    session.add(ClaimEvent(
        claim_seq=claim.seq, kind="payment", step_id=None, on_date=paid_on,
        amount=payment.amount, interest=owed.interest, principal_delta=-split.principal,
        detail={"source": payment.source, "source_ref": payment.source_ref,
                "fees": split.fees, "interest": split.interest,
                "invoice_fee": split.invoice_fee, "principal": split.principal,
                "overpayment": split.overpayment, "to_provider": split.to_provider,
                "to_clinic": split.to_clinic},
        created_at=now,
    ))
    if split.remaining(owed).total == 0:
        claim.state, claim.closed_on, claim.next_action_on = "paid", paid_on, None
    return split


def _new_payment(session: Session, source: str, source_ref: str, kid: str | None, amount: int,
                 paid_on: date, now: datetime) -> IncomingPayment:
    payment = IncomingPayment(
        source=source, source_ref=source_ref, kid=kid, claim_seq=None, paid_on=paid_on,
        amount=amount, fees=0, interest=0, invoice_fee=0, principal=0, overpayment=0,
        to_provider=0, to_clinic=0, created_at=now,
    )
    session.add(payment)
    session.flush()
    return payment


def _seen(session: Session, source_ref: str) -> IncomingPayment | None:
    return session.scalar(
        sa.select(IncomingPayment).where(IncomingPayment.source_ref == source_ref))


def _place(session: Session, claim: Claim, payment: IncomingPayment, now: datetime,
           rates: RateTable[int]) -> None:
    """Allocate `payment` to `claim` (all of it to suspense if the claim is closed), then
    post it to the ledger."""
    payment.claim_seq = claim.seq
    if claim.state != "open":
        _suspense(session, payment, "claim_closed", payment.amount, now)
    else:
        split = _apply(session, claim, payment, payment.paid_on, now, rates)
        if split.overpayment:
            _suspense(session, payment, "overpayment", split.overpayment, now)
    post_incoming(session, payment, claim, now)


def record_payment(
    session: Session, *, source: str, source_ref: str, kid: str | None, amount: int,
    paid_on: date, now: datetime, problem: str | None = None,
    rates: RateTable[int] = DEFAULT_INTEREST,
) -> tuple[IncomingPayment, bool]:
    """Record one payment, match it by KID, allocate and post it; (payment, False) if
    `source_ref` was seen."""
    existing = _seen(session, source_ref)
    if existing is not None:
        return existing, False
    payment = _new_payment(session, source, source_ref, kid, amount, paid_on, now)
    claims = [] if problem is not None or kid is None else session.scalars(
        sa.select(Claim).where(Claim.kid == kid).with_for_update()).all()
    if len(claims) != 1:
        reason = problem or ("invalid_kid" if kid is None else
                             "unknown_kid" if not claims else "ambiguous_kid")
        _suspense(session, payment, reason, amount, now)
        if reason != "reversal":  # a reversal takes money back: nothing to deposit
            post_incoming(session, payment, None, now)
        return payment, True
    _place(session, claims[0], payment, now, rates)
    return payment, True


def pay_claim(
    session: Session, claim: Claim, *, source: str, source_ref: str, amount: int,
    paid_on: date, now: datetime, rates: RateTable[int] = DEFAULT_INTEREST,
) -> tuple[IncomingPayment, bool]:
    """A payment made to a known claim (card or Vipps from its link, a suspense item applied
    by an operator): allocated like any other; (payment, False) if `source_ref` was seen."""
    existing = _seen(session, source_ref)
    if existing is not None:
        return existing, False
    payment = _new_payment(session, source, source_ref, claim.kid, amount, paid_on, now)
    _place(session, claim, payment, now, rates)
    return payment, True


def _problem(item: OcrPayment) -> str | None:
    if item.reversal or item.negative_sign:
        return "reversal"
    if item.kid is None or not item.kid_valid:
        return "invalid_kid"
    return None


def import_ocr(
    session: Session, text: str, now: datetime, rates: RateTable[int] = DEFAULT_INTEREST
) -> ImportSummary:
    """Import a whole OCR giro file in one transaction (its totals are checked first)."""
    parsed = parse_ocr(text)
    summary = ImportSummary(transmission=parsed.transmission.number)
    recorded: list[int] = []
    for item in parsed.payments:
        ref = (f"ocr:{parsed.transmission.number}:{item.assignment_number}:"
               f"{item.transaction_number}")
        payment, new = record_payment(
            session, source="ocr", source_ref=ref, kid=item.kid, amount=item.amount,
            paid_on=item.bank_date or item.nets_date, now=now, problem=_problem(item),
            rates=rates,
        )
        if not new:
            summary.duplicates += 1
            continue
        summary.payments += 1
        recorded.append(payment.seq)
        summary.amount += item.amount
        if payment.principal or payment.fees or payment.interest or payment.invoice_fee:
            summary.matched += 1
    session.flush()
    for reason, amount in session.execute(
        sa.select(SuspenseItem.reason, SuspenseItem.amount)
        .where(SuspenseItem.payment_seq.in_(recorded))
    ):
        summary.suspense_reasons[reason] += 1
        summary.to_suspense += amount
    return summary
