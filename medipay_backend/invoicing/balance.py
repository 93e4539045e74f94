"""What a debtor owes on a claim on a given day: fees, interest, invoice fee, principal.

Late-payment interest runs on the principal outstanding from the day after the due date up
to and including `on`, computed in one rounding over the principal's history (payments and
credit notes lower it from the day after they happened), minus interest already paid.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from medipay_backend.domain.allocation import ClaimOwner, Outstanding
from medipay_backend.domain.interest import interest_on_balances
from medipay_backend.domain.rates import DEFAULT_INTEREST, RateTable
from medipay_backend.models_invoicing import Claim

ONE_DAY = timedelta(days=1)


def principal_left(claim: Claim) -> int:
    return claim.principal - claim.paid_principal - claim.credited_principal


def owner_of(claim: Claim) -> ClaimOwner:
    return ClaimOwner.CLINIC if claim.route == "fakturaservice" else ClaimOwner.PROVIDER


def interest_to(
    claim: Claim, changes: Sequence[tuple[date, int]], on: date,
    rates: RateTable[int] = DEFAULT_INTEREST,
) -> int:
    """Interest accrued from the due date to `on` (inclusive); `changes` are (day, delta)
    of the principal (negative: paid or credited), in any order."""
    if on <= claim.due_date:
        return 0
    start = claim.due_date + ONE_DAY
    balance = claim.principal
    balances: list[tuple[date, int]] = [(start, balance)]
    for day, delta in sorted(changes):
        balance += delta
        effective = max(day + ONE_DAY, start)
        if effective > on:
            break
        if balances[-1][0] == effective:
            balances[-1] = (effective, balance)
        else:
            balances.append((effective, balance))
    return interest_on_balances(balances, on + ONE_DAY, rates)


def outstanding(
    claim: Claim, changes: Sequence[tuple[date, int]], on: date,
    rates: RateTable[int] = DEFAULT_INTEREST,
) -> Outstanding:
    accrued = interest_to(claim, changes, on, rates)
    return Outstanding(
        fees=max(0, claim.fees_charged - claim.paid_fees),
        interest=max(0, accrued - claim.paid_interest),
        invoice_fee=claim.invoice_fee - claim.paid_invoice_fee - claim.credited_invoice_fee,
        principal=principal_left(claim),
    )
