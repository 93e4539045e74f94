"""Double-entry ledger: append-only transfers with client-chosen ids, two-phase payments.

Pure and synchronous (DESIGN.md section 2): no I/O, no clock, no database. The database layer
stores the accepted transfers and rebuilds the state with `Ledger.from_transfers`.
"""

from __future__ import annotations

from .core import Ledger, post_pending, reversal, void_pending
from .errors import (
    AccountConflictError,
    InvalidAccountError,
    InvalidCorrectionError,
    InvariantViolation,
    LedgerError,
    ReplayError,
    TransferRejectedError,
    UnknownAccountError,
)
from .invariants import check_invariants, invariant_problems
from .model import (
    MAX_AMOUNT,
    MAX_ID_LENGTH,
    Account,
    AccountFlags,
    AlreadyApplied,
    Applied,
    Balance,
    PendingStatus,
    Rejected,
    RejectReason,
    Transfer,
    TransferFlags,
    TransferResult,
)

__all__ = [
    "MAX_AMOUNT",
    "MAX_ID_LENGTH",
    "Account",
    "AccountConflictError",
    "AccountFlags",
    "AlreadyApplied",
    "Applied",
    "Balance",
    "InvalidAccountError",
    "InvalidCorrectionError",
    "InvariantViolation",
    "Ledger",
    "LedgerError",
    "PendingStatus",
    "Rejected",
    "RejectReason",
    "ReplayError",
    "Transfer",
    "TransferFlags",
    "TransferRejectedError",
    "TransferResult",
    "UnknownAccountError",
    "check_invariants",
    "invariant_problems",
    "post_pending",
    "reversal",
    "void_pending",
]
