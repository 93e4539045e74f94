"""Shared helpers of the domain and ledger tests."""

from __future__ import annotations

from datetime import UTC, datetime

from medipay_backend.ledger import Ledger, check_invariants

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
CLINICS = ("clinic-1", "clinic-2")


def assert_sound(ledger: Ledger) -> None:
    """The invariants hold and replaying the accepted transfers gives the same state."""
    check_invariants(ledger)
    replayed = Ledger.from_transfers(ledger.accounts.values(), ledger.transfers())
    assert replayed.balances() == ledger.balances()
    for transfer in ledger.transfers():
        assert replayed.pending_status(transfer.id) == ledger.pending_status(transfer.id)
