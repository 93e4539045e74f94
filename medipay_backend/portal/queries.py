"""What a clinic admin may read (blocking, per session). Every query takes the admin's
clinic and filters on it: another clinic's order, claim or settlement is simply not found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend import order_events
from medipay_backend.invoicing.balance import principal_left
from medipay_backend.localtime import OSLO
from medipay_backend.models import PosTransaction
from medipay_backend.models_credits import OrderCredit
from medipay_backend.models_invoicing import Claim
from medipay_backend.models_ledger import GatewayClinic, Settlement
from medipay_backend.models_orders import Invoice, Order
from medipay_backend.order_view import find_order, order_out
from medipay_backend.schemas_orders import OrderOut
from medipay_backend.settlement import files

# A settlement page lists this many lines; the transaction list file has them all.
MAX_LINES_SHOWN = 500


@dataclass(frozen=True)
class Search:
    """The filters of a transaction list; empty fields do not filter."""

    text: str = ""  # order id, the EPJ's reference or KID (POS: reference or terminal)
    amount: int | None = None  # øre, exact
    date_from: date | None = None  # Oslo calendar days, both inclusive
    date_to: date | None = None
    status: str | None = None
    page: int = 1


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    page: int
    has_next: bool


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), OSLO).astimezone(UTC)


def _window(query: sa.Select[Any], column: Any, search: Search) -> sa.Select[Any]:
    if search.date_from is not None:
        query = query.where(column >= _day_start(search.date_from))
    if search.date_to is not None:
        query = query.where(column < _day_start(search.date_to + timedelta(days=1)))
    return query


def _paged(session: Session, query: sa.Select[Any], search: Search, size: int) -> Page:
    rows = list(session.execute(query.offset((search.page - 1) * size).limit(size + 1)))
    return Page([row[0] if len(row) == 1 else tuple(row) for row in rows[:size]],
                search.page, len(rows) > size)


def _prefix(column: Any, text: str) -> Any:
    return sa.func.lower(column).startswith(text.lower(), autoescape=True)


def search_orders(session: Session, clinic_id: str, search: Search, size: int) -> Page:
    query = sa.select(Order).where(Order.clinic_id == clinic_id)
    text = search.text.strip()
    if text:
        compact = text.replace(" ", "")
        query = query.where(sa.or_(Order.id == text.lower(), Order.kid == compact,
                                   _prefix(Order.external_reference, text),
                                   Order.idempotency_key == text))
    if search.amount is not None:
        query = query.where(Order.amount == search.amount)
    if search.status:
        query = query.where(Order.status == search.status)
    query = _window(query, Order.received_at, search).order_by(Order.seq.desc())
    return _paged(session, query, search, size)


def search_pos(session: Session, clinic_id: str, search: Search, size: int) -> Page:
    """Terminal transactions from the gateways that settle to this clinic."""
    query = (sa.select(PosTransaction)
             .join(GatewayClinic, GatewayClinic.gateway_id == PosTransaction.gateway_id)
             .where(GatewayClinic.clinic_id == clinic_id))
    text = search.text.strip()
    if text:
        query = query.where(sa.or_(_prefix(PosTransaction.reference, text),
                                   PosTransaction.terminal_id == text,
                                   PosTransaction.id == text.lower()))
    if search.amount is not None:
        query = query.where(PosTransaction.amount == search.amount)
    if search.status:
        query = query.where(PosTransaction.status == search.status)
    query = _window(query, PosTransaction.occurred_at, search).order_by(
        PosTransaction.seq.desc())
    return _paged(session, query, search, size)


@dataclass(frozen=True)
class ClaimView:
    invoice_number: int
    route: str
    state: str
    stage: str
    paused: bool
    due_date: date
    principal_left: int
    can_stop: bool  # the clinic owns it (Fakturaservice) and it is still open


@dataclass(frozen=True)
class OrderDetail:
    order: OrderOut
    status_text: str
    claim: ClaimView | None


def order_detail(session: Session, clinic_id: str, order_id: str) -> OrderDetail | None:
    order = find_order(session, clinic_id, order_id)
    if order is None:
        return None
    claim = claim_of_order(session, clinic_id, order_id)
    view = None if claim is None else ClaimView(
        invoice_number=claim.invoice_number, route=claim.route, state=claim.state,
        stage=claim.stage, paused=claim.paused, due_date=claim.due_date,
        principal_left=principal_left(claim),
        can_stop=claim.route == "fakturaservice" and claim.state == "open",
    )
    return OrderDetail(order_out(session, order), order_events.status_text(order), view)


def claim_of_order(session: Session, clinic_id: str, order_id: str,
                   *, for_update: bool = False) -> Claim | None:
    query = (sa.select(Claim).join(Invoice, Invoice.id == Claim.invoice_id)
             .where(Invoice.order_id == order_id, Invoice.clinic_id == clinic_id,
                    Claim.clinic_id == clinic_id))
    if for_update:
        query = query.with_for_update(of=Claim)
    return session.scalars(query).one_or_none()


def settlements(session: Session, clinic_id: str, page: int, size: int) -> Page:
    """The clinic's settlements, newest first, a page at a time; rows are summaries."""
    query = (sa.select(Settlement).where(Settlement.clinic_id == clinic_id)
             .order_by(Settlement.settlement_date.desc(), Settlement.seq.desc()))
    found = _paged(session, query, Search(page=page), size)
    rows = [{**files.summary(row), "files": sorted(row.files)} for row in found.rows]
    return Page(rows, found.page, found.has_next)


