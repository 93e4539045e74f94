"""Report endpoints: the settlement report (summed, or line by line) and the earnings report,
as JSON or CSV (`format=csv`), and the outstanding Fakturaservice claims report. The operator
reads every clinic's; an EPJ reads those of the clinic of its credential (`ClinicScope`). The
clinic portal calls the same functions in `medipay_backend.reports`, scoped to the signed-in
clinic."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from datetime import date
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from medipay_backend.auth import ClinicScope, require_clinic_reader
from medipay_backend.db import Database
from medipay_backend.deps import Services, get_services
from medipay_backend.invoicing.reports import outstanding_claims
from medipay_backend.invoicing.schemas import OutstandingOut, OutstandingRowOut
from medipay_backend.localtime import oslo_date
from medipay_backend.models_clinics import Clinic, ClinicAccount
from medipay_backend.problems import NOT_FOUND, VALIDATION_FAILED, ProblemError, problem_responses
from medipay_backend.reports.csv_out import to_csv
from medipay_backend.reports.earnings import EarningsReport, earnings_report
from medipay_backend.reports.filters import ReportFilterError
from medipay_backend.reports.settlements import (
    LINE_FIELDS,
    LineKey,
    SettlementFilters,
    SettlementReport,
    settlement_lines,
    settlement_report,
)

T = TypeVar("T")
router = APIRouter(prefix="/v1/reports", tags=["reports"],
                   responses=problem_responses(401, 404, 422))
Stream = Literal["checkout", "fakturaservice", "pos"]
PaymentType = Literal["card", "vipps", "bought_invoice", "fakturaservice", "pos"]
Format = Literal["json", "csv"]
ROW_FIELDS = ("clinic_id", "account_id", "stream", "payment_type", "count", "gross", "credits",
              "fees", "net")
# Lines of the streamed line report read per worker-thread round trip.
LINES_PAGE = 2000


def problem_for(exc: ReportFilterError) -> ProblemError:
    """A bad filter as the API's validation problem (422), located at its query field."""
    return ProblemError(VALIDATION_FAILED, str(exc), extensions={"errors": [
        {"loc": ["query", exc.field], "msg": exc.message, "type": "value_error"}]})


async def _run(services: Services, work: Callable[[Session], T]) -> T:
    try:
        return await services.db.run(work)
    except ReportFilterError as exc:
        raise problem_for(exc) from exc


def _csv(text: str, filename: str) -> Response:
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _filters(scope: ClinicScope, clinic_id: str | None, account_id: str | None,
             date_from: date | None, date_to: date | None, stream: str | None,
             payment_type: str | None) -> SettlementFilters:
    """The report's filters, the clinic narrowed to the caller's (404 for another's)."""
    return SettlementFilters(clinic_id=scope.single_clinic(clinic_id), account_id=account_id,
                             date_from=date_from, date_to=date_to, stream=stream,
                             payment_type=payment_type)


def _check_account(session: Session, scope: ClinicScope, account_id: str | None) -> None:
    """For an EPJ, an account of another clinic is answered exactly like an unknown one
    (before the filters' own check, which would say whose it is), so account ids cannot be
    probed across clinics."""
    if scope.is_operator or account_id is None:
        return
    account = session.get(ClinicAccount, account_id)
    if account is None or not scope.allows(account.clinic_id):
        raise ReportFilterError("account_id", f"no account {account_id!r}")


@router.get("/settlements", summary="Settled lines summed per clinic, account, stream and "
            "payment type, with totals")
async def get_settlement_report(
    clinic_id: str | None = Query(None, max_length=64),
    account_id: str | None = Query(None, max_length=64),
    date_from: date | None = Query(None, description="First settlement date included."),
    date_to: date | None = Query(None, description="Last settlement date included."),
    stream: Stream | None = None,
    payment_type: PaymentType | None = Query(None, description="Only lines of this type."),
    format: Format = "json",
    scope: ClinicScope = Depends(require_clinic_reader),
    services: Services = Depends(get_services),
) -> Any:
    filters = _filters(scope, clinic_id, account_id, date_from, date_to, stream, payment_type)

    def work(session: Session) -> SettlementReport:
        _check_account(session, scope, account_id)
        return settlement_report(session, filters)

    report = await _run(services, work)
    if format == "json":
        return report.as_dict()
    total = {"clinic_id": "total", **asdict(report.totals)}
    rows = [*(asdict(r) for r in report.rows), total]
    return _csv(to_csv(ROW_FIELDS, rows), "settlement-report.csv")


@router.get("/settlements/lines", summary="Every settled line within the filters "
            "(which cards were settled)", response_class=StreamingResponse)
