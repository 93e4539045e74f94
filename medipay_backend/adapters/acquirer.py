"""The card acquirer as the checkout sees it: a hosted payment page, then authorize/capture.

The patient types the card on the acquirer's own page (the backend never sees a card
number); the acquirer sends the browser back to `return_url`, and the backend asks for the
payment's status, captures an authorized payment, or cancels it.
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


class Acquirer(Protocol):
    async def create(self, *, reference: str, amount: int, currency: str, return_url: str
                     ) -> CardSession: ...

    async def status(self, payment_id: str) -> CardPayment: ...

    async def capture(self, payment_id: str, amount: int) -> CardPayment: ...

    async def cancel(self, payment_id: str) -> CardPayment: ...
