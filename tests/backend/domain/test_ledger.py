"""The ledger core: every rejection reason, idempotent repeats, two-phase transfers."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from medipay_backend.ledger import (
    MAX_AMOUNT,
    Account,
    AccountConflictError,
    AccountFlags,
    AlreadyApplied,
    Applied,
    Balance,
    InvalidAccountError,
    InvalidCorrectionError,
    InvariantViolation,
    Ledger,
    PendingStatus,
    Rejected,
    RejectReason,
    ReplayError,
    Transfer,
    TransferFlags,
    TransferRejectedError,
    UnknownAccountError,
    check_invariants,
    post_pending,
    reversal,
    void_pending,
)

from .conftest import LedgerFactory
from .support import T0

CREDIT_ONLY = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
DEBIT_ONLY = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS


def accounts() -> list[Account]:
    return [
        Account("cash", "NOK", 1),
        Account("payable", "NOK", 2),
        Account("revenue", "NOK", 3, CREDIT_ONLY),
        Account("claim", "NOK", 4, DEBIT_ONLY),
        Account("euro", "EUR", 1),
    ]


def tr(
    transfer_id: str,
    debit: str = "cash",
    credit: str = "payable",
    amount: int = 100,
    **changes: object,
) -> Transfer:
    base = Transfer(transfer_id, debit, credit, amount, "NOK", 10, T0)
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def book(make_ledger: LedgerFactory) -> Ledger:
    return make_ledger(accounts())


def rejected(result: object) -> RejectReason:
    assert isinstance(result, Rejected), result
    return result.reason


def test_single_phase_transfer_moves_posted_balances(book: Ledger) -> None:
    result = book.apply(tr("t1", amount=250))
    assert result == Applied(tr("t1", amount=250), 250)
    assert book.balance("cash") == Balance(debits_posted=250)
    assert book.balance("payable") == Balance(credits_posted=250)
    assert book.balance("payable").net_credit == 250
    assert book.balance("cash").net_debit == 250
    assert len(book) == 1
    assert list(book.transfers()) == [tr("t1", amount=250)]


def test_exact_repeat_is_a_no_op_even_with_a_later_timestamp(book: Ledger) -> None:
    book.apply(tr("t1"))
    before = book.balances()
    again = book.apply(tr("t1", timestamp=T0 + timedelta(seconds=5)))
    assert again == AlreadyApplied(tr("t1"))
    assert book.balances() == before
    assert len(book) == 1


def test_repeat_with_different_content_is_an_error(book: Ledger) -> None:
    book.apply(tr("t1"))
    before = book.balances()
    for changed in (
        tr("t1", amount=101),
        tr("t1", credit="revenue"),
        tr("t1", reference="other"),
        tr("t1", code=11),
    ):
        assert rejected(book.apply(changed)) is RejectReason.EXISTS_WITH_DIFFERENT_CONTENT
    assert book.balances() == before


def test_exact_repeat_is_answered_even_if_it_would_no_longer_pass(book: Ledger) -> None:
    book.apply(tr("fund", debit="claim", credit="cash", amount=100))
    book.apply(tr("collect", debit="cash", credit="claim", amount=100))
    # The claim is now fully paid; a new identical collection would exceed its debits,
    # but the retry of the one already booked is still answered as booked.
    assert isinstance(
        book.apply(tr("collect", debit="cash", credit="claim", amount=100)), AlreadyApplied
    )
    assert rejected(book.apply(tr("collect-2", debit="cash", credit="claim", amount=1))) is (
        RejectReason.EXCEEDS_DEBITS
    )


@pytest.mark.parametrize(
    ("transfer", "reason"),
    [
        (tr(""), RejectReason.INVALID_ID),
        (tr("has space"), RejectReason.INVALID_ID),
        (tr("x" * 129), RejectReason.INVALID_ID),
        (tr("t", flags=TransferFlags.PENDING | TransferFlags.VOID_PENDING),
         RejectReason.FLAGS_CONFLICT),
        (tr("t", timestamp=datetime(2026, 1, 5)), RejectReason.TIMESTAMP_NOT_AWARE),
        (tr("t", amount=0), RejectReason.INVALID_AMOUNT),
        (tr("t", amount=-5), RejectReason.INVALID_AMOUNT),
        (tr("t", amount=MAX_AMOUNT + 1), RejectReason.INVALID_AMOUNT),
        (tr("t", amount=True), RejectReason.INVALID_AMOUNT),
        (tr("t", amount=0, flags=TransferFlags.PENDING), RejectReason.INVALID_AMOUNT),
        (tr("t", code=0), RejectReason.INVALID_CODE),
        (tr("t", code=True), RejectReason.INVALID_CODE),
        (tr("t", credit="cash"), RejectReason.SAME_ACCOUNT),
        (tr("t", debit="nope"), RejectReason.DEBIT_ACCOUNT_NOT_FOUND),
        (tr("t", credit="nope"), RejectReason.CREDIT_ACCOUNT_NOT_FOUND),
        (tr("t", credit="euro"), RejectReason.CURRENCY_MISMATCH),
        (tr("t", currency="EUR"), RejectReason.CURRENCY_MISMATCH),
        (tr("t", pending_id="p"), RejectReason.PENDING_ID_NOT_ALLOWED),
        (tr("t", flags=TransferFlags.POST_PENDING), RejectReason.PENDING_ID_REQUIRED),
        (tr("t", flags=TransferFlags.VOID_PENDING, pending_id="nope"),
         RejectReason.PENDING_NOT_FOUND),
        (tr("t", debit="revenue"), RejectReason.EXCEEDS_CREDITS),
        (tr("t", credit="claim"), RejectReason.EXCEEDS_DEBITS),
        (tr("t", debit="revenue", flags=TransferFlags.PENDING), RejectReason.EXCEEDS_CREDITS),
    ],
)
def test_rejections_change_nothing(book: Ledger, transfer: Transfer, reason: RejectReason) -> None:
    before = book.balances()
    assert rejected(book.apply(transfer)) is reason
    assert book.balances() == before
    assert len(book) == 0
    # A rejected id is not used up: the corrected transfer goes through.
    if reason is RejectReason.EXCEEDS_CREDITS:
        assert isinstance(book.apply(tr(transfer.id)), Applied)


def test_limits_count_pending_reservations(book: Ledger) -> None:
    book.apply(tr("earn", debit="cash", credit="revenue", amount=100))
    book.apply(tr("hold", debit="revenue", credit="cash", amount=60, flags=TransferFlags.PENDING))
    # 60 reserved + 50 would exceed the 100 of credits.
    assert rejected(book.apply(tr("more", debit="revenue", credit="cash", amount=50))) is (
        RejectReason.EXCEEDS_CREDITS
    )
    assert isinstance(book.apply(tr("fits", debit="revenue", credit="cash", amount=40)), Applied)
    assert book.balance("revenue") == Balance(
        debits_posted=40, credits_posted=100, debits_pending=60
    )


def test_pending_then_full_post(book: Ledger) -> None:
    pending = tr("auth", amount=500, flags=TransferFlags.PENDING)
    assert book.apply(pending) == Applied(pending, 500)
    assert book.balance("payable") == Balance(credits_pending=500)
    assert book.pending_status("auth") is PendingStatus.PENDING
    capture = post_pending(pending, "capture", T0 + timedelta(minutes=1))
    assert capture.amount == 0 and capture.reference == pending.reference
    assert book.apply(capture) == Applied(capture, 500)
    assert book.balance("payable") == Balance(credits_posted=500)
    assert book.pending_status("auth") is PendingStatus.POSTED
    assert book.pending_status("capture") is None


def test_partial_post_releases_the_rest(book: Ledger) -> None:
    pending = tr("auth", amount=500, flags=TransferFlags.PENDING)
    book.apply(pending)
    result = book.apply(post_pending(pending, "capture", T0, amount=320))
    assert isinstance(result, Applied) and result.amount == 320
    assert book.balance("cash") == Balance(debits_posted=320)
    assert book.balance("payable") == Balance(credits_posted=320)


def test_void_releases_everything(book: Ledger) -> None:
    pending = tr("auth", amount=500, flags=TransferFlags.PENDING)
    book.apply(pending)
    result = book.apply(void_pending(pending, "cancel", T0))
    assert isinstance(result, Applied) and result.amount == 0
    assert book.balance("cash") == Balance()
    assert book.pending_status("auth") is PendingStatus.VOIDED


def test_second_phase_rejections(book: Ledger) -> None:
    pending = tr("auth", amount=500, flags=TransferFlags.PENDING)
    book.apply(pending)
    book.apply(tr("plain"))
    post = post_pending(pending, "post", T0)
    assert rejected(book.apply(replace(post, amount=501))) is RejectReason.EXCEEDS_PENDING_AMOUNT
    assert rejected(book.apply(replace(post, credit_account_id="revenue"))) is (
        RejectReason.PENDING_MISMATCH
    )
    assert rejected(book.apply(replace(post, code=99))) is RejectReason.PENDING_MISMATCH
    assert rejected(book.apply(replace(post, pending_id="plain"))) is (
        RejectReason.NOT_A_PENDING_TRANSFER
    )
    void = void_pending(pending, "void", T0)
    assert rejected(book.apply(replace(void, amount=499))) is RejectReason.VOID_AMOUNT_MISMATCH
    assert rejected(book.apply(replace(void, amount=0))) is RejectReason.INVALID_AMOUNT
    before = book.balances()
    assert len(book) == 2 and book.balances() == before

    assert isinstance(book.apply(post), Applied)
    assert rejected(book.apply(post_pending(pending, "post-again", T0))) is (
        RejectReason.PENDING_ALREADY_POSTED
    )
    assert rejected(book.apply(void)) is RejectReason.PENDING_ALREADY_POSTED
    # The post itself may be retried.
    assert isinstance(book.apply(post), AlreadyApplied)

    second = tr("auth-2", amount=10, flags=TransferFlags.PENDING)
    book.apply(second)
    book.apply(void_pending(second, "void-2", T0))
    assert rejected(book.apply(post_pending(second, "post-2", T0))) is (
        RejectReason.PENDING_ALREADY_VOIDED
    )


def test_overflow_is_rejected(make_ledger: LedgerFactory) -> None:
    book = make_ledger([Account("a", "NOK", 1), Account("b", "NOK", 1)])
    assert isinstance(book.apply(tr("big", "a", "b", MAX_AMOUNT)), Applied)
    assert rejected(book.apply(tr("one-more", "a", "b", 1))) is RejectReason.OVERFLOW
    pending = tr("p", "b", "a", MAX_AMOUNT, flags=TransferFlags.PENDING)
    assert isinstance(book.apply(pending), Applied)
    assert rejected(book.apply(tr("p2", "b", "a", 1, flags=TransferFlags.PENDING))) is (
        RejectReason.OVERFLOW
    )


def test_reversal_is_a_new_transfer(book: Ledger) -> None:
    original = tr("t1", amount=300)
    book.apply(original)
    correction = reversal(original, "t1-fix", T0, amount=100, code=90)
    assert book.apply(correction) == Applied(correction, 100)
    assert book.transfer("t1") == original
    assert book.balance("payable").net_credit == 200
    assert correction.reference == "reversal of t1"


def test_reversal_refuses_what_it_cannot_reverse(book: Ledger) -> None:
    pending = tr("auth", flags=TransferFlags.PENDING)
    with pytest.raises(InvalidCorrectionError):
        reversal(pending, "x", T0)
    with pytest.raises(InvalidCorrectionError):
        reversal(post_pending(pending, "cap", T0), "x", T0)
    assert reversal(post_pending(pending, "cap", T0), "x", T0, amount=100).amount == 100


def test_apply_or_raise(book: Ledger) -> None:
    assert isinstance(book.apply_or_raise(tr("t1")), Applied)
    assert isinstance(book.apply_or_raise(tr("t1")), AlreadyApplied)
    with pytest.raises(TransferRejectedError) as caught:
        book.apply_or_raise(tr("t2", amount=0))
    assert caught.value.reason is RejectReason.INVALID_AMOUNT
    assert caught.value.transfer_id == "t2"


def test_accounts_open_once(book: Ledger) -> None:
    assert book.open_account(Account("cash", "NOK", 1)) is False
    with pytest.raises(AccountConflictError):
        book.open_account(Account("cash", "NOK", 2))
    assert book.open_account(Account("new", "NOK", 1)) is True
    assert book.balance("new") == Balance()
    assert "new" in book.accounts
    with pytest.raises(UnknownAccountError):
        book.balance("missing")


@pytest.mark.parametrize(
    "make",
    [
        lambda: Account("", "NOK", 1),
        lambda: Account("a b", "NOK", 1),
        lambda: Account("a", "nok", 1),
        lambda: Account("a", "NOK", 0),
        lambda: Account("a", "NOK", True),
        lambda: Account("a", "NOK", 1, CREDIT_ONLY | DEBIT_ONLY),
    ],
)
def test_invalid_accounts(make: object) -> None:
    with pytest.raises(InvalidAccountError):
        make()  # type: ignore[operator]


def test_from_transfers_rebuilds_the_state(book: Ledger) -> None:
    pending = tr("auth", amount=500, flags=TransferFlags.PENDING)
    for transfer in (tr("t1"), pending, post_pending(pending, "cap", T0, amount=200)):
        book.apply(transfer)
    again = Ledger.from_transfers(accounts(), book.transfers())
    assert again.balances() == book.balances()
    assert again.pending_status("auth") is PendingStatus.POSTED


def test_replay_of_broken_history_raises(book: Ledger) -> None:
    pending = tr("auth", amount=500, flags=TransferFlags.PENDING)
    capture = post_pending(pending, "cap", T0)
    with pytest.raises(ReplayError) as caught:
        Ledger.from_transfers(accounts(), [capture, pending])  # reordered
    assert caught.value.position == 0 and caught.value.transfer_id == "cap"
    with pytest.raises(ReplayError, match="twice"):
        Ledger.from_transfers(accounts(), [tr("t1"), tr("t1")])


def test_check_invariants_sees_tampering(book: Ledger) -> None:
    book.apply(tr("t1"))
    check_invariants(book)
    # Reach into the private state only to prove the checker would notice a bookkeeping bug.
    book._balances["cash"][0] += 1
    with pytest.raises(InvariantViolation) as caught:
        check_invariants(book)
    assert any("posted debits" in problem for problem in caught.value.problems)
    book._balances["cash"][0] -= 1
