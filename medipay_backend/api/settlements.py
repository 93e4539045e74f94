"""Settlement endpoints: settlements with their reports and files and the POS terminal
transaction list, read by the operator (every clinic) or by an EPJ (the clinic of its
credential, `ClinicScope`); whether the reports were e-mailed (it names the recipient) and
which clinic a gateway's POS transactions settle to stay operator-only, as does sending the
reports' e-mail again (it names recipients). The filtered settlement report is in
`api/reports.py`."""

from __future__ import annotations

from datetime import date
from pathlib import Path as FsPath
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Path
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from medipay_backend.api.reports import problem_for
from medipay_backend.auth import OPERATOR_SCOPE, ClinicScope, require_admin, require_clinic_reader
from medipay_backend.deps import Services, get_services
from medipay_backend.models import Gateway
from medipay_backend.models_clinics import Clinic
from medipay_backend.models_ledger import Settlement
from medipay_backend.problems import (
    IDEMPOTENCY_CONFLICT,
    NOT_FOUND,
    ProblemError,
    ProblemType,
    problem_responses,
)
from medipay_backend.reports.csv_out import to_csv
from medipay_backend.reports.filters import ReportFilterError
from medipay_backend.reports.pos import FIELDS as POS_FIELDS
from medipay_backend.reports.pos import pos_report, pos_transactions
from medipay_backend.schemas import _Input
from medipay_backend.schemas_clinics import ReportEmail
from medipay_backend.settlement import files
from medipay_backend.settlement.mailing import (
    NoRecipient,
    NoSuchSettlement,
    ResendKeyConflict,
    ResendRefused,
    SendPending,
    mailing_status,
    queue_resend,
)
from medipay_backend.settlement.runner import SettlementRunError
from medipay_backend.settlement.service import assign_gateway

GATEWAY_CLINIC_CONFLICT = ProblemType(
    "gateway-clinic-conflict", "Gateway already settles to another clinic", 409
)
MAIL_PENDING = ProblemType(
    "settlement-mail-pending", "The settlement's e-mail is already queued or being sent", 409
)
MAIL_NO_RECIPIENT = ProblemType(
    "settlement-mail-no-recipient", "The clinic has no report e-mail address", 409
)
MAIL_REFUSED = ProblemType("settlement-mail-refused", "The settlement's e-mail cannot be sent",
                           409)
# No router-wide dependency: every route names its own, the operator's or a clinic reader's
# (tests/backend/reports/test_epj_access.py checks that none is left open).
router = APIRouter(tags=["settlements"], responses=problem_responses(401))
Stream = Literal["checkout", "fakturaservice", "pos"]
FileKind = Literal["json", "csv", "pdf", "transactions", "ocr"]
MEDIA = {"json": "application/json", "csv": "text/csv", "pdf": "application/pdf",
         "transactions": "text/csv", "ocr": "text/plain"}


class GatewayClinicIn(BaseModel):
    clinic_id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")


@router.put("/v1/gateways/{gateway_id}/clinic", responses=problem_responses(404, 409),
            dependencies=[Depends(require_admin)])
async def put_gateway_clinic(
    body: GatewayClinicIn, gateway_id: str = Path(max_length=64),
    services: Services = Depends(get_services),
) -> dict[str, str]:
    def work(session: Session) -> None:
        if session.get(Gateway, gateway_id) is None:
            raise ProblemError(NOT_FOUND, f"no gateway {gateway_id!r}")
        if session.get(Clinic, body.clinic_id) is None:
            raise ProblemError(NOT_FOUND, f"no clinic {body.clinic_id!r}")
        try:
            assign_gateway(session, gateway_id, body.clinic_id)
        except SettlementRunError as exc:
            raise ProblemError(GATEWAY_CLINIC_CONFLICT, str(exc)) from exc

    await services.db.run_check_then_insert(work)
    return {"gateway_id": gateway_id, "clinic_id": body.clinic_id}


def _filtered(
    scope: ClinicScope, clinic_id: str | None, stream: str | None, date_from: date | None,
    date_to: date | None,
) -> sa.Select[Any]:
    scope.check(clinic_id)
    query = (sa.select(Settlement).where(scope.restrict(Settlement.clinic_id))
             .order_by(Settlement.settlement_date, Settlement.seq))
    if clinic_id:
        query = query.where(Settlement.clinic_id == clinic_id)
    if stream:
        query = query.where(Settlement.stream == stream)
    if date_from:
        query = query.where(Settlement.settlement_date >= date_from)
    if date_to:
        query = query.where(Settlement.settlement_date <= date_to)
    return query


def _out(row: Settlement) -> dict[str, Any]:
    body = files.summary(row)
    body["files"] = sorted(row.files)
    return body


