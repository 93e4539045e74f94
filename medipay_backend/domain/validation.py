"""The business rules an order must meet before it is accepted (pure; today is a parameter).

The HTTP layer checks shapes (types, lengths); these rules check meaning: identity numbers,
phone numbers, addresses where an invoice may be needed, organisation numbers, amount limits,
KIDs. Every broken rule becomes a `Reason` with a stable `code`, so an EPJ can show the clinic
what to correct; a rejected order is not stored and may be resent corrected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

from medipay_backend.domain.contacts import (
    Address,
    ContactError,
    address_errors,
    normalise_email,
    normalise_mobile,
    normalise_org_number,
)
from medipay_backend.domain.identity import (
    ADULT_AGE,
    GUARDIAN_AGE,
    InvalidNationalId,
    NationalId,
    age_on,
    parse_national_id,
)
from medipay_backend.domain.kid import KidScheme, kid_error

PayerKind = Literal["patient", "company", "other"]
SUPPORTED_CURRENCIES = ("NOK",)


@dataclass(frozen=True)
class PersonDraft:
    name: str
    national_id: str | None = None
    mobile: str | None = None
    email: str | None = None
    address: Address | None = None


@dataclass(frozen=True)
class CompanyDraft:
    org_number: str
    name: str
    address: Address | None = None
    email: str | None = None
    ehf: bool = False


@dataclass(frozen=True)
class OrderDraft:
    amount: int
    currency: str
    patient: PersonDraft
    kid: str | None = None
    payer: PayerKind = "patient"
    company: CompanyDraft | None = None
    other_payer: PersonDraft | None = None
    guardian: PersonDraft | None = None
    direct_to_invoice: bool = False
    always_fakturaservice: bool = False
    invoice_fee: bool = True


@dataclass(frozen=True)
class Limits:
    """What the clinic's agreement allows."""

    max_amount: int
    kid_scheme: KidScheme


@dataclass(frozen=True)
class Reason:
    field: str
    code: str
    message: str


@dataclass(frozen=True)
class AcceptedDraft:
    """A valid order, normalised (E.164 mobiles, compact numbers), with derived facts."""

    draft: OrderDraft
    patient_id: NationalId | None
    sms_to: str | None  # None: goes straight to invoicing

    @property
    def goes_to_checkout(self) -> bool:
        return self.sms_to is not None


class _Collector:
    def __init__(self) -> None:
        self.reasons: list[Reason] = []

    def add(self, field: str, code: str, message: str) -> None:
        self.reasons.append(Reason(field, code, f"{field} {message}"))


def validate_order(
    draft: OrderDraft, limits: Limits, today: date
) -> AcceptedDraft | list[Reason]:
    """The accepted, normalised order, or every reason it is refused."""
    out = _Collector()
    if draft.amount <= 0:
        out.add("amount", "amount_not_positive", "must be more than 0")
    elif draft.amount > limits.max_amount:
        out.add("amount", "amount_over_limit",
                f"is over the agreed limit of {limits.max_amount} øre")
    if draft.currency not in SUPPORTED_CURRENCIES:
        out.add("currency", "currency_not_supported", "must be NOK")
    if draft.kid is not None:
        problem = kid_error(draft.kid, limits.kid_scheme)
        if problem:
            out.add("kid", "kid_invalid", problem)

    patient, patient_id = _person(out, "patient", draft.patient, today)
    age = age_on(patient_id.birth_date, today) if patient_id else None
    guardian = other = None
    if draft.guardian is not None:
        if age is None or age >= ADULT_AGE:
            out.add("guardian", "guardian_not_minor",
                    "may only be given for a patient under 18 (by national ID)")
        guardian, _ = _person(out, "guardian", draft.guardian, today)
    elif age is not None and age < GUARDIAN_AGE:
        out.add("guardian", "guardian_required",
                "is required: the patient is under 16 and is billed through a guardian")
    company = _company(out, draft) if draft.payer == "company" else None
    if draft.payer != "company" and draft.company is not None:
        out.add("company", "company_not_payer", "is only allowed when payer is 'company'")
    if draft.payer == "other":
        if draft.other_payer is None:
            out.add("other_payer", "other_payer_required", "is required when payer is 'other'")
        else:
            other, _ = _person(out, "other_payer", draft.other_payer, today)
            if other.address is None:
                out.add("other_payer.address", "address_required",
                        "is required: another payer is always invoiced")
    elif draft.other_payer is not None:
        out.add("other_payer", "other_payer_not_payer", "is only allowed when payer is 'other'")

    normalised = replace(
        draft, patient=patient, guardian=guardian, other_payer=other, company=company
    )
    direct = draft.direct_to_invoice or draft.payer == "company"
    if direct:
        _needs_invoice_address(out, normalised, age)
        sms_to = None
    else:
        sms_to = _sms_recipient(normalised, age)
        if sms_to is None and not (draft.payer == "other" and draft.other_payer is None):
            out.add(_sms_field(draft, age), "mobile_required",
                    "is required to send the payment link (or set direct_to_invoice)")
    if out.reasons:
        return out.reasons
    return AcceptedDraft(
        draft=replace(normalised, direct_to_invoice=direct), patient_id=patient_id,
        sms_to=sms_to,
    )


