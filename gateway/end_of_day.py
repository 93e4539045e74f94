"""Resolving an end-of-day whose answer was lost, without losing or doubling its totals.

An end-of-day ends `unknown` when the conversation broke off after the command went out. The
terminal may have closed its batch (then its totals exist nowhere else) or not. The supervisor
resolves it while it holds the terminal, so nothing else runs in between:

1. It asks for the terminal's last receipt with its Status Information (Repeat Receipt,
   06 20, service byte bit 0: "as in the original transaction", spec 2.20). A terminal that
   repeats an end-of-day's Status Information with turnover totals (BMP 60) which the journal
   does not hold yet has answered: approved with those totals.
2. Otherwise it runs the end-of-day again (the EPJ's request still stands). If that reports
   payments, the lost one had not closed the batch, and these are its totals.
3. If it reports an empty batch while the journal holds approved payments since the previous
   end-of-day, the lost one did close the batch and the terminal cannot repeat its totals (it
   refuses Repeat Receipt, or repeats only the receipt text). The totals are reconstructed
   from the journal, per card scheme as BMP 60 counts them, and marked
   `totals_source: "reconstructed"`.

The EPJ never has to run it twice, and one set of totals goes to the backend per request.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

from gateway.journal import Journal, Outcome, TransactionRecord
from gateway.operations import classify, end_of_day_details
from gateway.protocols import zvt
from gateway.terminal import Conversation, TerminalRejected
from medipay.logs import get_logger

log = get_logger(__name__)

# BMP 60's scheme slots in the terminal's order (girocard, jcb, eurocard, ...).
SLOTS = tuple(f.name for f in dataclasses.fields(zvt.TurnoverTotals)
              if f.name not in ("first_receipt", "last_receipt"))
# The journal keeps the card name the terminal printed (BMP 8B), not its card type; these
# names put a payment in the slot the terminal counts it in. Anything else (BankAxept,
# Maestro, ...) is "others", as on the terminal.
_SLOT_BY_NAME = (("american express", "amex"), ("amex", "amex"), ("mastercard", "eurocard"),
                 ("eurocard", "eurocard"), ("visa", "visa"), ("diners", "diners"),
                 ("jcb", "jcb"), ("girocard", "girocard"))


class EndOfDayTerminal(Protocol):
    password: str

    async def repeat_last(self) -> Conversation: ...

    async def run(self, message: zvt.Message) -> Conversation: ...


def scheme_slot(card_name: str | None) -> str:
    name = (card_name or "").casefold()
    return next((slot for needle, slot in _SLOT_BY_NAME if needle in name), "others")


def reconstruct(batch: Sequence[TransactionRecord]) -> dict[str, Any]:
    """End-of-day details from the journal: approved payments (not reversed ones; refunds and
    reversals are not in BMP 60 either) per slot, and the batch's receipt range."""
    per_scheme: dict[str, dict[str, int]] = {}
    for record in batch:
        if record.kind == "payment" and record.status == "approved":
            slot = per_scheme.setdefault(scheme_slot(record.card_name),
                                         {"count": 0, "amount": 0})
            slot["count"] += 1
            slot["amount"] += record.amount
    receipts = [r.receipt_number for r in batch
                if r.status in ("approved", "reversed") and r.receipt_number is not None]
    return {
        "total_amount": sum(s["amount"] for s in per_scheme.values()),
        "first_receipt": receipts[0] if receipts else 0,
        "last_receipt": receipts[-1] if receipts else 0,
        "per_scheme": {slot: per_scheme[slot] for slot in SLOTS if slot in per_scheme},
        "totals_source": "reconstructed",
    }


def payment_count(details: dict[str, Any] | None) -> int:
    schemes = (details or {}).get("per_scheme", {})
    return sum(int(s["count"]) for s in schemes.values())


def _repeated_end_of_day(status: zvt.StatusInformation | None,
                         previous: TransactionRecord | None) -> bool:
    """Whether a repeated Status Information is an end-of-day the journal does not hold."""
    if status is None or status.result_code != 0 or status.individual_totals is None:
        return False
    try:
        status.turnover_totals()
    except zvt.ZvtError as exc:
        log.warning("end_of_day.repeated_totals_unreadable", error=str(exc))
        return False
    return previous is None or previous.trace_number != status.trace_number


async def resolve_lost_end_of_day(terminal: EndOfDayTerminal, journal: Journal,
                                  record: TransactionRecord) -> Outcome:
    """The outcome of end-of-day `record`, found with the terminal (TerminalLost and
    TerminalUnavailable propagate: the supervisor tries again later)."""
    previous, batch = await journal.end_of_day_batch(record)
    repeated: Conversation | None
    try:
        repeated = await terminal.repeat_last()
    except TerminalRejected as exc:
        log.info("end_of_day.no_repeat_receipt", code=exc.code)
        repeated = None
    last = repeated.status if repeated is not None else None
    if repeated is not None and _repeated_end_of_day(last, previous):
        assert last is not None
        return Outcome(
            status="approved", result_code=0,
            result_text="approved (recovered from the terminal's repeated end-of-day)",
            trace_number=last.trace_number, receipt_lines=repeated.receipt_lines,
            details=end_of_day_details(last), receipt_sync_id=repeated.receipt_sync_id)
    try:
        again = classify(await terminal.run(zvt.EndOfDay(password=terminal.password)),
                         end_of_day=True)
    except TerminalRejected as exc:
        return Outcome(status="failed", result_code=exc.code,
                       result_text=f"the end-of-day's answer was lost, and running it again "
                       f"was refused: {exc}")
    if again.status != "approved":
        return dataclasses.replace(again, result_text=f"{again.result_text} (the end-of-day's "
                                   "answer was lost; running it again failed)")
    journalled = reconstruct(batch)
    if payment_count(again.details) == 0 and payment_count(journalled) > 0:
        since = previous.created_at.isoformat() if previous is not None else None
        log.warning("end_of_day.totals_reconstructed", tx=record.id,
                    payments=payment_count(journalled), since=since)
        # Without a Status Information the repeated receipt was not a card transaction's:
        # it is the terminal's copy of the lost end-of-day's receipt.
        copy = repeated.receipt_lines if repeated is not None and last is None else []
        return Outcome(
            status="approved", result_code=0,
            result_text="approved: the terminal closed its batch but the answer was lost, and "
            "it cannot repeat its totals; totals reconstructed from the gateway's journal "
            f"({payment_count(journalled)} payments since "
            f"{since or 'the journal began'})",
            # The trace of the end-of-day just run: the terminal's last one from now on.
            trace_number=again.trace_number, receipt_lines=copy,
            details={**journalled, "reconstructed_since": since},
            receipt_sync_id=again.receipt_sync_id)
    return dataclasses.replace(again, result_text="approved (the answer was lost before the "
                               "terminal closed its batch; the gateway ran the end-of-day again)")
