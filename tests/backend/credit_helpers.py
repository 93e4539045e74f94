"""Helpers shared by the credit tests (test_credits, test_credit_refunds, test_credit_books):
orders in the states a credit meets, the credit API calls, and row counts."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.db import Database
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.models_credits import OrderCredit
from medipay_backend.models_invoicing import Claim
from medipay_backend.models_jobs import Job
from medipay_backend.models_ledger import LedgerTransfer
from medipay_backend.models_orders import Invoice

from .flow import Flow
from .people import order

PROBLEM = "https://medipay.example/problems/"
CHECKOUT = (SettlementStream.CHECKOUT,)


# --- orders in the states a credit meets -------------------------------------------------


async def card_paid(flow: Flow, n: int) -> str:
    posted = await flow.post(order(n))
    await flow.tick()
    card_page = await flow.payment_page(flow.link(), "kort")
    done = await flow.go("POST", str(card_page.url), data={
        "card_number": "4111 1111 1111 1111", "expiry": "12/30", "cvc": "123"})
    assert "Regningen er betalt" in done.text
    return str(posted["id"])


async def vipps_paid(flow: Flow, n: int) -> str:
    posted = await flow.post(order(n))
    await flow.tick()
    app_page = await flow.payment_page(flow.link(), "vipps")
    approved = await flow.go("POST", str(app_page.url) + "/approve")
    assert "Betalt med Vipps" in approved.text
    return str(posted["id"])


async def invoice_chosen(flow: Flow, n: int) -> str:
    posted = await flow.post(order(n))
    await flow.tick()
    await flow.go("POST", flow.link() + "/faktura")
    assert (await flow.status(str(posted["id"])))["status"] == "invoice_chosen"
    return str(posted["id"])


async def fakturaservice_invoiced(flow: Flow, n: int) -> str:
    posted = await flow.post(order(n, direct_to_invoice=True, always_fakturaservice=True))
    await flow.expire(hours=0)
    status = await flow.status(str(posted["id"]))
    assert (status["status"], status["invoice"]["route"]) == ("invoiced", "fakturaservice")
    return str(posted["id"])


async def credit(flow: Flow, order_id: str, amount: Any, key: str = "cr-1",
                 reason: Any = "Feil takst", auth: httpx.BasicAuth | None = None,
                 **extra: Any) -> httpx.Response:
    return await flow.client.post(
        f"/v1/orders/{order_id}/credits", json={"amount": amount, "reason": reason, **extra},
        headers={"Idempotency-Key": key}, auth=auth or flow.epj.auth)


async def listed(flow: Flow, order_id: str) -> dict[str, Any]:
    response = await flow.client.get(f"/v1/orders/{order_id}/credits", auth=flow.epj.auth)
    assert response.status_code == 200, response.text
    return dict(response.json())


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = dict(response.json())
    assert body["type"] == PROBLEM + slug, body
    return body


async def count_rows(database: Database) -> tuple[int, int, int, int]:
    """Credits, ledger transfers, jobs and claim events: what a refused credit must not add."""

    def work(session: Session) -> tuple[int, int, int, int]:
        def n(model: Any) -> int:
            return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)

        from medipay_backend.models_invoicing import ClaimEvent
        return n(OrderCredit), n(LedgerTransfer), n(Job), n(ClaimEvent)

    return await database.run(work)


async def transfer(database: Database, transfer_id: str) -> LedgerTransfer | None:
    return await database.run(lambda s: s.scalar(
        sa.select(LedgerTransfer).where(LedgerTransfer.id == transfer_id)))


async def claim_of(database: Database, order_id: str) -> Claim:
    return await database.run(lambda s: s.scalars(
        sa.select(Claim).join(Invoice, Invoice.id == Claim.invoice_id)
        .where(Invoice.order_id == order_id)).one())