def _person(
    out: _Collector, field: str, person: PersonDraft, today: date
) -> tuple[PersonDraft, NationalId | None]:
    national: NationalId | None = None
    if not person.name.strip():
        out.add(f"{field}.name", "name_required", "must not be empty")
    if person.national_id is not None:
        try:
            national = parse_national_id(person.national_id, today)
        except InvalidNationalId as exc:
            out.add(f"{field}.national_id", "national_id_invalid", str(exc))
    mobile = _normalise(out, f"{field}.mobile", "mobile_invalid", normalise_mobile, person.mobile)
    email = _normalise(out, f"{field}.email", "email_invalid", normalise_email, person.email)
    if person.address is not None:
        _check_address(out, f"{field}.address", person.address)
    return (
        replace(person, national_id=national.number if national else person.national_id,
                mobile=mobile, email=email),
        national,
    )


def _company(out: _Collector, draft: OrderDraft) -> CompanyDraft | None:
    company = draft.company
    if company is None:
        out.add("company", "company_required", "is required when payer is 'company'")
        return None
    org = _normalise(
        out, "company.org_number", "org_number_invalid", normalise_org_number, company.org_number
    )
    if not company.name.strip():
        out.add("company.name", "name_required", "must not be empty")
    email = _normalise(out, "company.email", "email_invalid", normalise_email, company.email)
    if company.address is not None:
        _check_address(out, "company.address", company.address)
    return replace(company, org_number=org or company.org_number, email=email)


def _normalise(
    out: _Collector, field: str, code: str, rule: Callable[[str], str], value: str | None
) -> str | None:
    if value is None:
        return None
    try:
        return rule(value)
    except ContactError as exc:
        out.add(field, code, str(exc))
        return value


def _check_address(out: _Collector, field: str, address: Address) -> None:
    for part, problem in address_errors(address).items():
        out.add(f"{field}.{part}", "address_invalid", problem)


def _needs_invoice_address(out: _Collector, draft: OrderDraft, age: int | None) -> None:
    """An order that goes straight to invoicing needs its invoice recipient's address."""
    if draft.payer == "company":
        if draft.company is not None and draft.company.address is None:
            out.add("company.address", "address_required",
                    "is required: a company is always invoiced")
        return
    if draft.payer == "other":
        return  # checked with the other payer
    if age is not None and age < GUARDIAN_AGE:
        if draft.guardian is not None and draft.guardian.address is None:
            out.add("guardian.address", "address_required",
                    "is required: the invoice is addressed to the guardian")
        return
    if draft.patient.address is None:
        out.add("patient.address", "address_required",
                "is required when the order goes directly to invoice")


def _sms_recipient(draft: OrderDraft, age: int | None) -> str | None:
    if draft.payer == "other":
        return draft.other_payer.mobile if draft.other_payer else None
    if age is not None and age < GUARDIAN_AGE and draft.guardian and draft.guardian.mobile:
        return draft.guardian.mobile
    return draft.patient.mobile


def _sms_field(draft: OrderDraft, age: int | None) -> str:
    if draft.payer == "other":
        return "other_payer.mobile"
    if age is not None and age < GUARDIAN_AGE:
        return "guardian.mobile"
    return "patient.mobile"
