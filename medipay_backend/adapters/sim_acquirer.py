"""A simulated card acquirer: hosted card page, 3-D Secure challenge, and test cards.

Test cards (any future expiry, any three-digit CVC):

| card number          | outcome                                         |
| -------------------- | ----------------------------------------------- |
| 4111 1111 1111 1111  | approved (Visa)                                 |
| 5555 5555 5555 4444  | approved (Mastercard)                           |
| 4000 0000 0000 0002  | declined by the issuer                          |
| 4000 0000 0000 3220  | 3-D Secure challenge: code 1234 approves it      |

Any other number passing the Luhn check is approved; others are refused on the form. Card
numbers stay inside the simulator; the backend gets the masked PAN (first 6, last 4).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, replace

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from stdnum import luhn

from medipay_backend.adapters.acquirer import (
    AcquirerError,
    CardPayment,
    CardRefund,
    CardSession,
    CardStatus,
)
from medipay_backend.checkout.html import e, form, form_fields, page
from medipay_backend.localtime import kroner

PREFIX = "/sim/acquirer"
APPROVE = {"4111111111111111": "Visa", "5555555555554444": "Mastercard"}
DECLINE = "4000000000000002"
CHALLENGE = "4000000000003220"
CHALLENGE_CODE = "1234"


@dataclass(frozen=True)
class _Sim:
    payment: CardPayment
    return_url: str
    reference: str


class SimulatedAcquirer:
    def __init__(self) -> None:
        self._payments: dict[str, _Sim] = {}
        self._lock = threading.Lock()
        self.captures = 0
        self._refunds: dict[str, CardRefund] = {}  # by our reference
        # Tests set this to make the next N refund calls fail as an unreachable acquirer.
        self.refund_outages = 0
        self.router = self._routes()

    def _get(self, payment_id: str) -> _Sim:
        with self._lock:
            found = self._payments.get(payment_id)
        if found is None:
            raise AcquirerError(f"unknown payment {payment_id!r}")
        return found

    def _put(self, payment_id: str, sim: _Sim) -> None:
        with self._lock:
            self._payments[payment_id] = sim

    async def create(self, *, reference: str, amount: int, currency: str, return_url: str
                     ) -> CardSession:
        if currency != "NOK" or amount <= 0:
            raise AcquirerError("the simulator takes positive NOK amounts")
        payment_id = "card_" + secrets.token_hex(12)
        self._put(payment_id, _Sim(CardPayment(payment_id, "pending", amount), return_url,
                                   reference))
        return CardSession(payment_id, f"{PREFIX}/pay/{payment_id}")

    async def status(self, payment_id: str) -> CardPayment:
        return self._get(payment_id).payment

    async def capture(self, payment_id: str, amount: int) -> CardPayment:
        with self._lock:
            sim = self._payments.get(payment_id)
            if sim is None or sim.payment.status not in ("authorized", "captured"):
                raise AcquirerError("only an authorized payment can be captured")
            if amount != sim.payment.amount:
                raise AcquirerError("capture amount differs from the authorization")
            if sim.payment.status == "authorized":
                self.captures += 1
            sim = replace(sim, payment=replace(sim.payment, status="captured"))
            self._payments[payment_id] = sim
            return sim.payment

    async def cancel(self, payment_id: str) -> CardPayment:
        with self._lock:
            sim = self._payments.get(payment_id)
            if sim is None or sim.payment.status == "captured":
                raise AcquirerError("a captured payment cannot be cancelled (refund it)")
            sim = replace(sim, payment=replace(sim.payment, status="cancelled"))
            self._payments[payment_id] = sim
            return sim.payment

    async def refund(self, payment_id: str, amount: int, *, reference: str) -> CardRefund:
        with self._lock:
            if self.refund_outages > 0:
                self.refund_outages -= 1
                raise AcquirerError("acquirer unavailable (simulated outage)")
            known = self._refunds.get(reference)
            if known is not None:
                if (known.payment_id, known.amount) != (payment_id, amount):
                    raise AcquirerError(f"refund reference {reference!r} used for another refund")
                return known
            sim = self._payments.get(payment_id)
            if sim is None or sim.payment.status != "captured":
                raise AcquirerError("only a captured payment can be refunded")
            refunded = sum(r.amount for r in self._refunds.values() if r.payment_id == payment_id)
            if not 0 < amount <= sim.payment.amount - refunded:
                raise AcquirerError(f"refund of {amount} exceeds what is left of the payment")
            done = CardRefund("refund_" + secrets.token_hex(12), payment_id, amount, reference)
            self._refunds[reference] = done
            return done

    def refunded(self, payment_id: str) -> int:
        """What has been refunded of a payment (for tests and the demo)."""
        with self._lock:
            return sum(r.amount for r in self._refunds.values() if r.payment_id == payment_id)

    def _finish(self, payment_id: str, approved: bool, card: str, reason: str | None
                ) -> Response:
        sim = self._get(payment_id)
        status: CardStatus = "authorized" if approved else "declined"
        name = APPROVE.get(card, "Visa" if card.startswith("4") else "Mastercard")
        masked = card[:6] + "*" * (len(card) - 10) + card[-4:]
        self._put(payment_id, replace(sim, payment=replace(
            sim.payment, status=status, masked_pan=masked, card_name=name,
            decline_reason=reason)))
        return RedirectResponse(sim.return_url, status_code=303)

    def _routes(self) -> APIRouter:
        router = APIRouter(prefix=PREFIX, include_in_schema=False)
        pending_challenges: dict[str, str] = {}

        @router.get("/pay/{payment_id}")
        async def card_form(payment_id: str) -> Response:
            try:
                sim = self._get(payment_id)
            except AcquirerError:
                return page("Ukjent betaling", "<h1>Ukjent betaling</h1>", status_code=404)
            return _card_page(payment_id, sim.payment.amount, error=None)

        @router.post("/pay/{payment_id}")
        async def card_submit(payment_id: str, request: Request) -> Response:
            card_number = (await form_fields(request)).get("card_number", "")
            sim = self._get(payment_id)
            if sim.payment.status != "pending":
                return RedirectResponse(sim.return_url, status_code=303)
            card = "".join(ch for ch in card_number if ch.isdigit())
            if not (13 <= len(card) <= 19 and luhn.is_valid(card)):
                return _card_page(payment_id, sim.payment.amount,
                                  error="Kortnummeret er ikke gyldig.")
            if card == DECLINE:
                return self._finish(payment_id, False, card, "declined_by_issuer")
            if card == CHALLENGE:
                pending_challenges[payment_id] = card
                return RedirectResponse(f"{PREFIX}/3ds/{payment_id}", status_code=303)
            return self._finish(payment_id, True, card, None)

        @router.get("/3ds/{payment_id}")
        async def challenge_form(payment_id: str) -> Response:
            return page("Bekreft kjøpet", f"""