async def get_settlement_lines(
    clinic_id: str | None = Query(None, max_length=64),
    account_id: str | None = Query(None, max_length=64),
    date_from: date | None = None, date_to: date | None = None,
    stream: Stream | None = None, payment_type: PaymentType | None = None,
    scope: ClinicScope = Depends(require_clinic_reader),
    services: Services = Depends(get_services),
) -> StreamingResponse:
    filters = _filters(scope, clinic_id, account_id, date_from, date_to, stream, payment_type)

    def check(session: Session) -> None:
        _check_account(session, scope, account_id)
        filters.check(session)

    await _run(services, check)
    return StreamingResponse(_stream_lines(services.db, filters),
                             media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition":
                                      'attachment; filename="settlement-lines.csv"'})


async def _stream_lines(db: Database, filters: SettlementFilters) -> AsyncIterator[str]:
    """CSV text in pages, each read in its own short transaction after the previous page's
    last key, so no transaction stays open while the client reads."""
    after: LineKey | None = None
    yield to_csv(LINE_FIELDS, ())
    while True:
        def page(session: Session, start: LineKey | None = after
                 ) -> list[tuple[LineKey, dict[str, Any]]]:
            return list(settlement_lines(session, filters, after=start, limit=LINES_PAGE))

        rows = await db.run(page)
        if rows:
            yield to_csv(LINE_FIELDS, (line for _, line in rows)).split("\n", 1)[1]
        if len(rows) < LINES_PAGE:
            return
        after = rows[-1][0]


EARNINGS_FIELDS = ("item", "count", "amount_ore")


def earnings_csv(report: EarningsReport) -> str:
    """The earnings report as item/count/amount lines, as a spreadsheet would hold it."""
    rows: list[dict[str, Any]] = [
        {"item": "exported", "count": report.exported_count,
         "amount_ore": report.exported_amount},
        {"item": "settled", "count": report.settled_count, "amount_ore": report.settled_amount},
        *({"item": f"settled:{line.payment_type}", "count": line.count,
           "amount_ore": line.amount} for line in report.settled_by_type),
        {"item": "credits", "count": report.credits_count, "amount_ore": report.credits},
        {"item": "admin_fees", "count": report.admin_fee_count,
         "amount_ore": report.admin_fees},
        {"item": "fees_deducted", "count": "", "amount_ore": report.fees_deducted},
        {"item": "cost_per_card", "count": report.settled_count,
         "amount_ore": report.cost_per_card},
        {"item": "cost_percent", "count": report.settled_count,
         "amount_ore": report.cost_percent},
        {"item": "provider_cost", "count": "", "amount_ore": report.provider_cost},
        {"item": "net_to_clinic", "count": "", "amount_ore": report.net_to_clinic},
    ]
    return to_csv(EARNINGS_FIELDS, rows)


@router.get("/earnings", summary="The EPJ guide's earnings report for a clinic and period")
async def get_earnings(
    clinic_id: str = Query(max_length=64),
    date_from: date = Query(description="First day included (Oslo date)."),
    date_to: date = Query(description="Last day included (Oslo date)."),
    price_per_card: int | None = Query(
        None, description="Øre per settled payment; default the agreement's."),
    percent_bp: int | None = Query(
        None, description="Basis points of each payment; default the agreement's."),
    format: Format = "json",
    scope: ClinicScope = Depends(require_clinic_reader),
    services: Services = Depends(get_services),
) -> Any:
    scope.check(clinic_id)
    report = await _run(services, lambda s: earnings_report(
        s, clinic_id, date_from, date_to, price_per_card=price_per_card,
        percent_bp=percent_bp))
    if format == "json":
        return report.as_dict()
    return _csv(earnings_csv(report),
                f"earnings-{clinic_id}-{date_from.isoformat()}-{date_to.isoformat()}.csv")


@router.get("/outstanding", response_model=OutstandingOut,
            summary="The clinic's open Fakturaservice claims on a date: its receivables")
async def get_outstanding(
    clinic_id: str | None = Query(
        None, max_length=64, description="Required with the operator token; an EPJ's "
        "default is the clinic of its credential."),
    at: date | None = Query(None, description="Oslo date of the report; default today."),
    scope: ClinicScope = Depends(require_clinic_reader),
    services: Services = Depends(get_services),
) -> OutstandingOut:
    """The same report as the operator's `/v1/invoicing/clinics/{id}/outstanding`."""
    clinic = scope.single_clinic(clinic_id)
    if clinic is None:  # the operator, who reads every clinic, must name one
        raise ProblemError(
            VALIDATION_FAILED, "clinic_id is required with the operator token",
            extensions={"errors": [{"loc": ["query", "clinic_id"], "msg": "field required",
                                    "type": "missing"}]})
    day = at or oslo_date(services.clock.now())

    def work(session: Session) -> OutstandingOut:
        if session.get(Clinic, clinic) is None:
            raise ProblemError(NOT_FOUND, f"no clinic {clinic!r}")
        found = outstanding_claims(session, clinic, day)
        rows = [OutstandingRowOut(**asdict(row)) for row in found]
        return OutstandingOut(clinic_id=clinic, at=day,
                              receivable=sum(r.receivable for r in rows), items=rows)

    return await services.db.run(work)
