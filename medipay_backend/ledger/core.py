"""The ledger state and the one way to change it: `Ledger.apply(transfer)`.

`apply` validates everything first and only then touches the balances, so a rejected transfer
leaves the ledger exactly as it was. The state is plain data (accounts, four running sums per
account, every accepted transfer by id, the status of each pending transfer), so a database
layer can persist the accepted transfers and rebuild the same state with `from_transfers`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from types import MappingProxyType

from .errors import (
    AccountConflictError,
    InvalidCorrectionError,
    ReplayError,
    TransferRejectedError,
    UnknownAccountError,
)
from .model import (
    ID_PATTERN,
    MAX_AMOUNT,
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

# Positions in the per-account running sums. A list of four ints is mutated in place on
# success; it is much cheaper than building a new frozen object per transfer (see
# benchmarks/ledger.py), and it never leaves this module: callers get `Balance` snapshots.
_DP, _CP, _DPEND, _CPEND = 0, 1, 2, 3
_NONE = TransferFlags.NONE
_PENDING = TransferFlags.PENDING
_POST = TransferFlags.POST_PENDING
_VOID = TransferFlags.VOID_PENDING
_KINDS = frozenset({_NONE, _PENDING, _POST, _VOID})


class Ledger:
    """Accounts, balances and the accepted transfers, in the order they were accepted."""

    __slots__ = ("_accounts", "_balances", "_transfers", "_status", "_dmnec", "_cmned")

    def __init__(self, accounts: Iterable[Account] = ()) -> None:
        self._accounts: dict[str, Account] = {}
        self._balances: dict[str, list[int]] = {}
        self._transfers: dict[str, Transfer] = {}
        self._status: dict[str, PendingStatus] = {}
        # Ids of accounts with a limit flag, looked up on every transfer.
        self._dmnec: set[str] = set()
        self._cmned: set[str] = set()
        for account in accounts:
            self.open_account(account)

    @classmethod
    def from_transfers(cls, accounts: Iterable[Account], transfers: Iterable[Transfer]) -> Ledger:
        """Rebuild a ledger from stored history. Anything but a clean replay is a `ReplayError`."""
        ledger = cls(accounts)
        for position, transfer in enumerate(transfers):
            result = ledger.apply(transfer)
            if isinstance(result, Rejected):
                raise ReplayError(
                    position, transfer.id, f"{result.reason.value}: {result.detail}"
                )
            if isinstance(result, AlreadyApplied):
                raise ReplayError(position, transfer.id, "the id occurs twice in the history")
        return ledger

    # -- accounts ---------------------------------------------------------------------------

    def open_account(self, account: Account) -> bool:
        """Add an account. True if it is new, False for an exact repeat (a no-op)."""
        existing = self._accounts.get(account.id)
        if existing is not None:
            if existing == account:
                return False
            raise AccountConflictError(
                f"account {account.id!r} is already open as {existing!r}, not {account!r}"
            )
        self._accounts[account.id] = account
        self._balances[account.id] = [0, 0, 0, 0]
        if account.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS:
            self._dmnec.add(account.id)
        if account.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS:
            self._cmned.add(account.id)
        return True

    @property
    def accounts(self) -> Mapping[str, Account]:
        return MappingProxyType(self._accounts)

    def balance(self, account_id: str) -> Balance:
        sums = self._balances.get(account_id)
        if sums is None:
            raise UnknownAccountError(f"no account {account_id!r}")
        return Balance(sums[_DP], sums[_CP], sums[_DPEND], sums[_CPEND])

    def balances(self) -> dict[str, Balance]:
        return {account_id: self.balance(account_id) for account_id in self._balances}

    # -- transfers --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._transfers)

    def transfer(self, transfer_id: str) -> Transfer | None:
        return self._transfers.get(transfer_id)

    def transfers(self) -> Iterator[Transfer]:
        """Every accepted transfer in the order it was accepted (the order to replay)."""
        return iter(self._transfers.values())

    def pending_status(self, transfer_id: str) -> PendingStatus | None:
        """The status of a pending transfer, or None if `transfer_id` is not one."""
        return self._status.get(transfer_id)

    def apply_or_raise(self, transfer: Transfer) -> Applied | AlreadyApplied:
        result = self.apply(transfer)
        if isinstance(result, Rejected):
            raise TransferRejectedError(transfer.id, result.reason, result.detail)
        return result

    def apply(self, transfer: Transfer) -> TransferResult:
        """Validate `transfer` and, only if every check passes, add it to the ledger."""
        transfer_id = transfer.id
        if not isinstance(transfer_id, str) or not ID_PATTERN.fullmatch(transfer_id):
            return Rejected(transfer, RejectReason.INVALID_ID, "ids are 1-128 printable ASCII")
        stored = self._transfers.get(transfer_id)
        if stored is not None:
            # Idempotency: an exact repeat is answered from history even if the same transfer
            # would no longer pass (say the balance has moved on since).
            if stored.content() == transfer.content():
                return AlreadyApplied(stored)
            return Rejected(
                transfer,
                RejectReason.EXISTS_WITH_DIFFERENT_CONTENT,
                "this id was already used for a different transfer",
            )
        flags = transfer.flags
        if flags not in _KINDS:
            return Rejected(transfer, RejectReason.FLAGS_CONFLICT, f"{flags!r}: at most one flag")
        timestamp = transfer.timestamp
        if not isinstance(timestamp, datetime) or timestamp.utcoffset() is None:
            return Rejected(transfer, RejectReason.TIMESTAMP_NOT_AWARE, "needs a tz-aware time")
        amount = transfer.amount
        if type(amount) is not int or amount < 0 or amount > MAX_AMOUNT:
            return Rejected(transfer, RejectReason.INVALID_AMOUNT, f"amount {amount!r} øre")
        if amount == 0 and flags is not _POST:
            return Rejected(
                transfer, RejectReason.INVALID_AMOUNT, "only a post may carry 0 (= in full)"
            )
        code = transfer.code
        if not isinstance(code, int) or isinstance(code, bool) or code < 1:
            return Rejected(transfer, RejectReason.INVALID_CODE, f"code {code!r}")
        debit_id = transfer.debit_account_id
        credit_id = transfer.credit_account_id
        if debit_id == credit_id:
            return Rejected(transfer, RejectReason.SAME_ACCOUNT, "debit and credit are the same")
        debit = self._balances.get(debit_id) if isinstance(debit_id, str) else None
        if debit is None:
            return Rejected(transfer, RejectReason.DEBIT_ACCOUNT_NOT_FOUND, repr(debit_id))
        credit = self._balances.get(credit_id) if isinstance(credit_id, str) else None
        if credit is None:
            return Rejected(transfer, RejectReason.CREDIT_ACCOUNT_NOT_FOUND, repr(credit_id))
        currency = transfer.currency
        if (
            currency != self._accounts[debit_id].currency
            or currency != self._accounts[credit_id].currency
        ):
            return Rejected(
                transfer, RejectReason.CURRENCY_MISMATCH, "both accounts must be in the currency"
            )

        if flags is _NONE or flags is _PENDING:
            if transfer.pending_id is not None:
                return Rejected(
                    transfer, RejectReason.PENDING_ID_NOT_ALLOWED, "only posts and voids refer"
                )
            # Limits count pending amounts too: a reservation must not promise money that the
            # account may not give (this is what makes an authorization safe to capture).
            if debit_id in self._dmnec and debit[_DP] + debit[_DPEND] + amount > debit[_CP]:
                return Rejected(transfer, RejectReason.EXCEEDS_CREDITS, f"debit {debit_id!r}")
            if credit_id in self._cmned and credit[_CP] + credit[_CPEND] + amount > credit[_DP]:
                return Rejected(transfer, RejectReason.EXCEEDS_DEBITS, f"credit {credit_id!r}")
            field = _DP if flags is _NONE else _DPEND
            if debit[field] + amount > MAX_AMOUNT or credit[field + 1] + amount > MAX_AMOUNT:
                return Rejected(transfer, RejectReason.OVERFLOW, "a balance would pass 2**63-1")
            debit[field] += amount
            credit[field + 1] += amount
            self._transfers[transfer_id] = transfer
            if flags is _PENDING:
                self._status[transfer_id] = PendingStatus.PENDING
            return Applied(transfer, amount)

        return self._resolve_pending(transfer, debit, credit)

    def _resolve_pending(
        self, transfer: Transfer, debit: list[int], credit: list[int]
    ) -> TransferResult:
        """Post or void a pending transfer (the second phase of a two-phase transfer)."""
        pending_id = transfer.pending_id
        if pending_id is None:
            return Rejected(transfer, RejectReason.PENDING_ID_REQUIRED, "post/void needs one")
        pending = self._transfers.get(pending_id) if isinstance(pending_id, str) else None
        if pending is None:
            return Rejected(transfer, RejectReason.PENDING_NOT_FOUND, repr(pending_id))
        status = self._status.get(pending_id)
        if status is None:
            return Rejected(transfer, RejectReason.NOT_A_PENDING_TRANSFER, repr(pending_id))
        if status is PendingStatus.POSTED:
            return Rejected(transfer, RejectReason.PENDING_ALREADY_POSTED, repr(pending_id))
        if status is PendingStatus.VOIDED:
            return Rejected(transfer, RejectReason.PENDING_ALREADY_VOIDED, repr(pending_id))
        if (
            transfer.debit_account_id != pending.debit_account_id
            or transfer.credit_account_id != pending.credit_account_id
            or transfer.currency != pending.currency
            or transfer.code != pending.code
        ):
            return Rejected(
                transfer,
                RejectReason.PENDING_MISMATCH,
                "accounts, currency and code must repeat the pending transfer's",
            )
        reserved = pending.amount
        amount = transfer.amount
        if transfer.flags is _POST:
            if amount > reserved:
                return Rejected(
                    transfer, RejectReason.EXCEEDS_PENDING_AMOUNT, f"{amount} > {reserved} øre"
                )
            moved = amount or reserved
            if debit[_DP] + moved > MAX_AMOUNT or credit[_CP] + moved > MAX_AMOUNT:
                return Rejected(transfer, RejectReason.OVERFLOW, "a balance would pass 2**63-1")
            # A partial post releases the rest of the reservation. Posting never breaks a
            # limit: the reserved sum already counted against it and is at least `moved`.
            debit[_DPEND] -= reserved
            credit[_CPEND] -= reserved
            debit[_DP] += moved
            credit[_CP] += moved
            self._status[pending_id] = PendingStatus.POSTED
        else:
            if amount != reserved:
                return Rejected(
                    transfer, RejectReason.VOID_AMOUNT_MISMATCH, f"{amount} != {reserved} øre"
                )
            moved = 0
            debit[_DPEND] -= reserved
            credit[_CPEND] -= reserved
            self._status[pending_id] = PendingStatus.VOIDED
        self._transfers[transfer.id] = transfer
        return Applied(transfer, moved)


# -- transfer builders ----------------------------------------------------------------------


def post_pending(
    pending: Transfer, transfer_id: str, timestamp: datetime, amount: int = 0, reference: str = ""
) -> Transfer:
    """The transfer that captures `pending`: in full with amount 0, else `amount` øre."""
    return Transfer(
        id=transfer_id,
        debit_account_id=pending.debit_account_id,
        credit_account_id=pending.credit_account_id,
        amount=amount,
        currency=pending.currency,
        code=pending.code,
        timestamp=timestamp,
        flags=TransferFlags.POST_PENDING,
        pending_id=pending.id,
        reference=reference or pending.reference,
    )


def void_pending(
    pending: Transfer, transfer_id: str, timestamp: datetime, reference: str = ""
) -> Transfer:
    """The transfer that releases the reservation of `pending` without moving money."""
    return Transfer(
        id=transfer_id,
        debit_account_id=pending.debit_account_id,
        credit_account_id=pending.credit_account_id,
        amount=pending.amount,
        currency=pending.currency,
        code=pending.code,
        timestamp=timestamp,
        flags=TransferFlags.VOID_PENDING,
        pending_id=pending.id,
        reference=reference or pending.reference,
    )


def reversal(
    original: Transfer,
    transfer_id: str,
    timestamp: datetime,
    amount: int | None = None,
    code: int | None = None,
    reference: str = "",
) -> Transfer:
    """A correction: a new single-phase transfer moving (part of) `original` back.

    The original stays in history untouched; reports show both. A pending transfer is not
    reversed but voided, and a post that moved "the full amount" (amount 0) needs the amount
    that moved (`Applied.amount`) spelled out.
    """
    if original.flags in (TransferFlags.PENDING, TransferFlags.VOID_PENDING):
        raise InvalidCorrectionError(f"{original.id!r} moved no money; void a pending instead")
    if amount is None and original.amount == 0:
        raise InvalidCorrectionError(f"{original.id!r} posted the full pending amount; give it")
    return Transfer(
        id=transfer_id,
        debit_account_id=original.credit_account_id,
        credit_account_id=original.debit_account_id,
        amount=original.amount if amount is None else amount,
        currency=original.currency,
        code=original.code if code is None else code,
        timestamp=timestamp,
        reference=reference or f"reversal of {original.id}",
    )
