"""What the clinic and the patient can do to a claim: stop or delete it, complain (which
pauses dunning until resolved), and credit notes (full or partial).

A credit note lowers the principal first, then the invoice fee. A credit of everything left
closes the claim as `credited`; fees and interest charged so far are then written off (the
claim they were charged on no longer exists).

Each action that takes principal or invoice fee out of collection (a credit note, a stop, a
delete) also shrinks the claim's memo in the ledger, in the same transaction
(`ledger_posts.release_credited`, `release_withdrawn`), so the memo keeps matching the
outstanding-claims report. A credit note on a claim the provider bought takes its principal
part back from the clinic, which was paid for the claim (`ledger_posts.credit_bought`, the
rule credits on the order follow too).

A claim the provider bought is the provider's: the clinic sold it and cannot stop or delete
it (service description 2.2.3 and 2.3: only under Fakturaservice does the clinic own the
claim). `stop` refuses it with `ClaimBought`; the clinic credits it instead, which gives back
what it was paid.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.domain.dunning import FAKTURASERVICE_SCHEDULE
from medipay_backend.invoicing.balance import principal_left
from medipay_backend.invoicing.ledger_posts import (
    release_bought_credit,
    release_credited,
    release_withdrawn,
)
from medipay_backend.invoicing.progress import claim_state, next_action_on
from medipay_backend.models_invoicing import Claim, ClaimEvent


class ClaimActionError(Exception):
    """The action does not fit the claim's state (or the amount is wrong)."""


class ClaimBought(ClaimActionError):
    """The provider bought the claim: the clinic sold it and cannot stop or delete it."""


class ActionKeyConflict(ClaimActionError):
    """The idempotency key already did something else to this claim (another action, amount,
    reason or note)."""


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


def _keyed(session: Session, claim: Claim, key: str | None, kinds: tuple[str, ...],
           **request: Any) -> ClaimEvent | None:
    """The event an operator's earlier request with idempotency `key` made on the claim, if
    any: its repeat then changes nothing. The same key with another action or other values is
    `ActionKeyConflict`. The key and the request's values are kept in the event's detail; a
    claim has few events, so they are read, not queried by JSON."""
    if key is None:
        return None
    for event in session.scalars(sa.select(ClaimEvent).where(ClaimEvent.claim_seq == claim.seq)):
        if event.detail.get("idempotency_key") != key:
            continue
        if event.kind not in kinds or any(event.detail.get(name) != value
                                          for name, value in request.items()):
            raise ActionKeyConflict(
                f"idempotency key {key!r} was already used on claim {claim.invoice_number} "
                f"for another request ({event.kind}, {event.on_date})")
        return event
    return None


def _key_detail(key: str | None) -> dict[str, Any]:
    return {} if key is None else {"idempotency_key": key}


def stop(session: Session, claim: Claim, today: date, now: datetime, *, delete: bool,
         reason: str, idempotency_key: str | None = None) -> None:
    """The clinic stops (takes the claim back) or deletes it (the debt is dropped); only a
    claim the clinic owns (Fakturaservice). A bought claim raises `ClaimBought`. A repeat
    with the same `idempotency_key` (see `_keyed`) changes nothing."""
    kind = "deleted" if delete else "stopped"
    if _keyed(session, claim, idempotency_key, (kind,), reason=reason) is not None:
        return
    if claim.route == "bought":
        raise ClaimBought(
            f"invoice {claim.invoice_number} was bought by the provider, so the clinic cannot "
            f"{'delete' if delete else 'stop'} it; credit it instead (the clinic gives back "
            "what it was paid for the credited part)")
    _require_open(claim)
    claim.state = "deleted" if delete else "stopped"
    claim.closed_on, claim.next_action_on = today, None
    _event(session, claim, kind, today, now, reason=reason, **_key_detail(idempotency_key))
    release_withdrawn(session, claim, now)


def complain(session: Session, claim: Claim, today: date, now: datetime, note: str,
             idempotency_key: str | None = None) -> None:
    if _keyed(session, claim, idempotency_key, ("complaint",), note=note) is not None:
        return
    _require_open(claim)
    if claim.paused:
        raise ClaimActionError(f"claim {claim.invoice_number} already has an open complaint")
    claim.paused = True
    _event(session, claim, "complaint", today, now, note=note, **_key_detail(idempotency_key))


def resolve_complaint(session: Session, claim: Claim, today: date, now: datetime,
                      note: str, idempotency_key: str | None = None) -> None:
    """Dunning goes on: steps that fell due meanwhile are done at the next run."""
    if _keyed(session, claim, idempotency_key, ("complaint_resolved",), note=note) is not None:
        return
    if not claim.paused:
        raise ClaimActionError(f"claim {claim.invoice_number} has no open complaint")
    claim.paused = False
    _event(session, claim, "complaint_resolved", today, now, note=note,
           **_key_detail(idempotency_key))
    if claim.state == "open":
        claim.next_action_on = next_action_on(
            FAKTURASERVICE_SCHEDULE, claim.issue_date, claim_state(claim), today)


def credit(session: Session, claim: Claim, today: date, now: datetime, *,
           amount: int | None, reason: str, release_memo: bool = True,
           idempotency_key: str | None = None) -> ClaimEvent:
    """A credit note of `amount` øre (None: everything left of principal and invoice fee).

    With `idempotency_key` (the operator API), a repeat of a request that already made a
    credit note returns that note and changes nothing, also after it closed the claim; the
    key, the requested amount and the reason are kept in the event's detail.

    The ledger follows in the same transaction: a Fakturaservice claim's memo shrinks by
    `amount`; a bought claim's principal part is taken back from the clinic
    (`release_bought_credit`). `release_memo=False` is for a caller that books the ledger
    side itself (`credits.credit_order`, as `credit:<credit id>` or `credit:<credit id>:memo`),
    so nothing is booked twice."""
    made = _keyed(session, claim, idempotency_key, ("credit_note",), requested=amount,
                  reason=reason)
    if made is not None:
        return made
    _require_open(claim)
    requested = amount
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
    event = _event(session, claim, "credit_note", today, now, amount=amount,
                   principal_delta=-on_principal, principal=on_principal, invoice_fee=on_fee,
                   full=full, reason=reason, requested=requested,
                   **_key_detail(idempotency_key))
    if release_memo:
        session.flush()  # the event's number names the release
        release_credited(session, claim, event.seq, amount, now)
        release_bought_credit(session, claim, event.seq, on_principal, now)
    return event
