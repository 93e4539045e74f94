"""Taking in orders from EPJs (blocking, per session).

A request holds one or more orders, each with its own idempotency key (unique per clinic).
For every order, in request order:
- its key is known with the same content: `duplicate`, answered with the stored order;
- its key is known with other content: the whole request is refused (`IdempotencyConflict`),
  because an accepted order is immutable and a change must be a credit;
- it breaks a rule: `rejected` with every reason, and nothing is stored, so the EPJ can
  correct it and send it again under the same key;
- else it is stored as `accepted`, with its history entry and its jobs: the SMS with the
  payment link now, the reminder before the deadline. The deadline sweep picks it up when
  the deadline passes (at once for orders that go straight to invoice).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend import order_events
from medipay_backend.clinics import EpjCaller, get_clinic
from medipay_backend.domain.contacts import Address
from medipay_backend.domain.kid import KidScheme, make_kid
from medipay_backend.domain.pricing import invoice_amounts
from medipay_backend.domain.validation import (
    AcceptedDraft,
    CompanyDraft,
    Limits,
    OrderDraft,
    PersonDraft,
    Reason,
    validate_order,
)
from medipay_backend.jobs import NewJob, schedule
from medipay_backend.localtime import oslo_date
from medipay_backend.models_orders import Order
from medipay_backend.pos import IdempotencyConflict, fingerprint
from medipay_backend.schemas_orders import AddressIn, CompanyIn, OrderIn, PersonIn

ItemOutcome = Literal["created", "duplicate", "rejected"]
DESCRIPTION_LIMIT = 100


@dataclass(frozen=True)
class OrderTiming:
    """How long a patient has to pay in checkout, and when the reminder goes."""

    deadline: timedelta = timedelta(hours=48)
    reminder_before: timedelta = timedelta(hours=8)


@dataclass(frozen=True)
class ParsedItem:
    """One order of a request after the shape check: the order, or why its shape is wrong."""

    index: int
    idempotency_key: str | None
    order: OrderIn | None
    errors: list[Reason] = field(default_factory=list)


@dataclass(frozen=True)
class ItemResult:
    index: int
    idempotency_key: str | None
    outcome: ItemOutcome
    order: Order | None = None
    errors: list[Reason] = field(default_factory=list)


def _address(value: AddressIn | None) -> Address | None:
    return None if value is None else Address(**value.model_dump())


def _person(value: PersonIn | None) -> PersonDraft | None:
    if value is None:
        return None
    return PersonDraft(value.name, value.national_id, value.mobile, value.email,
                       _address(value.address))


def _company(value: CompanyIn | None) -> CompanyDraft | None:
    if value is None:
        return None
    return CompanyDraft(value.org_number, value.name, _address(value.address), value.email,
                        value.ehf)


def draft_of(order: OrderIn) -> OrderDraft:
    patient = _person(order.patient)
    assert patient is not None
    return OrderDraft(
        amount=order.amount, currency=order.currency, patient=patient, kid=order.kid,
        payer=order.payer, company=_company(order.company),
        other_payer=_person(order.other_payer), guardian=_person(order.guardian),
        direct_to_invoice=order.direct_to_invoice,
        always_fakturaservice=order.always_fakturaservice, invoice_fee=order.invoice_fee,
    )


def _json(value: Any) -> dict[str, Any] | None:
    return None if value is None else asdict(value)


def take_orders(
    session: Session,
    caller: EpjCaller,
    items: Sequence[ParsedItem],
    timing: OrderTiming,
    now: datetime,
) -> list[ItemResult]:
    clinic = get_clinic(session, caller.clinic_id)
    terms = clinic.agreement
    limits = Limits(max_amount=terms.max_order_amount, kid_scheme=_scheme(terms.kid_scheme))
    keys = {item.idempotency_key for item in items if item.idempotency_key}
    known: dict[str, Order] = {
        row.idempotency_key: row
        for row in session.scalars(sa.select(Order).where(
            Order.clinic_id == caller.clinic_id, Order.idempotency_key.in_(keys)))
    }
    today = oslo_date(now)
    results: list[ItemResult] = []
    accepted: list[tuple[ParsedItem, AcceptedDraft, str]] = []
    pending_kids: set[str] = set()
    in_batch: dict[str, tuple[str, int]] = {}  # key -> (fingerprint, index) accepted here
    repeats: dict[int, int] = {}  # index of a repeat in this request -> index of its first
    for item in items:
        key = item.idempotency_key
        digest = fingerprint(item.order.model_dump(mode="json")) if item.order else None
        if key is not None and key in known:
            if known[key].content_sha256 != digest:
                raise IdempotencyConflict(key)
            results.append(ItemResult(item.index, key, "duplicate", known[key]))
            continue
        if key is not None and key in in_batch:
            first_digest, first_index = in_batch[key]
            if first_digest != digest:
                raise IdempotencyConflict(key)
            repeats[item.index] = first_index
            results.append(ItemResult(item.index, key, "duplicate"))
            continue
        if item.order is None or digest is None:
            results.append(ItemResult(item.index, key, "rejected", errors=item.errors))
            continue
        checked = validate_order(draft_of(item.order), limits, today)
        if isinstance(checked, list):
            results.append(ItemResult(item.index, key, "rejected", errors=checked))
            continue
        kid = checked.draft.kid
        if kid is not None and kid in pending_kids:
            results.append(ItemResult(item.index, key, "rejected", errors=[_kid_in_use()]))
            continue
        if kid is not None:
            pending_kids.add(kid)
        accepted.append((item, checked, digest))
        if key is not None:
            in_batch[key] = (digest, item.index)
        results.append(ItemResult(item.index, key, "created"))
    taken_kids = _kids_in_use(session, caller.clinic_id, pending_kids)
    rows: dict[int, Order] = {}
    jobs: list[NewJob] = []
    for item, checked, digest in accepted:
        assert item.order is not None and item.idempotency_key is not None
        if checked.draft.kid in taken_kids:
            results[_position(results, item.index)] = ItemResult(
                item.index, item.idempotency_key, "rejected", errors=[_kid_in_use()])
            continue
        row = _new_order(caller, item.order, checked, digest, clinic.name, terms.invoice_fee,
                         limits.kid_scheme, timing, now)
        rows[item.index] = row
        known[item.idempotency_key] = row
        jobs.extend(_jobs_for(row, timing, now))
    session.add_all(rows.values())
    session.flush()
    for row in rows.values():
        order_events.record(session, row, "received", now, amount=row.amount)
    schedule(session, jobs, now)
    session.flush()
    return [_settle(result, rows, repeats, results) for result in results]


def _settle(
    result: ItemResult, rows: dict[int, Order], repeats: dict[int, int],
    results: list[ItemResult],
) -> ItemResult:
    """Attach the stored row to created orders and to repeats of them in the same request."""
    if result.outcome == "created":
        return ItemResult(result.index, result.idempotency_key, "created", rows[result.index])
    if result.index in repeats:
        first = repeats[result.index]
        if first in rows:
            return ItemResult(result.index, result.idempotency_key, "duplicate", rows[first])
        return ItemResult(result.index, result.idempotency_key, "rejected",
                          errors=results[_position(results, first)].errors)
    return result


def _scheme(value: str) -> KidScheme:
    return "mod11" if value == "mod11" else "mod10"


def _position(results: list[ItemResult], index: int) -> int:
    return next(i for i, r in enumerate(results) if r.index == index)


def _kid_in_use() -> Reason:
    return Reason("kid", "kid_in_use", "kid is already used by another order of this clinic")


def _kids_in_use(session: Session, clinic_id: str, kids: set[str]) -> set[str]:
    if not kids:
        return set()
    return set(session.scalars(
        sa.select(Order.kid).where(Order.clinic_id == clinic_id, Order.kid.in_(kids))))


def _new_order(
    caller: EpjCaller, order: OrderIn, checked: AcceptedDraft, digest: str, clinic_name: str,
    agreed_fee: int, scheme: KidScheme, timing: OrderTiming, now: datetime,
) -> Order:
    draft = checked.draft
    order_id = uuid.uuid4()
    # A KID from the order's random id: unique per clinic in practice, and the unique index
    # turns the (astronomically rare) clash into a retried transaction.
    kid = draft.kid or make_kid(order_id.int, scheme)
    patient = _json(draft.patient) or {}
    patient.pop("national_id", None)
    fee = invoice_amounts(draft.amount, draft.invoice_fee, agreed_fee).invoice_fee
    deadline = now if draft.direct_to_invoice else now + timing.deadline
    return Order(
        id=str(order_id), clinic_id=caller.clinic_id, account_id=caller.account_id,
        idempotency_key=order.idempotency_key, content_sha256=digest,
        external_reference=order.external_reference, status="accepted", status_reason=None,
        payment_method=None, amount=draft.amount, invoice_fee=fee, currency=draft.currency,
        kid=kid, kid_generated=draft.kid is None,
        description=(order.description or f"Helsetjeneste hos {clinic_name}")[
            :DESCRIPTION_LIMIT],
        payer=draft.payer, direct_to_invoice=draft.direct_to_invoice,
        always_fakturaservice=draft.always_fakturaservice,
        patient_national_id=checked.patient_id.number if checked.patient_id else None,
        patient_birth_date=checked.patient_id.birth_date if checked.patient_id else None,
        patient=patient, guardian=_json(draft.guardian), other_payer=_json(draft.other_payer),
        company=_json(draft.company), sms_to=checked.sms_to, deadline_at=deadline,
        received_at=now, updated_at=now,
    )


def _jobs_for(order: Order, timing: OrderTiming, now: datetime) -> list[NewJob]:
    if order.sms_to is None or order.deadline_at is None:
        return []
    jobs = [NewJob("send_sms", f"sms:checkout:{order.id}", now,
                   {"order_id": order.id, "kind": "checkout"})]
    remind_at = order.deadline_at - timing.reminder_before
    if remind_at > now:
        jobs.append(NewJob("send_sms", f"sms:reminder:{order.id}", remind_at,
                           {"order_id": order.id, "kind": "reminder"}))
    return jobs
