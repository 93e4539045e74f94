"""The checkout's steps against the database (blocking, per session).

A link resolves to its order only while the order is open and its deadline has not passed;
after that the link is dead whatever else happens. Paying is guarded by the order's row lock:
the capture (or the credit check) runs while the lock is held, so two submits at once, from
two tabs or two phones, can never capture twice or pay an order that has just expired. The
loser's authorization is cancelled by the caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend import order_events
from medipay_backend.adapters.bureau import CreditCheck
from medipay_backend.domain.identity import ADULT_AGE, age_on
from medipay_backend.invoices import create_invoice, recipient_for
from medipay_backend.localtime import oslo_date
from medipay_backend.models_clinics import Clinic
from medipay_backend.models_orders import OPEN_STATUSES, CheckoutLink, Order, Payment
from medipay_backend.sms_flow import token_hash

LinkKind = Literal["open", "unknown", "expired", "paid", "invoice_chosen"]
Settled = Literal["paid", "already_paid", "closed", "declined"]


@dataclass(frozen=True)
class OrderSummary:
    order_id: str
    clinic_name: str
    description: str
    amount: int
    invoice_fee: int
    deadline_at: datetime | None
    payment_method: str | None
    can_invoice: bool
    mobile: str | None


@dataclass(frozen=True)
class LinkState:
    kind: LinkKind
    order: OrderSummary | None = None


def lock_order(session: Session, order_id: str) -> Order:
    order = session.scalars(
        sa.select(Order).where(Order.id == order_id).with_for_update()
    ).one_or_none()
    if order is None:
        raise LookupError(f"no order {order_id!r}")
    return order


def is_open(order: Order, now: datetime) -> bool:
    return (order.status in OPEN_STATUSES and order.deadline_at is not None
            and order.deadline_at > now and not order.direct_to_invoice)


def _can_invoice(order: Order, now: datetime) -> bool:
    """Invoice in checkout needs a full credit check of an adult patient who pays."""
    if order.payer != "patient" or order.patient_national_id is None:
        return False
    born = order.patient_birth_date
    return born is not None and age_on(born, oslo_date(now)) >= ADULT_AGE


def resolve_link(session: Session, token: str, now: datetime) -> LinkState:
    link = session.get(CheckoutLink, token_hash(token))
    if link is None:
        return LinkState("unknown")
    order = session.scalars(sa.select(Order).where(Order.id == link.order_id)).one()
    clinic = session.get(Clinic, order.clinic_id)
    summary = OrderSummary(
        order_id=order.id, clinic_name=clinic.name if clinic else "", description=order.description,
        amount=order.amount, invoice_fee=order.invoice_fee, deadline_at=order.deadline_at,
        payment_method=order.payment_method, can_invoice=_can_invoice(order, now),
        mobile=order.sms_to,
    )
    if order.status == "paid":
        return LinkState("paid", summary)
    if order.status == "invoice_chosen":
        return LinkState("invoice_chosen", summary)
    if is_open(order, now):
        return LinkState("open", summary)
    return LinkState("expired", summary)


def start_payment(session: Session, order_id: str, method: str, now: datetime) -> str | None:
    """A new payment attempt for an open order; None if the order is no longer open."""
    order = lock_order(session, order_id)
    if not is_open(order, now):
        return None
    payment = Payment(
        id=str(uuid.uuid4()), order_id=order_id, method=method, status="pending",
        provider_reference=None, amount=order.amount, masked_pan=None, card_name=None,
        created_at=now, updated_at=now,
    )
    session.add(payment)
    session.flush()
    return payment.id


def set_reference(session: Session, payment_id: str, reference: str) -> None:
    payment = session.get(Payment, payment_id)
    assert payment is not None
    payment.provider_reference = reference


def find_payment(session: Session, order_id: str, payment_id: str) -> Payment | None:
    payment = session.get(Payment, payment_id)
    return payment if payment is not None and payment.order_id == order_id else None


def settle_payment(
    session: Session,
    payment_id: str,
    authorized: bool,
    now: datetime,
    capture: Callable[[], dict[str, Any]],
) -> Settled:
    """Record the outcome of an attempt; capture an authorized one if the order is still
    open. `capture` runs under the order's lock and returns card details (may be empty)."""
    payment = session.get(Payment, payment_id, with_for_update=True)
    assert payment is not None
    order = lock_order(session, payment.order_id)
    if payment.status == "captured":
        return "already_paid"
    if not authorized:
        if payment.status == "pending":
            payment.status = "declined"
            payment.updated_at = now
            order_events.record(session, order, "payment_declined", now, method=payment.method)
        return "declined"
    if not is_open(order, now):
        payment.status = "cancelled"
        payment.updated_at = now
        return "already_paid" if order.status in ("paid", "invoice_chosen") else "closed"
    details = capture()
    payment.status = "captured"
    payment.updated_at = now
    payment.masked_pan = details.get("masked_pan")
    payment.card_name = details.get("card_name")
    order.payment_method = payment.method
    order_events.record(session, order, "paid", now, status="paid", method=payment.method,
                        payment_id=payment.id)
    return "paid"


def choose_invoice(
    session: Session, order_id: str, now: datetime,
    check: Callable[[str, int], CreditCheck],
) -> Literal["chosen", "already", "declined", "closed", "not_offered"]:
    """Invoice in checkout: a full credit check; approved, the provider buys the claim."""
    order = lock_order(session, order_id)
    if order.status == "invoice_chosen":
        return "already"
    if not is_open(order, now):
        return "closed"
    if not _can_invoice(order, now) or order.patient_national_id is None:
        return "not_offered"
    result = check(order.patient_national_id, order.amount + order.invoice_fee)
    if not result.approved:
        order_events.record(session, order, "invoice_declined", now, reason=result.reason)
        return "declined"
    create_invoice(session, order, route="bought", origin="checkout", reason="checkout_invoice",
                   recipient=recipient_for(order, "patient"), score_points=None, now=now)
    order.payment_method = "invoice"
    order_events.record(session, order, "invoice_chosen", now, status="invoice_chosen",
                        reason="checkout_invoice")
    return "chosen"
