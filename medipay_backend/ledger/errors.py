"""Typed errors of the ledger. Every error the ledger raises is a `LedgerError`.

A rejected transfer is normally *returned* (`Rejected`), not raised: a caller that submits a
batch wants every answer. The raising forms exist for code paths where a rejection is a bug
(replaying stored history, building the chart of accounts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import RejectReason


class LedgerError(Exception):
    """Base of every error raised by `medipay_backend.ledger`."""


class InvalidAccountError(LedgerError):
    """An account definition is malformed (bad id, currency, code or flags)."""


class AccountConflictError(LedgerError):
    """An account id is already open with a different definition."""


class UnknownAccountError(LedgerError):
    """A balance or account was asked for by an id the ledger does not hold."""


class InvalidCorrectionError(LedgerError):
    """A correction was asked for a transfer that cannot be reversed that way."""


class TransferRejectedError(LedgerError):
    """`Ledger.apply_or_raise` was given a transfer the ledger rejects."""

    def __init__(self, transfer_id: str, reason: RejectReason, detail: str) -> None:
        super().__init__(f"transfer {transfer_id!r} rejected: {reason.value}: {detail}")
        self.transfer_id = transfer_id
        self.reason = reason
        self.detail = detail


class ReplayError(LedgerError):
    """Stored history does not replay: a transfer that was once accepted is now refused.

    This means stored transfers were edited, reordered, duplicated or lost; it is never a normal
    outcome, so it is raised rather than returned.
    """

    def __init__(self, position: int, transfer_id: str, detail: str) -> None:
        super().__init__(f"replay stopped at {position} (transfer {transfer_id!r}): {detail}")
        self.position = position
        self.transfer_id = transfer_id
        self.detail = detail


class InvariantViolation(LedgerError):
    """`check_invariants` found balances that cannot come from valid transfers."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
