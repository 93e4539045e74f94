"""The POS settlement report and transaction lists: downloadable, with the terminals' view
(terminal, card scheme, masked card number, receipt) and totals per terminal and scheme."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

import httpx

from medipay.clock import SimulatedClock
from medipay_backend.db import Database

from .seed import CARDS, DAY_1, DAY_2, ITEMS, TERMINALS, seed_and_settle


async def test_pos_settlement_reports_and_terminal_list(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock, tmp_path: Path,
) -> None:
    settled = await seed_and_settle(database, clock, tmp_path)
    (pos,) = [r for r in settled if (r.clinic_id, r.stream, r.settlement_date) == (
        "alfa", "pos", DAY_1)]
    path = f"/v1/settlements/{pos.id}"
    for kind in ("json", "csv", "pdf", "transactions"):
        got = await client.get(f"{path}/files/{kind}", headers=admin_headers)
        assert got.status_code == 200 and got.content == Path(
            pos.files[kind]["path"]).read_bytes(), kind

    # Which terminal and scheme each seeded POS payment went through (see seed).
    mine = [(n, item) for n, item in enumerate(ITEMS, start=1)
            if item.source == "pos" and item.clinic == "alfa" and item.day == DAY_1]
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for n, item in mine:
        groups[(TERMINALS[n % 2], CARDS[n % 2])].append(item.amount)

    body = (await client.get(f"{path}/pos-transactions", headers=admin_headers)).json()
    assert body["count"] == len(mine) and body["gross"] == sum(i.amount for _, i in mine)
    lines = body["transactions"]
    assert [(line["terminal_id"], line["card_name"], line["amount"]) for line in lines] == [
        (TERMINALS[n % 2], CARDS[n % 2], item.amount) for n, item in mine]
    assert all(line["masked_pan"] == "547103******1234" for line in lines)
    assert [line["receipt_number"] for line in lines] == [n for n, _ in mine]
    assert all(line["date"] == "2026-01-05" and line["time"] == "11:00:00" for line in lines)
    assert {(g["terminal_id"], g["card_name"]): g["amount"] for g in body["groups"]} == {
        key: sum(amounts) for key, amounts in groups.items()}
    assert sum(g["net"] for g in body["groups"]) == pos.total

    got = await client.get(f"{path}/pos-transactions", params={"format": "csv"},
                           headers=admin_headers)
    assert got.headers["content-type"].startswith("text/csv")
    assert f"terminaltransaksjoner-pos-{DAY_1.isoformat()}.csv" in got.headers[
        "content-disposition"]
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert [int(r["amount"]) for r in rows] == [item.amount for _, item in mine]

    (checkout,) = [r for r in settled if (r.clinic_id, r.stream, r.settlement_date) == (
        "alfa", "checkout", DAY_2)]
    wrong = await client.get(f"/v1/settlements/{checkout.id}/pos-transactions",
                             headers=admin_headers)
    assert wrong.status_code == 422 and "not a POS settlement" in wrong.json()["detail"]
    missing = await client.get("/v1/settlements/nope/pos-transactions", headers=admin_headers)
    assert missing.status_code == 404
    assert (await client.get(f"{path}/pos-transactions")).status_code == 401
