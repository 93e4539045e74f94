"""The card acquirer as the checkout sees it: a hosted payment page, then authorize/capture.

The patient types the card on the acquirer's own page (the backend never sees a card
number); the acquirer sends the browser back to `return_url`, and the backend asks for the
payment's status, captures an authorized payment, or cancels it. A captured payment is
given back, in full or in parts, with `refund`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

CardStatus = Literal["pending", "authorized", "declined", "captured", "cancelled"]


class AcquirerError(Exception):
    """The acquirer refused a request or could not be reached."""


@dataclass(frozen=True)
class CardSession:
    payment_id: str
    redirect_url: str


@dataclass(frozen=True)
class CardPayment:
    payment_id: str
    status: CardStatus
    amount: int
    masked_pan: str | None = None
    card_name: str | None = None
    decline_reason: str | None = None


@dataclass(frozen=True)
class CardRefund:
    """A refund the acquirer accepted; it reaches the cardholder with the acquirer's next
    settlement (acquirers do not report that moment, so accepted is final for us)."""

    refund_id: str
    payment_id: str
    amount: int
    reference: str


class Acquirer(Protocol):
    async def create(self, *, reference: str, amount: int, currency: str, return_url: str
                     ) -> CardSession: ...

    async def status(self, payment_id: str) -> CardPayment: ...

    async def capture(self, payment_id: str, amount: int) -> CardPayment: ...

    async def cancel(self, payment_id: str) -> CardPayment: ...

    async def refund(self, payment_id: str, amount: int, *, reference: str) -> CardRefund:
        """Give back `amount` of a captured payment. `reference` is ours for this refund and
        makes the call idempotent: a repeat answers the same refund and moves no money."""
        ...
