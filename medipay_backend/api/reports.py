"""Operator report endpoints: the settlement report (summed, or line by line) and the earnings
report, as JSON or CSV (`format=csv`). The clinic portal calls the same functions in
`medipay_backend.reports`, scoped to the signed-in clinic."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from datetime import date
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from medipay_backend.auth import require_admin
from medipay_backend.db import Database
from medipay_backend.deps import Services, get_services
from medipay_backend.problems import VALIDATION_FAILED, ProblemError, problem_responses
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
router = APIRouter(prefix="/v1/reports", tags=["reports"], dependencies=[Depends(require_admin)],
                   responses=problem_responses(401, 422))
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


def _filters(clinic_id: str | None, account_id: str | None, date_from: date | None,
             date_to: date | None, stream: str | None,
             payment_type: str | None) -> SettlementFilters:
    return SettlementFilters(clinic_id=clinic_id, account_id=account_id, date_from=date_from,
                             date_to=date_to, stream=stream, payment_type=payment_type)


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
    services: Services = Depends(get_services),
) -> Any:
    filters = _filters(clinic_id, account_id, date_from, date_to, stream, payment_type)
    report: SettlementReport = await _run(services, lambda s: settlement_report(s, filters))
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
    services: Services = Depends(get_services),
) -> StreamingResponse:
    filters = _filters(clinic_id, account_id, date_from, date_to, stream, payment_type)
    await _run(services, filters.check)
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
    services: Services = Depends(get_services),
) -> Any:
    report = await _run(services, lambda s: earnings_report(
        s, clinic_id, date_from, date_to, price_per_card=price_per_card,
        percent_bp=percent_bp))
    if format == "json":
        return report.as_dict()
    return _csv(earnings_csv(report),
                f"earnings-{clinic_id}-{date_from.isoformat()}-{date_to.isoformat()}.csv")
