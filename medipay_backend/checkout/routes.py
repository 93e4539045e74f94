"""HTTP routes of the checkout: /c/{token} and its steps (server-rendered HTML).

The token in the path is the only key to an order; a token that is malformed, unknown or
forged gets the same "not found" page, and one whose order is no longer open gets the "link
expired" page (410), so nothing about other orders can be learnt from the answers.
"""

from __future__ import annotations

import re
from typing import Any

import trio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from medipay.logs import get_logger
from medipay_backend.adapters.acquirer import AcquirerError
from medipay_backend.adapters.vipps import VippsError
from medipay_backend.checkout import pages
from medipay_backend.checkout.html import CSS_PATH, css_response
from medipay_backend.checkout.service import (
    LinkState,
    choose_invoice,
    find_payment,
    resolve_link,
    set_reference,
    settle_payment,
    start_payment,
)
from medipay_backend.deps import Services, get_services
from medipay_backend.domain.cards import masked_pan_error

log = get_logger(__name__)
router = APIRouter(include_in_schema=False)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_DECLINE_TEXTS = {
    "declined_by_issuer": "Banken din avviste betalingen. Prøv et annet kort eller Vipps.",
    "authentication_failed": "Betalingen ble ikke bekreftet hos banken din.",
}


@router.get(CSS_PATH)
async def stylesheet() -> Response:
    return css_response()


async def _state(services: Services, token: str) -> LinkState:
    if not _TOKEN.match(token):
        return LinkState("unknown")
    now = services.clock.now()
    return await services.db.run(lambda s: resolve_link(s, token, now))


def _not_open(state: LinkState) -> Response:
    if state.kind == "unknown" or state.order is None:
        return pages.unknown()
    if state.kind == "paid":
        return pages.paid(state.order)
    if state.kind == "invoice_chosen":
        return pages.invoice_chosen(state.order)
    return pages.expired(state.order)


def _url(request: Request, path: str) -> str:
    return str(request.base_url).rstrip("/") + path


@router.get("/c/{token}")
async def landing(token: str, services: Services = Depends(get_services)) -> Response:
    state = await _state(services, token)
    if state.kind != "open" or state.order is None:
        return _not_open(state)
    return pages.landing(token, state.order)


@router.get("/c/{token}/betal")
async def menu(token: str, services: Services = Depends(get_services)) -> Response:
    state = await _state(services, token)
    if state.kind != "open" or state.order is None:
        return _not_open(state)
    return pages.menu(token, state.order)


@router.get("/c/{token}/kvittering")
async def receipt(token: str, services: Services = Depends(get_services)) -> Response:
    return _not_open(await _state(services, token))


@router.post("/c/{token}/kort")
async def pay_by_card(token: str, request: Request,
                      services: Services = Depends(get_services)) -> Response:
    state = await _state(services, token)
    if state.kind != "open" or state.order is None:
        return _not_open(state)
    order = state.order
    now = services.clock.now()
    payment_id = await services.db.run(lambda s: start_payment(s, order.order_id, "card", now))
    if payment_id is None:
        return _not_open(await _state(services, token))
    try:
        session = await services.runtime.acquirer.create(
            reference=payment_id, amount=order.amount, currency="NOK",
            return_url=_url(request, f"/c/{token}/kort/retur?betaling={payment_id}"),
        )
    except AcquirerError as exc:
        log.warning("card payment could not start", order_id=order.order_id, error=str(exc))
        return pages.unavailable(token)
    await services.db.run(lambda s: set_reference(s, payment_id, session.payment_id))
    return RedirectResponse(session.redirect_url, status_code=303)


@router.get("/c/{token}/kort/retur")
async def card_returned(
    token: str, payment: str = Query(alias="betaling", max_length=36),
    services: Services = Depends(get_services),
) -> Response:
    state = await _state(services, token)
    if state.order is None:
        return pages.unknown()
    order_id = state.order.order_id
    row = await services.db.run(lambda s: find_payment(s, order_id, payment))
    if row is None or row.provider_reference is None:
        return pages.unknown()
    acquirer = services.runtime.acquirer
    reference = row.provider_reference
    card = await acquirer.status(reference)
    if card.status == "pending":
        return RedirectResponse(f"/c/{token}/betal", status_code=303)

    def capture() -> dict[str, Any]:
        done = trio.from_thread.run(acquirer.capture, reference, card.amount)
        masked = done.masked_pan
        if masked is not None and masked_pan_error(masked) is not None:
            masked = None  # never store more of a card number than first 6 / last 4
        return {"masked_pan": masked, "card_name": done.card_name}

    authorized = card.status in ("authorized", "captured")
    now = services.clock.now()
    outcome = await services.db.run(lambda s: settle_payment(s, payment, authorized, now,
                                                             capture))
    return await _after_settle(services, token, outcome, card.decline_reason,
                               cancel=lambda: acquirer.cancel(reference))


