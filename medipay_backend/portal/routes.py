"""Portal routes for the clinic's money: transactions, an order (credit it, stop its claim),
settlements and their files, outstanding claims. Every handler takes the clinic from the
logged-in admin, never from the request, so another clinic's ids are simply not found."""

from __future__ import annotations

import re
import uuid
from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from medipay.logs import get_logger
from medipay_backend.api.settlements import MEDIA
from medipay_backend.credits import (
    CreditError,
    CreditExceedsCreditable,
    CreditOrderNotFound,
    OrderCredits,
    credit_order,
    list_credits,
)
from medipay_backend.deps import Services, get_services
from medipay_backend.invoicing import claims
from medipay_backend.invoicing.reports import outstanding_claims
from medipay_backend.localtime import oslo_date
from medipay_backend.models_orders import ORDER_STATUSES
from medipay_backend.order_view import find_order
from medipay_backend.portal import pages, views
from medipay_backend.portal.auth import (
    PortalRoute,
    Posted,
    current_admin,
    get_settings,
    posted_form,
    redirect,
)
from medipay_backend.portal.forms import (
    FormError,
    parse_day,
    parse_kroner,
    parse_page,
    parse_search,
)
from medipay_backend.portal.html import PREFIX, SECURITY_HEADERS, money
from medipay_backend.portal.queries import (
    OrderDetail,
    claim_of_order,
    failed_refunds,
    order_detail,
    search_orders,
    search_pos,
    settlement_detail,
    settlement_file,
    settlements,
)
from medipay_backend.portal.routes_auth import router as auth_router
from medipay_backend.portal.sessions import CurrentAdmin
from medipay_backend.portal.views import POS_STATUSES

log = get_logger(__name__)
router = APIRouter(include_in_schema=False, route_class=PortalRoute)
router.include_router(auth_router)
MAX_ID = 64
# The credit form's idempotency key: made when the form is drawn, so a double submit (or a
# resend after a timeout) is one credit.
_FORM_KEY = re.compile(r"^portal-[0-9a-f]{32}$")
NOTICES = {"kreditert": "Krediteringen er registrert.", "stoppet": "Kravet er stoppet.",
           "passord": "Passordet er lagret."}
CREDIT_TEXTS = {
    "credit-amount-invalid": "Beløpet må være større enn 0.",
    "credit-reason-invalid": "Skriv en begrunnelse på én linje (høyst 500 tegn).",
    "credit-request-invalid": "Skjemaet var ugyldig. Last siden på nytt og prøv igjen.",
    "idempotency-conflict": "Dette skjemaet er allerede sendt med andre verdier. "
                            "Last siden på nytt for å kreditere igjen.",
    "order-not-paid": "Regningen er ikke betalt ennå og kan ikke krediteres.",
    "order-not-creditable": "Denne regningen har ikke noe som kan krediteres.",
    "claim-not-open": "Fakturaen er betalt, stoppet eller slettet og kan ikke krediteres.",
}


def _nav(section: str, who: CurrentAdmin) -> views.Nav:
    return (section, who.clinic_name, who.email, who.csrf_token)


def _actor(who: CurrentAdmin) -> str:
    actor = f"portal:{who.email}"
    return actor if len(actor) <= 120 else f"portal:{who.admin_id}"


@router.get(PREFIX + "/transaksjoner")
async def orders(request: Request, who: CurrentAdmin = Depends(current_admin),
                 services: Services = Depends(get_services)) -> Response:
    search, errors = parse_search(request.query_params, tuple(ORDER_STATUSES))
    size = get_settings(request).page_size
    result, failed = await services.db.run(lambda s: (
        search_orders(s, who.clinic_id, search, size), failed_refunds(s, who.clinic_id)))
    notice = NOTICES.get(request.query_params.get("melding", ""))
    return views.orders(_nav("transaksjoner", who), search, result, errors, notice, failed)


@router.get(PREFIX + "/terminal")
async def pos(request: Request, who: CurrentAdmin = Depends(current_admin),
              services: Services = Depends(get_services)) -> Response:
    search, errors = parse_search(request.query_params, tuple(POS_STATUSES))
    size = get_settings(request).page_size
    result = await services.db.run(lambda s: search_pos(s, who.clinic_id, search, size))
    return views.pos(_nav("terminal", who), search, result, errors)


def _order_and_credits(session: Session, clinic_id: str,
                       order_id: str) -> tuple[OrderDetail, OrderCredits] | None:
    detail = order_detail(session, clinic_id, order_id)
    if detail is None:
        return None
    return detail, list_credits(session, clinic_id=clinic_id, order_id=order_id)


def _new_key() -> str:
    return "portal-" + uuid.uuid4().hex


async def _order_page(services: Services, who: CurrentAdmin, order_id: str, *,
                      key: str | None = None, notice: str | None = None,
                      error: str | None = None, amount_text: str = "",
                      reason_text: str = "", status_code: int = 200) -> Response:
    found = await services.db.run(lambda s: _order_and_credits(s, who.clinic_id, order_id)) \
        if len(order_id) <= MAX_ID else None
    if found is None:
        return pages.not_found(_nav("transaksjoner", who))
    detail, credits = found
    return views.order(_nav("transaksjoner", who), detail, credits, key=key or _new_key(),
                       notice=notice, error=error, amount_text=amount_text,
                       reason_text=reason_text, status_code=status_code)


@router.get(PREFIX + "/ordre/{order_id}")
async def order(order_id: str, melding: str = "",
                who: CurrentAdmin = Depends(current_admin),
                services: Services = Depends(get_services)) -> Response:
    return await _order_page(services, who, order_id, notice=NOTICES.get(melding))


