"""POS transactions from a gateway are posted to the ledger and settled in stream pos."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from medipay.clock import SimulatedClock
from medipay_backend.db import Database
from medipay_backend.domain.settlement import FeeRule, SettlementStream
from medipay_backend.models_ledger import LedgerTransfer
from medipay_backend.settlement.service import settle_day

from ..conftest import EnrolGateway, MakeEpj
from .helpers import AGREEMENT, check_ledger, map_gateway, send_pos

DAY = date(2026, 1, 6)


async def test_pos_transactions_settle_with_fees_and_files(
    client: httpx.AsyncClient, database: Database, clock: SimulatedClock,
    enrol_gateway: EnrolGateway, make_epj: MakeEpj, tmp_path: Path,
) -> None:
    epj = await make_epj(agreement=AGREEMENT)
    gateway = await enrol_gateway("gw-1")
    await map_gateway(database, "gw-1", epj.clinic_id)
    await send_pos(client, gateway, range(1, 4))
    await send_pos(client, gateway, range(4, 5), kind="refund", amount=10_000)
    await send_pos(client, gateway, range(5, 6), status="declined")
    clock.advance(timedelta(days=1))

    (pos,) = await settle_day(database, clock, DAY, tmp_path, streams=(SettlementStream.POS,))
    rule = FeeRule(150, 125)
    amounts = [45001, 45002, 45003]
    assert pos.count == 4 and pos.gross == sum(amounts)
    assert pos.fees == sum(rule.fee(a) for a in amounts)
    assert pos.credits == 10_000
    assert pos.total == pos.gross - pos.fees - pos.credits
    assert "ocr" not in pos.files  # POS payments never appear in OCR files
    report = json.loads(Path(pos.files["json"]["path"]).read_text())
    assert report["payout"] == pos.total
    with Path(pos.files["transactions"]["path"]).open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["kind"] for r in rows] == ["payment"] * 3 + ["credit"]
    assert sum(int(r["net"]) for r in rows) == pos.total
    assert Path(pos.files["pdf"]["path"]).read_bytes().startswith(b"%PDF-1.4")
    await check_ledger(database)

    again = await settle_day(database, clock, DAY, tmp_path, streams=(SettlementStream.POS,))
    assert [r.id for r in again] == [pos.id]  # idempotent
    await send_pos(client, gateway, range(6, 7), kind="refund", amount=200_000)
    clock.advance(timedelta(days=1))
    (nxt,) = await settle_day(database, clock, DAY + timedelta(days=1), tmp_path,
                              streams=(SettlementStream.POS,))
    assert (nxt.count, nxt.total, nxt.carried_forward) == (1, 0, -200_000)
    (third,) = await settle_day(database, clock, DAY + timedelta(days=2), tmp_path,
                                streams=(SettlementStream.POS,))
    assert (third.carried_in, third.total, third.carried_forward) == (-200_000, 0, -200_000)
    await check_ledger(database)

    def transfer_ids(session: sa.orm.Session) -> list[str]:
        return list(session.scalars(sa.select(LedgerTransfer.id).order_by(LedgerTransfer.seq)))

    ids = await database.run(transfer_ids)
    assert sum(i.startswith("pos:") for i in ids) == 5
    assert f"stl:{pos.id}:payout" in ids and f"stl:{pos.id}:fees" in ids
