"""How a patient's payment on a dunned invoice is split, and who gets each part.

Order of coverage (the usual Norwegian order: costs, then interest, then the claim itself):
  1. dunning fees (reminder and collection fees),
  2. late-payment interest,
  3. the invoice fee (a cost of the original invoice, so before the principal),
  4. the principal (the order amount).
Whatever is left after all four is an overpayment, returned for the suspense list.

Who gets what: fees and interest are always the provider's ("no cure, no pay"). The invoice
fee and the principal belong to whoever owns the claim: the clinic for Fakturaservice, the
provider for an invoice it bought (the clinic was paid when it was bought).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class AllocationError(Exception):
    """Base of the errors of this module."""


class InvalidAmountError(AllocationError):
    """A payment or an outstanding part is negative or not an int of øre."""


class ClaimOwner(Enum):
    CLINIC = "clinic"  # Fakturaservice: the provider only administers the claim
    PROVIDER = "provider"  # the provider bought the invoice


@dataclass(frozen=True, slots=True)
class Outstanding:
    """What a debtor owes on one claim, in øre, by part."""

    fees: int = 0
    interest: int = 0
    invoice_fee: int = 0
    principal: int = 0

    def __post_init__(self) -> None:
        for name in ("fees", "interest", "invoice_fee", "principal"):
            _check(name, getattr(self, name))

    @property
    def total(self) -> int:
        return self.fees + self.interest + self.invoice_fee + self.principal


@dataclass(frozen=True, slots=True)
class Allocation:
    """One payment split into the parts it covers, in coverage order, plus the excess."""

    fees: int
    interest: int
    invoice_fee: int
    principal: int
    overpayment: int
    owner: ClaimOwner

    @property
    def covered(self) -> int:
        return self.fees + self.interest + self.invoice_fee + self.principal

    @property
    def to_provider(self) -> int:
        own = self.invoice_fee + self.principal if self.owner is ClaimOwner.PROVIDER else 0
        return self.fees + self.interest + own

    @property
    def to_clinic(self) -> int:
        return self.invoice_fee + self.principal if self.owner is ClaimOwner.CLINIC else 0

    def remaining(self, before: Outstanding) -> Outstanding:
        """What is still owed after this payment."""
        return Outstanding(
            fees=before.fees - self.fees,
            interest=before.interest - self.interest,
            invoice_fee=before.invoice_fee - self.invoice_fee,
            principal=before.principal - self.principal,
        )


def _check(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidAmountError(f"{name} must be a non-negative int of øre, got {value!r}")


def allocate(payment: int, owed: Outstanding, owner: ClaimOwner) -> Allocation:
    """Split `payment` øre over `owed` in coverage order; the excess is the overpayment."""
    _check("payment", payment)
    left = payment
    parts: list[int] = []
    for due in (owed.fees, owed.interest, owed.invoice_fee, owed.principal):
        take = min(left, due)
        parts.append(take)
        left -= take
    fees, interest, invoice_fee, principal = parts
    return Allocation(fees, interest, invoice_fee, principal, overpayment=left, owner=owner)
