"""Request and response bodies of the credit endpoints (`/v1/orders/{id}/credits`).

Shapes only. The rules (amount above 0 and within what can be credited, a reason of 1-500
characters without control characters) are `credits.credit_order`'s, so the EPJ API and the
clinic portal refuse the same things with the same problem types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictInt, StrictStr

from medipay_backend.credits import CreditView, OrderCredits
from medipay_backend.schemas import _Input

# Bounds the request only; the reason's real limit (500) is checked with a clear problem.
_REASON_BOUND = 10_000


class CreditIn(_Input):
    amount: StrictInt = Field(description="Øre to credit; more than 0 and at most what the "
                                          "order still has to credit.")
    reason: StrictStr = Field(max_length=_REASON_BOUND,
                              description="Why, 1-500 characters; shown to the clinic.")


class RefundOut(BaseModel):
    status: Literal["pending", "refunded", "failed"]
    reference: str | None = Field(description="The acquirer's or Vipps' refund reference.")


class CreditNoteOut(BaseModel):
    invoice_number: int | None
    amount: int = Field(description="Øre off the invoice; includes the invoice fee left when "
                                    "the credit takes the principal to zero.")


class CreditOut(BaseModel):
    id: str
    order_id: str
    amount: int
    currency: str
    reason: str
    actor: str = Field(description="`epj:<client id>` or `admin:<user>` (clinic portal).")
    method: Literal["card", "vipps", "bought_invoice", "fakturaservice"] = Field(
        description="How the order was paid, and so where the credit goes.")
    refund: RefundOut | None = Field(description="Card and Vipps: the refund to the patient.")
    credit_note: CreditNoteOut | None = Field(description="Invoices: the claim's credit note.")
    created_at: datetime


class CreditPosted(CreditOut):
    order_credited: int = Field(description="Credited on the order so far, this included.")
    order_creditable: int = Field(description="What can still be credited.")


class CreditList(BaseModel):
    order_id: str
    currency: str
    credited: int
    creditable: int
    items: list[CreditOut]


def credit_out(view: CreditView) -> CreditOut:
    return CreditOut(**_fields(view))


def credit_posted(view: CreditView, credited: int, creditable: int) -> CreditPosted:
    return CreditPosted(**_fields(view), order_credited=credited, order_creditable=creditable)


def credit_list(found: OrderCredits) -> CreditList:
    return CreditList(order_id=found.order_id, currency=found.currency,
                      credited=found.credited_total, creditable=found.creditable,
                      items=[credit_out(view) for view in found.credits])


def _fields(view: CreditView) -> dict[str, Any]:
    refund = (None if view.refund_status is None
              else RefundOut(status=view.refund_status,  # type: ignore[arg-type]
                             reference=view.refund_reference))
    note = (None if view.credit_note_amount is None
            else CreditNoteOut(invoice_number=view.invoice_number,
                               amount=view.credit_note_amount))
    return {"id": view.id, "order_id": view.order_id, "amount": view.amount,
            "currency": view.currency, "reason": view.reason, "actor": view.actor,
            "method": view.target, "refund": refund, "credit_note": note,
            "created_at": view.created_at}
