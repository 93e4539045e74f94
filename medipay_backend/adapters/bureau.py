"""The credit bureau: payment history for fallback scoring, and the full credit check for
"invoice" in checkout. Calls are blocking; the backend makes them from worker threads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from medipay_backend.domain.contacts import Address
from medipay_backend.domain.scoring import CreditHistory

# "Invoice" in checkout is offered up to NOK 50,000 (in øre).
CHECKOUT_INVOICE_LIMIT = 5_000_000


@dataclass(frozen=True)
class CreditCheck:
    approved: bool
    reason: str  # approved, over_limit, poor_credit


class CreditBureau(Protocol):
    def history(self, national_id: str) -> CreditHistory: ...

    def registered_address(self, national_id: str) -> Address | None: ...

    def credit_check(self, national_id: str, amount: int) -> CreditCheck: ...


@dataclass
class SimulatedBureau:
    """Outcomes set per national ID; everyone else has a clean history.

    The full check (checkout invoice) is stricter than fallback scoring: any default, claim
    in collection or payment remark declines it, and so does an amount over NOK 50,000.
    """

    profiles: dict[str, CreditHistory] = field(default_factory=dict)
    addresses: Mapping[str, Address] = field(default_factory=dict)
    default: CreditHistory = field(default_factory=CreditHistory)
    lookups: int = 0

    def history(self, national_id: str) -> CreditHistory:
        self.lookups += 1
        return self.profiles.get(national_id, self.default)

    def registered_address(self, national_id: str) -> Address | None:
        return self.addresses.get(national_id)

    def credit_check(self, national_id: str, amount: int) -> CreditCheck:
        if amount > CHECKOUT_INVOICE_LIMIT:
            return CreditCheck(False, "over_limit")
        history = self.history(national_id)
        clean = not (history.defaults or history.claims_in_collection
                     or history.payment_remarks or history.open_collection_amount)
        return CreditCheck(clean, "approved" if clean else "poor_credit")
