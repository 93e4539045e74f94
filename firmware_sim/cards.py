"""Test cards the simulated terminal can be presented with, and what the issuer thinks of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# ZVT card-type ids (spec chapter 12). BankAxept, Norway's domestic debit scheme, has none:
# its Status Information leaves BMP 8A out, which the spec allows.
CARD_TYPE_MASTERCARD = 6
CARD_TYPE_AMEX = 8
CARD_TYPE_VISA = 10
CARD_TYPE_DINERS = 12
CARD_TYPE_JCB = 14
CARD_TYPE_MAESTRO = 46

# BMP 60 (End-of-Day totals) has fixed slots; "eurocard" is Mastercard's old name there.
TOTALS_BUCKETS = ("girocard", "jcb", "eurocard", "amex", "visa", "diners", "others")
_BUCKET_OF_TYPE = {
    CARD_TYPE_MASTERCARD: "eurocard",
    CARD_TYPE_AMEX: "amex",
    CARD_TYPE_VISA: "visa",
    CARD_TYPE_DINERS: "diners",
    CARD_TYPE_JCB: "jcb",
}
SCHEME_CARD_TYPES = {
    "VISA": CARD_TYPE_VISA,
    "MASTERCARD": CARD_TYPE_MASTERCARD,
    "AMEX": CARD_TYPE_AMEX,
    "DINERS": CARD_TYPE_DINERS,
    "JCB": CARD_TYPE_JCB,
    "MAESTRO": CARD_TYPE_MAESTRO,
    "BANKAXEPT": None,
}


def bucket_for_type(card_type: int | None) -> str:
    return _BUCKET_OF_TYPE.get(card_type or 0, "others")


class UnknownCard(LookupError):
    """No card in the deck has that name or index."""


@dataclass(frozen=True)
class Card:
    scheme: str
    card_type: int | None
    pan: str
    expiry: str  # YYMM
    pin: str = "1234"
    # Funds available in øre; a payment above this is declined for insufficient funds.
    balance: int = 10_000_000
    # Contactless cards are tapped; above the contactless limit they must be inserted (PIN).
    contactless: bool = True
    # Highest single payment the issuer allows, in øre; None = no limit beyond the balance.
    limit: int | None = None
    blocked: bool = False  # the issuer answers "restricted card"
    declined: bool = False  # the issuer answers "do not honour"
    name: str = ""  # how scenarios and the control API refer to it

    @property
    def masked_pan(self) -> str:
        """First 6 / last 4, the rest hidden, as on a receipt."""
        return self.pan[:6] + "*" * (len(self.pan) - 10) + self.pan[-4:]

    @property
    def bucket(self) -> str:
        """The BMP 60 slot this card's turnover is counted in."""
        return bucket_for_type(self.card_type)

    @property
    def product_name(self) -> str:
        """Name for BMP 8B and receipts."""
        return {"MASTERCARD": "Mastercard", "BANKAXEPT": "BankAxept", "AMEX": "American Express",
                "MAESTRO": "Maestro", "DINERS": "Diners Club"}.get(self.scheme, self.scheme)


# Card numbers from the schemes' published test ranges (or made up in unused ranges); all pass
# the Luhn check. The first three keep their positions: other parts' tests use them by index.
DEFAULT_DECK: tuple[Card, ...] = (
    Card("VISA", CARD_TYPE_VISA, "4111111111111111", "2812", name="visa"),
    Card("MASTERCARD", CARD_TYPE_MASTERCARD, "5555555555554444", "2906", name="mastercard"),
    Card("VISA", CARD_TYPE_VISA, "4000000000000002", "2712", balance=5_000, name="visa-low"),
    Card("BANKAXEPT", None, "6007220000000004", "2905", pin="4321", contactless=False,
         name="bankaxept"),
    Card("MASTERCARD", CARD_TYPE_MASTERCARD, "5200000000000015", "2811", blocked=True,
         name="mastercard-blocked"),
    Card("VISA", CARD_TYPE_VISA, "4012888888881881", "2803", declined=True,
         name="visa-declined"),
    Card("AMEX", CARD_TYPE_AMEX, "378282246310005", "2710", pin="1111", name="amex"),
    Card("MAESTRO", CARD_TYPE_MAESTRO, "6767700000000005", "2312", contactless=False,
         name="maestro-expired"),
    Card("MASTERCARD", CARD_TYPE_MASTERCARD, "5105105105105100", "2909", limit=100_000,
         name="mastercard-limit"),
)


def find_card(deck: Iterable[Card], key: str | int) -> Card:
    """A card by name or by position in the deck."""
    cards = tuple(deck)
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        index = int(key)
        if 0 <= index < len(cards):
            return cards[index]
        raise UnknownCard(f"the deck has {len(cards)} cards; there is no card {index}")
    for card in cards:
        if card.name == key:
            return card
    names = ", ".join(card.name for card in cards if card.name)
    raise UnknownCard(f"no card named {key!r} in the deck (known: {names})")


def card_from_mapping(data: dict[str, object]) -> Card:
    """A card described in a scenario file (keys as the dataclass fields)."""
    scheme = str(data.get("scheme", "VISA")).upper()
    if scheme not in SCHEME_CARD_TYPES:
        raise ValueError(f"unknown card scheme {scheme!r}; one of {sorted(SCHEME_CARD_TYPES)}")
    fields = {key: value for key, value in data.items() if key != "scheme"}
    fields.setdefault("card_type", SCHEME_CARD_TYPES[scheme])
    try:
        return Card(scheme=scheme, **fields)  # type: ignore[arg-type]
    except TypeError as exc:
        raise ValueError(f"bad card description: {exc}") from exc
