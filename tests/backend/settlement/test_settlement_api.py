"""Operator API: map a gateway to a clinic, list settlements, download files, reports."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import httpx

from medipay.clock import SimulatedClock
from medipay_backend.db import Database
from medipay_backend.settlement.service import settle_day

from ..conftest import EnrolGateway, MakeEpj
from .helpers import AGREEMENT, check_ledger, send_pos


async def test_settlements_reports_and_downloads(
    client: httpx.AsyncClient, database: Database, clock: SimulatedClock,
    enrol_gateway: EnrolGateway, make_epj: MakeEpj, admin_headers: dict[str, str],
    tmp_path: Path,
) -> None:
    epj = await make_epj(agreement=AGREEMENT)
    gateway = await enrol_gateway("gw-2")
    path = "/v1/gateways/gw-2/clinic"
    assert (await client.put(path, json={"clinic_id": epj.clinic_id})).status_code == 401
    response = await client.put(path, json={"clinic_id": epj.clinic_id}, headers=admin_headers)
    assert response.status_code == 200, response.text
    assert (await client.put(path, json={"clinic_id": epj.clinic_id},
                             headers=admin_headers)).status_code == 200  # repeat
    await make_epj("annen-klinikk")
    moved = await client.put(path, json={"clinic_id": "annen-klinikk"}, headers=admin_headers)
    assert moved.status_code == 409
    assert moved.json()["type"].endswith("gateway-clinic-conflict")
    await send_pos(client, gateway, range(1, 3))
    clock.advance(timedelta(days=1))
    await settle_day(database, clock, date(2026, 1, 6), tmp_path)

    listing = await client.get("/v1/settlements", params={"clinic_id": epj.clinic_id,
                                                         "stream": "pos"}, headers=admin_headers)
    (pos,) = listing.json()["settlements"]
    assert pos["count"] == 2 and pos["payout"] == pos["total"]
    detail = await client.get(f"/v1/settlements/{pos['settlement_id']}", headers=admin_headers)
    assert sum(line["net"] for line in detail.json()["lines"]) == pos["total"]
    for kind in ("json", "csv", "pdf", "transactions"):
        got = await client.get(f"/v1/settlements/{pos['settlement_id']}/files/{kind}",
                               headers=admin_headers)
        assert got.status_code == 200, kind
    missing = await client.get(f"/v1/settlements/{pos['settlement_id']}/files/ocr",
                               headers=admin_headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    report = await client.get("/v1/reports/settlements", params={"payment_type": "pos"},
                              headers=admin_headers)
    (row,) = report.json()["rows"]
    assert (row["count"], row["gross"], row["net"]) == (2, 90_003, pos["total"])
    await check_ledger(database)
