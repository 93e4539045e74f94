"""Operator endpoints for clinic administrators (the people who use the clinic portal).

Creating an admin, or resetting one, answers a one-time password exactly once: only its
scrypt hash is stored. The admin logs in with it at `/klinikk/logg-inn` and must choose a
password of their own before anything else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Literal, TypeVar

import trio
from fastapi import APIRouter, Depends, Path, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from medipay.logs import get_logger
from medipay_backend.auth import require_admin
from medipay_backend.deps import Services, get_services
from medipay_backend.portal import accounts
from medipay_backend.portal.accounts import AdminRecord, IssuedOtp
from medipay_backend.portal.auth import LOGIN_PATH, get_settings
from medipay_backend.problems import (
    NOT_FOUND,
    VALIDATION_FAILED,
    ProblemError,
    ProblemType,
    problem_responses,
)
from medipay_backend.schemas_clinics import ID_PATTERN

T = TypeVar("T")
log = get_logger(__name__)
router = APIRouter(prefix="/v1/clinics", tags=["clinic admins"],
                   dependencies=[Depends(require_admin)])
ADMIN_EXISTS = ProblemType("clinic-admin-exists", "An administrator with this e-mail exists",
                           409)
ClinicPath = Path(pattern=ID_PATTERN)
AdminPath = Path(max_length=36)


class AdminIn(BaseModel):
    email: str = Field(min_length=3, max_length=254, description="The login name.")
    name: str | None = Field(None, max_length=200)


class AdminOut(BaseModel):
    admin_id: str
    clinic_id: str
    email: str
    name: str | None
    state: Literal["awaiting_first_login", "active", "locked", "disabled"]
    created_at: datetime
    last_login_at: datetime | None
    one_time_password_expires_at: datetime | None
    locked_until: datetime | None


class AdminWithPassword(AdminOut):
    one_time_password: str = Field(description="Shown once; give it to the admin in person "
                                               "or by phone, not in the same e-mail as "
                                               "the login address.")
    login_url: str


class AdminList(BaseModel):
    items: list[AdminOut]


async def _run(services: Services, work: Callable[[Session], T]) -> T:
    try:
        return await services.db.run_check_then_insert(work)
    except (accounts.NoSuchClinic, accounts.NoSuchAdmin) as exc:
        raise ProblemError(NOT_FOUND, str(exc)) from exc
    except accounts.AdminExists as exc:
        raise ProblemError(ADMIN_EXISTS, str(exc)) from exc
    except accounts.InvalidEmail as exc:
        raise _email_problem(exc) from exc


def _email_problem(exc: accounts.InvalidEmail) -> ProblemError:
    return ProblemError(VALIDATION_FAILED, f"email {exc}", extensions={"errors": [
        {"loc": ["body", "email"], "msg": "not an e-mail address", "type": "email_invalid"}]})


def _with_password(record: AdminRecord, otp: IssuedOtp, services: Services) -> AdminWithPassword:
    return AdminWithPassword(**asdict(record), one_time_password=otp.password,
                             login_url=services.runtime.base_url.rstrip("/") + LOGIN_PATH)


@router.post("/{clinic_id}/admins", status_code=status.HTTP_201_CREATED,
             response_model=AdminWithPassword, responses=problem_responses(401, 404, 409, 422),
             summary="Create a clinic administrator; answers a one-time password once")
async def post_admin(body: AdminIn, request: Request, clinic_id: str = ClinicPath,
                     services: Services = Depends(get_services)) -> AdminWithPassword:
    settings = get_settings(request)
    try:
        accounts.login_email(body.email)  # refuse a bad address before the costly hashing
    except accounts.InvalidEmail as exc:
        raise _email_problem(exc) from exc
    otp = await trio.to_thread.run_sync(accounts.issue_one_time_password, settings.scrypt)
    now = services.clock.now()
    record = await _run(services, lambda s: accounts.create_admin(
        s, clinic_id, body.email, body.name, otp, settings.otp_lifetime, now))
    log.info("clinic admin created", clinic_id=clinic_id, admin_id=record.admin_id)
    return _with_password(record, otp, services)


@router.get("/{clinic_id}/admins", response_model=AdminList,
            responses=problem_responses(401, 404))
async def get_admins(clinic_id: str = ClinicPath,
                     services: Services = Depends(get_services)) -> AdminList:
    now = services.clock.now()
    records = await _run(services, lambda s: accounts.list_admins(s, clinic_id, now))
    return AdminList(items=[AdminOut(**asdict(r)) for r in records])


@router.post("/{clinic_id}/admins/{admin_id}/reset-password",
             response_model=AdminWithPassword, responses=problem_responses(401, 404),
             summary="A new one-time password: the old password and all sessions stop "
                     "working, a lock-out is lifted, a disabled admin is enabled")
async def reset_admin(request: Request, clinic_id: str = ClinicPath,
                      admin_id: str = AdminPath,
                      services: Services = Depends(get_services)) -> AdminWithPassword:
    settings = get_settings(request)
    otp = await trio.to_thread.run_sync(accounts.issue_one_time_password, settings.scrypt)
    now = services.clock.now()
    record = await _run(services, lambda s: accounts.reset_admin(
        s, clinic_id, admin_id, otp, settings.otp_lifetime, now))
    log.info("clinic admin password reset", clinic_id=clinic_id, admin_id=admin_id)
    return _with_password(record, otp, services)


@router.post("/{clinic_id}/admins/{admin_id}/disable", response_model=AdminOut,
             responses=problem_responses(401, 404),
             summary="No more logins; open sessions end at once (idempotent)")
async def disable_admin(clinic_id: str = ClinicPath, admin_id: str = AdminPath,
                        services: Services = Depends(get_services)) -> AdminOut:
    now = services.clock.now()
    record = await _run(services, lambda s: accounts.disable_admin(s, clinic_id, admin_id, now))
    log.info("clinic admin disabled", clinic_id=clinic_id, admin_id=admin_id)
    return AdminOut(**asdict(record))
