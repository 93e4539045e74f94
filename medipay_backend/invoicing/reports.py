"""Outstanding Fakturaservice claims of a clinic on a given date: what the clinic books as
receivables. The clinic's part of a claim is its principal and invoice fee; dunning fees and
interest are the provider's and are shown apart.

The claim is restated from its events up to and including `at`, so the report of a past date
is what it was then: a claim paid, credited, stopped or deleted after `at` still counts, one
issued after `at` does not. Age is counted in days past the due date (negative: not due).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.domain.dunning import FAKTURASERVICE_SCHEDULE, ClaimState, stage
from medipay_backend.models_invoicing import Claim, ClaimEvent

CLOSING = ("stopped", "deleted")


@dataclass(frozen=True)
class OutstandingRow:
    invoice_number: int
    kid: str
    issue_date: date
    due_date: date
    age_days: int
    stage: str
    paused: bool
    principal: int
    invoice_fee: int
    receivable: int  # principal + invoice fee: the clinic's
    provider_fees: int  # dunning fees charged and not paid: the provider's


def outstanding_claims(session: Session, clinic_id: str, at: date) -> list[OutstandingRow]:
    claims = session.scalars(
        sa.select(Claim).where(Claim.clinic_id == clinic_id, Claim.route == "fakturaservice",
                               Claim.issue_date <= at,
                               sa.or_(Claim.closed_on.is_(None), Claim.closed_on > at))
        .order_by(Claim.issue_date, Claim.seq)
    ).all()
    if not claims:
        return []
    events: dict[int, list[ClaimEvent]] = defaultdict(list)
    for event in session.scalars(
        sa.select(ClaimEvent)
        .where(ClaimEvent.claim_seq.in_([c.seq for c in claims]), ClaimEvent.on_date <= at)
        .order_by(ClaimEvent.seq)
    ):
        events[event.claim_seq].append(event)
    rows = [_row(claim, events[claim.seq], at) for claim in claims]
    return [row for row in rows if row is not None]


def _row(claim: Claim, history: list[ClaimEvent], at: date) -> OutstandingRow | None:
    principal, fee, fees, paused = claim.principal, claim.invoice_fee, 0, False
    done: dict[str, date] = {}
    for event in history:
        detail = event.detail
        if event.step_id is not None:
            done[event.step_id] = event.on_date
            fees += event.amount
        elif event.kind in ("payment", "credit_note"):
            principal -= detail.get("principal", 0)
            fee -= detail.get("invoice_fee", 0)
            fees -= detail.get("fees", 0)
        elif event.kind == "complaint":
            paused = True
        elif event.kind == "complaint_resolved":
            paused = False
        elif event.kind in CLOSING:
            return None
    if principal + fee <= 0:
        return None
    reached = stage(FAKTURASERVICE_SCHEDULE, ClaimState(done=done)).value
    return OutstandingRow(
        invoice_number=claim.invoice_number, kid=claim.kid, issue_date=claim.issue_date,
        due_date=claim.due_date, age_days=(at - claim.due_date).days, stage=reached,
        paused=paused, principal=principal, invoice_fee=fee, receivable=principal + fee,
        provider_fees=max(0, fees),
    )
