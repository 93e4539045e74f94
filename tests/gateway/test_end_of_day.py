"""Resolving an end-of-day whose answer was lost (gateway.end_of_day), branch by branch, with
a scripted terminal: the end-to-end tests with the simulator are in e2e/test_faults.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.end_of_day import reconstruct, resolve_lost_end_of_day, scheme_slot
from gateway.journal import UNKNOWN, Journal, Outcome, PaymentRequest, TransactionRecord
from gateway.protocols import zvt
from gateway.terminal import Conversation, TerminalRejected
from medipay.clock import SimulatedClock

COPY = ["*** KOPI ***", "DAGSOPPGJØR", "TOTALT NOK 30,00"]


def bmp60(first: int, last: int, **slots: tuple[int, int]) -> bytes:
    """BMP 60 as a terminal sends it: receipt range, then (count, BCD amount) per slot."""
    data = bytes.fromhex(f"{first:04d}{last:04d}")
    for name in ("girocard", "jcb", "eurocard", "amex", "visa", "diners", "others"):
        count, amount = slots.get(name, (0, 0))
        data += bytes([count]) + bytes.fromhex(f"{amount:012d}")
    return data


def end_of_day_status(trace: int, **slots: tuple[int, int]) -> zvt.StatusInformation:
    return zvt.StatusInformation(amount=sum(a for _, a in slots.values()), trace_number=trace,
                                 individual_totals=bmp60(1, 5, **slots))


@dataclass
class ScriptedTerminal:
    """Answers Repeat Receipt and End-of-Day as told, and remembers what it was asked."""

    repeat: Conversation | None  # None: refuses Repeat Receipt (84 83)
    end_of_day: Conversation = field(default_factory=Conversation)
    password: str = "000000"
    asked: list[str] = field(default_factory=list)

    async def repeat_last(self) -> Conversation:
        self.asked.append("repeat")
        if self.repeat is None:
            raise TerminalRejected(0x83)
        return self.repeat

    async def run(self, message: zvt.Message) -> Conversation:
        assert isinstance(message, zvt.EndOfDay)
        self.asked.append("end_of_day")
        return self.end_of_day


async def journalled(journal: Journal, clock: SimulatedClock, key: str, kind: str,
                     outcome: Outcome, amount: int = 0, original: str | None = None,
                     ) -> TransactionRecord:
    clock.advance(60)
    record, _ = await journal.begin(PaymentRequest(key, "T1", kind, amount, "NOK", None,
                                                   original_transaction_id=original))
    return await journal.complete(record.id, outcome, reverses=original)


def approved(receipt: int, card: str) -> Outcome:
    return Outcome("approved", result_code=0, receipt_number=receipt, trace_number=receipt,
                   card_name=card)


@pytest.fixture
async def day(journal: Journal, clock: SimulatedClock) -> TransactionRecord:
    """Yesterday's end-of-day (trace 50), today's batch, and today's end-of-day left unknown:
    VISA 10.00 and Mastercard 20.00 kept, American Express 5.00 reversed, a refund, a decline."""
    await journalled(journal, clock, "eod-1", "end_of_day", Outcome(
        "approved", trace_number=50, details={"per_scheme": {"visa": {"count": 1,
                                                                      "amount": 999}}}))
    await journalled(journal, clock, "p1", "payment", approved(1, "VISA"), 1000)
    await journalled(journal, clock, "p2", "payment", approved(2, "Mastercard"), 2000)
    amex = await journalled(journal, clock, "p3", "payment", approved(3, "American Express"),
                            500)
    await journalled(journal, clock, "r4", "reversal", approved(4, "American Express"), 500,
                     original=amex.id)
    await journalled(journal, clock, "f5", "refund", approved(5, "VISA"), 300)
    await journalled(journal, clock, "d6", "payment", Outcome("declined", result_code=0x05),
                     700)
    return await journalled(journal, clock, "eod-2", "end_of_day", Outcome(UNKNOWN))


def test_card_names_go_to_the_slots_the_terminal_counts_them_in():
    assert [scheme_slot(n) for n in ("VISA", "Mastercard", "American Express", "Diners Club",
                                     "JCB", "BankAxept", "Maestro", None)] == [
        "visa", "eurocard", "amex", "diners", "jcb", "others", "others", "others"]


async def test_a_repeated_end_of_day_is_this_one(journal, day):
    status = end_of_day_status(51, eurocard=(1, 2000), visa=(1, 1000))
    terminal = ScriptedTerminal(Conversation(status=status, receipt_lines=COPY))
    outcome = await resolve_lost_end_of_day(terminal, journal, day)
    assert terminal.asked == ["repeat"]
    assert outcome.status == "approved" and outcome.trace_number == 51
    assert outcome.result_text == "approved (recovered from the terminal's repeated end-of-day)"
    assert outcome.details == {"total_amount": 3000, "first_receipt": 1, "last_receipt": 5,
                               "per_scheme": {"eurocard": {"count": 1, "amount": 2000},
                                              "visa": {"count": 1, "amount": 1000}},
                               "totals_source": "terminal"}
    assert outcome.receipt_lines == COPY


async def test_the_batch_was_still_open_so_running_it_again_reports_it(journal, day):
    """The terminal repeats yesterday's end-of-day (trace 50): the lost one never ran."""
    yesterday = Conversation(status=end_of_day_status(50, visa=(1, 999)))
    again = Conversation(status=end_of_day_status(52, eurocard=(1, 2000), visa=(1, 1000)))
    terminal = ScriptedTerminal(yesterday, end_of_day=again)
    outcome = await resolve_lost_end_of_day(terminal, journal, day)
    assert terminal.asked == ["repeat", "end_of_day"]
    assert outcome.status == "approved" and outcome.trace_number == 52
    assert outcome.details is not None and outcome.details["total_amount"] == 3000
    assert outcome.details["totals_source"] == "terminal"
    assert "ran the end-of-day again" in (outcome.result_text or "")


