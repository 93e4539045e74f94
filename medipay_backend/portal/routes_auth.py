"""Portal routes for logging in and out and choosing a password."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from medipay.logs import get_logger
from medipay_backend.checkout.html import form_fields
from medipay_backend.deps import Services, get_services
from medipay_backend.portal import pages
from medipay_backend.portal.auth import (
    CHANGE_PATH,
    LOGIN_COOKIE,
    LOGIN_PATH,
    SESSION_COOKIE,
    PortalRoute,
    Posted,
    clear_cookie,
    current_admin,
    get_settings,
    new_login_token,
    posted_form,
    redirect,
    safe_next,
    same_secret,
    secure_cookies,
    set_cookie,
)
from medipay_backend.portal.html import CSRF_FIELD, PREFIX, css_response
from medipay_backend.portal.login import (
    PasswordRuleError,
    WrongCurrentPassword,
    change_password,
    login,
)
from medipay_backend.portal.sessions import CurrentAdmin, end_session
from medipay_backend.portal.throttle import client_address, login_throttle, retry_after_seconds

log = get_logger(__name__)
router = APIRouter(include_in_schema=False, route_class=PortalRoute)
NOTICES = {"ut": "Du er logget ut.", "utlopt": "Økten er avsluttet. Logg inn igjen."}
# How long the login form may sit open before its CSRF cookie is gone.
LOGIN_FORM_SECONDS = 3600


@router.get(PREFIX + "/static/portal.css")
async def stylesheet() -> Response:
    return css_response()


@router.get(PREFIX)
@router.get(PREFIX + "/")
async def home(_: CurrentAdmin = Depends(current_admin)) -> Response:
    return redirect(PREFIX + "/transaksjoner")


def _login_page(request: Request, services: Services, *, next_path: str = "",
                email: str = "", error: str | None = None, notice: str | None = None,
                status_code: int = 200) -> Response:
    token = new_login_token()
    response = pages.login(token, next_path=next_path, email=email, error=error,
                           notice=notice, status_code=status_code)
    set_cookie(response, LOGIN_COOKIE, token, secure=secure_cookies(request, services),
               max_age=LOGIN_FORM_SECONDS)
    return response


@router.get(LOGIN_PATH)
async def login_form(request: Request, neste: str = "",
                     melding: str = "",
                     services: Services = Depends(get_services)) -> Response:
    return _login_page(request, services, next_path=neste[:500], notice=NOTICES.get(melding))


@router.post(LOGIN_PATH)
async def login_submit(request: Request,
                       services: Services = Depends(get_services)) -> Response:
    fields = await form_fields(request)
    email, next_path = fields.get("email", "").strip()[:254], fields.get("neste", "")[:500]
    if not same_secret(fields.get(CSRF_FIELD, ""), request.cookies.get(LOGIN_COOKIE, "")):
        return _login_page(request, services, next_path=next_path, email=email,
                           error=pages.LOGIN_TEXTS["form"], status_code=403)
    settings = get_settings(request)
    address = client_address(request.client.host if request.client else None,
                             request.headers.get("x-forwarded-for"), settings.trusted_proxies)
    throttle = login_throttle(request.app.state)
    wait = throttle.retry_after(address, services.clock.now(), settings)
    if wait is not None:  # refused before any password is hashed
        log.warning("portal login refused", reason="address_throttled", client=address)
        response = _login_page(request, services, next_path=next_path, email=email,
                               error=pages.throttled_text(wait), status_code=429)
        response.headers["Retry-After"] = str(retry_after_seconds(wait))
        return response
    result = await login(services.db, settings, services.clock, email,
                         fields.get("password", ""))
    if result.outcome in ("invalid", "locked"):  # a guess, whichever account it named
        throttle.record_failure(address, services.clock.now(), settings)
    if result.outcome != "ok" or result.token is None:
        error = (pages.locked_text(result.locked_until) if result.outcome == "locked"
                 else pages.LOGIN_TEXTS[result.outcome])
        return _login_page(request, services, next_path=next_path, email=email, error=error,
                           status_code=401)
    previous = request.cookies.get(SESSION_COOKIE, "")
    if previous:  # logging in again in the same browser replaces its session
        await services.db.run(lambda s: end_session(s, previous))
    secure = secure_cookies(request, services)
    response = redirect(CHANGE_PATH if result.must_change_password else safe_next(next_path))
    set_cookie(response, SESSION_COOKIE, result.token, secure=secure,
               max_age=int(get_settings(request).session_lifetime.total_seconds()))
    clear_cookie(response, LOGIN_COOKIE, secure=secure)
    return response


@router.post(PREFIX + "/logg-ut")
async def logout(request: Request, form: Posted = Depends(posted_form),
                 services: Services = Depends(get_services)) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    await services.db.run(lambda s: end_session(s, token))
    response = redirect(LOGIN_PATH + "?melding=ut")
    clear_cookie(response, SESSION_COOKIE, secure=secure_cookies(request, services))
    return response


def _nav(who: CurrentAdmin) -> tuple[str, str, str, str]:
    return ("passord", who.clinic_name, who.email, who.csrf_token)


@router.get(CHANGE_PATH)
async def forced_change_form(who: CurrentAdmin = Depends(current_admin)) -> Response:
    if not who.must_change_password:
        return redirect(PREFIX + "/passord")
    return pages.change_password(who.csrf_token, forced=True)


@router.get(PREFIX + "/passord")
async def change_form(who: CurrentAdmin = Depends(current_admin)) -> Response:
    return pages.change_password(who.csrf_token, forced=False, nav=_nav(who))


@router.post(CHANGE_PATH)
@router.post(PREFIX + "/passord")
async def change_submit(request: Request, form: Posted = Depends(posted_form),
                        services: Services = Depends(get_services)) -> Response:
    who = form.admin
    forced = who.must_change_password
    secure = secure_cookies(request, services)

    def again(error: str, status_code: int) -> Response:
        return pages.change_password(who.csrf_token, forced=forced, error=error,
                                     status_code=status_code, nav=_nav(who))

    try:
        token = await change_password(
            services.db, get_settings(request), services.clock, who,
            form.fields.get("current", ""), form.fields.get("new", ""),
            form.fields.get("repeat", ""))
    except PasswordRuleError as exc:
        return again(str(exc), 422)
    except WrongCurrentPassword as exc:
        if exc.locked:
            response = _login_page(request, services,
                                   error=pages.locked_text(None), status_code=401)
            clear_cookie(response, SESSION_COOKIE, secure=secure)
            return response
        return again("Nåværende passord er feil.", 422)
    if token is None:
        response = redirect(LOGIN_PATH + "?melding=utlopt")
        clear_cookie(response, SESSION_COOKIE, secure=secure)
        return response
    response = redirect(PREFIX + "/transaksjoner?melding=passord")
    set_cookie(response, SESSION_COOKIE, token, secure=secure,
               max_age=int(get_settings(request).session_lifetime.total_seconds()))
    return response
