"""Helpers for the settlement tests: POS transactions through the signed API, ledger checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session

from medipay_backend import ledger_store
from medipay_backend.db import Database
from medipay_backend.domain.ocr import parse_ocr
from medipay_backend.models_ledger import Settlement
from medipay_backend.settlement.service import assign_gateway

from ..payloads import transaction
from ..signer import GatewaySigner

POS_PATH = "/v1/pos-transactions"
AGREEMENT = {"price_per_transaction": 150, "price_percent_bp": 125,
             "settlement_frequency": "daily"}


async def send_pos(
    client: httpx.AsyncClient, gateway: GatewaySigner, numbers: range, **overrides: Any
) -> None:
    txs = [transaction(gateway.gateway_id, n, **overrides) for n in numbers]
    response = await gateway.post(client, POS_PATH, {"transactions": txs})
    assert response.status_code in (200, 201, 207), response.text


async def map_gateway(database: Database, gateway_id: str, clinic_id: str) -> None:
    await database.run(lambda s: assign_gateway(s, gateway_id, clinic_id))


async def check_ledger(database: Database) -> None:
    """All balances sum to zero, no limit broken, stored sums equal the replayed ones."""

    def work(session: Session) -> None:
        ledger_store.replay(session)

    await database.run(work)


def check_ocr(row: Settlement) -> None:
    """Parse the OCR file back and recompute its 88/89 counts and totals from the payments."""
    path = Path(row.files["ocr"]["path"])
    parsed = parse_ocr(path.read_text(encoding="ascii"))
    payments = parsed.payments
    assert len(payments) == row.count == parsed.transmission.transactions
    assert sum(p.amount for p in payments) == parsed.transmission.total_amount
    assert sum(p.amount for p in payments if not p.reversal) == row.gross
    assert sum(p.amount for p in payments if p.reversal) == row.credits
    (assignment,) = parsed.assignments
    assert assignment.transactions == row.count
    assert assignment.records == 2 + 2 * row.count
    assert parsed.transmission.records == 4 + 2 * row.count
    assert all(p.kid and p.kid_valid for p in payments)
