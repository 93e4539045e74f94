"""The settlement report's filters (clinic, account, period, stream, payment type) against a
seeded set of settlements whose figures this test computes itself from `seed.ITEMS`."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from medipay.clock import SimulatedClock
from medipay_backend.api import reports as reports_api
from medipay_backend.db import Database
from medipay_backend.reports.filters import ReportFilterError
from medipay_backend.reports.settlements import SettlementFilters, settlement_report

from ..settlement.helpers import check_ledger
from .seed import DAY_1, DAY_2, ITEMS, Item, seed_and_settle, seed_clinics

REPORT = "/v1/reports/settlements"
Case = tuple[dict[str, str], Callable[[Item], bool]]
CASES: list[Case] = [
    ({}, lambda i: True),
    ({"clinic_id": "alfa"}, lambda i: i.clinic == "alfa"),
    ({"clinic_id": "beta"}, lambda i: i.clinic == "beta"),
    ({"account_id": "alfa-dr-1"}, lambda i: i.account == "alfa-dr-1"),
    ({"clinic_id": "alfa", "account_id": "alfa-dr-2"}, lambda i: i.account == "alfa-dr-2"),
    ({"date_from": DAY_2.isoformat()}, lambda i: i.day >= DAY_2),
    ({"date_to": DAY_1.isoformat()}, lambda i: i.day <= DAY_1),
    ({"date_from": DAY_1.isoformat(), "date_to": DAY_1.isoformat()}, lambda i: i.day == DAY_1),
    ({"date_from": "2026-02-01"}, lambda i: False),
    ({"stream": "checkout"}, lambda i: i.stream == "checkout"),
    ({"stream": "fakturaservice"}, lambda i: i.stream == "fakturaservice"),
    ({"stream": "pos"}, lambda i: i.stream == "pos"),
    *[({"payment_type": kind}, lambda i, kind=kind: i.source == kind)  # type: ignore[misc]
      for kind in ("card", "vipps", "bought_invoice", "fakturaservice", "pos")],
    ({"clinic_id": "alfa", "stream": "checkout", "payment_type": "card",
      "date_from": DAY_2.isoformat()},
     lambda i: i.clinic == "alfa" and i.source == "card" and i.day >= DAY_2),
]


def expected(keep: Callable[[Item], bool]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    groups: dict[tuple[str, str | None, str, str], list[Item]] = defaultdict(list)
    for item in ITEMS:
        if keep(item):
            groups[(item.clinic, item.account, item.stream, item.source)].append(item)
    rows = [
        {"clinic_id": clinic, "account_id": account, "stream": stream, "payment_type": source,
         "count": len(items), "gross": sum(i.amount for i in items if not i.credit),
         "credits": sum(i.amount for i in items if i.credit),
         "fees": sum(i.fee for i in items), "net": sum(i.net for i in items)}
        for (clinic, account, stream, source), items in groups.items()
    ]
    kept = [item for item in ITEMS if keep(item)]
    totals = {"settlements": len({(i.clinic, i.stream, i.day) for i in kept}),
              "count": len(kept), "gross": sum(i.amount for i in kept if not i.credit),
              "credits": sum(i.amount for i in kept if i.credit),
              "fees": sum(i.fee for i in kept), "net": sum(i.net for i in kept)}
    return rows, totals


def _key(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row[k]) for k in ("clinic_id", "account_id", "stream", "payment_type"))


async def test_every_filter_summed_and_line_by_line(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await seed_and_settle(database, clock, tmp_path)
    await check_ledger(database)
    assert (await client.get(REPORT)).status_code == 401
    for params, keep in CASES:
        response = await client.get(REPORT, params=params, headers=admin_headers)
        assert response.status_code == 200, (params, response.text)
        body = response.json()
        rows, totals = expected(keep)
        assert sorted(body["rows"], key=_key) == sorted(rows, key=_key), params
        assert body["totals"] == totals, params
        assert {k: v for k, v in body["filters"].items() if v is not None} == params

        got = await client.get(REPORT, params={**params, "format": "csv"}, headers=admin_headers)
        assert got.headers["content-type"].startswith("text/csv")
        *lines, total = list(csv.DictReader(io.StringIO(got.text)))
        assert len(lines) == len(rows), params
        assert total["clinic_id"] == "total"
        assert {k: int(total[k]) for k in ("count", "gross", "credits", "fees", "net")} == {
            k: totals[k] for k in ("count", "gross", "credits", "fees", "net")}

    # The plain function, as the clinic portal calls it for its own clinic.
    report = await database.run(lambda s: settlement_report(
        s, SettlementFilters(clinic_id="beta", date_from=date(2026, 1, 1))))
    _, totals = expected(lambda i: i.clinic == "beta")
    assert report.totals.gross == totals["gross"] and report.totals.net == totals["net"]
    with pytest.raises(ReportFilterError, match="stream"):
        await database.run(lambda s: settlement_report(s, SettlementFilters(stream="kort")))

    # Line by line ("which cards"), streamed in pages.
    monkeypatch.setattr(reports_api, "LINES_PAGE", 3)  # several pages for a few lines
    for params, keep in CASES:
        response = await client.get(f"{REPORT}/lines", params=params, headers=admin_headers)
        assert response.status_code == 200, response.text
        lines = list(csv.DictReader(io.StringIO(response.text)))
        kept = [item for item in ITEMS if keep(item)]
        assert len(lines) == len(kept), params
        assert len({line["transfer_id"] for line in lines}) == len(kept)
        assert sorted(int(line["amount"]) for line in lines) == sorted(i.amount for i in kept)
        assert sum(int(line["net"]) for line in lines) == sum(i.net for i in kept)
        assert [line["settlement_date"] for line in lines] == sorted(
            line["settlement_date"] for line in lines)
        for line in lines:
            assert bool(line["kid"]) == (line["payment_type"] != "pos")
            assert bool(line["account_id"]) == (line["payment_type"] != "pos")


BAD_FILTERS = [
    ({"stream": "kontant"}, "stream"),
    ({"payment_type": "cash"}, "payment_type"),
    ({"clinic_id": "gamma"}, "clinic_id"),
    ({"account_id": "nobody"}, "account_id"),
    ({"clinic_id": "alfa", "account_id": "beta-dr-1"}, "account_id"),
    ({"date_from": DAY_2.isoformat(), "date_to": DAY_1.isoformat()}, "date_to"),
    ({"date_from": "8. januar"}, "date_from"),
]


async def test_unknown_filter_values_are_a_typed_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock,
) -> None:
    await database.run(lambda s: seed_clinics(s, clock.now()))
    for params, field in BAD_FILTERS:
        for path in (REPORT, f"{REPORT}/lines"):
            response = await client.get(path, params=params, headers=admin_headers)
            assert response.status_code == 422, (params, response.text)
            problem = response.json()
            assert response.headers["content-type"].startswith("application/problem+json")
            assert problem["type"].endswith("/validation-failed")
            assert problem["errors"][0]["loc"] == ["query", field], params
