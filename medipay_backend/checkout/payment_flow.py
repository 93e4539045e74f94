"""Card and Vipps payments behind a payment link, for both checkouts that have one: the order
checkout (/c/{token}) and the claim checkout of a dunning SMS (/f/{token}).

Starting a payment with the acquirer or Vipps and handling the payer's return (still pending,
authorized, declined, provider unreachable) is the same for both, so it is written once here
and a fix to it reaches both: `add_payment_routes` gives a checkout's router its four card and
Vipps steps. A `Checkout` says what differs: where its pages live, what is paid and how an
attempt is recorded, and what it answers once an authorized attempt is settled.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import trio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from medipay.logs import get_logger
from medipay_backend.adapters.acquirer import AcquirerError
from medipay_backend.adapters.vipps import VippsError
from medipay_backend.checkout import pages
from medipay_backend.deps import Services, get_services
from medipay_backend.domain.cards import masked_pan_error

log = get_logger(__name__)

# The shape of the tokens we hand out; anything else is "not found" without a database look-up.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_DECLINE_TEXTS = {
    "declined_by_issuer": "Banken din avviste betalingen. Prøv et annet kort eller Vipps.",
    "authentication_failed": "Betalingen ble ikke bekreftet hos banken din.",
}
_DECLINED = "Betalingen ble avbrutt eller avvist."

Capture = Callable[[], dict[str, Any]]
Cancel = Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class Started:
    """A new attempt to pay what the link's order or claim owes now."""

    attempt_id: str
    amount: int
    phone: str | None  # offered to Vipps so the payer need not type it
    description: str  # shown in the Vipps app


@dataclass(frozen=True)
class Checkout:
    """What one checkout plugs into the shared payment flow."""

    name: str  # which checkout, in log lines
    base: str  # the link's path in front of the token: "/c" or "/f"
    # (services, token, method) -> a new attempt, or the page to show when the link is not
    # open (or there is nothing left to pay)
    start: Callable[[Services, str, str], Awaitable[Started | Response]]
    # (services, token, attempt id) -> the attempt's (provider reference, amount) if it is
    # this link's and was sent to a provider
    find_attempt: Callable[[Services, str, str], Awaitable[tuple[str, int] | None]]
    choose_again: str  # path after the token where the payer picks a way to pay again
    vipps_prefix: str  # our Vipps reference is this + the attempt id; unique per checkout
    set_reference: Callable[[Session, str, str], None]  # (session, attempt id, provider ref)
    # (session, attempt id, authorized, now, capture) -> outcome; "declined" if not authorized
    settle_payment: Callable[[Session, str, bool, datetime, Capture], str]
    # (services, token, outcome other than "declined", cancel) -> the answer to the payer
    after_settle: Callable[[Services, str, str, Cancel], Awaitable[Response]]
    unavailable: Callable[[str], Response]  # (token): a provider could not be reached
    declined: Callable[[str, str], Response]  # (token, why)

    def path(self, token: str, step: str = "") -> str:
        return f"{self.base}/{token}{step}"


def add_payment_routes(router: APIRouter, checkout: Checkout) -> None:
    """Pay by card or Vipps under `checkout.base`/{token}: start, and the provider's return."""
    _add_method_routes(router, checkout, "/kort", "card", start_card, card_came_back)
    _add_method_routes(router, checkout, "/vipps", "vipps", start_vipps, vipps_came_back)


Start = Callable[[Services, Request, Checkout, str, Started], Awaitable[Response]]
CameBack = Callable[[Services, Checkout, str, str, str, int], Awaitable[Response]]


def _add_method_routes(router: APIRouter, checkout: Checkout, step: str, method: str,
                       start: Start, came_back: CameBack) -> None:
    link = checkout.base + "/{token}" + step

    @router.post(link)
    async def pay(token: str, request: Request,
                  services: Services = Depends(get_services)) -> Response:
        started = await checkout.start(services, token, method)
        if isinstance(started, Response):
            return started
        return await start(services, request, checkout, token, started)

    @router.get(link + "/retur")
    async def returned(
        token: str, attempt: str = Query(alias="betaling", max_length=36),
        services: Services = Depends(get_services),
    ) -> Response:
        found = await checkout.find_attempt(services, token, attempt)
        if found is None:
            return pages.unknown()
        reference, amount = found
        return await came_back(services, checkout, token, attempt, reference, amount)


def well_formed(token: str) -> bool:
    return _TOKEN.match(token) is not None


def _absolute(request: Request, path: str) -> str:
    return str(request.base_url).rstrip("/") + path


