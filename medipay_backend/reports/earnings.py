"""The earnings report of the EPJ guide ("MediPay inntjening") for one clinic and period.

It sums the patient parts of the bill cards the clinic's EPJs exported (orders received) and
of those settled, the admin (invoice) fees charged on invoices, and what the service cost:
the provider's price per card and percent from the agreement, or the values given instead
(the EPJ's report lets the user type them in), applied to every settled payment as the
settlement does (percent rounded half up per payment). `fees_deducted` is what the period's
settlements actually deducted; with the agreement's prices unchanged it equals
`provider_cost`.

Period: `period_from` to `period_to`, both included, as Oslo dates; orders and invoices by
when they were received or issued, settled amounts by settlement date.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.domain.settlement import BASIS_POINTS, FeeRule, round_half_up
from medipay_backend.localtime import OSLO
from medipay_backend.models_clinics import Clinic, ClinicAgreement
from medipay_backend.models_ledger import LedgerTransfer, Settlement, SettlementItem
from medipay_backend.models_orders import Invoice, Order
from medipay_backend.reports.filters import ReportFilterError, check_clinic, check_period
from medipay_backend.settlement.runner import CREDIT_CODES

# Prices a user may type in: the same bounds as the agreement's.
MAX_PRICE_PER_CARD = 100_000_000
MAX_PERCENT_BP = BASIS_POINTS


@dataclass(frozen=True)
class SettledByType:
    payment_type: str
    count: int  # payments settled
    amount: int  # their patient parts (øre)
    credits_count: int
    credits: int  # credits and refunds deducted (øre, positive)
    fees: int  # fees deducted


@dataclass(frozen=True)
class EarningsReport:
    clinic_id: str
    clinic_name: str
    period_from: date
    period_to: date
    currency: str
    exported_count: int  # bill cards (orders) received from the EPJs
    exported_amount: int  # their patient parts
    settled_count: int  # payments settled (card, Vipps, bought invoice, Fakturaservice, POS)
    settled_amount: int  # their patient parts
    credits_count: int
    credits: int
    settled_by_type: list[SettledByType]
    admin_fee_count: int  # invoices issued with an admin (invoice) fee
    admin_fees: int  # the fees charged on them
    fees_deducted: int  # what the period's settlements deducted
    price_per_card: int  # the provider's price per settled payment (øre) used below
    percent_bp: int  # the provider's percent (basis points) used below
    cost_per_card: int  # settled_count * price_per_card
    cost_percent: int  # the percent part, rounded per payment
    provider_cost: int  # cost_per_card + cost_percent
    provider_share_bp: int  # provider_cost in basis points of settled_amount (0 if none)
    net_to_clinic: int  # settled_amount - credits - fees_deducted

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["period_from"] = self.period_from.isoformat()
        body["period_to"] = self.period_to.isoformat()
        return body


def _start(day: date) -> datetime:
    return datetime.combine(day, time(0), OSLO)


def earnings_report(
    session: Session, clinic_id: str, period_from: date, period_to: date, *,
    price_per_card: int | None = None, percent_bp: int | None = None,
) -> EarningsReport:
    """The report; `ReportFilterError` for an unknown clinic, a reversed period or a price
    out of bounds. Prices not given are the clinic's agreement's."""
    check_clinic(session, clinic_id)
    check_period(period_from, period_to)
    if price_per_card is not None and not 0 <= price_per_card <= MAX_PRICE_PER_CARD:
        raise ReportFilterError("price_per_card",
                                f"must be between 0 and {MAX_PRICE_PER_CARD} øre")
    if percent_bp is not None and not 0 <= percent_bp <= MAX_PERCENT_BP:
        raise ReportFilterError("percent_bp", f"must be between 0 and {MAX_PERCENT_BP}")
    clinic = session.get(Clinic, clinic_id)
    agreement = session.get(ClinicAgreement, clinic_id)
    if clinic is None or agreement is None:
        raise ReportFilterError("clinic_id", f"clinic {clinic_id!r} has no agreement")
    rule = FeeRule(agreement.price_per_transaction if price_per_card is None else price_per_card,
                   agreement.price_percent_bp if percent_bp is None else percent_bp)
    start, end = _start(period_from), _start(period_to + timedelta(days=1))
    exported_count, exported_amount = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Order.amount), 0))
        .where(Order.clinic_id == clinic_id, Order.received_at >= start,
               Order.received_at < end)
    ).one()
    fee_count, fees = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Invoice.invoice_fee), 0))
        .where(Invoice.clinic_id == clinic_id, Invoice.invoice_fee > 0,
               Invoice.created_at >= start, Invoice.created_at < end)
    ).one()
    lines, provider_cost = _settled(session, clinic_id, period_from, period_to, rule)
    settled_count = sum(line.count for line in lines)
    settled_amount = sum(line.amount for line in lines)
    credits = sum(line.credits for line in lines)
    fees_deducted = sum(line.fees for line in lines)
    cost_per_card = settled_count * rule.per_transaction
    return EarningsReport(
        clinic_id=clinic_id, clinic_name=clinic.name, period_from=period_from,
        period_to=period_to, currency="NOK",
        exported_count=int(exported_count), exported_amount=int(exported_amount),
        settled_count=settled_count, settled_amount=settled_amount,
        credits_count=sum(line.credits_count for line in lines), credits=credits,
        settled_by_type=lines,
        admin_fee_count=int(fee_count), admin_fees=int(fees), fees_deducted=fees_deducted,
        price_per_card=rule.per_transaction, percent_bp=rule.percent_bp,
        cost_per_card=cost_per_card, cost_percent=provider_cost - cost_per_card,
        provider_cost=provider_cost,
        provider_share_bp=(round_half_up(provider_cost * BASIS_POINTS, settled_amount)
                           if settled_amount else 0),
        net_to_clinic=settled_amount - credits - fees_deducted,
    )


def _settled(
    session: Session, clinic_id: str, period_from: date, period_to: date, rule: FeeRule
) -> tuple[list[SettledByType], int]:
    """The period's settled lines per payment type, and the provider's cost under `rule`.
    Lines are grouped by amount, so the fee is computed once per distinct amount."""
    query = (
        sa.select(LedgerTransfer.source, LedgerTransfer.code, LedgerTransfer.amount,
                  sa.func.count(), sa.func.sum(SettlementItem.fee))
        .select_from(SettlementItem)
        .join(Settlement, Settlement.id == SettlementItem.settlement_id)
        .join(LedgerTransfer, LedgerTransfer.id == SettlementItem.transfer_id)
        .where(Settlement.clinic_id == clinic_id, Settlement.settlement_date >= period_from,
               Settlement.settlement_date <= period_to)
        .group_by(LedgerTransfer.source, LedgerTransfer.code, LedgerTransfer.amount)
    )
    by_type: dict[str, list[int]] = {}  # count, amount, credits_count, credits, fees
    provider_cost = 0
    credit_codes = {int(c) for c in CREDIT_CODES}
    for source, code, amount, count, item_fees in session.execute(query):
        figures = by_type.setdefault(source, [0, 0, 0, 0, 0])
        figures[4] += int(item_fees or 0)
        if code in credit_codes:
            figures[2] += count
            figures[3] += amount * count
        else:
            figures[0] += count
            figures[1] += amount * count
            provider_cost += count * rule.fee(amount)
    lines = [SettledByType(source, *figures) for source, figures in sorted(by_type.items())]
    return lines, provider_cost