@router.post(PREFIX + "/ordre/{order_id}/krediter")
async def credit(order_id: str, form: Posted = Depends(posted_form),
                 services: Services = Depends(get_services)) -> Response:
    who = form.admin
    key, amount_text, reason = form.get("nokkel"), form.get("amount"), form.get("reason")

    async def again(error: str, status_code: int) -> Response:
        return await _order_page(services, who, order_id, key=key if _FORM_KEY.match(key)
                                 else None, error=error, amount_text=amount_text,
                                 reason_text=reason, status_code=status_code)

    if not _FORM_KEY.match(key):
        return await again(CREDIT_TEXTS["credit-request-invalid"], 422)
    try:
        amount = parse_kroner(amount_text)
    except FormError as exc:
        return await again(str(exc), 422)
    if not reason:
        return await again("Skriv en begrunnelse for krediteringen.", 422)
    now = services.clock.now()
    try:
        result = await services.db.run_check_then_insert(lambda s: credit_order(
            s, clinic_id=who.clinic_id, order_id=order_id, amount=amount, reason=reason,
            idempotency_key=key, actor=_actor(who), now=now))
    except CreditOrderNotFound:
        return pages.not_found(_nav("transaksjoner", who))
    except CreditExceedsCreditable as exc:
        most = exc.extensions.get("creditable", 0)
        return await again(f"Du kan kreditere høyst {money(int(most))}.", exc.status)
    except CreditError as exc:
        text = CREDIT_TEXTS.get(exc.problem_type, "Krediteringen ble avvist.")
        return await again(text, exc.status)
    log.info("portal credit", admin_id=who.admin_id, order_id=order_id,
             credit_id=result.credit_id, amount=amount, created=result.created)
    return redirect(f"{PREFIX}/ordre/{order_id}?melding=kreditert#kreditering")


class _NotFound(Exception):
    pass


@router.post(PREFIX + "/ordre/{order_id}/stopp-krav")
async def stop_claim(order_id: str, form: Posted = Depends(posted_form),
                     services: Services = Depends(get_services)) -> Response:
    who = form.admin
    reason = form.get("reason")[:200]
    if not reason:
        return await _order_page(services, who, order_id, status_code=422,
                                 error="Skriv hvorfor kravet skal stoppes.")
    now = services.clock.now()

    def work(session: Session) -> str | None:
        if len(order_id) > MAX_ID or find_order(session, who.clinic_id, order_id) is None:
            raise _NotFound
        claim = claim_of_order(session, who.clinic_id, order_id, for_update=True)
        if claim is None or claim.route != "fakturaservice":
            return "Regningen har ikke noe krav som klinikken kan stoppe."
        try:
            claims.stop(session, claim, oslo_date(now), now, delete=False,
                        reason=f"{reason} ({_actor(who)})")
        except claims.ClaimActionError:
            return "Kravet er ikke åpent lenger og kan ikke stoppes."
        return None

    try:
        error = await services.db.run(work)
    except _NotFound:
        return pages.not_found(_nav("transaksjoner", who))
    if error is not None:
        return await _order_page(services, who, order_id, error=error, status_code=409)
    log.info("portal claim stopped", admin_id=who.admin_id, order_id=order_id)
    return redirect(f"{PREFIX}/ordre/{order_id}?melding=stoppet#krav")


@router.get(PREFIX + "/oppgjor")
async def settlement_list(request: Request, who: CurrentAdmin = Depends(current_admin),
                          services: Services = Depends(get_services)) -> Response:
    number, size = parse_page(request.query_params), get_settings(request).page_size
    result = await services.db.run(lambda s: settlements(s, who.clinic_id, number, size))
    return views.settlements(_nav("oppgjor", who), result)


@router.get(PREFIX + "/oppgjor/{settlement_id}")
async def settlement_page(settlement_id: str, who: CurrentAdmin = Depends(current_admin),
                          services: Services = Depends(get_services)) -> Response:
    detail = await services.db.run(lambda s: settlement_detail(s, who.clinic_id, settlement_id)) \
        if len(settlement_id) <= MAX_ID else None
    if detail is None:
        return pages.not_found(_nav("oppgjor", who))
    return views.settlement(_nav("oppgjor", who), detail)


@router.get(PREFIX + "/oppgjor/{settlement_id}/filer/{kind}")
async def settlement_download(settlement_id: str, kind: str,
                              who: CurrentAdmin = Depends(current_admin),
                              services: Services = Depends(get_services)) -> Response:
    found = await services.db.run(lambda s: settlement_file(s, who.clinic_id, settlement_id,
                                                            kind)) \
        if len(settlement_id) <= MAX_ID and kind in MEDIA else None
    if found is None:
        return pages.not_found(_nav("oppgjor", who))
    headers = {k: v for k, v in SECURITY_HEADERS.items() if k != "Content-Security-Policy"}
    return FileResponse(found.path, media_type=MEDIA[kind], filename=found.name,
                        headers=headers)


@router.get(PREFIX + "/utestaende")
async def outstanding(dato: str = "",
                      who: CurrentAdmin = Depends(current_admin),
                      services: Services = Depends(get_services)) -> Response:
    at, error = oslo_date(services.clock.now()), None
    if dato:
        try:
            at = parse_day(dato[:20])
        except FormError as exc:
            error = str(exc)
    day: date = at
    rows = await services.db.run(lambda s: outstanding_claims(s, who.clinic_id, day))
    return views.outstanding(_nav("utestaende", who), at, rows, error)


@router.get(PREFIX + "/{rest:path}")
async def unknown_page(rest: str) -> Response:
    """Registered last: any other portal path gets the portal's 404 page, not JSON."""
    return pages.not_found()