@router.post("/c/{token}/vipps")
async def pay_by_vipps(token: str, request: Request,
                       services: Services = Depends(get_services)) -> Response:
    state = await _state(services, token)
    if state.kind != "open" or state.order is None:
        return _not_open(state)
    order = state.order
    now = services.clock.now()
    payment_id = await services.db.run(lambda s: start_payment(s, order.order_id, "vipps", now))
    if payment_id is None:
        return _not_open(await _state(services, token))
    reference = "medipay-" + payment_id
    await services.db.run(lambda s: set_reference(s, payment_id, reference))
    try:
        redirect = await services.runtime.vipps.create(
            reference=reference, amount=order.amount, phone=order.mobile,
            return_url=_url(request, f"/c/{token}/vipps/retur?betaling={payment_id}"),
            description=order.description,
        )
    except VippsError as exc:
        log.warning("vipps payment could not start", order_id=order.order_id, error=str(exc))
        return pages.unavailable(token)
    return RedirectResponse(redirect, status_code=303)


@router.get("/c/{token}/vipps/retur")
async def vipps_returned(
    token: str, payment: str = Query(alias="betaling", max_length=36),
    services: Services = Depends(get_services),
) -> Response:
    state = await _state(services, token)
    if state.order is None:
        return pages.unknown()
    order_id = state.order.order_id
    row = await services.db.run(lambda s: find_payment(s, order_id, payment))
    if row is None or row.provider_reference is None:
        return pages.unknown()
    vipps = services.runtime.vipps
    reference, amount = row.provider_reference, row.amount
    try:
        current = await vipps.get(reference)
    except VippsError as exc:
        log.warning("vipps status unavailable", order_id=order_id, error=str(exc))
        return pages.unavailable(token)
    if current.state == "CREATED":
        return pages.waiting(token, payment)

    def capture() -> dict[str, Any]:
        trio.from_thread.run(vipps.capture, reference, amount)
        return {}

    now = services.clock.now()
    authorized = current.state == "AUTHORIZED"
    outcome = await services.db.run(lambda s: settle_payment(s, payment, authorized, now,
                                                             capture))
    reason = None if authorized else "vipps_" + current.state.lower()
    return await _after_settle(services, token, outcome, reason,
                               cancel=lambda: vipps.cancel(reference))


async def _after_settle(services: Services, token: str, outcome: str, reason: str | None,
                        cancel: Any) -> Response:
    if outcome in ("paid", "already_paid"):
        if outcome == "already_paid":
            await _cancel_quietly(cancel)
        return RedirectResponse(f"/c/{token}/kvittering", status_code=303)
    if outcome == "closed":
        await _cancel_quietly(cancel)
        return _not_open(await _state(services, token))
    text = _DECLINE_TEXTS.get(reason or "", "Betalingen ble avbrutt eller avvist.")
    return pages.declined(token, text)


async def _cancel_quietly(cancel: Any) -> None:
    """Release an authorization that lost the race; a failure is logged, the payer is not
    charged because the authorization is never captured."""
    try:
        await cancel()
    except (AcquirerError, VippsError) as exc:
        log.warning("could not cancel a surplus authorization", error=str(exc))


@router.post("/c/{token}/faktura")
async def pay_by_invoice(token: str, services: Services = Depends(get_services)) -> Response:
    state = await _state(services, token)
    if state.kind != "open" or state.order is None:
        return _not_open(state)
    order_id = state.order.order_id
    bureau = services.runtime.bureau
    now = services.clock.now()
    outcome = await services.db.run(lambda s: choose_invoice(s, order_id, now,
                                                             bureau.credit_check))
    if outcome in ("chosen", "already"):
        return RedirectResponse(f"/c/{token}/kvittering", status_code=303)
    if outcome == "closed":
        return _not_open(await _state(services, token))
    return pages.declined(token, "Vi kan dessverre ikke tilby faktura. Velg kort eller Vipps.")