def settlement_row(session: Session, clinic_id: str, settlement_id: str) -> Settlement | None:
    return session.scalars(sa.select(Settlement).where(
        Settlement.id == settlement_id, Settlement.clinic_id == clinic_id)).one_or_none()


@dataclass(frozen=True)
class SettlementDetail:
    summary: dict[str, Any]
    files: list[str]
    lines: list[dict[str, Any]]
    more_lines: bool


def settlement_detail(session: Session, clinic_id: str,
                      settlement_id: str) -> SettlementDetail | None:
    row = settlement_row(session, clinic_id, settlement_id)
    if row is None:
        return None
    lines: list[dict[str, Any]] = []
    more = False
    for line in files.lines(session, row):
        if len(lines) == MAX_LINES_SHOWN:
            more = True
            break
        lines.append(line)
    return SettlementDetail(files.summary(row), sorted(row.files), lines, more)


@dataclass(frozen=True)
class FileToSend:
    path: Path
    name: str


def settlement_file(session: Session, clinic_id: str, settlement_id: str,
                    kind: str) -> FileToSend | None:
    row = settlement_row(session, clinic_id, settlement_id)
    entry = None if row is None else row.files.get(kind)
    if entry is None:
        return None
    path = Path(entry["path"])
    return FileToSend(path, str(entry.get("name") or path.name)) if path.is_file() else None


@dataclass(frozen=True)
class FailedRefund:
    """A card/Vipps credit whose refund the provider did not take: MediPay owes the patient."""

    credit_id: str
    order_id: str
    reference: str  # the EPJ's reference, else its idempotency key
    amount: int
    target: str  # card or vipps
    credited_at: datetime


# The banner on the bills page lists at most this many; the rest are counted.
MAX_FAILED_REFUNDS_SHOWN = 20


def failed_refunds(session: Session, clinic_id: str) -> tuple[list[FailedRefund], int]:
    """The clinic's credits whose refund failed, newest first, and how many there are."""
    where = (OrderCredit.clinic_id == clinic_id, OrderCredit.refund_status == "failed")
    total = int(session.scalar(sa.select(sa.func.count()).select_from(OrderCredit)
                               .where(*where)) or 0)
    rows = session.execute(
        sa.select(OrderCredit, Order.external_reference, Order.idempotency_key)
        .join(Order, Order.id == OrderCredit.order_id).where(*where)
        .order_by(OrderCredit.seq.desc()).limit(MAX_FAILED_REFUNDS_SHOWN))
    found = [FailedRefund(c.id, c.order_id, ref or key, c.amount, c.target, c.created_at)
             for c, ref, key in rows]
    return found, total
