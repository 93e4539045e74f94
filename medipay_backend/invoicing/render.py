"""The PDF of a claim's invoice or of one of its letters, from the stored records."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.invoicing.documents import (
    LETTER_TEXT,
    LETTER_TITLES,
    Document,
    Party,
    party,
    render,
)
from medipay_backend.invoicing.issuing import issuer_of, lines_of
from medipay_backend.models_invoicing import Claim, ClaimEvent
from medipay_backend.models_orders import Invoice, Order


def _issuer(session: Session, claim: Claim) -> tuple[Party, str, str | None]:
    issuer = issuer_of(session, claim)
    extra = (f"Org.nr. {issuer['org_number']}",)
    return party(issuer["name"], issuer["address"], *extra), issuer["bank_account"], \
        issuer["administered_by"]


def invoice_pdf(session: Session, claim: Claim) -> bytes:
    invoice = session.scalars(sa.select(Invoice).where(Invoice.id == claim.invoice_id)).one()
    order = session.scalars(sa.select(Order).where(Order.id == invoice.order_id)).one()
    issuer, account, admin = _issuer(session, claim)
    recipient = invoice.recipient
    return render(Document(
        title="Faktura", number=claim.invoice_number, kid=claim.kid, account=account,
        issuer=issuer, recipient=party(recipient.get("name"), recipient.get("address")),
        issue_date=claim.issue_date, pay_by=claim.due_date,
        lines=[(line.text, line.amount) for line in lines_of(invoice, order)],
        administered_by=admin,
    ))


def letter_pdf(session: Session, claim: Claim, event: ClaimEvent) -> bytes:
    """A dunning letter as recorded by the run (its amounts are those of its day)."""
    detail = event.detail
    step = event.step_id or ""
    issuer, account, admin = _issuer(session, claim)
    lines = [(f"Faktura {claim.invoice_number} (hovedstol)", detail["principal"]),
             ("Fakturagebyr", detail["invoice_fee"]),
             ("Purregebyr og inkassosalær", detail["fees"]),
             (f"Forsinkelsesrente til {event.on_date:%d.%m.%Y}", detail["interest"])]
    return render(Document(
        title=LETTER_TITLES.get(step, "Purring"), number=claim.invoice_number, kid=claim.kid,
        account=account, issuer=issuer,
        recipient=party(detail.get("name"), detail.get("address")),
        issue_date=event.on_date, pay_by=date.fromisoformat(detail["pay_by"]),
        lines=[line for line in lines if line[1]], intro=LETTER_TEXT.get(step, ""),
        administered_by=admin,
    ))
