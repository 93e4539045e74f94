"""What each kind of EPJ request asks of the terminal, and how its answer is classified.

The spec: a payment is done once the terminal's Status Information with result 00 was
acknowledged; a failed one ends in Abort (06 1E), usually after a Status Information that
carries the same result code (as in the real captures).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gateway.journal import Outcome, TransactionRecord
from gateway.protocols import zvt
from gateway.terminal import Conversation

CURRENCY_CODES = {"NOK": zvt.CURRENCY_NOK}
# Result codes meaning the customer or the terminal broke the transaction off.
RESULT_ABORTED = frozenset({0x6C})
KINDS = ("payment", "refund", "reversal", "end_of_day")


def command_for(record: TransactionRecord, password: str,
                original: TransactionRecord | None = None) -> zvt.Message:
    currency = CURRENCY_CODES[record.currency]
    if record.kind == "payment":
        return zvt.Authorization(amount=record.amount, currency=currency)
    if record.kind == "refund":
        return zvt.Refund(amount=record.amount, password=password, currency=currency)
    if record.kind == "reversal":
        assert original is not None and original.receipt_number is not None
        return zvt.Reversal(receipt_number=original.receipt_number, password=password)
    if record.kind == "end_of_day":
        return zvt.EndOfDay(password=password)
    raise ValueError(f"no terminal command for kind {record.kind!r}")


def mask_pan(pan: str | None) -> str | None:
    """First 6 / last 4 at most: a terminal configured to send the full PAN must not make
    us store it (DESIGN.md section 3)."""
    if pan is None:
        return None
    visible = sum(ch.isdigit() for ch in pan)
    if visible <= 10 or len(pan) < 10:
        return pan if visible <= 10 else "*" * len(pan)
    middle = "".join("*" if ch.isdigit() else ch for ch in pan[6:-4])
    return pan[:6] + middle + pan[-4:]


def classify(conversation: Conversation, *, end_of_day: bool = False) -> Outcome:
    status, aborted = conversation.status, conversation.aborted
    code: int | None
    if status is not None:
        code = status.result_code
    elif aborted is not None:
        code = aborted.result_code
    else:
        code = None
    if code is None:
        # A Completion with no Status Information: the terminal reports no result.
        return Outcome(status="failed", result_text="terminal sent no status information",
                       receipt_lines=conversation.receipt_lines)
    if code == 0 and aborted is None:
        verdict = "approved"
    elif code in RESULT_ABORTED:
        verdict = "aborted"
    else:
        verdict = "declined"
    return Outcome(
        status=verdict,
        result_code=code,
        result_text=zvt.result_text(code),
        masked_pan=mask_pan(status.masked_pan) if status else None,
        card_name=status.card_name if status else None,
        receipt_number=status.receipt_number if status else None,
        trace_number=status.trace_number if status else None,
        receipt_lines=conversation.receipt_lines,
        details=end_of_day_details(status) if end_of_day else _details(status),
        receipt_sync_id=conversation.receipt_sync_id,
    )


def end_of_day_details(status: zvt.StatusInformation | None) -> dict[str, Any] | None:
    """The totals as the terminal reported them (`totals_source` says so; see
    gateway.end_of_day for the other source)."""
    details = _details(status)
    return None if details is None else {**details, "totals_source": "terminal"}


def _details(status: zvt.StatusInformation | None) -> dict[str, Any] | None:
    """End-of-day totals per card scheme (BMP 60), when the terminal sent them."""
    if status is None:
        return None
    totals = status.turnover_totals()
    if totals is None:
        return {"total_amount": status.amount} if status.amount is not None else None
    per_scheme = {
        name: {"count": count, "amount": amount}
        for name, (count, amount) in (
            (f.name, getattr(totals, f.name)) for f in dataclasses.fields(totals)
            if f.name not in ("first_receipt", "last_receipt")
        )
        if count
    }
    return {
        "total_amount": status.amount,
        "first_receipt": totals.first_receipt,
        "last_receipt": totals.last_receipt,
        "per_scheme": per_scheme,
    }
