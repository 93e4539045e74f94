"""Every ledger a test builds is checked when the test ends: the invariants hold and a
replay of its transfers gives the same state (the issue's rule for tests that move money)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import pytest

from medipay_backend.ledger import Account, Ledger
from medipay_backend.ledger.chart import clinic_accounts, provider_accounts

from .support import CLINICS, assert_sound

LedgerFactory = Callable[[Iterable[Account]], Ledger]


@pytest.fixture
def make_ledger() -> Iterator[LedgerFactory]:
    built: list[Ledger] = []

    def make(accounts: Iterable[Account]) -> Ledger:
        ledger = Ledger(accounts)
        built.append(ledger)
        return ledger

    yield make
    for ledger in built:
        assert_sound(ledger)


@pytest.fixture
def business_ledger(make_ledger: LedgerFactory) -> Ledger:
    """A ledger with the provider's chart of accounts and two clinics."""
    accounts = list(provider_accounts())
    for clinic in CLINICS:
        accounts.extend(clinic_accounts(clinic))
    return make_ledger(accounts)
