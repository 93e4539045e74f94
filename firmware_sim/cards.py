"""Test cards the simulated terminal can be presented with."""

from __future__ import annotations

from dataclasses import dataclass

# ZVT card-type ids from the spec's chapter 12.
CARD_TYPE_MASTERCARD = 6
CARD_TYPE_VISA = 10


@dataclass(frozen=True)
class Card:
    scheme: str
    card_type: int
    pan: str
    expiry: str  # YYMM
    pin: str = "1234"
    # Funds available in øre; a payment above this is declined for insufficient funds.
    balance: int = 10_000_000
    contactless: bool = True

    @property
    def masked_pan(self) -> str:
        """First 6 / last 4, the rest hidden, as on a receipt."""
        return self.pan[:6] + "*" * (len(self.pan) - 10) + self.pan[-4:]


# Card numbers from the schemes' published test ranges; they pass the Luhn check.
DEFAULT_DECK: tuple[Card, ...] = (
    Card("VISA", CARD_TYPE_VISA, "4111111111111111", "2812"),
    Card("MASTERCARD", CARD_TYPE_MASTERCARD, "5555555555554444", "2906"),
    Card("VISA", CARD_TYPE_VISA, "4000000000000002", "2712", balance=5_000),
)
