"""Issue invoices: give each invoice record (made at the order deadline) a number, dates and
an open claim. Idempotent: an invoice that already has a claim is skipped.

The invoice number is 100000 + the invoice's row number, so it is unique and needs no
counter. The KID is the order's. The due date is the issue date + `PAYMENT_DAYS`. A
Fakturaservice claim is also registered in the ledger as the clinic's memo (`fs_claim`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.domain.dunning import FAKTURASERVICE_SCHEDULE, ClaimState, Stage
from medipay_backend.invoicing.ledger_posts import register_claim
from medipay_backend.invoicing.progress import next_action_on
from medipay_backend.localtime import oslo_date
from medipay_backend.models_clinics import Clinic
from medipay_backend.models_invoicing import Claim
from medipay_backend.models_orders import Invoice, Order

PAYMENT_DAYS = 14
NUMBER_BASE = 100_000
ISSUE_CHUNK = 1000

# The provider: issuer of bought claims and administrator of Fakturaservice claims.
PROVIDER: dict[str, Any] = {
    "name": "MediPay AS", "org_number": "999999999", "bank_account": "15030000003",
    "address": {"street": "Postboks 1", "postal_code": "0101", "city": "Oslo"},
}


@dataclass(frozen=True)
class InvoiceLine:
    text: str
    amount: int  # øre


def issue_invoice(session: Session, invoice: Invoice, now: datetime) -> Claim:
    existing = session.scalar(sa.select(Claim).where(Claim.invoice_id == invoice.id))
    if existing is not None:
        return existing
    issued = oslo_date(now)
    claim = Claim(
        invoice_id=invoice.id, invoice_number=NUMBER_BASE + invoice.seq,
        clinic_id=invoice.clinic_id, route=invoice.route, kid=invoice.kid, issue_date=issued,
        due_date=issued + timedelta(days=PAYMENT_DAYS), state="open", paused=False,
        stage=Stage.INVOICED.value, done={},
        next_action_on=next_action_on(FAKTURASERVICE_SCHEDULE, issued, ClaimState(), issued),
        principal=invoice.amount, invoice_fee=invoice.invoice_fee, fees_charged=0,
        paid_fees=0, paid_interest=0, paid_invoice_fee=0, paid_principal=0,
        credited_invoice_fee=0, credited_principal=0, closed_on=None, created_at=now,
    )
    session.add(claim)
    session.flush()
    register_claim(session, claim, now)
    return claim


def issue_pending(session: Session, now: datetime, limit: int = ISSUE_CHUNK) -> list[Claim]:
    """Issue up to `limit` invoices that have no claim yet (one transaction)."""
    invoices = session.scalars(
        sa.select(Invoice)
        .where(~sa.exists().where(Claim.invoice_id == Invoice.id))
        .order_by(Invoice.seq).limit(limit)
    ).all()
    return [issue_invoice(session, invoice, now) for invoice in invoices]


def lines_of(invoice: Invoice, order: Order) -> list[InvoiceLine]:
    lines = [InvoiceLine(order.description, invoice.amount)]
    if invoice.invoice_fee:
        lines.append(InvoiceLine("Fakturagebyr", invoice.invoice_fee))
    return lines


def issuer_of(session: Session, claim: Claim) -> dict[str, Any]:
    """Bought claims are issued by the provider; Fakturaservice invoices by the clinic, with
    the provider as administrator (and payee)."""
    if claim.route == "bought":
        return {**PROVIDER, "administered_by": None}
    clinic = session.get(Clinic, claim.clinic_id)
    if clinic is None:  # pragma: no cover - a foreign key guarantees it
        raise LookupError(f"clinic {claim.clinic_id} not found")
    return {"name": clinic.name, "org_number": clinic.org_number,
            "bank_account": PROVIDER["bank_account"], "address": None,
            "administered_by": PROVIDER["name"]}


def due_label(day: date) -> str:
    return day.strftime("%d.%m.%Y")
