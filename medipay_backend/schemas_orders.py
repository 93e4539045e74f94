"""Request and response bodies of the EPJ order endpoints.

Shapes only: types and lengths. The business rules (national IDs, mobiles, addresses where
an invoice may be needed, limits, KIDs) are in `domain.validation`, so every broken rule of an
order is reported together, with a stable code per rule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, StringConstraints

from medipay_backend.schemas import IdempotencyKey, _Input

# An EPJ sends its outgoing queue once an hour; a busy clinic's hour fits well within this.
MAX_ORDERS_PER_REQUEST = 500
# Free text without control characters.
_TEXT = r"^[^\x00-\x1f\x7f]*$"


Text10 = Annotated[str, StringConstraints(min_length=1, max_length=10, pattern=_TEXT)]
Text20 = Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=_TEXT)]
Text60 = Annotated[str, StringConstraints(min_length=1, max_length=60, pattern=_TEXT)]
Text100 = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=_TEXT)]
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_TEXT)]
Text254 = Annotated[str, StringConstraints(min_length=1, max_length=254, pattern=_TEXT)]


class AddressIn(_Input):
    street: Text100
    postal_code: Text10
    city: Text60
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "NO"


class PersonIn(_Input):
    name: Text200
    national_id: Text20 | None = Field(
        None, description="Fødselsnummer or D-number, 11 digits."
    )
    mobile: Text20 | None = Field(
        None, description="Norwegian mobile (8 digits) or + country code and number."
    )
    email: Text254 | None = None
    address: AddressIn | None = None


class CompanyIn(_Input):
    org_number: Text20
    name: Text200
    address: AddressIn | None = None
    email: Text254 | None = None
    ehf: StrictBool = Field(False, description="Send the invoice as EHF.")


class OrderIn(_Input):
    idempotency_key: IdempotencyKey = Field(
        description="Chosen by the EPJ, unique per clinic, e.g. its bill card id."
    )
    external_reference: Text100 | None = Field(
        None, description="The EPJ's own reference, shown back in status answers."
    )
    amount: StrictInt = Field(description="The patient part in øre; more than 0.")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "NOK"
    kid: Annotated[str, StringConstraints(min_length=1, max_length=25)] | None = Field(
        None, description="Payment reference with a MOD10 or MOD11 check digit (per the "
                          "agreement); generated when left out."
    )
    description: Text100 | None = Field(
        None, description="A generic text for the patient; never medical details."
    )
    patient: PersonIn
    payer: Literal["patient", "company", "other"] = "patient"
    company: CompanyIn | None = None
    other_payer: PersonIn | None = None
    guardian: PersonIn | None = None
    direct_to_invoice: StrictBool = Field(False, description="Skip checkout: invoice at once.")
    always_fakturaservice: StrictBool = Field(
        False, description="Never let the provider buy the claim."
    )
    invoice_fee: StrictBool = Field(True, description="Add the agreed invoice fee to invoices.")


class OrderError(BaseModel):
    field: str
    code: str
    message: str


class OrderResult(BaseModel):
    index: int
    idempotency_key: str | None
    outcome: Literal["created", "duplicate", "rejected"]
    id: str | None = None
    status: str | None = None
    kid: str | None = None
    errors: list[OrderError] = Field(default_factory=list)


class OrderResults(BaseModel):
    results: list[OrderResult]


class HistoryEntry(BaseModel):
    at: datetime
    event: str
    text: str = Field(description="Norwegian text an EPJ can show.")
    detail: dict[str, Any]


class InvoiceSummary(BaseModel):
    id: str
    route: Literal["bought", "fakturaservice"]
    origin: Literal["checkout", "fallback", "direct"]
    reason: str
    recipient: str
    amount: int
    invoice_fee: int
    total: int
    kid: str
    status: str
    created_at: datetime


class OrderOut(BaseModel):
    id: str
    idempotency_key: str
    external_reference: str | None
    account_id: str
    status: str
    status_text: str
    status_reason: str | None
    status_reason_text: str | None
    payment_method: str | None
    amount: int
    invoice_fee: int
    currency: str
    kid: str
    description: str
    payer: str
    direct_to_invoice: bool
    deadline_at: datetime | None
    received_at: datetime
    updated_at: datetime
    invoice: InvoiceSummary | None
    credited: int = Field(0, description="Øre credited on the order so far "
                                         "(`GET /v1/orders/{id}/credits` lists the credits).")
    history: list[HistoryEntry]


class OrderPage(BaseModel):
    items: list[OrderOut]
    next: str | None
