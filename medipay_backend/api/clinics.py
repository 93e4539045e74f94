"""Operator endpoints for clinics, their agreements, accounts and EPJ credentials."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TypeVar

from fastapi import APIRouter, Depends, Path, Response, status
from sqlalchemy.orm import Session

from medipay.logs import get_logger
from medipay_backend.auth import require_admin
from medipay_backend.clinics import (
    AgreementTerms,
    AlreadyExists,
    ClinicRecord,
    CredentialRecord,
    NoSuchAccount,
    NoSuchClinic,
    SecretUnavailable,
    create_account,
    create_clinic,
    create_credential,
    get_clinic,
    list_accounts,
    list_clinics,
    list_credentials,
    revoke_credential,
    set_agreement,
    set_report_email,
)
from medipay_backend.deps import Services, get_services
from medipay_backend.problems import (
    ACCOUNT_CONFLICT,
    CLINIC_CONFLICT,
    IDEMPOTENCY_CONFLICT,
    NOT_FOUND,
    SECRET_UNAVAILABLE,
    ProblemError,
    problem_responses,
)
from medipay_backend.schemas_clinics import (
    ID_PATTERN,
    AccountIn,
    AccountOut,
    AgreementIn,
    AgreementOut,
    ClinicIn,
    ClinicList,
    ClinicOut,
    CredentialIn,
    CredentialList,
    CredentialOut,
    ReportEmailIn,
)

T = TypeVar("T")
log = get_logger(__name__)
router = APIRouter(prefix="/v1/clinics", tags=["clinics"], dependencies=[Depends(require_admin)])
ClinicPath = Path(pattern=ID_PATTERN)


async def _run(services: Services, work: Callable[[Session], T]) -> T:
    """Run clinic work; this module's errors become problems."""
    try:
        return await services.db.run_check_then_insert(work)
    except NoSuchClinic as exc:
        raise ProblemError(NOT_FOUND, str(exc)) from exc
    except NoSuchAccount as exc:
        raise ProblemError(NOT_FOUND, str(exc)) from exc
    except AlreadyExists as exc:
        problem = {"clinic": CLINIC_CONFLICT, "account": ACCOUNT_CONFLICT}.get(
            exc.what, IDEMPOTENCY_CONFLICT
        )
        raise ProblemError(problem, str(exc)) from exc
    except SecretUnavailable as exc:
        raise ProblemError(
            SECRET_UNAVAILABLE,
            "the operator token changed since this credential was created, so its secret "
            "cannot be shown again; create a new credential with a new idempotency key",
        ) from exc


def _clinic_out(record: ClinicRecord, accounts: list[AccountOut]) -> ClinicOut:
    return ClinicOut(
        clinic_id=record.clinic_id, name=record.name, org_number=record.org_number,
        created_at=record.created_at, agreement=AgreementOut(**asdict(record.agreement)),
        accounts=accounts, report_email=record.report_email,
    )


def _credential_out(record: CredentialRecord) -> CredentialOut:
    return CredentialOut(**asdict(record))


async def _clinic_with_accounts(services: Services, clinic_id: str) -> ClinicOut:
    def work(session: Session):
        return get_clinic(session, clinic_id), list_accounts(session, clinic_id)

    record, accounts = await _run(services, work)
    return _clinic_out(record, [AccountOut(**asdict(a)) for a in accounts])


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=ClinicOut,
    responses={200: {"model": ClinicOut, "description": "Already exists with these details"},
               **problem_responses(401, 409, 422)},
    summary="Create a clinic (brukersted) with its agreement",
)
async def post_clinic(
    clinic: ClinicIn, response: Response, services: Services = Depends(get_services)
) -> ClinicOut:
    now = services.clock.now()
    terms = AgreementTerms(**clinic.agreement.model_dump()) if clinic.agreement else None
    _, outcome = await _run(services, lambda session: create_clinic(
        session, clinic.clinic_id, clinic.name, clinic.org_number, terms, now,
        report_email=clinic.report_email))
    if outcome == "unchanged":
        response.status_code = status.HTTP_200_OK
    else:
        log.info("clinic created", clinic_id=clinic.clinic_id)
    return await _clinic_with_accounts(services, clinic.clinic_id)


@router.get("", response_model=ClinicList, responses=problem_responses(401))
async def get_clinics(services: Services = Depends(get_services)) -> ClinicList:
    def work(session: Session):
        return [(c, list_accounts(session, c.clinic_id)) for c in list_clinics(session)]

    pairs = await services.db.run(work)
    return ClinicList(items=[
        _clinic_out(c, [AccountOut(**asdict(a)) for a in accounts]) for c, accounts in pairs
    ])


