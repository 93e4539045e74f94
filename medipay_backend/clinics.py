"""Clinics, their accounts, agreements and EPJ credentials (blocking, per session).

Creating a clinic or an account is idempotent by its operator-chosen id: the same details
again answer with the stored record, other details raise a conflict. An EPJ credential is
created under an operator-chosen idempotency key; see `derive_secret` for how a repeat can
show the same secret although only its hash is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.models_clinics import Clinic, ClinicAccount, ClinicAgreement, EpjCredential

Outcome = Literal["created", "unchanged"]
CLIENT_ID_PREFIX = "epj_"


class ClinicError(Exception):
    """Base of this module's errors."""


class NoSuchClinic(ClinicError):
    def __init__(self, clinic_id: str) -> None:
        super().__init__(f"no clinic {clinic_id!r}")
        self.clinic_id = clinic_id


class NoSuchAccount(ClinicError):
    def __init__(self, account_id: str) -> None:
        super().__init__(f"no account {account_id!r} at this clinic")
        self.account_id = account_id


class AlreadyExists(ClinicError):
    """The id is taken by a record with other details."""

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} already exists with other details")
        self.what = what
        self.key = key


class SecretUnavailable(ClinicError):
    """The secret of a repeated credential request cannot be derived again (the operator
    token it was derived with has changed)."""


@dataclass(frozen=True)
class AgreementTerms:
    invoice_fee: int = 5_900  # øre added to invoices when the order has the fee switched on
    price_per_transaction: int = 0  # øre the provider charges per paid order
    price_percent_bp: int = 0  # plus this many basis points of the amount
    settlement_frequency: str = "weekly"
    max_order_amount: int = 5_000_000  # NOK 50,000, the checkout invoice limit
    kid_scheme: str = "mod10"
    fakturaservice: bool = True  # the clinic's EPJ supports Fakturaservice


@dataclass(frozen=True)
class ClinicRecord:
    clinic_id: str
    name: str
    org_number: str
    created_at: datetime
    agreement: AgreementTerms
    report_email: str | None = None  # where settlement reports are e-mailed


@dataclass(frozen=True)
class AccountRecord:
    account_id: str
    clinic_id: str
    name: str
    bank_account: str
    created_at: datetime


@dataclass(frozen=True)
class CredentialRecord:
    client_id: str
    clinic_id: str
    account_id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    secret: str | None = None  # only in the answer to the request that created it


@dataclass(frozen=True)
class EpjCaller:
    """Who an authenticated EPJ request comes from."""

    client_id: str
    clinic_id: str
    account_id: str


def _terms(row: ClinicAgreement) -> AgreementTerms:
    return AgreementTerms(
        invoice_fee=row.invoice_fee,
        price_per_transaction=row.price_per_transaction,
        price_percent_bp=row.price_percent_bp,
        settlement_frequency=row.settlement_frequency,
        max_order_amount=row.max_order_amount,
        kid_scheme=row.kid_scheme,
        fakturaservice=row.fakturaservice,
    )


def create_clinic(
    session: Session,
    clinic_id: str,
    name: str,
    org_number: str,
    terms: AgreementTerms | None,
    now: datetime,
    *,
    report_email: str | None = None,
) -> tuple[ClinicRecord, Outcome]:
    row = session.get(Clinic, clinic_id, with_for_update=True)
    if row is not None:
        existing = get_clinic(session, clinic_id)
        same = (row.name, row.org_number) == (name, org_number)
        if (not same or (terms is not None and terms != existing.agreement)
                or (report_email is not None and report_email != row.report_email)):
            raise AlreadyExists("clinic", clinic_id)
        return existing, "unchanged"
    session.add(Clinic(clinic_id=clinic_id, name=name, org_number=org_number, created_at=now,
                       report_email=report_email))
    session.flush()
    session.add(ClinicAgreement(clinic_id=clinic_id, updated_at=now,
                                **asdict(terms or AgreementTerms())))
    session.flush()
    return get_clinic(session, clinic_id), "created"


def get_clinic(session: Session, clinic_id: str) -> ClinicRecord:
    row = session.get(Clinic, clinic_id)
    agreement = session.get(ClinicAgreement, clinic_id)
    if row is None or agreement is None:
        raise NoSuchClinic(clinic_id)
    return ClinicRecord(row.clinic_id, row.name, row.org_number, row.created_at, _terms(agreement),
                        row.report_email)


def set_report_email(session: Session, clinic_id: str, email: str | None) -> ClinicRecord:
    """Where the clinic's settlement reports are e-mailed from now on (None: nowhere).
    `email` must be validated by the caller (`schemas_clinics.ReportEmail`)."""
    row = session.get(Clinic, clinic_id, with_for_update=True)
    if row is None:
        raise NoSuchClinic(clinic_id)
    if row.report_email != email:
        row.report_email = email
        session.flush()
    return get_clinic(session, clinic_id)


def list_clinics(session: Session) -> list[ClinicRecord]:
    ids = session.scalars(sa.select(Clinic.clinic_id).order_by(Clinic.clinic_id))
    return [get_clinic(session, clinic_id) for clinic_id in ids]


