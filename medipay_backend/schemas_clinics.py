"""Request and response bodies of the operator's clinic endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictInt, StringConstraints
from stdnum.exceptions import ValidationError
from stdnum.no import kontonr, orgnr

from medipay_backend.schemas import GATEWAY_ID_PATTERN, IdempotencyKey, _Input

# Clinic and account ids are chosen by the operator, in the same shape as gateway ids.
ID_PATTERN = GATEWAY_ID_PATTERN
ClinicId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                        pattern=r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$")]
# Agreement amounts are øre; a million kroner is far beyond any fee or order limit.
Ore = Annotated[StrictInt, Field(ge=0, le=100_000_000)]


def _org_number(value: str) -> str:
    try:
        return str(orgnr.validate(value))
    except ValidationError as exc:
        raise ValueError("not a valid Norwegian organisation number") from exc


def _bank_account(value: str) -> str:
    try:
        return str(kontonr.validate(value))
    except ValidationError as exc:
        raise ValueError("not a valid Norwegian bank account number") from exc


def _report_email(value: str) -> str:
    # Syntax only: a DNS lookup at request time would make the API depend on the network.
    # SMTPUTF8 is not assumed of the provider's mail server, so the address is kept in its
    # ASCII form (an internationalised domain as punycode).
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address: {exc}") from exc
    return str(checked.ascii_email or checked.normalized)


OrgNumber = Annotated[str, StringConstraints(max_length=20), AfterValidator(_org_number)]
ReportEmail = Annotated[str, StringConstraints(max_length=254), AfterValidator(_report_email)]
BankAccount = Annotated[str, StringConstraints(max_length=20), AfterValidator(_bank_account)]


class AgreementIn(_Input):
    invoice_fee: Ore = Field(5_900, description="Øre added to an invoice when the order has "
                                                "the invoice fee on.")
    price_per_transaction: Ore = 0
    price_percent_bp: Annotated[StrictInt, Field(ge=0, le=10_000)] = Field(
        0, description="Percent price in basis points (1.25 % = 125)."
    )
    settlement_frequency: Literal["daily", "weekly", "monthly"] = "weekly"
    max_order_amount: Annotated[StrictInt, Field(ge=1, le=100_000_000)] = Field(
        5_000_000, description="Largest order accepted, in øre."
    )
    kid_scheme: Literal["mod10", "mod11"] = "mod10"
    fakturaservice: StrictBool = True


class AgreementOut(BaseModel):
    invoice_fee: int
    price_per_transaction: int
    price_percent_bp: int
    settlement_frequency: str
    max_order_amount: int
    kid_scheme: str
    fakturaservice: bool


class ClinicIn(_Input):
    clinic_id: ClinicId
    name: Name
    org_number: OrgNumber
    agreement: AgreementIn | None = None
    report_email: ReportEmail | None = Field(
        None, description="Where settlement reports are e-mailed (none: download only)."
    )


class ReportEmailIn(_Input):
    report_email: ReportEmail | None = Field(
        description="The address settlement reports are e-mailed to; null: no e-mail."
    )


class AccountIn(_Input):
    account_id: ClinicId
    name: Name
    bank_account: BankAccount


class AccountOut(BaseModel):
    account_id: str
    clinic_id: str
    name: str
    bank_account: str
    created_at: datetime


class ClinicOut(BaseModel):
    clinic_id: str
    name: str
    org_number: str
    created_at: datetime
    agreement: AgreementOut
    accounts: list[AccountOut]
    report_email: str | None = None


class ClinicList(BaseModel):
    items: list[ClinicOut]


class CredentialIn(_Input):
    idempotency_key: IdempotencyKey
    label: Name | None = None


class CredentialOut(BaseModel):
    client_id: str
    clinic_id: str
    account_id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    secret: str | None = Field(
        None, description="Only in answers to the create request (and its exact repeats)."
    )


class CredentialList(BaseModel):
    items: list[CredentialOut]
