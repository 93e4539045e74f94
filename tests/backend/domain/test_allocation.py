"""Partial payments: fees, then interest, then invoice fee, then principal; the rest is an
overpayment. Provider and clinic shares."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medipay_backend.domain.allocation import (
    ClaimOwner,
    InvalidAmountError,
    Outstanding,
    allocate,
)

OWED = Outstanding(fees=3_500, interest=250, invoice_fee=4_900, principal=60_000)


def test_a_small_payment_covers_fees_first() -> None:
    split = allocate(3_000, OWED, ClaimOwner.CLINIC)
    assert (split.fees, split.interest, split.invoice_fee, split.principal) == (3_000, 0, 0, 0)
    assert split.to_provider == 3_000 and split.to_clinic == 0


def test_a_middle_payment_reaches_the_principal() -> None:
    split = allocate(10_000, OWED, ClaimOwner.CLINIC)
    assert (split.fees, split.interest, split.invoice_fee, split.principal) == (
        3_500, 250, 4_900, 1_350,
    )
    assert split.overpayment == 0
    assert split.to_provider == 3_750 and split.to_clinic == 6_250
    assert split.remaining(OWED) == Outstanding(principal=58_650)


def test_an_overpayment_is_left_over() -> None:
    split = allocate(70_000, OWED, ClaimOwner.CLINIC)
    assert split.covered == OWED.total == 68_650
    assert split.overpayment == 1_350
    assert split.remaining(OWED) == Outstanding()


def test_on_a_bought_claim_everything_is_the_providers() -> None:
    split = allocate(70_000, OWED, ClaimOwner.PROVIDER)
    assert split.to_provider == OWED.total and split.to_clinic == 0


def test_invalid_amounts() -> None:
    with pytest.raises(InvalidAmountError):
        allocate(-1, OWED, ClaimOwner.CLINIC)
    with pytest.raises(InvalidAmountError):
        Outstanding(fees=-1)
    with pytest.raises(InvalidAmountError):
        allocate(True, OWED, ClaimOwner.CLINIC)


parts = st.integers(0, 10**9)
outstanding = st.builds(Outstanding, parts, parts, parts, parts)


@given(payment=st.integers(0, 5 * 10**9), owed=outstanding, owner=st.sampled_from(ClaimOwner))
def test_allocation_sums_to_the_payment_in_order(
    payment: int, owed: Outstanding, owner: ClaimOwner
) -> None:
    split = allocate(payment, owed, owner)
    taken = [split.fees, split.interest, split.invoice_fee, split.principal]
    due = [owed.fees, owed.interest, owed.invoice_fee, owed.principal]
    assert sum(taken) + split.overpayment == payment
    assert split.to_provider + split.to_clinic + split.overpayment == payment
    assert all(0 <= t <= d for t, d in zip(taken, due, strict=True))
    # Order: a part gets money only once every earlier part is fully covered.
    for index, amount in enumerate(taken):
        if amount:
            assert taken[:index] == due[:index]
    # An overpayment only when everything is covered.
    if split.overpayment:
        assert taken == due
    assert split.remaining(owed).total == owed.total - split.covered