def set_agreement(
    session: Session, clinic_id: str, terms: AgreementTerms, now: datetime
) -> ClinicRecord:
    """Replace the agreement's terms. Orders already accepted keep the fee they were given."""
    row = session.get(ClinicAgreement, clinic_id, with_for_update=True)
    if row is None:
        raise NoSuchClinic(clinic_id)
    if _terms(row) != terms:
        for field, value in asdict(terms).items():
            setattr(row, field, value)
        row.updated_at = now
        session.flush()
    return get_clinic(session, clinic_id)


def create_account(
    session: Session, clinic_id: str, account_id: str, name: str, bank_account: str,
    now: datetime,
) -> tuple[AccountRecord, Outcome]:
    if session.get(Clinic, clinic_id) is None:
        raise NoSuchClinic(clinic_id)
    row = session.get(ClinicAccount, account_id, with_for_update=True)
    if row is not None:
        if (row.clinic_id, row.name, row.bank_account) != (clinic_id, name, bank_account):
            raise AlreadyExists("account", account_id)
        return _account(row), "unchanged"
    row = ClinicAccount(account_id=account_id, clinic_id=clinic_id, name=name,
                        bank_account=bank_account, created_at=now)
    session.add(row)
    session.flush()
    return _account(row), "created"


def _account(row: ClinicAccount) -> AccountRecord:
    return AccountRecord(row.account_id, row.clinic_id, row.name, row.bank_account,
                         row.created_at)


def list_accounts(session: Session, clinic_id: str) -> list[AccountRecord]:
    rows = session.scalars(
        sa.select(ClinicAccount).where(ClinicAccount.clinic_id == clinic_id)
        .order_by(ClinicAccount.account_id)
    )
    return [_account(row) for row in rows]


def derive_secret(server_key: str, client_id: str, salt: str) -> str:
    """The EPJ secret of a credential: HMAC-SHA256 under the operator token.

    The database keeps only SHA-256 of the secret, as the issue demands; the secret itself can
    be re-derived only with the operator token, which lives outside the database. That is what
    lets an exact repeat of a create request answer with the same secret (idempotency), while
    a stolen database copy reveals no secret. 256 bits from an HMAC need no slow password hash.
    """
    digest = hmac.new(
        server_key.encode("utf-8"), f"epj-secret\0{client_id}\0{salt}".encode("ascii"),
        hashlib.sha256,
    ).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def create_credential(
    session: Session,
    clinic_id: str,
    account_id: str,
    idempotency_key: str,
    label: str | None,
    server_key: str,
    now: datetime,
) -> tuple[CredentialRecord, Outcome]:
    account = session.get(ClinicAccount, account_id)
    if account is None or account.clinic_id != clinic_id:
        raise NoSuchAccount(account_id)
    row = session.scalars(
        sa.select(EpjCredential).where(
            EpjCredential.account_id == account_id,
            EpjCredential.idempotency_key == idempotency_key,
        )
    ).one_or_none()
    outcome: Outcome = "unchanged"
    if row is None:
        client_id = CLIENT_ID_PREFIX + secrets.token_hex(12)
        salt = secrets.token_hex(16)
        row = EpjCredential(
            client_id=client_id, account_id=account_id, clinic_id=clinic_id,
            idempotency_key=idempotency_key, label=label, derivation_salt=salt,
            secret_sha256=secret_hash(derive_secret(server_key, client_id, salt)),
            created_at=now, revoked_at=None,
        )
        session.add(row)
        session.flush()
        outcome = "created"
    elif row.label != label:
        raise AlreadyExists("credential idempotency key", idempotency_key)
    secret = derive_secret(server_key, row.client_id, row.derivation_salt)
    if not hmac.compare_digest(secret_hash(secret), row.secret_sha256):
        raise SecretUnavailable(row.client_id)
    return _credential(row, secret), outcome


def _credential(row: EpjCredential, secret: str | None = None) -> CredentialRecord:
    return CredentialRecord(row.client_id, row.clinic_id, row.account_id, row.label,
                            row.created_at, row.revoked_at, secret)


def list_credentials(session: Session, clinic_id: str) -> list[CredentialRecord]:
    rows = session.scalars(
        sa.select(EpjCredential).where(EpjCredential.clinic_id == clinic_id)
        .order_by(EpjCredential.created_at, EpjCredential.client_id)
    )
    return [_credential(row) for row in rows]


def revoke_credential(
    session: Session, clinic_id: str, client_id: str, now: datetime
) -> CredentialRecord:
    row = session.get(EpjCredential, client_id, with_for_update=True)
    if row is None or row.clinic_id != clinic_id:
        raise NoSuchAccount(client_id)
    if row.revoked_at is None:
        row.revoked_at = now
        session.flush()
    return _credential(row)


def authenticate_epj(session: Session, client_id: str, secret: str) -> EpjCaller | None:
    """The caller if the credential exists, is not revoked and the secret matches."""
    row = session.get(EpjCredential, client_id)
    # Compare a hash even for unknown ids, so timing does not tell which ids exist.
    expected = row.secret_sha256 if row is not None else "0" * 64
    matches = hmac.compare_digest(secret_hash(secret), expected)
    if row is None or not matches or row.revoked_at is not None:
        return None
    return EpjCaller(row.client_id, row.clinic_id, row.account_id)
