"""Where an unpaid order's invoice goes after the checkout deadline (pure).

Some invoices always go to Fakturaservice, where the clinic keeps the claim and the provider
collects it: companies, another payer, people without a national ID, patients under 16
(billed through a guardian), amounts over NOK 3,000, and orders the clinic marked so. Anyone
else is scored; a good score means the provider buys the claim, a poor one sends the invoice to
Fakturaservice. When no route is possible the order goes back to the clinic for manual
handling, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from medipay_backend.domain.identity import GUARDIAN_AGE
from medipay_backend.domain.scoring import Score
from medipay_backend.domain.validation import PayerKind

Route = Literal["bought", "fakturaservice", "manual"]
Recipient = Literal["patient", "guardian", "company", "other_payer"]
# The provider buys fallback claims up to NOK 3,000 (in øre); above that it only collects.
MAX_BOUGHT_AMOUNT = 300_000

# Reason codes, stable: EPJs show them and reports count them.
FORCED_REASONS = {
    "company_payer": "companies are always invoiced through Fakturaservice",
    "other_payer": "another payer is always invoiced through Fakturaservice",
    "no_national_id": "a patient without a national ID is invoiced through Fakturaservice",
    "minor_under_16": "a patient under 16 is invoiced to the guardian through Fakturaservice",
    "always_fakturaservice": "the clinic asked for Fakturaservice",
    "amount_over_limit": "amounts over NOK 3,000 are invoiced through Fakturaservice",
}
OUTCOME_REASONS = {
    "good_score": "the provider buys the claim",
    "poor_score": "the score was too low for the provider to buy the claim",
    "missing_address": "no address to send the invoice to",
    "fakturaservice_unavailable": "Fakturaservice is not part of the clinic's agreement",
    "score_failed_no_fakturaservice":
        "the score was too low and Fakturaservice is not part of the clinic's agreement",
}


@dataclass(frozen=True)
class RoutingFacts:
    payer: PayerKind
    has_national_id: bool
    age: int | None  # on the deadline's date in Norway; None without a national ID
    amount: int  # the patient part in øre, before any invoice fee
    always_fakturaservice: bool
    has_address: bool  # an address from the EPJ for the invoice recipient
    fakturaservice_enabled: bool


@dataclass(frozen=True)
class Decision:
    route: Route
    reason: str
    recipient: Recipient

    @property
    def explanation(self) -> str:
        return FORCED_REASONS.get(self.reason) or OUTCOME_REASONS[self.reason]


def recipient_of(facts: RoutingFacts) -> Recipient:
    if facts.payer == "company":
        return "company"
    if facts.payer == "other":
        return "other_payer"
    if facts.age is not None and facts.age < GUARDIAN_AGE:
        return "guardian"
    return "patient"


def forced_fakturaservice(facts: RoutingFacts) -> str | None:
    """The reason this invoice must go to Fakturaservice, or None if it may be bought."""
    if facts.payer == "company":
        return "company_payer"
    if facts.payer == "other":
        return "other_payer"
    if not facts.has_national_id:
        return "no_national_id"
    if facts.age is not None and facts.age < GUARDIAN_AGE:
        return "minor_under_16"
    if facts.always_fakturaservice:
        return "always_fakturaservice"
    if facts.amount > MAX_BOUGHT_AMOUNT:
        return "amount_over_limit"
    return None


def needs_score(facts: RoutingFacts) -> bool:
    return forced_fakturaservice(facts) is None


def decide(facts: RoutingFacts, score: Score | None, registered_address: bool = False
           ) -> Decision:
    """The route. `score` is required when `needs_score(facts)`; `registered_address` says
    whether the bureau knows the person's registered address (bought invoices go there)."""
    recipient = recipient_of(facts)
    forced = forced_fakturaservice(facts)
    if forced is not None:
        return _to_fakturaservice(facts, forced, recipient)
    if score is None:
        raise ValueError("this order must be scored before it can be routed")
    if score.approved:
        if facts.has_address or registered_address:
            return Decision("bought", "good_score", recipient)
        return Decision("manual", "missing_address", recipient)
    if not facts.fakturaservice_enabled:
        return Decision("manual", "score_failed_no_fakturaservice", recipient)
    return _to_fakturaservice(facts, "poor_score", recipient)


def _to_fakturaservice(facts: RoutingFacts, reason: str, recipient: Recipient) -> Decision:
    if not facts.fakturaservice_enabled:
        return Decision("manual", "fakturaservice_unavailable", recipient)
    if not facts.has_address:
        # Fakturaservice invoices go to the address the EPJ gave; without one, nowhere.
        return Decision("manual", "missing_address", recipient)
    return Decision("fakturaservice", reason, recipient)
