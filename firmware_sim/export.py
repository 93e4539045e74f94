"""The terminal's transaction list as a file the gateway can import (JSON or CSV).

The format is documented field by field in docs/simulator.md ("Transaction export"); change
them together. Records are the terminal's journal, oldest first, append-only: a reversal is a
record of its own that names the receipt it reverses.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from firmware_sim.state import Booking, TerminalState
from gateway.protocols import zvt

EXPORT_FORMAT = "medipay-sim-transactions/1"
CURRENCY_NAMES = {zvt.CURRENCY_NOK: "NOK", zvt.CURRENCY_EUR: "EUR"}
SOURCES = ("standalone", "ecr", "terminal")
CSV_FIELDS = (
    "id", "seq", "terminal_id", "source", "kind", "status", "amount", "currency",
    "result_code", "result_text", "trace_number", "receipt_number",
    "original_receipt_number", "original_trace_number", "card_scheme", "card_type",
    "masked_pan", "expiry", "entry_mode", "auth_code", "at", "batch_number",
)


class ExportError(ValueError):
    """An export request that cannot be met (unknown format or source)."""


def record(booking: Booking, terminal_id: str) -> dict[str, Any]:
    return {
        "id": f"{terminal_id}-{booking.seq:08d}",
        "seq": booking.seq,
        "terminal_id": terminal_id,
        "source": booking.source,
        "kind": booking.kind,
        "status": booking.status,
        "amount": booking.amount,
        "currency": CURRENCY_NAMES.get(booking.currency, str(booking.currency)),
        "result_code": booking.result_code,
        "result_text": zvt.result_text(booking.result_code),
        "trace_number": booking.trace,
        "receipt_number": booking.receipt,
        "original_receipt_number": booking.original_receipt,
        "original_trace_number": booking.original_trace,
        "card_scheme": booking.scheme or None,
        "card_type": booking.card_type,
        "masked_pan": booking.masked_pan or None,
        "expiry": booking.expiry or None,
        "entry_mode": booking.entry or None,
        "auth_code": booking.auth_code or None,
        "at": booking.at,
        "batch_number": booking.batch,
    }


def transactions(state: TerminalState, source: str | None = "standalone",
                 after: int = 0) -> list[dict[str, Any]]:
    """Journal records as dicts; `source` None for all, `after` a seq already imported."""
    if source is not None and source not in SOURCES:
        raise ExportError(f"source is one of {SOURCES} or all, not {source!r}")
    return [record(b, state.terminal_id) for b in state.journal
            if (source is None or b.source == source) and b.seq > after]


def export_json(state: TerminalState, exported_at: str, source: str | None = "standalone",
                after: int = 0) -> dict[str, Any]:
    items = transactions(state, source, after)
    return {
        "format": EXPORT_FORMAT,
        "terminal_id": state.terminal_id,
        "vu_number": state.vu_number,
        "exported_at": exported_at,
        "source": source or "all",
        "after_seq": after,
        "last_seq": items[-1]["seq"] if items else after,
        "transactions": items,
    }


def export_csv(state: TerminalState, source: str | None = "standalone", after: int = 0) -> str:
    """RFC 4180 CSV (CRLF line ends, header row), empty fields for absent values."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for item in transactions(state, source, after):
        writer.writerow({key: "" if value is None else value for key, value in item.items()})
    return out.getvalue()
