"""Scoring a person before the provider buys a fallback invoice (pure).

The provider buys the claim only from people without repeated defaults; claims that ended in
debt collection weigh most. The weights are a policy value, not constants, because the
provider tunes them from experience. A single late payment does not fail anyone.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CreditHistory:
    """What the credit bureau knows about a person (counts over its look-back period)."""

    claims_in_collection: int = 0
    open_collection_amount: int = 0  # øre still owed on claims in collection
    defaults: int = 0  # invoices left unpaid past their final due date
    payment_remarks: int = 0  # registered betalingsanmerkninger


@dataclass(frozen=True)
class ScoringPolicy:
    collection_points: int = 40  # per claim that went to collection
    open_collection_points: int = 30  # once, if anything is still open in collection
    default_points: int = 15  # per default, counted only when they repeat
    repeated_defaults: int = 2  # this many defaults or more count against the person
    remark_points: int = 25  # per payment remark
    approve_below: int = 40


DEFAULT_POLICY = ScoringPolicy()


@dataclass(frozen=True)
class Score:
    points: int
    approved: bool
    reasons: tuple[str, ...]


def score(history: CreditHistory, policy: ScoringPolicy = DEFAULT_POLICY) -> Score:
    points = 0
    reasons: list[str] = []
    if history.claims_in_collection:
        points += history.claims_in_collection * policy.collection_points
        reasons.append("claims_in_collection")
    if history.open_collection_amount > 0:
        points += policy.open_collection_points
        reasons.append("open_collection")
    if history.defaults >= policy.repeated_defaults:
        points += history.defaults * policy.default_points
        reasons.append("repeated_defaults")
    if history.payment_remarks:
        points += history.payment_remarks * policy.remark_points
        reasons.append("payment_remarks")
    return Score(points=points, approved=points < policy.approve_below, reasons=tuple(reasons))
