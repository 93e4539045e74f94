"""Who is asking: the session cookie, the CSRF check on every POST, and the route class that
turns "log in first" and "refused" into pages.

Cookies are HttpOnly and SameSite=Lax, limited to the portal's path, and Secure when the
request came over https or the service's public address is https (behind a TLS proxy).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from medipay.logs import get_logger
from medipay_backend.checkout.html import form_fields
from medipay_backend.deps import Services, get_services
from medipay_backend.portal import pages
from medipay_backend.portal.html import CSRF_FIELD, PREFIX
from medipay_backend.portal.sessions import CurrentAdmin, resolve_session
from medipay_backend.portal.settings import PortalSettings, portal_settings

log = get_logger(__name__)
SESSION_COOKIE = "medipay_portal"
# Before login there is no session: the login form's CSRF token is a random value in a
# cookie of its own that the form must repeat (double submit; SameSite keeps other sites'
# forms from sending the cookie).
LOGIN_COOKIE = "medipay_portal_login"
LOGIN_PATH = PREFIX + "/logg-inn"
CHANGE_PATH = PREFIX + "/nytt-passord"
# Pages an admin who must choose a password may still use.
OPEN_WHILE_CHANGING = (CHANGE_PATH, PREFIX + "/logg-ut")


class PortalInterrupt(Exception):
    """Stop handling the request and answer with this response instead."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class PortalRoute(APIRoute):
    """Runs dependencies and handler; a `PortalInterrupt` from either becomes its response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def portal_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except PortalInterrupt as interrupt:
                return interrupt.response

        return portal_handler


def get_settings(request: Request) -> PortalSettings:
    return portal_settings(request.app.state)


def secure_cookies(request: Request, services: Services) -> bool:
    return request.url.scheme == "https" or services.runtime.base_url.startswith("https://")


def set_cookie(response: Response, name: str, value: str, *, secure: bool,
               max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PREFIX, secure=secure,
                        httponly=True, samesite="lax")


def clear_cookie(response: Response, name: str, *, secure: bool) -> None:
    response.delete_cookie(name, path=PREFIX, secure=secure, httponly=True, samesite="lax")


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def same_secret(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode("utf-8", "replace"),
                                                  expected.encode("utf-8", "replace"))


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def safe_next(target: str | None) -> str:
    """Where to go after login: only a portal path of this site, never another host."""
    if (target and target.startswith(PREFIX + "/") and "//" not in target
            and "\\" not in target and not target.startswith(LOGIN_PATH)):
        return target
    return PREFIX + "/transaksjoner"


async def current_admin(request: Request,
                        services: Services = Depends(get_services)) -> CurrentAdmin:
    """Dependency: the logged-in admin, or a redirect to the login page."""
    token = request.cookies.get(SESSION_COOKIE, "")
    settings = get_settings(request)
    now = services.clock.now()
    who = await services.db.run(lambda s: resolve_session(s, token, now, settings)) \
        if token else None
    if who is None:
        target = request.url.path if request.method == "GET" else ""
        if request.method == "GET" and request.url.query:
            target += "?" + request.url.query
        response = redirect(LOGIN_PATH + (f"?neste={quote(target)}" if target else ""))
        if token:
            clear_cookie(response, SESSION_COOKIE, secure=secure_cookies(request, services))
        raise PortalInterrupt(response)
    if who.must_change_password and request.url.path not in OPEN_WHILE_CHANGING:
        raise PortalInterrupt(redirect(CHANGE_PATH))
    return who


@dataclass(frozen=True)
class Posted:
    """A form posted by a logged-in admin, its CSRF token checked."""

    admin: CurrentAdmin
    fields: dict[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name, "").strip()


async def posted_form(request: Request,
                      who: CurrentAdmin = Depends(current_admin)) -> Posted:
    """Dependency for every POST: a missing or wrong CSRF token is a 403 and nothing more."""
    fields = await form_fields(request)
    if not same_secret(fields.get(CSRF_FIELD, ""), who.csrf_token):
        log.warning("portal form refused: bad csrf token", admin_id=who.admin_id,
                    path=request.url.path)
        raise PortalInterrupt(pages.forbidden())
    return Posted(who, fields)
