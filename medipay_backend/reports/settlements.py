"""The settlement report: settled lines summed per clinic, account, stream and payment type,
within filters, with totals (the EPJ guide's "Oppgjørsrapport" with its filters: unit,
account, basis (stream), payment type and period).

A line's account is the account (practitioner's books) of the order with the line's KID at
that clinic; POS terminal payments belong to no account (a gateway settles to a clinic), so
they appear with `account_id` None and drop out when an account is asked for. The period is
the settlement date, both ends included.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.localtime import oslo_date
from medipay_backend.models_ledger import LedgerTransfer, Settlement, SettlementItem
from medipay_backend.models_orders import Order
from medipay_backend.reports.filters import (
    PAYMENT_TYPES,
    STREAMS,
    check_account,
    check_choice,
    check_clinic,
    check_period,
)
from medipay_backend.settlement.runner import CREDIT_CODES


@dataclass(frozen=True)
class SettlementFilters:
    clinic_id: str | None = None
    account_id: str | None = None
    date_from: date | None = None  # settlement date, included
    date_to: date | None = None  # settlement date, included
    stream: str | None = None  # checkout, fakturaservice, pos
    payment_type: str | None = None  # card, vipps, bought_invoice, fakturaservice, pos

    def check(self, session: Session) -> None:
        """Raise `ReportFilterError` for an unknown value or a reversed period."""
        check_choice("stream", self.stream, STREAMS)
        check_choice("payment_type", self.payment_type, PAYMENT_TYPES)
        check_period(self.date_from, self.date_to)
        check_clinic(session, self.clinic_id)
        check_account(session, self.account_id, self.clinic_id)


@dataclass(frozen=True)
class SettlementReportRow:
    clinic_id: str
    account_id: str | None
    stream: str
    payment_type: str
    count: int  # settled lines: payments and credits
    gross: int  # payments (øre)
    credits: int  # credits and refunds deducted (øre, positive)
    fees: int  # the agreement's fees deducted
    net: int  # gross - credits - fees


@dataclass(frozen=True)
class SettlementTotals:
    settlements: int = 0  # settlements with at least one matching line
    count: int = 0
    gross: int = 0
    credits: int = 0
    fees: int = 0
    net: int = 0


@dataclass(frozen=True)
class SettlementReport:
    filters: SettlementFilters
    rows: list[SettlementReportRow]
    totals: SettlementTotals = field(default_factory=SettlementTotals)

    def as_dict(self) -> dict[str, Any]:
        filters = {k: (v.isoformat() if isinstance(v, date) else v)
                   for k, v in asdict(self.filters).items()}
        return {"filters": filters, "rows": [asdict(r) for r in self.rows],
                "totals": asdict(self.totals)}


def _is_credit() -> sa.ColumnElement[bool]:
    return LedgerTransfer.code.in_([int(c) for c in CREDIT_CODES])


def _matching(filters: SettlementFilters, *columns: Any) -> sa.Select[Any]:
    """`columns` over every settled line that passes the filters."""
    query = (
        sa.select(*columns)
        .select_from(SettlementItem)
        .join(Settlement, Settlement.id == SettlementItem.settlement_id)
        .join(LedgerTransfer, LedgerTransfer.id == SettlementItem.transfer_id)
        .outerjoin(Order, sa.and_(Order.clinic_id == LedgerTransfer.clinic_id,
                                  Order.kid == LedgerTransfer.kid))
    )
    if filters.clinic_id is not None:
        query = query.where(Settlement.clinic_id == filters.clinic_id)
    if filters.account_id is not None:
        query = query.where(Order.account_id == filters.account_id)
    if filters.date_from is not None:
        query = query.where(Settlement.settlement_date >= filters.date_from)
    if filters.date_to is not None:
        query = query.where(Settlement.settlement_date <= filters.date_to)
    if filters.stream is not None:
        query = query.where(Settlement.stream == filters.stream)
    if filters.payment_type is not None:
        query = query.where(LedgerTransfer.source == filters.payment_type)
    return query


def settlement_report(session: Session, filters: SettlementFilters) -> SettlementReport:
    """Settled lines within `filters`, summed; `ReportFilterError` for a bad filter."""
    filters.check(session)
    credit = _is_credit()
    keys = (Settlement.clinic_id, Order.account_id, Settlement.stream, LedgerTransfer.source)
    query = (
        _matching(
            filters, *keys, sa.func.count(),
            sa.func.sum(sa.case((credit, 0), else_=LedgerTransfer.amount)),
            sa.func.sum(sa.case((credit, LedgerTransfer.amount), else_=0)),
            sa.func.sum(SettlementItem.fee), sa.func.sum(SettlementItem.net),
        )
        .group_by(*keys)
        .order_by(Settlement.clinic_id, Order.account_id.is_(None), Order.account_id,
                  Settlement.stream, LedgerTransfer.source)
    )
    rows = [
        SettlementReportRow(clinic, account, stream, source,
                            *(int(v or 0) for v in figures))
        for clinic, account, stream, source, *figures in session.execute(query)
    ]
    settlements = session.scalar(
        _matching(filters, sa.func.count(sa.distinct(SettlementItem.settlement_id))))
    totals = SettlementTotals(
        settlements=int(settlements or 0), count=sum(r.count for r in rows),
        gross=sum(r.gross for r in rows), credits=sum(r.credits for r in rows),
        fees=sum(r.fees for r in rows), net=sum(r.net for r in rows),
    )
    return SettlementReport(filters, rows, totals)


LINE_FIELDS = ("settlement_id", "settlement_date", "clinic_id", "account_id", "stream",
               "payment_type", "kind", "date", "kid", "amount", "fee", "net", "transfer_id")
# Where a page of lines ends: (settlement date, settlement seq, position), the report's order.
LineKey = tuple[date, int, int]


def settlement_lines(
    session: Session, filters: SettlementFilters, *, after: LineKey | None = None,
    limit: int | None = None,
) -> Iterator[tuple[LineKey, dict[str, Any]]]:
    """Every settled line within `filters` ("which cards"), oldest settlement first, with
    its key; from a server-side cursor. `after`/`limit` page through by key. Call
    `filters.check` first."""
    order = (Settlement.settlement_date, Settlement.seq, SettlementItem.position)
    query = (
        _matching(filters, *order, Settlement.id, Settlement.clinic_id,
                  Order.account_id, Settlement.stream, LedgerTransfer.source,
                  _is_credit(), LedgerTransfer.timestamp, LedgerTransfer.kid,
                  LedgerTransfer.amount, SettlementItem.fee, SettlementItem.net,
                  LedgerTransfer.id)
        .order_by(*order)
        .execution_options(yield_per=1000)
    )
    if after is not None:
        query = query.where(sa.tuple_(*order) > sa.tuple_(*after))
    if limit is not None:
        query = query.limit(limit)
    for (day, seq, position, settlement_id, clinic, account, stream, source, is_credit, at,
         kid, amount, fee, net, transfer_id) in session.execute(query):
        yield (day, seq, position), dict(zip(LINE_FIELDS, (
            settlement_id, day.isoformat(), clinic, account, stream, source,
            "credit" if is_credit else "payment", oslo_date(at).isoformat(), kid or "",
            amount, fee, net, transfer_id), strict=True))
