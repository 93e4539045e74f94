"""The pure ledger, persisted: append-only transfers with client-chosen ids (blocking).

`append` checks each transfer with the pure `Ledger` on a small ledger seeded with the stored
running sums of the accounts it touches (and the pending transfer it resolves), so every rule
(idempotency, limits, two-phase, currency) is the pure module's. Only then is the row inserted
and the stored sums moved by exactly what the pure ledger moved. Account rows are locked
(`FOR UPDATE` on PostgreSQL; SQLite serialises writers) so two writers cannot both spend the
same headroom. `replay` rebuilds the whole ledger from history and checks its invariants.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.ledger import (
    Account,
    AccountFlags,
    AlreadyApplied,
    Ledger,
    Rejected,
    Transfer,
    TransferFlags,
    TransferRejectedError,
    check_invariants,
)
from medipay_backend.ledger.errors import LedgerError
from medipay_backend.models_ledger import LedgerAccount, LedgerTransfer

__all__ = ["LedgerAccount", "LedgerConflictError", "Meta", "append", "open_accounts", "replay"]

# The seed account of the scratch ledger; never stored (chart ids start with a letter).
_OPENING = "~opening"


class LedgerConflictError(LedgerError):
    """A transfer id was used before with different content."""


@dataclass(frozen=True, slots=True)
class Meta:
    """What the settlement runner needs beside the transfer itself."""

    source: str = "other"
    clinic_id: str | None = None
    stream: str | None = None
    kid: str | None = None


def open_accounts(session: Session, accounts: Iterable[Account]) -> None:
    """Create missing accounts; an existing one must be identical."""
    for account in accounts:
        row = session.get(LedgerAccount, account.id)
        if row is None:
            session.add(LedgerAccount(
                id=account.id, currency=account.currency, code=int(account.code),
                flags=account.flags.value, debits_posted=0, credits_posted=0,
                debits_pending=0, credits_pending=0,
            ))
        elif _account(row) != account:
            raise LedgerConflictError(f"account {account.id!r} exists with other terms")
    session.flush()


def _account(row: LedgerAccount) -> Account:
    return Account(row.id, row.currency, row.code, AccountFlags(row.flags))


def to_transfer(row: LedgerTransfer) -> Transfer:
    return Transfer(
        id=row.id, debit_account_id=row.debit_account_id,
        credit_account_id=row.credit_account_id, amount=row.amount, currency=row.currency,
        code=row.code, timestamp=row.timestamp, flags=TransferFlags(row.flags),
        pending_id=row.pending_id, reference=row.reference,
    )


def append(
    session: Session, transfer: Transfer, meta: Meta, now: datetime
) -> bool:
    """Store `transfer`. True if new, False for an exact repeat; raises on anything else."""
    stored = session.scalar(sa.select(LedgerTransfer).where(LedgerTransfer.id == transfer.id))
    if stored is not None:
        if to_transfer(stored).content() == transfer.content():
            return False
        raise LedgerConflictError(f"transfer {transfer.id!r} exists with different content")
    ids = sorted({transfer.debit_account_id, transfer.credit_account_id})
    rows = {
        row.id: row
        for row in session.scalars(
            sa.select(LedgerAccount).where(LedgerAccount.id.in_(ids))
            .order_by(LedgerAccount.id).with_for_update()
        )
    }
    pending = _pending_of(session, transfer)
    scratch = _scratch(rows.values(), pending)
    before = {account_id: scratch.balance(account_id) for account_id in rows}
    result = scratch.apply(transfer)
    if isinstance(result, Rejected):
        raise TransferRejectedError(transfer.id, result.reason, result.detail)
    if isinstance(result, AlreadyApplied):  # pragma: no cover - looked up above
        return False
    for account_id, row in rows.items():
        old, new = before[account_id], scratch.balance(account_id)
        row.debits_posted += new.debits_posted - old.debits_posted
        row.credits_posted += new.credits_posted - old.credits_posted
        row.debits_pending += new.debits_pending - old.debits_pending
        row.credits_pending += new.credits_pending - old.credits_pending
    session.add(LedgerTransfer(
        id=transfer.id, debit_account_id=transfer.debit_account_id,
        credit_account_id=transfer.credit_account_id, amount=transfer.amount,
        currency=transfer.currency, code=transfer.code, flags=transfer.flags.value,
        pending_id=transfer.pending_id, reference=transfer.reference,
        timestamp=transfer.timestamp, clinic_id=meta.clinic_id, stream=meta.stream,
        source=meta.source, kid=meta.kid, recorded_at=now,
    ))
    session.flush()
    return True


def append_all(
    session: Session, items: Sequence[tuple[Transfer, Meta]], now: datetime
) -> int:
    """Append in order; returns how many were new."""
    return sum(append(session, transfer, meta, now) for transfer, meta in items)


def _pending_of(session: Session, transfer: Transfer) -> tuple[Transfer, bool] | None:
    """The pending transfer a post/void refers to, and whether it is still open."""
    if transfer.pending_id is None:
        return None
    row = session.scalar(
        sa.select(LedgerTransfer).where(LedgerTransfer.id == transfer.pending_id)
    )
    if row is None:
        return None
    resolved = session.scalar(
        sa.select(sa.func.count()).select_from(LedgerTransfer)
        .where(LedgerTransfer.pending_id == row.id)
    )
    return to_transfer(row), not resolved


def _scratch(rows: Iterable[LedgerAccount], pending: tuple[Transfer, bool] | None) -> Ledger:
    """A ledger holding the stored sums of `rows`, seeded through an unlimited account."""
    rows = list(rows)
    ledger = Ledger([_account(row) for row in rows])
    currencies = {row.currency for row in rows}
    for currency in currencies:
        ledger.open_account(Account(f"{_OPENING}:{currency}", currency, 1))
    reserved: dict[str, tuple[int, int]] = {}
    if pending is not None and pending[1]:
        p = pending[0]
        reserved[p.debit_account_id] = (p.amount, 0)
        d, c = reserved.get(p.credit_account_id, (0, 0))
        reserved[p.credit_account_id] = (d, c + p.amount)
    seq = 0

    def seed(debit: str, credit: str, amount: int, currency: str, flags: TransferFlags) -> None:
        nonlocal seq
        if amount <= 0:
            return
        seq += 1
        ledger.apply_or_raise(Transfer(
            f"seed-{seq}", debit, credit, amount, currency, 1, _EPOCH, flags))

    for row in rows:
        opening = f"{_OPENING}:{row.currency}"
        rd, rc = reserved.get(row.id, (0, 0))
        # The side a limit is measured against goes first, so a limited account never passes
        # its limit on the way: credits for debit-limited (and unlimited) accounts, debits for
        # credit-limited ones (e.g. purchased claims, credited by payments and credit notes).
        credits_first = not AccountFlags(row.flags) & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
        if credits_first:
            seed(opening, row.id, row.credits_posted, row.currency, TransferFlags.NONE)
        seed(row.id, opening, row.debits_posted, row.currency, TransferFlags.NONE)
        if not credits_first:
            seed(opening, row.id, row.credits_posted, row.currency, TransferFlags.NONE)
        seed(opening, row.id, row.credits_pending - rc, row.currency, TransferFlags.PENDING)
        seed(row.id, opening, row.debits_pending - rd, row.currency, TransferFlags.PENDING)
    if pending is not None and pending[1]:
        ledger.apply_or_raise(pending[0])
    elif pending is not None:
        # Already resolved: a scratch copy marked resolved makes the pure ledger say so.
        p = pending[0]
        ledger.apply_or_raise(p)
        ledger.apply_or_raise(Transfer(
            f"{p.id}~resolved", p.debit_account_id, p.credit_account_id, p.amount,
            p.currency, p.code, p.timestamp, TransferFlags.VOID_PENDING, pending_id=p.id))
    return ledger


_EPOCH = datetime.fromisoformat("2000-01-01T00:00:00+00:00")


def replay(session: Session) -> Ledger:
    """The whole ledger rebuilt from history; its invariants and the stored sums checked."""
    rows = list(session.scalars(sa.select(LedgerAccount).order_by(LedgerAccount.id)))
    transfers = (
        to_transfer(row)
        for row in session.scalars(sa.select(LedgerTransfer).order_by(LedgerTransfer.seq))
    )
    ledger = Ledger.from_transfers([_account(row) for row in rows], transfers)
    check_invariants(ledger)
    for row in rows:
        b = ledger.balance(row.id)
        stored = (row.debits_posted, row.credits_posted, row.debits_pending, row.credits_pending)
        if stored != (b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending):
            raise LedgerError(f"stored sums of {row.id!r} disagree with its history")
    return ledger
