"""Property tests of the ledger: random histories of transfers, pending transfers, posts,
voids and repeats keep the invariants; rejections change nothing; replays are exact.

A small reference model (plain sums per account, written independently of `core.py`) says
which transfers must be accepted and what every balance must be.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from medipay_backend.ledger import (
    Account,
    AccountFlags,
    AlreadyApplied,
    Applied,
    Balance,
    Ledger,
    Rejected,
    RejectReason,
    Transfer,
    TransferFlags,
    TransferResult,
    check_invariants,
    post_pending,
    void_pending,
)

from .support import T0, assert_sound

ACCOUNTS = (
    Account("plain-a", "NOK", 1),
    Account("plain-b", "NOK", 1),
    Account("credit-only", "NOK", 2, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
    Account("debit-only", "NOK", 3, AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS),
    Account("euro", "EUR", 1),
)
NOK_IDS = [a.id for a in ACCOUNTS if a.currency == "NOK"]
ALL_IDS = [a.id for a in ACCOUNTS]
FLAGS = {a.id: a.flags for a in ACCOUNTS}


@dataclass
class Model:
    """Sums per account and the status of each pending transfer, kept the simplest way."""

    sums: dict[str, list[int]] = field(default_factory=lambda: {i: [0, 0, 0, 0] for i in ALL_IDS})
    pending: dict[str, tuple[Transfer, str]] = field(default_factory=dict)

    def balances(self) -> dict[str, Balance]:
        return {i: Balance(*s) for i, s in self.sums.items()}

    def accepts(self, t: Transfer) -> bool:
        """Whether a well-formed, new transfer on existing same-currency accounts passes."""
        if t.flags in (TransferFlags.NONE, TransferFlags.PENDING):
            dp, cp, dpend, _ = self.sums[t.debit_account_id]
            if FLAGS[t.debit_account_id] & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS and (
                dp + dpend + t.amount > cp
            ):
                return False
            dp, cp, _, cpend = self.sums[t.credit_account_id]
            return not (
                FLAGS[t.credit_account_id] & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
                and cp + cpend + t.amount > dp
            )
        assert t.pending_id is not None
        entry = self.pending.get(t.pending_id)
        if entry is None or entry[1] != "pending":
            return False
        reserved = entry[0].amount
        if t.flags is TransferFlags.POST_PENDING:
            return t.amount <= reserved
        return t.amount == reserved

    def book(self, t: Transfer) -> None:
        debit, credit = self.sums[t.debit_account_id], self.sums[t.credit_account_id]
        if t.flags is TransferFlags.NONE:
            debit[0] += t.amount
            credit[1] += t.amount
        elif t.flags is TransferFlags.PENDING:
            debit[2] += t.amount
            credit[3] += t.amount
            self.pending[t.id] = (t, "pending")
        else:
            assert t.pending_id is not None
            original = self.pending[t.pending_id][0]
            debit[2] -= original.amount
            credit[3] -= original.amount
            if t.flags is TransferFlags.POST_PENDING:
                moved = t.amount or original.amount
                debit[0] += moved
                credit[1] += moved
                self.pending[t.pending_id] = (original, "posted")
            else:
                self.pending[t.pending_id] = (original, "voided")


# -- random histories ---------------------------------------------------------------------

ids = st.integers(0, 40).map(lambda n: f"t{n}")
amounts = st.integers(1, 1_000)


@st.composite
def histories(draw: st.DrawFn) -> list[Transfer]:
    """Up to 60 submissions: new transfers, posts and voids of earlier pendings (maybe
    rejected ones), exact repeats and repeats with changed content."""
    submitted: list[Transfer] = []
    for step in range(draw(st.integers(0, 60))):
        when = T0 + timedelta(seconds=step)
        pendings = [t for t in submitted if t.flags is TransferFlags.PENDING]
        choice = draw(st.sampled_from(["new", "new", "post", "void", "repeat", "clash"]))
        if choice in ("post", "void") and pendings:
            target = draw(st.sampled_from(pendings))
            if choice == "post":
                amount = draw(st.one_of(st.just(0), st.integers(1, target.amount + 5)))
                submitted.append(post_pending(target, draw(ids), when, amount))
            else:
                submitted.append(void_pending(target, draw(ids), when))
        elif choice in ("repeat", "clash") and submitted:
            earlier = draw(st.sampled_from(submitted))
            if choice == "clash":
                earlier = replace(earlier, reference="changed")
            submitted.append(replace(earlier, timestamp=when))
        else:
            # Mostly NOK accounts; now and then the EUR one, which must be refused.
            some_account = st.sampled_from([*NOK_IDS, *NOK_IDS, *NOK_IDS, "euro"])
            debit, credit = draw(st.lists(some_account, min_size=2, max_size=2, unique=True))
            kind = draw(st.sampled_from([TransferFlags.NONE, TransferFlags.PENDING]))
            submitted.append(
                Transfer(draw(ids), debit, credit, draw(amounts), "NOK", 7, when, kind)
            )
    return submitted


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(histories())
def test_random_histories_keep_the_invariants(history: list[Transfer]) -> None:
    ledger = Ledger(ACCOUNTS)
    results: list[TransferResult] = []
    for transfer in history:
        before = (ledger.balances(), len(ledger))
        result = ledger.apply(transfer)
        results.append(result)
        if isinstance(result, Rejected | AlreadyApplied):
            assert (ledger.balances(), len(ledger)) == before
        check_invariants(ledger)
    assert_sound(ledger)

    # The same submissions on a fresh ledger give the same answers and the same state.
    again = Ledger(ACCOUNTS)
    assert [again.apply(t) for t in history] == results
    assert again.balances() == ledger.balances()

    # Resubmitting every accepted transfer (a client retrying everything) changes nothing.
    # (A refused one may pass later, once the balances allow it, so it is not resubmitted.)
    for first in results:
        if isinstance(first, Applied):
            assert again.apply(first.transfer) == AlreadyApplied(first.transfer)
    assert again.balances() == ledger.balances()
    assert len(again) == len(ledger)


# -- the state machine ----------------------------------------------------------------------


class LedgerMachine(RuleBasedStateMachine):
    """Drives one ledger and the model side by side."""

    pendings = Bundle("pendings")
    accepted = Bundle("accepted")

    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger(ACCOUNTS)
        self.model = Model()
        self.serial = 0
        self.clock = T0

    def _next(self) -> tuple[str, object]:
        self.serial += 1
        self.clock += timedelta(seconds=1)
        return f"x{self.serial}", self.clock

    def _submit(self, transfer: Transfer) -> TransferResult:
        before = (self.ledger.balances(), len(self.ledger))
        expected = self.model.accepts(transfer)
        result = self.ledger.apply(transfer)
        assert isinstance(result, Applied) == expected, (transfer, result)
        if isinstance(result, Applied):
            self.model.book(transfer)
        else:
            assert (self.ledger.balances(), len(self.ledger)) == before
        return result

    @initialize()
    def fund(self) -> None:
        # Give the limited accounts some room so that not every move against them fails.
        tid, _ = self._next()
        self._submit(Transfer(tid, "plain-a", "credit-only", 500, "NOK", 1, self.clock))
        tid, _ = self._next()
        self._submit(Transfer(tid, "debit-only", "plain-b", 500, "NOK", 1, self.clock))

    @rule(
        target=accepted,
        pair=st.lists(st.sampled_from(NOK_IDS), min_size=2, max_size=2, unique=True),
        amount=amounts,
    )
    def transfer(self, pair: list[str], amount: int) -> Transfer | None:
        tid, _ = self._next()
        t = Transfer(tid, pair[0], pair[1], amount, "NOK", 1, self.clock, reference="r")
        result = self._submit(t)
        return t if isinstance(result, Applied) else None

    @rule(
        target=pendings,
        pair=st.lists(st.sampled_from(NOK_IDS), min_size=2, max_size=2, unique=True),
        amount=amounts,
    )
    def reserve(self, pair: list[str], amount: int) -> Transfer:
        tid, _ = self._next()
        t = Transfer(tid, pair[0], pair[1], amount, "NOK", 2, self.clock, TransferFlags.PENDING)
        self._submit(t)
        return t

    @rule(pending=pendings, amount=st.one_of(st.just(0), amounts))
    def post(self, pending: Transfer, amount: int) -> None:
        tid, _ = self._next()
        self._submit(post_pending(pending, tid, self.clock, amount))

    @rule(pending=pendings)
    def void(self, pending: Transfer) -> None:
        tid, _ = self._next()
        self._submit(void_pending(pending, tid, self.clock))

    @rule(earlier=accepted)
    def repeat(self, earlier: Transfer | None) -> None:
        if earlier is None:
            return
        before = self.ledger.balances()
        later = replace(earlier, timestamp=self.clock + timedelta(hours=1))
        assert self.ledger.apply(later) == AlreadyApplied(earlier)
        assert self.ledger.balances() == before

    @rule(earlier=consumes(accepted), extra=amounts)
    def clash(self, earlier: Transfer | None, extra: int) -> None:
        if earlier is None:
            return
        before = self.ledger.balances()
        result = self.ledger.apply(replace(earlier, amount=earlier.amount + extra))
        assert isinstance(result, Rejected)
        assert result.reason is RejectReason.EXISTS_WITH_DIFFERENT_CONTENT
        assert self.ledger.balances() == before

    @rule(debit=st.sampled_from([*ALL_IDS, "missing"]), amount=st.integers(-5, 0))
    def malformed(self, debit: str, amount: int) -> None:
        tid, _ = self._next()
        before = (self.ledger.balances(), len(self.ledger))
        result = self.ledger.apply(Transfer(tid, debit, "euro", amount, "NOK", 1, self.clock))
        assert isinstance(result, Rejected)
        assert (self.ledger.balances(), len(self.ledger)) == before

    @invariant()
    def sound(self) -> None:
        check_invariants(self.ledger)
        assert self.ledger.balances() == self.model.balances()

    def teardown(self) -> None:
        assert_sound(self.ledger)


LedgerMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerMachine = LedgerMachine.TestCase
