"""HTTP routes behind the payment link of a dunning SMS: /f/{token} and its steps.

As in the order checkout, the token is the only key: one that is malformed, unknown or
forged gets the same "not found" page; a claim that is paid, stopped, deleted or credited
gets a page that says so and offers no way to pay. Card and Vipps go through `payment_flow`,
shared with the order checkout; the rules of when money is captured are in
`invoicing.claim_checkout`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from medipay_backend.checkout import claim_pages, pages, payment_flow
from medipay_backend.checkout.payment_flow import Cancel, Checkout, Started, cancel_quietly
from medipay_backend.deps import Services, get_services
from medipay_backend.invoicing import claim_checkout as service
from medipay_backend.invoicing.claim_checkout import LinkState

router = APIRouter(include_in_schema=False)


async def _state(services: Services, token: str) -> LinkState:
    if not payment_flow.well_formed(token):
        return LinkState("unknown")
    now = services.clock.now()
    return await services.db.run(lambda s: service.resolve_link(s, token, now))


def _not_open(state: LinkState) -> Response:
    if state.claim is None:
        return pages.unknown()
    if state.kind == "paid":
        return claim_pages.paid(state.claim)
    return claim_pages.closed(state.claim)


async def _after_settle(services: Services, token: str, outcome: str,
                        cancel: Cancel) -> Response:
    if outcome in ("paid", "repeat"):
        return RedirectResponse(f"/f/{token}/kvittering", status_code=303)
    # already_paid, closed, amount_changed: this authorization is not captured.
    await cancel_quietly(cancel)
    if outcome == "amount_changed":
        return claim_pages.amount_changed(token)
    return RedirectResponse(f"/f/{token}/kvittering", status_code=303)


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


async def _start(services: Services, token: str, method: str) -> Started | Response:
    state = await _state(services, token)
    if state.kind != "open" or state.claim is None:
        return _not_open(state)
    claim, now = state.claim, services.clock.now()
    started = await services.db.run(
        lambda s: service.start_payment(s, claim.claim_seq, method, now))
    if started is None:  # nothing owed any more
        return _not_open(await _state(services, token))
    attempt_id, amount = started  # today's amount, which may differ from the landing page's
    return Started(attempt_id, amount, claim.mobile,
                   f"Faktura {claim.invoice_number} fra {claim.issuer}")


async def _find_attempt(services: Services, token: str,
                        attempt_id: str) -> tuple[str, int] | None:
    state = await _state(services, token)
    if state.claim is None:
        return None
    claim_seq = state.claim.claim_seq
    row = await services.db.run(lambda s: service.find_attempt(s, claim_seq, attempt_id))
    if row is None or row.provider_reference is None:
        return None
    return row.provider_reference, row.amount


CLAIM_CHECKOUT = Checkout(
    name="claim", base="/f", start=_start, find_attempt=_find_attempt, choose_again="",
    vipps_prefix="medipay-f-", set_reference=service.set_reference,
    settle_payment=service.settle_payment, after_settle=_after_settle,
    unavailable=claim_pages.unavailable, declined=claim_pages.declined,
)
payment_flow.add_payment_routes(router, CLAIM_CHECKOUT)
