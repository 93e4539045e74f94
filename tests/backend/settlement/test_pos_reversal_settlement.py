"""A POS payment and its reversal net to 0 for the clinic, in whichever order they arrive;
a payment the terminal took back before it was charged (arrived `reversed`) moves nothing."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from medipay.clock import SimulatedClock
from medipay_backend.db import Database
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.settlement.service import settle_day

from ..conftest import EnrolGateway, MakeEpj
from ..payloads import transaction
from .helpers import POS_PATH, check_ledger, map_gateway

DAY = date(2026, 1, 6)
NO_FEES = {"price_per_transaction": 0, "price_percent_bp": 0, "settlement_frequency": "daily"}


def reversal_of(payment: dict[str, Any], n: int) -> dict[str, Any]:
    return transaction("gw-1", n, kind="reversal", amount=payment["amount"], reverses={
        "gateway_transaction_id": payment["gateway_transaction_id"],
        "receipt_number": payment["receipt_number"]})


async def test_payment_and_reversal_net_to_zero(
    client: httpx.AsyncClient, database: Database, clock: SimulatedClock,
    enrol_gateway: EnrolGateway, make_epj: MakeEpj, tmp_path: Path,
) -> None:
    epj = await make_epj(agreement=NO_FEES)
    gateway = await enrol_gateway("gw-1")
    await map_gateway(database, "gw-1", epj.clinic_id)
    reversed_in_order, reversed_late, kept = (transaction("gw-1", n) for n in (1, 2, 6))
    taken_back = transaction("gw-1", 5, status="reversed")  # auto-reversed by the terminal
    batches = [[reversed_in_order], [reversal_of(reversed_in_order, 3), reversal_of(
        reversed_late, 4)], [reversed_late, taken_back, kept],
        # The gateway sends a payment again after a crash: a duplicate, counted once.
        [reversed_in_order]]
    for batch in batches:
        response = await gateway.post(client, POS_PATH, {"transactions": batch})
        assert response.status_code == 200, response.text
    clock.advance(timedelta(days=1))

    (pos,) = await settle_day(database, clock, DAY, tmp_path, streams=(SettlementStream.POS,))

    assert pos.gross == 45001 + 45002 + 45006
    assert pos.credits == 45001 + 45002
    assert (pos.fees, pos.total) == (0, kept["amount"])
    await check_ledger(database)
