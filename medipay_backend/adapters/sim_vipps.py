"""A simulated Vipps: the ePayment API's endpoints and states, and the "Vipps app" page.

Mounted in the backend at /sim/vipps (the default Vipps base URL), it answers the same JSON
shapes as the real API: POST /epayment/v1/payments gives a `redirectUrl`; the patient's
browser goes there, to a page standing in for the app, and approves (AUTHORIZED) or rejects
(ABORTED); the browser then returns to the merchant's `returnUrl`. Payments left alone can be
expired with `expire()`. Captured payments can be refunded, in parts, with an Idempotency-Key
per refund: a repeated key answers without refunding again, a reused one with another amount
is a 409.
"""

from __future__ import annotations

import secrets
import threading
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from medipay_backend.checkout.html import e, form, page
from medipay_backend.localtime import kroner

PREFIX = "/sim/vipps"
_API = "/epayment/v1/payments"


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": detail, "status": status,
                         "detail": detail}, status_code=status,
                        media_type="application/problem+json")


class SimulatedVipps:
    def __init__(self) -> None:
        self._payments: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._refund_keys: dict[str, tuple[str, int]] = {}  # Idempotency-Key -> (ref, value)
        # Tests set this to make the next N refund calls answer 503, as Vipps may.
        self.refund_outages = 0
        self.app = self._build()

    def expire(self, reference: str) -> None:
        with self._lock:
            if self._payments[reference]["state"] == "CREATED":
                self._payments[reference]["state"] = "EXPIRED"

    def _view(self, reference: str) -> dict[str, Any]:
        payment = self._payments[reference]
        amount = payment["amount"]
        authorized = amount if payment["state"] == "AUTHORIZED" else 0
        return {
            "reference": reference, "state": payment["state"],
            "pspReference": payment["psp"], "amount": {"currency": "NOK", "value": amount},
            "aggregate": {
                "authorizedAmount": {"currency": "NOK", "value": authorized},
                "capturedAmount": {"currency": "NOK", "value": payment["captured"]},
                "cancelledAmount": {"currency": "NOK", "value": payment["cancelled"]},
                "refundedAmount": {"currency": "NOK", "value": payment["refunded"]},
            },
            "paymentMethod": {"type": "WALLET"},
        }

    def _build(self) -> FastAPI:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

        @app.post("/accesstoken/get")
        async def token(
            client_id: Annotated[str | None, Header(convert_underscores=False)] = None,
        ) -> Any:
            if not client_id:
                return _error(401, "client_id header missing")
            return {"token_type": "Bearer", "expires_in": "3600",
                    "access_token": "sim-" + secrets.token_hex(16)}

        @app.post(_API)
        async def create(request: Request,
                         authorization: Annotated[str | None, Header()] = None) -> Any:
            if not (authorization or "").startswith("Bearer "):
                return _error(401, "access token missing")
            body = await request.json()
            reference = str(body.get("reference", ""))
            value = body.get("amount", {}).get("value")
            if not (8 <= len(reference) <= 64) or not isinstance(value, int) or value <= 0:
                return _error(400, "reference (8-64 characters) and a positive amount needed")
            with self._lock:
                if reference not in self._payments:
                    self._payments[reference] = {
                        "state": "CREATED", "amount": value, "captured": 0, "cancelled": 0,
                        "refunded": 0,
                        "returnUrl": body.get("returnUrl", "/"),
                        "description": body.get("paymentDescription", ""),
                        "psp": str(secrets.randbelow(10**10)),
                    }
            return JSONResponse({"redirectUrl": f"{PREFIX}/app/{reference}",
                                 "reference": reference}, status_code=201)

        @app.get(f"{_API}/{{reference}}")
        async def get(reference: str) -> Any:
            with self._lock:
                if reference not in self._payments:
                    return _error(404, "no such payment")
                return self._view(reference)

        @app.post(f"{_API}/{{reference}}/capture")
        async def capture(reference: str, request: Request) -> Any:
            body = await request.json()
            with self._lock:
                payment = self._payments.get(reference)
                if payment is None:
                    return _error(404, "no such payment")
                if payment["state"] != "AUTHORIZED":
                    return _error(400, f"cannot capture a payment in state {payment['state']}")
                value = body.get("modificationAmount", {}).get("value")
                if value != payment["amount"]:
                    return _error(400, "capture must be the authorized amount")
                payment["captured"] = value  # repeated captures are idempotent
                return self._view(reference)

        @app.post(f"{_API}/{{reference}}/cancel")
        async def cancel(reference: str) -> Any:
            with self._lock:
                payment = self._payments.get(reference)
                if payment is None:
                    return _error(404, "no such payment")
                if payment["captured"]:
                    return _error(400, "a captured payment must be refunded")
                if payment["state"] == "AUTHORIZED":
                    payment["cancelled"] = payment["amount"]
                payment["state"] = "TERMINATED" if payment["state"] != "ABORTED" else "ABORTED"
                return self._view(reference)

        @app.post(f"{_API}/{{reference}}/refund")
        async def refund(
            reference: str, request: Request,
            idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
        ) -> Any:
            body = await request.json()
            value = body.get("modificationAmount", {}).get("value")
            with self._lock:
                if self.refund_outages > 0:
                    self.refund_outages -= 1
                    return _error(503, "service unavailable (simulated outage)")
                payment = self._payments.get(reference)
                if payment is None:
                    return _error(404, "no such payment")
                if not idempotency_key:
                    return _error(400, "Idempotency-Key header missing")
                seen = self._refund_keys.get(idempotency_key)
                if seen is not None:
                    if seen != (reference, value):
                        return _error(409, "Idempotency-Key reused with another request")
                    return self._view(reference)
                left = payment["captured"] - payment["refunded"]
                if not isinstance(value, int) or not 0 < value <= left:
                    return _error(400, f"refund must be 1..{left} (captured and not refunded)")
                payment["refunded"] += value
                self._refund_keys[idempotency_key] = (reference, value)
                return self._view(reference)

        @app.get("/app/{reference}")
        async def app_page(reference: str) -> Response:
            with self._lock:
                payment = self._payments.get(reference)
            if payment is None:
                return page("Ukjent betaling", "<h1>Ukjent betaling</h1>", status_code=404)
            return page("Vipps", f"""
<div class="card"><h1>Vipps (simulert)</h1>
<p>{e(payment["description"])}</p>
<p class="amount">{e(kroner(payment["amount"]))}</p>
{form(f"{PREFIX}/app/{reference}/approve", "Godkjenn i Vipps")}
{form(f"{PREFIX}/app/{reference}/reject", "Avbryt", secondary=True)}
</div>""")

        @app.post("/app/{reference}/{choice}")
        async def decide(reference: str, choice: str) -> Response:
            with self._lock:
                payment = self._payments.get(reference)
                if payment is None:
                    return page("Ukjent betaling", "<h1>Ukjent betaling</h1>",
                                status_code=404)
                if payment["state"] == "CREATED":
                    payment["state"] = "AUTHORIZED" if choice == "approve" else "ABORTED"
                return_url = payment["returnUrl"]
            return RedirectResponse(return_url, status_code=303)

        return app
