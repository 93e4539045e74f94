"""The earnings report (the EPJ guide's "MediPay inntjening"): exported and settled patient
parts, admin fees and the provider's cost, checked against figures computed here."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay.clock import SimulatedClock
from medipay_backend.db import Database
from medipay_backend.models_orders import Order
from medipay_backend.reports.earnings import earnings_report
from medipay_backend.reports.filters import ReportFilterError

from .seed import (
    BOOKED,
    DAY_1,
    DAY_2,
    ITEMS,
    add_invoice,
    add_order,
    seed_and_settle,
    seed_clinics,
)

EARNINGS = "/v1/reports/earnings"
# Just after midnight in Oslo on 6 January, still 5 January in UTC.
LATE = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def _seed(database: Database, clock: SimulatedClock, root: Path) -> None:
    await seed_and_settle(database, clock, root)

    def invoices(session: Session) -> None:
        orders = session.scalars(sa.select(Order).where(Order.clinic_id == "alfa")
                                 .order_by(Order.seq)).all()
        add_invoice(session, orders[0], "fakturaservice", 5_900, BOOKED[DAY_1])
        add_invoice(session, orders[1], "bought", 6_500, BOOKED[DAY_2])
        add_invoice(session, orders[2], "bought", 0, BOOKED[DAY_1])  # fee switched off
        add_invoice(session, orders[3], "bought", 5_900, datetime(2026, 2, 1, tzinfo=UTC))
        add_order(session, "alfa", "alfa-dr-2", 99, 1_234, LATE)

    await database.run(invoices)


def _settled(clinic: str, first: date, last: date) -> list:  # type: ignore[type-arg]
    return [i for i in ITEMS if i.clinic == clinic and first <= i.day <= last]


async def test_earnings_for_a_period(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock, tmp_path: Path,
) -> None:
    await _seed(database, clock, tmp_path)
    params = {"clinic_id": "alfa", "date_from": "2026-01-05", "date_to": "2026-01-08"}
    assert (await client.get(EARNINGS, params=params)).status_code == 401
    body = (await client.get(EARNINGS, params=params, headers=admin_headers)).json()

    settled = _settled("alfa", DAY_1, DAY_2)
    payments = [i for i in settled if not i.credit]
    exported = [i for i in payments if i.account is not None]  # one order per such payment
    assert body["exported_count"] == len(exported) + 1  # and the order received late on 5 Jan
    assert body["exported_amount"] == sum(i.amount for i in exported) + 1_234
    assert body["settled_count"] == len(payments)
    assert body["settled_amount"] == sum(i.amount for i in payments)
    assert (body["credits_count"], body["credits"]) == (1, 5_000)
    by_type = {line["payment_type"]: line for line in body["settled_by_type"]}
    assert by_type["pos"]["count"] == 3
    assert by_type["card"]["amount"] == 45_050 + 12_340 + 9_999
    assert by_type["card"]["credits"] == 5_000
    assert (body["admin_fee_count"], body["admin_fees"]) == (2, 5_900 + 6_500)
    fees = sum(i.fee for i in settled)
    assert body["fees_deducted"] == fees
    assert (body["price_per_card"], body["percent_bp"]) == (150, 125)
    assert body["cost_per_card"] == 150 * len(payments)
    assert body["provider_cost"] == fees  # the agreement's prices: what was deducted
    assert body["cost_per_card"] + body["cost_percent"] == body["provider_cost"]
    share = Decimal(fees) * 10_000 / Decimal(body["settled_amount"])
    assert body["provider_share_bp"] == _round(share)
    assert body["net_to_clinic"] == sum(i.net for i in settled)

    # The EPJ guide lets the user type in the prices; the deducted fees stay as they were.
    typed = (await client.get(EARNINGS, params={**params, "price_per_card": 200,
                                                "percent_bp": 300},
                              headers=admin_headers)).json()
    cost = sum(200 + _round(Decimal(i.amount) * 3 / 100) for i in payments)
    assert typed["provider_cost"] == cost and typed["fees_deducted"] == fees

    got = await client.get(EARNINGS, params={**params, "format": "csv"}, headers=admin_headers)
    assert got.headers["content-type"].startswith("text/csv")
    assert 'filename="earnings-alfa-2026-01-05-2026-01-08.csv"' in got.headers[
        "content-disposition"]
    rows = {row["item"]: row for row in csv.DictReader(io.StringIO(got.text))}
    assert int(rows["settled"]["amount_ore"]) == body["settled_amount"]
    assert int(rows["provider_cost"]["amount_ore"]) == fees
    assert int(rows["admin_fees"]["count"]) == 2

    # Orders count by their Oslo date, settled amounts by settlement date.
    one_day = await database.run(lambda s: earnings_report(
        s, "alfa", date(2026, 1, 6), date(2026, 1, 6)))
    assert (one_day.exported_count, one_day.exported_amount) == (1, 1_234)  # the late order
    payments = [i for i in _settled("alfa", DAY_1, DAY_1) if not i.credit]
    assert one_day.settled_amount == sum(i.amount for i in payments)
    assert one_day.admin_fee_count == 0  # issued on 5 January
    empty = await database.run(lambda s: earnings_report(
        s, "beta", date(2026, 3, 1), date(2026, 3, 31)))
    assert (empty.settled_count, empty.provider_cost, empty.provider_share_bp) == (0, 0, 0)


async def test_bad_requests(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock,
) -> None:
    await database.run(lambda s: seed_clinics(s, clock.now()))
    base = {"clinic_id": "alfa", "date_from": "2026-01-05", "date_to": "2026-01-08"}
    for params, field in (({**base, "clinic_id": "gamma"}, "clinic_id"),
                          ({**base, "date_to": "2026-01-01"}, "date_to"),
                          ({**base, "percent_bp": 10_001}, "percent_bp"),
                          ({**base, "price_per_card": -1}, "price_per_card"),
                          ({**base, "format": "xlsx"}, "format"),
                          ({"clinic_id": "alfa", "date_from": "2026-01-05"}, "date_to")):
        response = await client.get(EARNINGS, params=params, headers=admin_headers)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["errors"][0]["loc"] == ["query", field]
    with pytest.raises(ReportFilterError):
        await database.run(lambda s: earnings_report(s, "gamma", DAY_1, DAY_2))
