"""HTTP routes of the checkout: /c/{token} and its steps (server-rendered HTML).

The token in the path is the only key to an order; a token that is malformed, unknown or
forged gets the same "not found" page, and one whose order is no longer open gets the "link
expired" page (410), so nothing about other orders can be learnt from the answers. Card and
Vipps go through `payment_flow`, shared with the claim checkout (/f/{token}).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from medipay_backend.checkout import pages, payment_flow
from medipay_backend.checkout.html import CSS_PATH, css_response
from medipay_backend.checkout.payment_flow import Cancel, Checkout, Started, cancel_quietly
from medipay_backend.checkout.service import (
    LinkState,
    OrderSummary,
    choose_invoice,
    find_payment,
    resolve_link,
    set_reference,
    settle_payment,
    start_payment,
)
from medipay_backend.deps import Services, get_services

router = APIRouter(include_in_schema=False)


@router.get(CSS_PATH)
async def stylesheet() -> Response:
    return css_response()


async def _state(services: Services, token: str) -> LinkState:
    if not payment_flow.well_formed(token):
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


async def _open_order(services: Services, token: str) -> OrderSummary | Response:
    """The link's order if it can still be paid here, else the page that says why not."""
    state = await _state(services, token)
    if state.kind != "open" or state.order is None:
        return _not_open(state)
    return state.order


async def _after_settle(services: Services, token: str, outcome: str,
                        cancel: Cancel) -> Response:
    if outcome in ("paid", "already_paid"):
        if outcome == "already_paid":
            await cancel_quietly(cancel)
        return RedirectResponse(f"/c/{token}/kvittering", status_code=303)
    await cancel_quietly(cancel)  # "closed": the order is no longer open
    return _not_open(await _state(services, token))


@router.get("/c/{token}")
async def landing(token: str, services: Services = Depends(get_services)) -> Response:
    order = await _open_order(services, token)
    return order if isinstance(order, Response) else pages.landing(token, order)


@router.get("/c/{token}/betal")
async def menu(token: str, services: Services = Depends(get_services)) -> Response:
    order = await _open_order(services, token)
    return order if isinstance(order, Response) else pages.menu(token, order)


@router.get("/c/{token}/kvittering")
async def receipt(token: str, services: Services = Depends(get_services)) -> Response:
    return _not_open(await _state(services, token))


async def _start(services: Services, token: str, method: str) -> Started | Response:
    order = await _open_order(services, token)
    if isinstance(order, Response):
        return order
    now = services.clock.now()
    payment_id = await services.db.run(lambda s: start_payment(s, order.order_id, method, now))
    if payment_id is None:
        return _not_open(await _state(services, token))
    return Started(payment_id, order.amount, order.mobile, order.description)


async def _find_attempt(services: Services, token: str,
                        payment_id: str) -> tuple[str, int] | None:
    state = await _state(services, token)
    if state.order is None:
        return None
    order_id = state.order.order_id
    row = await services.db.run(lambda s: find_payment(s, order_id, payment_id))
    if row is None or row.provider_reference is None:
        return None
    return row.provider_reference, row.amount


ORDER_CHECKOUT = Checkout(
    name="order", base="/c", start=_start, find_attempt=_find_attempt, choose_again="/betal",
    vipps_prefix="medipay-", set_reference=set_reference, settle_payment=settle_payment,
    after_settle=_after_settle, unavailable=pages.unavailable, declined=pages.declined,
)
payment_flow.add_payment_routes(router, ORDER_CHECKOUT)


@router.post("/c/{token}/faktura")
async def pay_by_invoice(token: str, services: Services = Depends(get_services)) -> Response:
    order = await _open_order(services, token)
    if isinstance(order, Response):
        return order
    order_id = order.order_id
    bureau = services.runtime.bureau
    now = services.clock.now()
    outcome = await services.db.run(lambda s: choose_invoice(s, order_id, now,
                                                             bureau.credit_check))
    if outcome in ("chosen", "already"):
        return RedirectResponse(f"/c/{token}/kvittering", status_code=303)
    if outcome == "closed":
        return _not_open(await _state(services, token))
    return pages.declined(token, "Vi kan dessverre ikke tilby faktura. Velg kort eller Vipps.")
