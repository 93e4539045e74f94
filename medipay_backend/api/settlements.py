"""Operator endpoints: settlements with their reports and files, a filtered settlement
report, and which clinic a gateway's POS transactions settle to."""

from __future__ import annotations

from datetime import date
from pathlib import Path as FsPath
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from medipay_backend.auth import require_admin
from medipay_backend.deps import Services, get_services
from medipay_backend.models import Gateway
from medipay_backend.models_clinics import Clinic
from medipay_backend.models_ledger import LedgerTransfer, Settlement, SettlementItem
from medipay_backend.problems import NOT_FOUND, ProblemError, ProblemType, problem_responses
from medipay_backend.settlement import files
from medipay_backend.settlement.runner import CREDIT_CODES, SettlementRunError
from medipay_backend.settlement.service import assign_gateway

GATEWAY_CLINIC_CONFLICT = ProblemType(
    "gateway-clinic-conflict", "Gateway already settles to another clinic", 409
)
router = APIRouter(tags=["settlements"], dependencies=[Depends(require_admin)],
                   responses=problem_responses(401))
Stream = Literal["checkout", "fakturaservice", "pos"]
FileKind = Literal["json", "csv", "pdf", "transactions", "ocr"]
MEDIA = {"json": "application/json", "csv": "text/csv", "pdf": "application/pdf",
         "transactions": "text/csv", "ocr": "text/plain"}


class GatewayClinicIn(BaseModel):
    clinic_id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")


@router.put("/v1/gateways/{gateway_id}/clinic", responses=problem_responses(404, 409))
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
    clinic_id: str | None, stream: str | None, date_from: date | None, date_to: date | None
) -> sa.Select[Any]:
    query = sa.select(Settlement).order_by(Settlement.settlement_date, Settlement.seq)
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
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    def work(session: Session) -> list[dict[str, Any]]:
        return [_out(r) for r in session.scalars(_filtered(clinic_id, stream, date_from, date_to))]

    return {"settlements": await services.db.run(work)}


@router.get("/v1/settlements/{settlement_id}", responses=problem_responses(404))
async def get_settlement(
    settlement_id: str = Path(max_length=64), services: Services = Depends(get_services)
) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        row = _get(session, settlement_id)
        body = _out(row)
        body["lines"] = list(files.lines(session, row))
        return body

    return await services.db.run(work)


def _get(session: Session, settlement_id: str) -> Settlement:
    row = session.scalar(sa.select(Settlement).where(Settlement.id == settlement_id))
    if row is None:
        raise ProblemError(NOT_FOUND, f"no settlement {settlement_id!r}")
    return row


@router.get("/v1/settlements/{settlement_id}/files/{kind}", responses=problem_responses(404),
            response_class=FileResponse)
async def download(
    kind: FileKind, settlement_id: str = Path(max_length=64),
    services: Services = Depends(get_services),
) -> FileResponse:
    row = await services.db.run(lambda s: _get(s, settlement_id))
    entry = row.files.get(kind)
    if entry is None or not FsPath(entry["path"]).is_file():
        raise ProblemError(NOT_FOUND, f"settlement {settlement_id} has no {kind} file")
    return FileResponse(entry["path"], media_type=MEDIA[kind], filename=entry["name"])


@router.get("/v1/reports/settlements")
async def settlement_report(
    clinic_id: str | None = None, stream: Stream | None = None,
    date_from: date | None = None, date_to: date | None = None,
    payment_type: Literal["card", "vipps", "bought_invoice", "fakturaservice", "pos"]
    | None = Query(None, description="Only lines of this payment type."),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    """Settled lines summed per clinic, stream and payment type, within the filters."""

    def work(session: Session) -> list[dict[str, Any]]:
        settled = _filtered(clinic_id, stream, date_from, date_to).subquery()
        is_credit = LedgerTransfer.code.in_([int(c) for c in CREDIT_CODES])
        query = (
            sa.select(settled.c.clinic_id, settled.c.stream, LedgerTransfer.source,
                      sa.func.count(), sa.func.sum(sa.case((is_credit, 0),
                                                           else_=LedgerTransfer.amount)),
                      sa.func.sum(sa.case((is_credit, LedgerTransfer.amount), else_=0)),
                      sa.func.sum(SettlementItem.fee), sa.func.sum(SettlementItem.net))
            .join(SettlementItem, SettlementItem.settlement_id == settled.c.id)
            .join(LedgerTransfer, LedgerTransfer.id == SettlementItem.transfer_id)
            .group_by(settled.c.clinic_id, settled.c.stream, LedgerTransfer.source)
            .order_by(settled.c.clinic_id, settled.c.stream, LedgerTransfer.source)
        )
        if payment_type:
            query = query.where(LedgerTransfer.source == payment_type)
        keys = ("clinic_id", "stream", "payment_type", "count", "gross", "credits", "fees", "net")
        return [dict(zip(keys, (*r[:3], *(int(v or 0) for v in r[3:])), strict=True))
                for r in session.execute(query)]

    return {"rows": await services.db.run(work)}
