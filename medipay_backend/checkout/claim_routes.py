"""HTTP routes behind the payment link of a dunning SMS: /f/{token} and its steps.

As in the order checkout, the token is the only key: one that is malformed, unknown or
forged gets the same "not found" page; a claim that is paid, stopped, deleted or credited
gets a page that says so and offers no way to pay. Card and Vipps go through the same
adapters as the order checkout (`runtime.acquirer`, `runtime.vipps`); the rules of when money
is captured are in `invoicing.claim_checkout`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from medipay.logs import get_logger
from medipay_backend.adapters.acquirer import AcquirerError
from medipay_backend.adapters.vipps import VippsError
from medipay_backend.checkout import claim_pages, pages
from medipay_backend.deps import Services, get_services
from medipay_backend.domain.cards import masked_pan_error
from medipay_backend.invoicing import claim_checkout as service
from medipay_backend.invoicing.claim_checkout import LinkState, Settled

log = get_logger(__name__)
router = APIRouter(include_in_schema=False)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_DECLINE_TEXTS = {
    "declined_by_issuer": "Banken din avviste betalingen. Prøv et annet kort eller Vipps.",
    "authentication_failed": "Betalingen ble ikke bekreftet hos banken din.",
}


async def _state(services: Services, token: str) -> LinkState:
    if not _TOKEN.match(token):
        return LinkState("unknown")
    now = services.clock.now()
    return await services.db.run(lambda s: service.resolve_link(s, token, now))


def _not_open(state: LinkState) -> Response:
    if state.claim is None:
        return pages.unknown()
    if state.kind == "paid":
        return claim_pages.paid(state.claim)
    return claim_pages.closed(state.claim)


def _url(request: Request, path: str) -> str:
    return str(request.base_url).rstrip("/") + path


@router.get("/f/{token}")
async def landing(token: str, services: Services = Depends(get_services)) -> Response:
    state = await _state(services, token)
    if state.kind != "open" or state.claim is None:
        return _not_open(state)
    return claim_pages.landing(token, state.claim)


@router.get("/f/{token}/kvittering")
async def receipt(token: str, services: Services = Depends(get_services)) -> Response:
    state = await _state(services, token)
    if state.kind == "open":  # not paid (yet): back to what is owed
        return RedirectResponse(f"/f/{token}", status_code=303)
    return _not_open(state)


async def _start(services: Services, state: LinkState,
                 method: str) -> tuple[str, int] | None:
    assert state.claim is not None
    claim_seq, now = state.claim.claim_seq, services.clock.now()
    return await services.db.run(lambda s: service.start_payment(s, claim_seq, method, now))


@router.post("/f/{token}/kort")
async def pay_by_card(token: str, request: Request,
                      services: Services = Depends(get_services)) -> Response:
    state = await _state(services, token)
    if state.kind != "open" or state.claim is None:
        return _not_open(state)
    started = await _start(services, state, "card")
    if started is None:
        return _not_open(await _state(services, token))
    attempt_id, amount = started
    try:
        session = await services.runtime.acquirer.create(
            reference=attempt_id, amount=amount, currency="NOK",
            return_url=_url(request, f"/f/{token}/kort/retur?betaling={attempt_id}"),
        )
    except AcquirerError as exc:
        log.warning("claim card payment could not start", error=str(exc))
        return claim_pages.unavailable(token)
    await services.db.run(lambda s: service.set_reference(s, attempt_id, session.payment_id))
    return RedirectResponse(session.redirect_url, status_code=303)


@router.get("/f/{token}/kort/retur")
async def card_returned(
    token: str, attempt: str = Query(alias="betaling", max_length=36),
    services: Services = Depends(get_services),
) -> Response:
    state = await _state(services, token)
    if state.claim is None:
        return pages.unknown()
    claim_seq = state.claim.claim_seq
    row = await services.db.run(lambda s: service.find_attempt(s, claim_seq, attempt))
    if row is None or row.provider_reference is None:
        return pages.unknown()
    acquirer, reference = services.runtime.acquirer, row.provider_reference
    try:
        card = await acquirer.status(reference)
    except AcquirerError as exc:
        log.warning("card status unavailable", error=str(exc))
        return claim_pages.unavailable(token)
    if card.status == "pending":
        return RedirectResponse(f"/f/{token}", status_code=303)

    def capture() -> dict[str, Any]:
        done = trio.from_thread.run(acquirer.capture, reference, card.amount)
        masked = done.masked_pan
        if masked is not None and masked_pan_error(masked) is not None:
            masked = None  # never store more of a card number than first 6 / last 4
        return {"masked_pan": masked, "card_name": done.card_name}

    authorized = card.status in ("authorized", "captured")
    return await _settle(services, token, attempt, authorized, capture, card.decline_reason,
                         cancel=lambda: acquirer.cancel(reference))


@router.post("/f/{token}/vipps")
async def pay_by_vipps(token: str, request: Request,
                       services: Services = Depends(get_services)) -> Response:
    state = await _state(services, token)
    if state.kind != "open" or state.claim is None:
        return _not_open(state)
    summary = state.claim
    started = await _start(services, state, "vipps")
    if started is None:
        return _not_open(await _state(services, token))
    attempt_id, amount = started
    reference = "medipay-f-" + attempt_id
    await services.db.run(lambda s: service.set_reference(s, attempt_id, reference))
    try:
        redirect = await services.runtime.vipps.create(
            reference=reference, amount=amount, phone=summary.mobile,
            return_url=_url(request, f"/f/{token}/vipps/retur?betaling={attempt_id}"),
            description=f"Faktura {summary.invoice_number} fra {summary.issuer}",
        )
    except VippsError as exc:
        log.warning("claim vipps payment could not start", error=str(exc))
        return claim_pages.unavailable(token)
    return RedirectResponse(redirect, status_code=303)


@router.get("/f/{token}/vipps/retur")
async def vipps_returned(
    token: str, attempt: str = Query(alias="betaling", max_length=36),
    services: Services = Depends(get_services),
) -> Response:
    state = await _state(services, token)
    if state.claim is None:
        return pages.unknown()
    claim_seq = state.claim.claim_seq
    row = await services.db.run(lambda s: service.find_attempt(s, claim_seq, attempt))
    if row is None or row.provider_reference is None:
        return pages.unknown()
    vipps, reference, amount = services.runtime.vipps, row.provider_reference, row.amount
    try:
        current = await vipps.get(reference)
    except VippsError as exc:
        log.warning("vipps status unavailable", error=str(exc))
        return claim_pages.unavailable(token)
    if current.state == "CREATED":
        return claim_pages.waiting(token, attempt)

    def capture() -> dict[str, Any]:
        trio.from_thread.run(vipps.capture, reference, amount)
        return {}

    authorized = current.state == "AUTHORIZED" or current.captured > 0
    reason = None if authorized else "vipps_" + current.state.lower()
    return await _settle(services, token, attempt, authorized, capture, reason,
                         cancel=lambda: vipps.cancel(reference))


async def _settle(services: Services, token: str, attempt: str, authorized: bool,
                  capture: Callable[[], dict[str, Any]], reason: str | None,
                  cancel: Callable[[], Awaitable[Any]]) -> Response:
    now = services.clock.now()
    try:
        outcome: Settled = await services.db.run(
            lambda s: service.settle_payment(s, attempt, authorized, now, capture))
    except (AcquirerError, VippsError) as exc:
        # Not captured: the attempt stays pending, and coming back here tries again.
        log.warning("claim payment capture failed", error=str(exc))
        return claim_pages.unavailable(token)
    if outcome in ("paid", "repeat"):
        return RedirectResponse(f"/f/{token}/kvittering", status_code=303)
    if outcome in ("already_paid", "closed", "amount_changed"):
        await _cancel_quietly(cancel)
        if outcome == "amount_changed":
            return claim_pages.amount_changed(token)
        return RedirectResponse(f"/f/{token}/kvittering", status_code=303)
    text = _DECLINE_TEXTS.get(reason or "", "Betalingen ble avbrutt eller avvist.")
    return claim_pages.declined(token, text)


async def _cancel_quietly(cancel: Callable[[], Awaitable[Any]]) -> None:
    """Release an authorization that was not captured; a failure is logged, the payer is
    not charged because the authorization is never captured."""
    try:
        await cancel()
    except (AcquirerError, VippsError) as exc:
        log.warning("could not cancel an authorization", error=str(exc))