<div class="card"><h1>Bekreft kjøpet (3-D Secure)</h1>
<p>Banken din ber deg bekrefte betalingen. Skriv inn koden fra banken (test: 1234).</p>
{form(f"{PREFIX}/3ds/{payment_id}", "Bekreft", fields=
      '<label for="code">Engangskode</label>'
      '<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code">')}
</div>""")

        @router.post("/3ds/{payment_id}")
        async def challenge_submit(payment_id: str, request: Request) -> Response:
            code = (await form_fields(request)).get("code", "")
            card = pending_challenges.pop(payment_id, CHALLENGE)
            approved = code.strip() == CHALLENGE_CODE
            return self._finish(payment_id, approved, card,
                                None if approved else "authentication_failed")

        @router.post("/cancel/{payment_id}")
        async def cancel_by_payer(payment_id: str) -> Response:
            sim = self._get(payment_id)
            await self.cancel(payment_id)
            return RedirectResponse(sim.return_url, status_code=303)

        return router


def _card_page(payment_id: str, amount: int, error: str | None) -> Response:
    message = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    fields = (
        '<label for="card_number">Kortnummer</label>'
        '<input id="card_number" name="card_number" inputmode="numeric" '
        'autocomplete="cc-number" required>'
        '<label for="expiry">Utløpsdato (MM/ÅÅ)</label>'
        '<input id="expiry" name="expiry" autocomplete="cc-exp" required>'
        '<label for="cvc">CVC</label>'
        '<input id="cvc" name="cvc" inputmode="numeric" autocomplete="cc-csc" required>'
    )
    return page("Betal med kort", f"""
<div class="card"><h1>Betal med kort</h1>
<p class="muted">Testinnløser (simulert)</p>
<p class="amount">{e(kroner(amount))}</p>
{message}
{form(f"{PREFIX}/pay/{payment_id}", "Betal", fields=fields)}
{form(f"{PREFIX}/cancel/{payment_id}", "Avbryt", secondary=True)}
</div>""")
