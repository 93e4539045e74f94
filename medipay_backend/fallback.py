"""The deadline sweep: open orders whose checkout deadline has passed go to invoicing.

Orders are taken in chunks with `FOR UPDATE SKIP LOCKED`, so sweeps in several processes
share the work; each chunk is one transaction. For each order the link dies (its status
leaves the open states), then the routing rules decide: the provider buys the claim, the
invoice goes to Fakturaservice, or the order goes back to the clinic for manual handling
with the reason. Orders sent "direct to invoice" have their deadline at acceptance and take
the same path at the next sweep.

The credit bureau is called inside the chunk's transaction. A real bureau is a network call
and that holds the chunk's row locks a little longer; it keeps a crash from ever leaving an
order half-routed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend import order_events
from medipay_backend.adapters.bureau import CreditBureau
from medipay_backend.domain.identity import age_on
from medipay_backend.domain.routing import (
    Decision,
    RoutingFacts,
    decide,
    needs_score,
    recipient_of,
)
from medipay_backend.domain.scoring import Score, score
from medipay_backend.domain.validation import PayerKind
from medipay_backend.invoices import create_invoice, recipient_for
from medipay_backend.localtime import oslo_date
from medipay_backend.models_clinics import ClinicAgreement
from medipay_backend.models_orders import OPEN_STATUSES, Order

# Orders routed per transaction: big enough to amortise the round trips, small enough that
# a chunk's locks are short and a failure redoes little.
SWEEP_CHUNK = 500


@dataclass(frozen=True)
class Routed:
    order_id: str
    route: str  # bought, fakturaservice, manual
    reason: str


def facts_of(order: Order, fakturaservice: bool, now: datetime) -> RoutingFacts:
    age = age_on(order.patient_birth_date, oslo_date(now)) if order.patient_birth_date else None
    payer: PayerKind = order.payer  # type: ignore[assignment]
    facts = RoutingFacts(
        payer=payer, has_national_id=order.patient_national_id is not None, age=age,
        amount=order.amount, always_fakturaservice=order.always_fakturaservice,
        has_address=False, fakturaservice_enabled=fakturaservice,
    )
    holder = {"patient": order.patient, "guardian": order.guardian,
              "company": order.company, "other_payer": order.other_payer}[recipient_of(facts)]
    return RoutingFacts(**{**facts.__dict__,
                           "has_address": bool(holder and holder.get("address"))})


def route_order(
    session: Session, order: Order, fakturaservice: bool, bureau: CreditBureau, now: datetime
) -> Routed:
    facts = facts_of(order, fakturaservice, now)
    scored: Score | None = None
    registered = None
    if needs_score(facts) and order.patient_national_id is not None:
        scored = score(bureau.history(order.patient_national_id))
        registered = bureau.registered_address(order.patient_national_id)
    decision: Decision = decide(facts, scored, registered is not None)
    if not order.direct_to_invoice:
        order_events.record(session, order, "deadline_passed", now)
    if decision.route == "manual":
        order.status_reason = decision.reason
        order_events.record(session, order, "manual_handling", now, status="manual_handling",
                            reason=decision.reason)
        return Routed(order.id, "manual", decision.reason)
    use_registry = decision.route == "bought" and registered is not None
    create_invoice(
        session, order, route=decision.route,
        origin="direct" if order.direct_to_invoice else "fallback", reason=decision.reason,
        recipient=recipient_for(order, decision.recipient, registered if use_registry else None),
        score_points=scored.points if scored else None, now=now,
    )
    order.status_reason = decision.reason
    order_events.record(session, order, "invoice_created", now, status="invoiced",
                        route=decision.route, reason=decision.reason)
    return Routed(order.id, decision.route, decision.reason)


def sweep_chunk(session: Session, bureau: CreditBureau, now: datetime,
                limit: int | None = None) -> list[Routed]:
    """Route up to `limit` (default SWEEP_CHUNK) orders whose deadline has passed, in one
    transaction."""
    limit = limit or SWEEP_CHUNK
    orders = list(session.scalars(
        sa.select(Order)
        .where(Order.status.in_(OPEN_STATUSES), Order.deadline_at <= now)
        .order_by(Order.deadline_at, Order.seq)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ))
    if not orders:
        return []
    clinic_ids = {order.clinic_id for order in orders}
    fakturaservice: dict[str, bool] = {
        clinic_id: enabled
        for clinic_id, enabled in session.execute(
            sa.select(ClinicAgreement.clinic_id, ClinicAgreement.fakturaservice)
            .where(ClinicAgreement.clinic_id.in_(clinic_ids))
        )
    }
    routed = [route_order(session, order, fakturaservice.get(order.clinic_id, False), bureau,
                          now) for order in orders]
    session.flush()
    return routed


def summarise(routed: list[Routed]) -> Counter[str]:
    return Counter(f"{r.route}:{r.reason}" for r in routed)
