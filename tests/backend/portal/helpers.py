"""A test browser for the portal (httpx with its own cookie jar, CSRF token picked from each
page) and the operator's side of creating clinic admins."""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
from fastapi import FastAPI

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CREDIT_KEY = re.compile(r'name="nokkel" value="([^"]+)"')
PASSWORD = "Fjordhest og multebær 7"
PORTAL_URL = "https://portal.test"


@dataclass(frozen=True)
class Admin:
    admin_id: str
    clinic_id: str
    email: str
    otp: str


class Browser:
    """One browser: cookies kept, the last page's CSRF token sent with every form."""

    def __init__(self, app: FastAPI, address: str = "127.0.0.1") -> None:
        transport = httpx.ASGITransport(app=app, client=(address, 40_000))
        self.http = httpx.AsyncClient(transport=transport, base_url=PORTAL_URL)
        self.csrf = ""
        self.page: httpx.Response | None = None

    def _seen(self, response: httpx.Response) -> httpx.Response:
        found = CSRF.search(response.text) if response.headers.get(
            "content-type", "").startswith("text/html") else None
        if found:
            self.csrf = found.group(1)
        self.page = response
        return response

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return self._seen(await self.http.get(path, params=params or None))

    async def post(self, path: str, data: dict[str, str], *,
                   csrf: str | None = None) -> httpx.Response:
        """POST a form; `csrf` overrides the token (an empty string sends none)."""
        token = self.csrf if csrf is None else csrf
        body = {**data, "csrf": token} if token else dict(data)
        return self._seen(await self.http.post(path, data=body))

    async def follow(self, response: httpx.Response) -> httpx.Response:
        while response.status_code in (302, 303):
            response = await self.get(response.headers["location"])
        return response

    async def login(self, email: str, password: str,
                    headers: dict[str, str] | None = None) -> httpx.Response:
        await self.get("/klinikk/logg-inn")
        body = {"email": email, "password": password, "csrf": self.csrf}
        return self._seen(await self.http.post("/klinikk/logg-inn", data=body,
                                               headers=headers))

    async def set_password(self, password: str = PASSWORD) -> httpx.Response:
        await self.get("/klinikk/nytt-passord")
        return await self.post("/klinikk/nytt-passord", {"new": password, "repeat": password})

    @property
    def session_cookie(self) -> str | None:
        return self.http.cookies.get("medipay_portal")


class Portal:
    """The operator creating admins, and the browsers those admins use."""

    def __init__(self, app: FastAPI, operator: httpx.AsyncClient,
                 admin_headers: dict[str, str]) -> None:
        self.app, self.operator, self.headers = app, operator, admin_headers
        self.browsers: list[Browser] = []

    async def __aenter__(self) -> Portal:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        for browser in self.browsers:
            await browser.http.aclose()

    def browser(self, address: str = "127.0.0.1") -> Browser:
        """A new browser; `address` is the client address the server sees."""
        browser = Browser(self.app, address)
        self.browsers.append(browser)
        return browser

    async def create_admin(self, clinic_id: str, email: str) -> Admin:
        response = await self.operator.post(f"/v1/clinics/{clinic_id}/admins",
                                            json={"email": email, "name": "Kari Admin"},
                                            headers=self.headers)
        assert response.status_code == 201, response.text
        body = response.json()
        return Admin(body["admin_id"], clinic_id, body["email"], body["one_time_password"])

    async def logged_in(self, admin: Admin, password: str = PASSWORD) -> Browser:
        """A browser where `admin` has logged in with the OTP and chosen `password`."""
        browser = self.browser()
        first = await browser.login(admin.email, admin.otp)
        assert first.headers["location"] == "/klinikk/nytt-passord", first.text
        chosen = await browser.set_password(password)
        assert chosen.status_code == 303, chosen.text
        await browser.follow(chosen)
        return browser
