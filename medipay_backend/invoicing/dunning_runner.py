"""The daily dunning run: every open claim with a step due today gets it done and recorded.

Claims are read in chunks by `next_action_on <= today` with `FOR UPDATE SKIP LOCKED`, so
runs in several processes share the work and a rerun on the same day finds nothing new
(`due_steps` never returns a done step, and a step id is unique per claim in the events).

Per step: a fee (from the dated fee table, by the claim's due date and principal left; the
heavy collection fee replaces the light one), a letter (its amounts, interest to the day, the
pay-by date, always to the registered address), an SMS (queued as `sms_pending`, sent by the
job handler with a card/Vipps payment link of its own), a call task, the handover, a deadline
or the payment remark.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.domain.contacts import Address
from medipay_backend.domain.dunning import (
    FAKTURASERVICE_SCHEDULE,
    Action,
    DueStep,
    DunningSchedule,
    due_steps,
    stage,
)
from medipay_backend.domain.rates import DEFAULT_FEES, FeeKind, FeeSchedule, RateTable, fee_on
from medipay_backend.invoicing.balance import outstanding, principal_left
from medipay_backend.invoicing.issuing import PROVIDER
from medipay_backend.invoicing.progress import claim_state, next_action_on
from medipay_backend.localtime import kroner
from medipay_backend.models_invoicing import Claim, ClaimEvent
from medipay_backend.models_orders import Invoice, Order

RUN_CHUNK = 1000
# Where the SMS's payment link goes; the link is made when the SMS is sent (`jobs`).
LINK_SLOT = "[lenke]"
ONE_DAY = timedelta(days=1)
AddressLookup = Callable[[str], Address | None]


@dataclass
class RunSummary:
    claims: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    fees: int = 0


def principal_changes(session: Session, claim_seq: int) -> list[tuple[date, int]]:
    rows = session.execute(
        sa.select(ClaimEvent.on_date, ClaimEvent.principal_delta)
        .where(ClaimEvent.claim_seq == claim_seq, ClaimEvent.principal_delta != 0)
    ).all()
    return [(row[0], row[1]) for row in rows]


def _fee(claim: Claim, kind: FeeKind, fees: RateTable[FeeSchedule]) -> tuple[int, int]:
    """(fee for the step, amount added to the claim): the heavy fee replaces the light one."""
    amount = fee_on(kind, claim.due_date, principal_left(claim), fees)
    if kind is FeeKind.COLLECTION_HEAVY:
        light = fee_on(FeeKind.COLLECTION_LIGHT, claim.due_date, principal_left(claim), fees)
        return amount, max(0, amount - light)
    return amount, amount


@dataclass
class Prefetched:
    """What the steps of a chunk of claims read, loaded in two queries instead of per claim."""

    changes: dict[int, list[tuple[date, int]]] = field(default_factory=dict)
    contacts: dict[int, tuple[Invoice, Order]] = field(default_factory=dict)


def prefetch(session: Session, claims: Sequence[Claim]) -> Prefetched:
    seqs = [claim.seq for claim in claims]
    found = Prefetched({seq: [] for seq in seqs})
    for seq, day, delta in session.execute(
        sa.select(ClaimEvent.claim_seq, ClaimEvent.on_date, ClaimEvent.principal_delta)
        .where(ClaimEvent.claim_seq.in_(seqs), ClaimEvent.principal_delta != 0)
    ):
        found.changes[seq].append((day, delta))
    for seq, invoice, order in session.execute(
        sa.select(Claim.seq, Invoice, Order)
        .join(Invoice, Invoice.id == Claim.invoice_id).join(Order, Order.id == Invoice.order_id)
        .where(Claim.seq.in_(seqs))
    ):
        found.contacts[seq] = (invoice, order)
    return found


def _contact(session: Session, claim: Claim, known: Prefetched | None) -> tuple[Invoice, Order]:
    if known is not None and claim.seq in known.contacts:
        return known.contacts[claim.seq]
    invoice = session.scalars(sa.select(Invoice).where(Invoice.id == claim.invoice_id)).one()
    order = session.scalars(sa.select(Order).where(Order.id == invoice.order_id)).one()
    return invoice, order


def _changes(session: Session, claim: Claim, known: Prefetched | None) -> list[tuple[date, int]]:
    if known is not None and claim.seq in known.changes:
        return known.changes[claim.seq]
    return principal_changes(session, claim.seq)


def _letter_address(
    invoice: Invoice, order: Order, lookup: AddressLookup | None
) -> dict[str, Any]:
    """Reminders and collection letters go to the registered address when there is one."""
    if lookup is not None and order.patient_national_id:
        found = lookup(order.patient_national_id)
        if found is not None:
            return {"street": found.street, "postal_code": found.postal_code,
                    "city": found.city, "country": found.country, "source": "registry"}
    return {**(invoice.recipient.get("address") or {}),
            "source": invoice.recipient.get("address_source", "epj")}


def do_step(
    session: Session, claim: Claim, due: DueStep, today: date, now: datetime,
    fees: RateTable[FeeSchedule], lookup: AddressLookup | None,
    known: Prefetched | None = None,
) -> ClaimEvent:
    step = due.step
    detail: dict[str, Any] = {"title": step.title, "due_on": due.due_on.isoformat()}
    charged = 0
    if step.fee is not None:
        detail["fee"], charged = _fee(claim, step.fee, fees)
        detail["fee_kind"] = step.fee.value
        claim.fees_charged += charged
    kind = step.action.value
    interest = 0
    if step.action in (Action.LETTER, Action.SMS):
        owed = outstanding(claim, _changes(session, claim, known), today)
        interest = owed.interest
        invoice, order = _contact(session, claim, known)
        detail.update(principal=owed.principal, invoice_fee=owed.invoice_fee, fees=owed.fees,
                      interest=owed.interest, total=owed.total)
        if step.payment_days is not None:
            detail["pay_by"] = (today + timedelta(days=step.payment_days)).isoformat()
        if step.action is Action.LETTER:
            detail["address"] = _letter_address(invoice, order, lookup)
            detail["name"] = invoice.recipient.get("name")
        else:
            kind = "sms_pending"
            detail["to"] = order.sms_to or (order.patient or {}).get("mobile")
            detail["text"] = (
                f"Påminnelse: faktura {claim.invoice_number} på kr {kroner(owed.total, ' ')} "
                f"forfalt {claim.due_date:%d.%m.%Y}. Betal med kort eller Vipps: {LINK_SLOT} "
                f"eller til konto {PROVIDER['bank_account']} med KID {claim.kid}. "
                "Har du betalt, se bort fra denne meldingen."
            )
    if step.action is Action.CALL and due.window_ends is not None:
        detail["call_until"] = due.window_ends.isoformat()
    event = ClaimEvent(
        claim_seq=claim.seq, kind=kind, step_id=step.id, on_date=today, amount=charged,
        interest=interest, principal_delta=0, detail=detail, created_at=now,
    )
    session.add(event)
    claim.done = {**claim.done, step.id: today.isoformat()}
    return event


def advance_claim(
    session: Session, claim: Claim, today: date, now: datetime, *,
    schedule: DunningSchedule = FAKTURASERVICE_SCHEDULE,
    fees: RateTable[FeeSchedule] = DEFAULT_FEES, lookup: AddressLookup | None = None,
    known: Prefetched | None = None,
) -> list[ClaimEvent]:
    """Do every step of `claim` due by `today` (a step done today may make the next due)."""
    events: list[ClaimEvent] = []
    while True:
        due = due_steps(schedule, claim.issue_date, today, claim_state(claim))
        if not due:
            break
        for item in due:
            events.append(do_step(session, claim, item, today, now, fees, lookup, known))
    state = claim_state(claim)
    claim.stage = stage(schedule, state).value
    upcoming = next_action_on(schedule, claim.issue_date, state, today)
    # Never leave a claim selectable today once its due steps are done.
    claim.next_action_on = None if upcoming is None else max(upcoming, today + ONE_DAY)
    return events


def run_chunk(
    session: Session, today: date, now: datetime, summary: RunSummary, *,
    limit: int = RUN_CHUNK, schedule: DunningSchedule = FAKTURASERVICE_SCHEDULE,
    fees: RateTable[FeeSchedule] = DEFAULT_FEES, lookup: AddressLookup | None = None,
) -> int:
    """Advance up to `limit` claims due by `today`, in the caller's transaction; returns how
    many were read (0: nothing left)."""
    claims = session.scalars(
        sa.select(Claim)
        .where(Claim.state == "open", Claim.paused.is_(False), Claim.next_action_on <= today)
        .order_by(Claim.next_action_on, Claim.seq).limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    known = prefetch(session, claims) if claims else None
    with session.no_autoflush:
        for claim in claims:
            for event in advance_claim(session, claim, today, now, schedule=schedule,
                                       fees=fees, lookup=lookup, known=known):
                summary.actions[event.kind] += 1
                summary.fees += event.amount
    summary.claims += len(claims)
    session.flush()
    return len(claims)


def run_all(
    session: Session, today: date, now: datetime, *, lookup: AddressLookup | None = None,
    fees: RateTable[FeeSchedule] = DEFAULT_FEES,
) -> RunSummary:
    """The whole day's run in one transaction (tests, small installations); the job handler
    commits chunk by chunk instead."""
    summary = RunSummary()
    while run_chunk(session, today, now, summary, lookup=lookup, fees=fees):
        pass
    return summary
