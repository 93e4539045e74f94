"""Invoices to work on: a clinic, an account and an order with its invoice record, inserted
directly (the order and routing flows have tests of their own)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from medipay.clock import SimulatedClock
from medipay_backend.db import Database
from medipay_backend.domain.kid import make_kid
from medipay_backend.invoicing.dunning_runner import AddressLookup, RunSummary, run_all
from medipay_backend.invoicing.issuing import issue_invoice
from medipay_backend.localtime import oslo_date
from medipay_backend.models_clinics import Clinic, ClinicAccount
from medipay_backend.models_invoicing import Claim
from medipay_backend.models_orders import Invoice, Order

from ..people import ADDRESS, ADULT, BANK_ACCOUNT, ORG_NUMBER

CLINIC = "clinic-1"
REGISTERED = {"street": "Registervegen 9", "postal_code": "5003", "city": "Bergen"}


def ensure_clinic(session: Session, now: datetime, clinic_id: str = CLINIC) -> None:
    if session.get(Clinic, clinic_id) is None:
        session.add(Clinic(clinic_id=clinic_id, name="Fjordlegen AS", org_number=ORG_NUMBER,
                           created_at=now))
        session.add(ClinicAccount(account_id=f"{clinic_id}-main", clinic_id=clinic_id,
                                  name="Hovedkonto", bank_account=BANK_ACCOUNT, created_at=now))
        session.flush()


def make_claim(
    session: Session, now: datetime, *, amount: int = 100_000, invoice_fee: int = 4_900,
    route: str = "fakturaservice", number: int | None = None, clinic_id: str = CLINIC,
    recipient: dict[str, Any] | None = None, account_id: str | None = None,
) -> Claim:
    """An order and its invoice record, issued at `now`. The clinic is made unless it exists
    (then name its `account_id`)."""
    ensure_clinic(session, now, clinic_id)
    account_id = account_id or f"{clinic_id}-main"
    kid = make_kid(number if number is not None else uuid.uuid4().int, "mod10")
    order_id = str(uuid.uuid4())
    session.add(Order(
        id=order_id, clinic_id=clinic_id, account_id=account_id,
        idempotency_key=order_id, content_sha256="0" * 64, external_reference=None,
        status="invoiced", status_reason="poor_score", payment_method=None, amount=amount,
        invoice_fee=invoice_fee, currency="NOK", kid=kid, kid_generated=True,
        description="Konsultasjon allmennlege", payer="patient", direct_to_invoice=False,
        always_fakturaservice=False, patient_national_id=ADULT, patient_birth_date=None,
        patient={"name": "Kari Nordmann", "mobile": "91234567", "address": ADDRESS},
        guardian=None, other_payer=None, company=None, sms_to="+4791234567",
        deadline_at=now, received_at=now, updated_at=now,
    ))
    session.flush()
    invoice = Invoice(
        id=str(uuid.uuid4()), order_id=order_id, clinic_id=clinic_id,
        account_id=account_id, route=route, origin="fallback", reason="poor_score",
        recipient=recipient or {"kind": "patient", "name": "Kari Nordmann",
                                "address": ADDRESS, "email": None, "address_source": "epj"},
        amount=amount, invoice_fee=invoice_fee, total=amount + invoice_fee, currency="NOK",
        kid=kid, score_points=None, status="created", created_at=now,
    )
    session.add(invoice)
    session.flush()
    return issue_invoice(session, invoice, now)


def run_today(database: Database, clock: SimulatedClock,
              lookup: AddressLookup | None = None) -> RunSummary:
    """Today's dunning run in one transaction, then the clock moves on a day."""
    now = clock.now()

    def work(session: Session) -> RunSummary:
        return run_all(session, oslo_date(now), now, lookup=lookup)

    summary = database.transaction(work)
    clock.advance(timedelta(days=1))
    return summary