async def start_card(services: Services, request: Request, checkout: Checkout, token: str,
                     started: Started) -> Response:
    """Open the acquirer's card page for an attempt just recorded."""
    attempt_id = started.attempt_id
    try:
        session = await services.runtime.acquirer.create(
            reference=attempt_id, amount=started.amount, currency="NOK",
            return_url=_absolute(request, checkout.path(
                token, f"/kort/retur?betaling={attempt_id}")),
        )
    except AcquirerError as exc:
        log.warning("card payment could not start", checkout=checkout.name,
                    attempt_id=attempt_id, error=str(exc))
        return checkout.unavailable(token)
    await services.db.run(lambda s: checkout.set_reference(s, attempt_id, session.payment_id))
    return RedirectResponse(session.redirect_url, status_code=303)


async def start_vipps(services: Services, request: Request, checkout: Checkout, token: str,
                      started: Started) -> Response:
    """Create the payment in Vipps for an attempt just recorded and send the payer there."""
    attempt_id = started.attempt_id
    reference = checkout.vipps_prefix + attempt_id
    # Stored before Vipps is asked, so a payment Vipps created is never without its attempt.
    await services.db.run(lambda s: checkout.set_reference(s, attempt_id, reference))
    try:
        redirect = await services.runtime.vipps.create(
            reference=reference, amount=started.amount, phone=started.phone,
            return_url=_absolute(request, checkout.path(
                token, f"/vipps/retur?betaling={attempt_id}")),
            description=started.description,
        )
    except VippsError as exc:
        log.warning("vipps payment could not start", checkout=checkout.name,
                    attempt_id=attempt_id, error=str(exc))
        return checkout.unavailable(token)
    return RedirectResponse(redirect, status_code=303)


async def card_came_back(services: Services, checkout: Checkout, token: str, attempt_id: str,
                         reference: str, amount: int) -> Response:
    """The payer is back from the acquirer's card page: settle what the acquirer says (it
    captures the amount it authorized, `card.amount`; `amount` is there to match Vipps)."""
    acquirer = services.runtime.acquirer
    try:
        card = await acquirer.status(reference)
    except AcquirerError as exc:
        log.warning("card status unavailable", checkout=checkout.name, error=str(exc))
        return checkout.unavailable(token)
    if card.status == "pending":
        return RedirectResponse(checkout.path(token, checkout.choose_again), status_code=303)

    def capture() -> dict[str, Any]:
        done = trio.from_thread.run(acquirer.capture, reference, card.amount)
        masked = done.masked_pan
        if masked is not None and masked_pan_error(masked) is not None:
            masked = None  # never store more of a card number than first 6 / last 4
        return {"masked_pan": masked, "card_name": done.card_name}

    authorized = card.status in ("authorized", "captured")
    return await _settle(services, checkout, token, attempt_id, authorized, capture,
                         card.decline_reason, cancel=lambda: acquirer.cancel(reference))


async def vipps_came_back(services: Services, checkout: Checkout, token: str, attempt_id: str,
                         reference: str, amount: int) -> Response:
    """The payer is back from Vipps (or checks again): settle what Vipps says."""
    vipps = services.runtime.vipps
    try:
        current = await vipps.get(reference)
    except VippsError as exc:
        log.warning("vipps status unavailable", checkout=checkout.name, error=str(exc))
        return checkout.unavailable(token)
    if current.state == "CREATED":
        return pages.waiting(checkout.path(token, f"/vipps/retur?betaling={attempt_id}"))

    def capture() -> dict[str, Any]:
        trio.from_thread.run(vipps.capture, reference, amount)
        return {}

    # Captured but not recorded (we captured, then our transaction failed): capture is
    # idempotent at Vipps, so settling it again records the payment instead of a decline.
    authorized = current.state == "AUTHORIZED" or current.captured > 0
    reason = None if authorized else "vipps_" + current.state.lower()
    return await _settle(services, checkout, token, attempt_id, authorized, capture, reason,
                         cancel=lambda: vipps.cancel(reference))


async def _settle(services: Services, checkout: Checkout, token: str, attempt_id: str,
                  authorized: bool, capture: Capture, reason: str | None,
                  cancel: Cancel) -> Response:
    now = services.clock.now()
    try:
        outcome = await services.db.run(
            lambda s: checkout.settle_payment(s, attempt_id, authorized, now, capture))
    except (AcquirerError, VippsError) as exc:
        # Not captured: the attempt stays pending, and coming back here tries again.
        log.warning("payment capture failed", checkout=checkout.name, error=str(exc))
        return checkout.unavailable(token)
    if outcome == "declined":
        return checkout.declined(token, _DECLINE_TEXTS.get(reason or "", _DECLINED))
    return await checkout.after_settle(services, token, outcome, cancel)


async def cancel_quietly(cancel: Cancel) -> None:
    """Release an authorization that was not captured; a failure is logged, the payer is not
    charged because the authorization is never captured."""
    try:
        await cancel()
    except (AcquirerError, VippsError) as exc:
        log.warning("could not cancel an authorization", error=str(exc))