async def test_closed_but_the_totals_are_lost_they_are_reconstructed(journal, day):
    """The terminal repeats only the receipt text, and running it again finds an empty
    batch: the lost end-of-day closed the batch."""
    terminal = ScriptedTerminal(Conversation(receipt_lines=COPY),
                                end_of_day=Conversation(status=end_of_day_status(52)))
    outcome = await resolve_lost_end_of_day(terminal, journal, day)
    assert terminal.asked == ["repeat", "end_of_day"]
    assert outcome.status == "approved" and outcome.trace_number == 52
    assert outcome.result_text is not None and "reconstructed from the gateway's journal (2 " \
        "payments since" in outcome.result_text
    details: dict[str, Any] = dict(outcome.details or {})
    assert details.pop("reconstructed_since") is not None
    # The terminal counts payments that were not reversed; refunds and declines not at all.
    assert details == {"total_amount": 3000, "first_receipt": 1, "last_receipt": 5,
                       "per_scheme": {"eurocard": {"count": 1, "amount": 2000},
                                      "visa": {"count": 1, "amount": 1000}},
                       "totals_source": "reconstructed"}
    assert outcome.receipt_lines == COPY  # the terminal's copy of the lost end-of-day


async def test_a_terminal_that_cannot_repeat_and_a_host_that_is_down(journal, day):
    offline = Conversation(aborted=zvt.AbortFromTerminal(result_code=0x6F))
    terminal = ScriptedTerminal(None, end_of_day=offline)
    outcome = await resolve_lost_end_of_day(terminal, journal, day)
    assert terminal.asked == ["repeat", "end_of_day"]
    assert outcome.status == "declined"
    assert (outcome.result_text or "").endswith("(the end-of-day's answer was lost; running "
                                                "it again failed)")


async def test_nothing_since_the_last_end_of_day(journal, clock):
    record = await journalled(journal, clock, "eod", "end_of_day", Outcome(UNKNOWN))
    terminal = ScriptedTerminal(Conversation(receipt_lines=COPY),
                                end_of_day=Conversation(status=end_of_day_status(7)))
    outcome = await resolve_lost_end_of_day(terminal, journal, record)
    assert outcome.status == "approved"
    assert outcome.details == {"total_amount": 0, "first_receipt": 1, "last_receipt": 5,
                               "per_scheme": {}, "totals_source": "terminal"}


async def test_the_batch_is_what_lies_between_two_end_of_days(journal, clock, day):
    previous, batch = await journal.end_of_day_batch(day)
    assert previous is not None and previous.idempotency_key == "eod-1"
    assert [r.idempotency_key for r in batch] == ["p1", "p2", "p3", "r4", "f5", "d6"]
    assert reconstruct(batch)["per_scheme"] == {"eurocard": {"count": 1, "amount": 2000},
                                                "visa": {"count": 1, "amount": 1000}}
    # A transaction after it (a later import, by the terminal's time) is not in its batch.
    await journalled(journal, clock, "p7", "payment", approved(7, "VISA"), 100)
    assert len((await journal.end_of_day_batch(day))[1]) == 6
