"""The card issuers behind the host, as far as a terminal can tell: approve, or say why not.

Balances live here, outside the terminal, so a power cut does not refund anybody: money spent
is gone until the terminal reverses the payment. Authorisation codes come from the seeded
random generator, so a run with the same seed prints the same receipts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from firmware_sim.cards import Card
from firmware_sim.codes import (
    RESULT_CARD_BLOCKED,
    RESULT_DECLINED,
    RESULT_INSUFFICIENT_FUNDS,
    RESULT_LIMIT_EXCEEDED,
    RESULT_OK,
)


@dataclass(frozen=True)
class Decision:
    result_code: int
    auth_code: str = ""

    @property
    def approved(self) -> bool:
        return self.result_code == RESULT_OK


@dataclass
class Issuer:
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    # Øre spent per card, keyed by masked PAN: bookings never hold the full number.
    spent: dict[str, int] = field(default_factory=dict)

    def available(self, card: Card) -> int:
        return card.balance - self.spent.get(card.masked_pan, 0)

    def authorize(self, card: Card, amount: int) -> Decision:
        """A payment: the issuer checks its rules in the order a real one would."""
        if card.blocked:
            return Decision(RESULT_CARD_BLOCKED)
        if card.declined:
            return Decision(RESULT_DECLINED)
        if card.limit is not None and amount > card.limit:
            return Decision(RESULT_LIMIT_EXCEEDED)
        if amount > self.available(card):
            return Decision(RESULT_INSUFFICIENT_FUNDS)
        self.spent[card.masked_pan] = self.spent.get(card.masked_pan, 0) + amount
        return Decision(RESULT_OK, self._auth_code())

    def refund(self, card: Card, amount: int) -> Decision:
        if card.blocked:
            return Decision(RESULT_CARD_BLOCKED)
        self.spent[card.masked_pan] = self.spent.get(card.masked_pan, 0) - amount
        return Decision(RESULT_OK, self._auth_code())

    def release(self, masked_pan: str, amount: int) -> None:
        """Undo a payment (reversal): the money is available again."""
        self.spent[masked_pan] = self.spent.get(masked_pan, 0) - amount

    def _auth_code(self) -> str:
        return f"{self.rng.randrange(1_000_000):06d}"