@router.get("/{clinic_id}", response_model=ClinicOut, responses=problem_responses(401, 404))
async def get_one_clinic(
    clinic_id: str = ClinicPath, services: Services = Depends(get_services)
) -> ClinicOut:
    return await _clinic_with_accounts(services, clinic_id)


@router.put(
    "/{clinic_id}/agreement", response_model=ClinicOut,
    responses=problem_responses(401, 404, 422),
    summary="Replace the clinic's agreement (idempotent)",
)
async def put_agreement(
    agreement: AgreementIn, clinic_id: str = ClinicPath,
    services: Services = Depends(get_services),
) -> ClinicOut:
    now = services.clock.now()
    terms = AgreementTerms(**agreement.model_dump())
    await _run(services, lambda session: set_agreement(session, clinic_id, terms, now))
    return await _clinic_with_accounts(services, clinic_id)


@router.put(
    "/{clinic_id}/report-email", response_model=ClinicOut,
    responses=problem_responses(401, 404, 422),
    summary="Set (or clear with null) where the clinic's settlement reports are e-mailed",
)
async def put_report_email(
    body: ReportEmailIn, clinic_id: str = ClinicPath,
    services: Services = Depends(get_services),
) -> ClinicOut:
    await _run(services, lambda session: set_report_email(session, clinic_id, body.report_email))
    log.info("clinic report e-mail set", clinic_id=clinic_id, cleared=body.report_email is None)
    return await _clinic_with_accounts(services, clinic_id)


@router.post(
    "/{clinic_id}/accounts", status_code=status.HTTP_201_CREATED, response_model=AccountOut,
    responses={200: {"model": AccountOut, "description": "Already exists with these details"},
               **problem_responses(401, 404, 409, 422)},
    summary="Add a practitioner's account to a clinic",
)
async def post_account(
    account: AccountIn, response: Response, clinic_id: str = ClinicPath,
    services: Services = Depends(get_services),
) -> AccountOut:
    now = services.clock.now()
    record, outcome = await _run(services, lambda session: create_account(
        session, clinic_id, account.account_id, account.name, account.bank_account, now))
    if outcome == "unchanged":
        response.status_code = status.HTTP_200_OK
    return AccountOut(**asdict(record))


@router.post(
    "/{clinic_id}/accounts/{account_id}/credentials", status_code=status.HTTP_201_CREATED,
    response_model=CredentialOut,
    responses={200: {"model": CredentialOut, "description": "Exact repeat: the same answer"},
               **problem_responses(401, 404, 409, 422)},
    summary="Create an EPJ credential (client id and secret) for an account",
)
async def post_credential(
    credential: CredentialIn, response: Response, clinic_id: str = ClinicPath,
    account_id: str = Path(pattern=ID_PATTERN), services: Services = Depends(get_services),
) -> CredentialOut:
    now = services.clock.now()
    record, outcome = await _run(services, lambda session: create_credential(
        session, clinic_id, account_id, credential.idempotency_key, credential.label,
        services.admin_token, now))
    if outcome == "unchanged":
        response.status_code = status.HTTP_200_OK
    else:
        log.info("epj credential created", clinic_id=clinic_id, client_id=record.client_id)
    return _credential_out(record)


@router.get("/{clinic_id}/credentials", response_model=CredentialList,
            responses=problem_responses(401, 404))
async def get_credentials(
    clinic_id: str = ClinicPath, services: Services = Depends(get_services)
) -> CredentialList:
    def work(session: Session):
        get_clinic(session, clinic_id)
        return list_credentials(session, clinic_id)

    records = await _run(services, work)
    return CredentialList(items=[_credential_out(r) for r in records])


@router.post("/{clinic_id}/credentials/{client_id}/revoke", response_model=CredentialOut,
             responses=problem_responses(401, 404), summary="Revoke a credential (idempotent)")
async def post_revoke(
    clinic_id: str = ClinicPath, client_id: str = Path(max_length=64),
    services: Services = Depends(get_services),
) -> CredentialOut:
    now = services.clock.now()
    record = await _run(services, lambda s: revoke_credential(s, clinic_id, client_id, now))
    services.runtime.auth_cache.forget(client_id)
    log.info("epj credential revoked", clinic_id=clinic_id, client_id=client_id)
    return _credential_out(record)
