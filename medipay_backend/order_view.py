"""What an EPJ sees of its orders: status, texts, invoice and history (blocking, per session).

Every lookup is scoped to the caller's clinic: another clinic's order is "not found".
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend import order_events
from medipay_backend.models_credits import OrderCredit
from medipay_backend.models_orders import Invoice, Order, OrderEvent
from medipay_backend.order_events import REASON_TEXTS
from medipay_backend.pos import PageRequest
from medipay_backend.schemas_orders import HistoryEntry, InvoiceSummary, OrderOut


def order_out(session: Session, order: Order) -> OrderOut:
    events = session.scalars(
        sa.select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.seq)
    )
    invoice = session.scalars(
        sa.select(Invoice).where(Invoice.order_id == order.id)
    ).one_or_none()
    credited = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(OrderCredit.amount), 0))
        .where(OrderCredit.order_id == order.id))
    return OrderOut(
        id=order.id, idempotency_key=order.idempotency_key,
        external_reference=order.external_reference, account_id=order.account_id,
        status=order.status, status_text=order_events.status_text(order),
        status_reason=order.status_reason,
        status_reason_text=REASON_TEXTS.get(order.status_reason or ""),
        payment_method=order.payment_method, amount=order.amount,
        invoice_fee=order.invoice_fee, currency=order.currency, kid=order.kid,
        description=order.description, payer=order.payer,
        direct_to_invoice=order.direct_to_invoice, deadline_at=order.deadline_at,
        received_at=order.received_at, updated_at=order.updated_at,
        invoice=None if invoice is None else InvoiceSummary(
            id=invoice.id, route=invoice.route,  # type: ignore[arg-type]
            origin=invoice.origin,  # type: ignore[arg-type]
            reason=invoice.reason, recipient=invoice.recipient.get("kind", ""),
            amount=invoice.amount, invoice_fee=invoice.invoice_fee, total=invoice.total,
            kid=invoice.kid, status=invoice.status, created_at=invoice.created_at,
        ),
        credited=int(credited or 0),
        history=[
            HistoryEntry(at=e.at, event=e.event, text=order_events.event_text(e.event, e.detail),
                         detail=e.detail)
            for e in events
        ],
    )


def find_order(session: Session, clinic_id: str, order_id: str) -> Order | None:
    return session.scalars(
        sa.select(Order).where(Order.id == order_id, Order.clinic_id == clinic_id)
    ).one_or_none()


def get_order_out(session: Session, clinic_id: str, order_id: str) -> OrderOut | None:
    order = find_order(session, clinic_id, order_id)
    return None if order is None else order_out(session, order)


def list_orders(
    session: Session,
    clinic_id: str,
    page: PageRequest,
    status: str | None = None,
    external_reference: str | None = None,
) -> tuple[list[OrderOut], int | None]:
    """The clinic's orders, newest first, and the seq to continue after if there are more."""
    query = sa.select(Order).where(Order.clinic_id == clinic_id).order_by(Order.seq.desc())
    if status is not None:
        query = query.where(Order.status == status)
    if external_reference is not None:
        query = query.where(Order.external_reference == external_reference)
    if page.before_seq is not None:
        query = query.where(Order.seq < page.before_seq)
    rows = list(session.scalars(query.offset(page.offset).limit(page.limit + 1)))
    last = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last = rows[-1].seq
    return [order_out(session, row) for row in rows], last
