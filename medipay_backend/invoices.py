"""Invoice records: who an order's invoice is addressed to and which route it took.

Documents, delivery and dunning build on these records (a later step). The amounts are the
order's patient part plus the invoice fee that was fixed when the order was accepted.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from medipay_backend.domain.contacts import Address
from medipay_backend.models_orders import Invoice, Order


def recipient_for(
    order: Order, kind: str, registered_address: Address | None = None
) -> dict[str, Any]:
    """The invoice's addressee. Bought claims go to the registered address when the bureau
    knows it; Fakturaservice invoices to the address the EPJ gave."""
    source: dict[str, Any] = {
        "patient": order.patient, "guardian": order.guardian or {},
        "company": order.company or {}, "other_payer": order.other_payer or {},
    }[kind]
    recipient: dict[str, Any] = {
        "kind": kind, "name": source.get("name"), "address": source.get("address"),
        "email": source.get("email"), "address_source": "epj",
    }
    if kind == "company":
        recipient["org_number"] = source.get("org_number")
        recipient["ehf"] = bool(source.get("ehf"))
    if registered_address is not None:
        recipient["address"] = {
            "street": registered_address.street, "postal_code": registered_address.postal_code,
            "city": registered_address.city, "country": registered_address.country,
        }
        recipient["address_source"] = "registry"
    return recipient


def create_invoice(
    session: Session,
    order: Order,
    *,
    route: str,
    origin: str,
    reason: str,
    recipient: dict[str, Any],
    score_points: int | None,
    now: datetime,
) -> Invoice:
    invoice = Invoice(
        id=str(uuid.uuid4()), order_id=order.id, clinic_id=order.clinic_id,
        account_id=order.account_id, route=route, origin=origin, reason=reason,
        recipient=recipient, amount=order.amount, invoice_fee=order.invoice_fee,
        total=order.amount + order.invoice_fee, currency=order.currency, kid=order.kid,
        score_points=score_points, status="created", created_at=now,
    )
    session.add(invoice)
    return invoice
