"""Stream checkout: card payments and bought invoices settle with an OCR file; two runners at
once pay nothing twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
import trio
from sqlalchemy.engine import Engine

from medipay.clock import SimulatedClock
from medipay_backend.db import Database
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.localtime import oslo_date
from medipay_backend.models_ledger import Settlement, SettlementItem
from medipay_backend.settlement.service import settle_day

from ..conftest import EnrolGateway
from ..flow import Flow
from ..people import order
from .helpers import check_ledger, check_ocr, map_gateway, send_pos

CHECKOUT = (SettlementStream.CHECKOUT,)


async def _card_paid(flow: Flow, n: int) -> str:
    posted = await flow.post(order(n))
    await flow.tick()
    card_page = await flow.payment_page(flow.link(), "kort")
    await flow.go("POST", str(card_page.url), data={
        "card_number": "4111 1111 1111 1111", "expiry": "12/30", "cvc": "123"})
    return str(posted["id"])


async def _invoice_chosen(flow: Flow, n: int) -> str:
    posted = await flow.post(order(n))
    await flow.tick()
    await flow.go("POST", flow.link() + "/faktura")
    return str(posted["id"])


async def test_card_and_bought_invoice_settle_with_an_ocr_file(
    flow: Flow, database: Database, clock: SimulatedClock, tmp_path: Path,
) -> None:
    await _card_paid(flow, 1)
    await _invoice_chosen(flow, 2)
    clock.advance(timedelta(days=1))
    day = oslo_date(clock.now())
    (row,) = await settle_day(database, clock, day, tmp_path, clinic_id=flow.epj.clinic_id,
                              streams=CHECKOUT, force=True)
    assert row.count == 2 and row.total == row.gross - row.fees > 0
    check_ocr(row)
    await check_ledger(database)
    again = await settle_day(database, clock, day, tmp_path, clinic_id=flow.epj.clinic_id,
                             streams=CHECKOUT, force=True)
    assert [r.id for r in again] == [row.id]


async def test_two_concurrent_runners_never_pay_twice(
    flow: Flow, engine: Engine, clock: SimulatedClock, tmp_path: Path,
    enrol_gateway: EnrolGateway, client: httpx.AsyncClient,
) -> None:
    first, second = Database(engine), Database(engine)
    gateway = await enrol_gateway("gw-9")
    await map_gateway(first, "gw-9", flow.epj.clinic_id)
    for n in range(1, 4):
        await _card_paid(flow, n)
    await send_pos(client, gateway, range(1, 30))
    clock.advance(timedelta(days=1))
    day = oslo_date(clock.now())
    results: list[list[Settlement]] = []

    async def runner(database: Database) -> None:
        results.append(await settle_day(database, clock, day, tmp_path,
                                        clinic_id=flow.epj.clinic_id, force=True))

    for _ in range(3):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(runner, first)
            nursery.start_soon(runner, second)
    ids = {tuple(sorted(r.id for r in run)) for run in results}
    assert len(ids) == 1  # every runner got the same settlements

    def counts(session: sa.orm.Session) -> tuple[int, int, int]:
        settlements = session.scalar(sa.select(sa.func.count()).select_from(Settlement))
        items = session.scalar(sa.select(sa.func.count()).select_from(SettlementItem))
        paid = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Settlement.gross), 0)))
        return int(settlements or 0), int(items or 0), int(paid or 0)

    settlements, items, gross = await first.run(counts)
    assert (settlements, items) == (3, 3 + 29)
    assert gross == sum(45000 + n for n in range(1, 30)) + sum(45_000 + n for n in range(1, 4))
    await check_ledger(first)
