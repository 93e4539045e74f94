"""What must hold for any ledger built only through `Ledger.apply`.

Property tests and every test that moves money call `check_invariants`; the database layer can
call it after a replay. It reads the ledger only through its public API, so it also catches a
bug in the bookkeeping inside `apply`.
"""

from __future__ import annotations

from collections import defaultdict

from .core import Ledger
from .errors import InvariantViolation
from .model import MAX_AMOUNT, AccountFlags, PendingStatus, TransferFlags

# What a post or a void leaves its pending transfer as.
_RESOLUTION = {
    TransferFlags.POST_PENDING: PendingStatus.POSTED,
    TransferFlags.VOID_PENDING: PendingStatus.VOIDED,
}


def invariant_problems(ledger: Ledger) -> tuple[str, ...]:
    """Every broken invariant, described; empty when the ledger is sound."""
    problems: list[str] = []
    balances = ledger.balances()
    # Double entry: per currency, posted debits equal posted credits and pending debits equal
    # pending credits, i.e. all balances sum to zero.
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for account_id, account in ledger.accounts.items():
        b = balances[account_id]
        fields = (b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending)
        if any(value < 0 or value > MAX_AMOUNT for value in fields):
            problems.append(f"{account_id}: a running sum is out of range: {b}")
        total = sums[account.currency]
        for index, value in enumerate(fields):
            total[index] += value
        if (
            account.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
            and b.debits_posted + b.debits_pending > b.credits_posted
        ):
            problems.append(f"{account_id}: debits exceed credits on a credit-only account")
        if (
            account.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
            and b.credits_posted + b.credits_pending > b.debits_posted
        ):
            problems.append(f"{account_id}: credits exceed debits on a debit-only account")
    for currency, (dp, cp, dpend, cpend) in sums.items():
        if dp != cp:
            problems.append(f"{currency}: posted debits {dp} != posted credits {cp}")
        if dpend != cpend:
            problems.append(f"{currency}: pending debits {dpend} != pending credits {cpend}")

    # The pending sums are exactly the reservations still open.
    open_debits: dict[str, int] = defaultdict(int)
    open_credits: dict[str, int] = defaultdict(int)
    for transfer in ledger.transfers():
        if transfer.flags is TransferFlags.PENDING:
            if ledger.pending_status(transfer.id) is PendingStatus.PENDING:
                open_debits[transfer.debit_account_id] += transfer.amount
                open_credits[transfer.credit_account_id] += transfer.amount
        elif transfer.flags in _RESOLUTION:
            target = transfer.pending_id
            expected = _RESOLUTION[transfer.flags]
            if target is None or ledger.pending_status(target) is not expected:
                problems.append(f"{transfer.id}: {target!r} should be {expected.value}")
    for account_id, b in balances.items():
        if b.debits_pending != open_debits[account_id]:
            problems.append(f"{account_id}: pending debits {b.debits_pending} do not match")
        if b.credits_pending != open_credits[account_id]:
            problems.append(f"{account_id}: pending credits {b.credits_pending} do not match")
    return tuple(problems)


def check_invariants(ledger: Ledger) -> None:
    """Raise `InvariantViolation` listing every broken invariant."""
    problems = invariant_problems(ledger)
    if problems:
        raise InvariantViolation(problems)
