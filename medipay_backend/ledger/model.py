"""Plain data of the ledger: accounts, transfers, balances and the answers to `apply`.

The model follows the two-phase, append-only design described in the TigerBeetle docs:
a transfer moves `amount` (øre) from a debit account to a credit account; a *pending*
transfer reserves the amount and is later *posted* (in full or in part) or *voided* by a new
transfer pointing at it with `pending_id`. Nothing is ever edited; a correction is a new
transfer in the opposite direction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, Flag, auto

from .errors import InvalidAccountError

# Ids are chosen by the client so that a retry can be recognised. 128 printable ASCII
# characters fit an indexed VARCHAR key in SQLite and PostgreSQL and leave room for readable
# ids such as "capture:order-2026-000123".
MAX_ID_LENGTH = 128
ID_PATTERN = re.compile(rf"[!-~]{{1,{MAX_ID_LENGTH}}}")
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
# Amounts and balances are persisted in signed 64-bit columns (PostgreSQL BIGINT), so no
# amount or balance field may grow past 2**63 - 1 øre.
MAX_AMOUNT = 2**63 - 1


class AccountFlags(Flag):
    """Limits an account enforces on every new transfer (the two are mutually exclusive)."""

    NONE = 0
    # A credit-normal account that must never go into debit (revenue, suspense, a payable).
    DEBITS_MUST_NOT_EXCEED_CREDITS = auto()
    # A debit-normal account that must never go into credit (a claim cannot be overpaid).
    CREDITS_MUST_NOT_EXCEED_DEBITS = auto()


class TransferFlags(Flag):
    """What kind of transfer this is. At most one flag may be set; none means single-phase."""

    NONE = 0
    PENDING = auto()
    POST_PENDING = auto()
    VOID_PENDING = auto()


@dataclass(frozen=True, slots=True)
class Account:
    """An account in one currency. `code` is the chart-of-accounts type (see `chart.py`)."""

    id: str
    currency: str
    code: int
    flags: AccountFlags = AccountFlags.NONE

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not ID_PATTERN.fullmatch(self.id):
            raise InvalidAccountError(
                f"account id must be 1-{MAX_ID_LENGTH} printable ASCII characters without "
                f"spaces, got {self.id!r}"
            )
        if not isinstance(self.currency, str) or not CURRENCY_PATTERN.fullmatch(self.currency):
            raise InvalidAccountError(f"currency must be an ISO 4217 code, got {self.currency!r}")
        if not isinstance(self.code, int) or isinstance(self.code, bool) or self.code < 1:
            raise InvalidAccountError(f"account code must be a positive int, got {self.code!r}")
        both = (
            AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
            | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
        )
        if self.flags & both == both:
            raise InvalidAccountError(f"account {self.id!r}: the limit flags exclude each other")


@dataclass(frozen=True, slots=True)
class Transfer:
    """One movement of money, exactly as the client submitted it.

    `timestamp` is when the transfer was accepted (timezone-aware, passed in by the caller; the
    ledger never reads a clock). `reference` is free user data, e.g. an order or KID, kept for
    reports. For POST_PENDING and VOID_PENDING transfers the accounts, currency and code must
    repeat those of the pending transfer; `amount` 0 on a post means "the full pending amount".
    """

    id: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    currency: str
    code: int
    timestamp: datetime
    flags: TransferFlags = TransferFlags.NONE
    pending_id: str | None = None
    reference: str = ""

    def content(self) -> tuple[object, ...]:
        """Everything that makes two submissions the same transfer.

        The timestamp is left out on purpose: it records when the ledger accepted the transfer,
        so a client's retry stamped a few seconds later is still the same transfer.
        """
        return (
            self.id,
            self.debit_account_id,
            self.credit_account_id,
            self.amount,
            self.currency,
            self.code,
            self.flags,
            self.pending_id,
            self.reference,
        )


@dataclass(frozen=True, slots=True)
class Balance:
    """The four running sums of an account, all non-negative øre."""

    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0

    @property
    def net_credit(self) -> int:
        """Posted credits minus posted debits (positive on a payable that owes money)."""
        return self.credits_posted - self.debits_posted

    @property
    def net_debit(self) -> int:
        """Posted debits minus posted credits (positive on an asset such as a claim)."""
        return self.debits_posted - self.credits_posted


class PendingStatus(Enum):
    """Where a pending transfer stands. It leaves PENDING exactly once."""

    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


class RejectReason(Enum):
    """Why a transfer was rejected. The values are stable: they may be stored and shown."""

    INVALID_ID = "invalid_id"
    FLAGS_CONFLICT = "flags_conflict"
    TIMESTAMP_NOT_AWARE = "timestamp_not_aware"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_CODE = "invalid_code"
    SAME_ACCOUNT = "same_account"
    PENDING_ID_REQUIRED = "pending_id_required"
    PENDING_ID_NOT_ALLOWED = "pending_id_not_allowed"
    PENDING_NOT_FOUND = "pending_not_found"
    NOT_A_PENDING_TRANSFER = "not_a_pending_transfer"
    PENDING_ALREADY_POSTED = "pending_already_posted"
    PENDING_ALREADY_VOIDED = "pending_already_voided"
    PENDING_MISMATCH = "pending_mismatch"
    EXCEEDS_PENDING_AMOUNT = "exceeds_pending_amount"
    VOID_AMOUNT_MISMATCH = "void_amount_mismatch"
    DEBIT_ACCOUNT_NOT_FOUND = "debit_account_not_found"
    CREDIT_ACCOUNT_NOT_FOUND = "credit_account_not_found"
    CURRENCY_MISMATCH = "currency_mismatch"
    EXCEEDS_CREDITS = "exceeds_credits"
    EXCEEDS_DEBITS = "exceeds_debits"
    OVERFLOW = "overflow"
    EXISTS_WITH_DIFFERENT_CONTENT = "exists_with_different_content"


@dataclass(frozen=True, slots=True)
class Applied:
    """The transfer was new and is now part of the ledger.

    `amount` is what actually moved: for a post with amount 0 it is the full pending amount.
    """

    transfer: Transfer
    amount: int


@dataclass(frozen=True, slots=True)
class AlreadyApplied:
    """An exact repeat of a stored transfer: nothing changed. `transfer` is the stored one."""

    transfer: Transfer


@dataclass(frozen=True, slots=True)
class Rejected:
    """The transfer was refused and the ledger is exactly as it was before."""

    transfer: Transfer
    reason: RejectReason
    detail: str


TransferResult = Applied | AlreadyApplied | Rejected
