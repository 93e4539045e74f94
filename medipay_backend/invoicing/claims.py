"""What the clinic and the patient can do to a claim: stop or delete it, complain (which
pauses dunning until resolved), and credit notes (full or partial).

A credit note lowers the principal first, then the invoice fee. A credit of everything left
closes the claim as `credited`; fees and interest charged so far are then written off (the
claim they were charged on no longer exists).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from medipay_backend.domain.dunning import FAKTURASERVICE_SCHEDULE
from medipay_backend.invoicing.balance import principal_left
from medipay_backend.invoicing.progress import claim_state, next_action_on
from medipay_backend.models_invoicing import Claim, ClaimEvent


class ClaimActionError(Exception):
    """The action does not fit the claim's state (or the amount is wrong)."""


def _event(session: Session, claim: Claim, kind: str, today: date, now: datetime,
           amount: int = 0, principal_delta: int = 0, **detail: Any) -> ClaimEvent:
    event = ClaimEvent(claim_seq=claim.seq, kind=kind, step_id=None, on_date=today,
                       amount=amount, interest=0, principal_delta=principal_delta,
                       detail=detail, created_at=now)
    session.add(event)
    return event


def _require_open(claim: Claim) -> None:
    if claim.state != "open":
        raise ClaimActionError(f"claim {claim.invoice_number} is {claim.state}")


def stop(session: Session, claim: Claim, today: date, now: datetime, *, delete: bool,
         reason: str) -> None:
    """The clinic stops (takes the claim back) or deletes it (the debt is dropped)."""
    _require_open(claim)
    claim.state = "deleted" if delete else "stopped"
    claim.closed_on, claim.next_action_on = today, None
    _event(session, claim, "deleted" if delete else "stopped", today, now, reason=reason)


def complain(session: Session, claim: Claim, today: date, now: datetime, note: str) -> None:
    _require_open(claim)
    if claim.paused:
        raise ClaimActionError(f"claim {claim.invoice_number} already has an open complaint")
    claim.paused = True
    _event(session, claim, "complaint", today, now, note=note)


def resolve_complaint(session: Session, claim: Claim, today: date, now: datetime,
                      note: str) -> None:
    """Dunning goes on: steps that fell due meanwhile are done at the next run."""
    if not claim.paused:
        raise ClaimActionError(f"claim {claim.invoice_number} has no open complaint")
    claim.paused = False
    _event(session, claim, "complaint_resolved", today, now, note=note)
    if claim.state == "open":
        claim.next_action_on = next_action_on(
            FAKTURASERVICE_SCHEDULE, claim.issue_date, claim_state(claim), today)


def credit(session: Session, claim: Claim, today: date, now: datetime, *,
           amount: int | None, reason: str) -> ClaimEvent:
    """A credit note of `amount` øre (None: everything left of principal and invoice fee)."""
    _require_open(claim)
    fee_left = claim.invoice_fee - claim.paid_invoice_fee - claim.credited_invoice_fee
    left = principal_left(claim) + fee_left
    amount = left if amount is None else amount
    if not 0 < amount <= left:
        raise ClaimActionError(f"a credit note must be 1..{left} øre, not {amount}")
    on_principal = min(amount, principal_left(claim))
    on_fee = amount - on_principal
    claim.credited_principal += on_principal
    claim.credited_invoice_fee += on_fee
    full = amount == left
    if full:
        claim.state, claim.closed_on, claim.next_action_on = "credited", today, None
    return _event(session, claim, "credit_note", today, now, amount=amount,
                  principal_delta=-on_principal, principal=on_principal, invoice_fee=on_fee,
                  full=full, reason=reason)
