"""Vipps through its ePayment API (v1): the request and response shapes, and its states.

create -> the patient approves in the Vipps app -> AUTHORIZED -> capture. A payment the
patient rejects ends ABORTED; one left alone ends EXPIRED. A captured payment is given back
(in full or in parts) with refund. Every modifying call carries an Idempotency-Key, so
retrying a capture or a refund never moves the money twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx

VippsState = Literal["CREATED", "AUTHORIZED", "ABORTED", "EXPIRED", "TERMINATED"]
_API = "/epayment/v1/payments"


class VippsError(Exception):
    """Vipps refused a request or could not be reached."""


@dataclass(frozen=True)
class VippsPayment:
    reference: str
    state: VippsState
    authorized: int
    captured: int
    psp_reference: str | None = None
    refunded: int = 0


@dataclass(frozen=True)
class VippsCredentials:
    client_id: str = "sim-client"
    client_secret: str = "sim-secret"
    subscription_key: str = "sim-subscription"
    merchant_serial_number: str = "123456"


class VippsClient:
    def __init__(self, http: httpx.AsyncClient, credentials: VippsCredentials) -> None:
        self.http = http
        self.credentials = credentials
        self._token: str | None = None

    async def _headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        if self._token is None:
            response = await self._call("POST", "/accesstoken/get", headers={
                "client_id": self.credentials.client_id,
                "client_secret": self.credentials.client_secret,
                "Ocp-Apim-Subscription-Key": self.credentials.subscription_key,
            })
            self._token = str(response["access_token"])
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Ocp-Apim-Subscription-Key": self.credentials.subscription_key,
            "Merchant-Serial-Number": self.credentials.merchant_serial_number,
            "Vipps-System-Name": "medipay",
            "Vipps-System-Version": "1",
        }
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise VippsError(f"Vipps could not be reached: {exc}") from exc
        if response.status_code >= 400:
            raise VippsError(f"Vipps answered {response.status_code}: {response.text[:200]}")
        body = response.json()
        if not isinstance(body, dict):
            raise VippsError("Vipps answered with something other than a JSON object")
        return body

    async def create(self, *, reference: str, amount: int, phone: str | None, return_url: str,
                     description: str) -> str:
        """Start a payment; the URL to send the patient's browser to."""
        body: dict[str, Any] = {
            "amount": {"currency": "NOK", "value": amount},
            "paymentMethod": {"type": "WALLET"},
            "reference": reference,
            "returnUrl": return_url,
            "userFlow": "WEB_REDIRECT",
            "paymentDescription": description,
        }
        if phone:
            body["customer"] = {"phoneNumber": phone.lstrip("+")}
        answer = await self._call("POST", _API, json=body,
                                  headers=await self._headers(f"create-{reference}"))
        return str(answer["redirectUrl"])

    async def get(self, reference: str) -> VippsPayment:
        return _payment(await self._call("GET", f"{_API}/{reference}",
                                         headers=await self._headers()))

    async def capture(self, reference: str, amount: int) -> VippsPayment:
        await self._call("POST", f"{_API}/{reference}/capture",
                         json={"modificationAmount": {"currency": "NOK", "value": amount}},
                         headers=await self._headers(f"capture-{reference}"))
        return await self.get(reference)

    async def cancel(self, reference: str) -> VippsPayment:
        await self._call("POST", f"{_API}/{reference}/cancel",
                         headers=await self._headers(f"cancel-{reference}"))
        return await self.get(reference)

    async def refund(self, reference: str, amount: int, *, idempotency_key: str
                     ) -> VippsPayment:
        """Give back `amount` of what was captured. Vipps answers a repeat with the same
        `idempotency_key` without refunding again, so one key per refund (our credit id)."""
        await self._call("POST", f"{_API}/{reference}/refund",
                         json={"modificationAmount": {"currency": "NOK", "value": amount}},
                         headers=await self._headers(idempotency_key))
        return await self.get(reference)


def _payment(body: dict[str, Any]) -> VippsPayment:
    aggregate = body.get("aggregate", {})
    return VippsPayment(
        reference=str(body["reference"]), state=body["state"],
        authorized=int(aggregate.get("authorizedAmount", {}).get("value", 0)),
        captured=int(aggregate.get("capturedAmount", {}).get("value", 0)),
        psp_reference=body.get("pspReference"),
        refunded=int(aggregate.get("refundedAmount", {}).get("value", 0)),
    )