@router.get("/v1/settlements")
async def list_settlements(
    clinic_id: str | None = None, stream: Stream | None = None,
    date_from: date | None = None, date_to: date | None = None,
    scope: ClinicScope = Depends(require_clinic_reader),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    query = _filtered(scope, clinic_id, stream, date_from, date_to)

    def work(session: Session) -> list[dict[str, Any]]:
        return [_out(r) for r in session.scalars(query)]

    return {"settlements": await services.db.run(work)}


@router.get("/v1/settlements/{settlement_id}", responses=problem_responses(404))
async def get_settlement(
    settlement_id: str = Path(max_length=64),
    scope: ClinicScope = Depends(require_clinic_reader),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        row = _get(session, settlement_id, scope)
        body = _out(row)
        body["lines"] = list(files.lines(session, row))
        return body

    return await services.db.run(work)


def _get(session: Session, settlement_id: str, scope: ClinicScope) -> Settlement:
    """The settlement if the caller may read it; another clinic's is simply not found."""
    row = session.scalar(sa.select(Settlement).where(
        Settlement.id == settlement_id, scope.restrict(Settlement.clinic_id)))
    if row is None:
        raise ProblemError(NOT_FOUND, f"no settlement {settlement_id!r}")
    return row


@router.get("/v1/settlements/{settlement_id}/files/{kind}", responses=problem_responses(404),
            response_class=FileResponse)
async def download(
    kind: FileKind, settlement_id: str = Path(max_length=64),
    scope: ClinicScope = Depends(require_clinic_reader),
    services: Services = Depends(get_services),
) -> FileResponse:
    row = await services.db.run(lambda s: _get(s, settlement_id, scope))
    entry = row.files.get(kind)
    if entry is None or not FsPath(entry["path"]).is_file():
        raise ProblemError(NOT_FOUND, f"settlement {settlement_id} has no {kind} file")
    return FileResponse(entry["path"], media_type=MEDIA[kind], filename=entry["name"])


@router.get("/v1/settlements/{settlement_id}/mail", responses=problem_responses(404),
            summary="Whether the settlement's reports were e-mailed to the clinic",
            dependencies=[Depends(require_admin)])
async def get_mailing(
    settlement_id: str = Path(max_length=64), services: Services = Depends(get_services)
) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        _get(session, settlement_id, OPERATOR_SCOPE)
        return mailing_status(session, settlement_id)

    return await services.db.run(work)


class MailResendIn(_Input):
    to: ReportEmail | None = Field(
        None, description="Send to this address, this once (default: the clinic's report "
                          "address when the job runs).")


def _resend_problem(exc: ResendRefused) -> ProblemError:
    if isinstance(exc, NoSuchSettlement):
        return ProblemError(NOT_FOUND, str(exc))
    if isinstance(exc, SendPending):
        return ProblemError(MAIL_PENDING, str(exc))
    if isinstance(exc, NoRecipient):
        return ProblemError(MAIL_NO_RECIPIENT, str(exc))
    if isinstance(exc, ResendKeyConflict):
        return ProblemError(IDEMPOTENCY_CONFLICT, str(exc))
    return ProblemError(MAIL_REFUSED, str(exc))


@router.post("/v1/settlements/{settlement_id}/mail", status_code=202,
             responses=problem_responses(404, 409, 422),
             summary="Queue the settlement's report e-mail again (optionally to another "
                     "address, once)",
             dependencies=[Depends(require_admin)])
async def post_mailing(
    body: MailResendIn | None = None, settlement_id: str = Path(max_length=64),
    idempotency_key: str | None = Header(
        None, alias="Idempotency-Key", min_length=3, max_length=200, pattern=r"^[!-~]+$",
        description="Optional: a repeat with the same key answers with the send it queued "
                    "(409 `idempotency-conflict` with another address) instead of queueing "
                    "another."),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    to = body.to if body is not None else None

    def work(session: Session) -> dict[str, Any]:
        try:
            queued = queue_resend(session, settlement_id, services.clock.now(), to,
                                  idempotency_key)
        except ResendRefused as exc:
            raise _resend_problem(exc) from exc
        # The new send as GET .../mail shows it: queued, its number, the count of sends.
        return {"settlement_id": settlement_id, "job_key": queued.job_key,
                **mailing_status(session, settlement_id)}

    return await services.db.run_check_then_insert(work)


@router.get("/v1/settlements/{settlement_id}/pos-transactions",
            responses=problem_responses(404, 422),
            summary="A POS settlement's terminal transaction list and totals per terminal "
                    "and card scheme")
async def get_pos_transactions(
    settlement_id: str = Path(max_length=64), format: Literal["json", "csv"] = "json",
    scope: ClinicScope = Depends(require_clinic_reader),
    services: Services = Depends(get_services),
) -> Any:
    def work(session: Session) -> Any:
        row = _get(session, settlement_id, scope)
        try:
            if format == "json":
                return pos_report(session, settlement_id)
            return row, to_csv(POS_FIELDS, pos_transactions(session, settlement_id))
        except ReportFilterError as exc:
            raise problem_for(exc) from exc

    result = await services.db.run(work)
    if format == "json":
        return result
    row, text = result
    name = f"terminaltransaksjoner-pos-{row.settlement_date.isoformat()}.csv"
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
