"""Importing a standalone terminal's transaction list (the simulator's export format).

A terminal used without an ECR keeps its own list; the clinic exports it (JSON or CSV, format
`medipay-sim-transactions/1`, see docs/simulator.md) and the gateway journals and relays those
transactions like its own, so they are settled too. Each record's `id` is its idempotency
key: importing the same file twice, or overlapping files, imports each transaction once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

EXPORT_FORMAT = "medipay-sim-transactions/1"
# The terminal's kinds -> the journal's.
KINDS = {"purchase": "payment", "refund": "refund", "reversal": "reversal"}
# The terminal's statuses -> the journal's. auto_reversed: approved by the host but reversed
# by the terminal because nobody confirmed the result, so it does not count.
STATUSES = {"approved": "approved", "declined": "declined", "aborted": "aborted",
            "auto_reversed": "reversed"}
MAX_RECORDS = 100_000


class ExportFileError(ValueError):
    """The file is not a valid transaction list; nothing was imported."""


@dataclass(frozen=True)
class ImportedTransaction:
    import_id: str
    terminal_id: str
    kind: str
    status: str
    amount: int
    currency: str
    result_code: int | None
    result_text: str | None
    trace_number: int | None
    receipt_number: int | None
    original_receipt_number: int | None
    card_name: str | None
    masked_pan: str | None
    at: datetime

    def content_hash(self) -> str:
        content = [self.kind, self.status, self.amount, self.currency, self.result_code,
                   self.trace_number, self.receipt_number, self.original_receipt_number,
                   self.masked_pan, self.at.isoformat()]
        return hashlib.sha256(json.dumps(content).encode()).hexdigest()


def parse_export(body: bytes, content_type: str) -> list[ImportedTransaction]:
    """JSON (the whole export document) or CSV (its transaction rows)."""
    if "csv" in content_type:
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ExportFileError(f"the CSV is not UTF-8: {exc}") from exc
        rows: list[dict[str, Any]] = [
            {key: (value if value != "" else None) for key, value in row.items()}
            for row in csv.DictReader(io.StringIO(text))
        ]
    else:
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ExportFileError(f"not JSON: {exc}") from exc
        if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
            raise ExportFileError(f"expected an export document with format {EXPORT_FORMAT!r}")
        rows = document.get("transactions")  # type: ignore[assignment]
        if not isinstance(rows, list):
            raise ExportFileError("`transactions` must be a list")
    if len(rows) > MAX_RECORDS:
        raise ExportFileError(f"at most {MAX_RECORDS} transactions per import")
    return [_transaction(row, n) for n, row in enumerate(rows, start=1)]


def _transaction(row: Any, n: int) -> ImportedTransaction:
    if not isinstance(row, dict):
        raise ExportFileError(f"transaction {n}: expected an object")

    def text(name: str, required: bool = True) -> str | None:
        value = row.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise ExportFileError(f"transaction {n}: `{name}` is missing or not text")
        return value

    def number(name: str, required: bool = False) -> int | None:
        value = row.get(name)
        if value is None:
            if required:
                raise ExportFileError(f"transaction {n}: `{name}` is missing")
            return None
        try:
            if isinstance(value, bool):
                raise ValueError
            return int(value)  # CSV gives text
        except (TypeError, ValueError) as exc:
            raise ExportFileError(f"transaction {n}: `{name}` must be a whole number") from exc

    kind, status = text("kind"), text("status")
    if kind not in KINDS:
        raise ExportFileError(f"transaction {n}: unknown kind {kind!r}")
    if status not in STATUSES:
        raise ExportFileError(f"transaction {n}: unknown status {status!r}")
    amount = number("amount", required=True)
    assert amount is not None
    if amount <= 0:
        raise ExportFileError(f"transaction {n}: `amount` must be positive øre")
    currency = text("currency")
    if currency != "NOK":
        raise ExportFileError(f"transaction {n}: only NOK is supported, not {currency!r}")
    at_text = text("at")
    assert at_text is not None
    try:
        at = datetime.fromisoformat(at_text)
    except ValueError as exc:
        raise ExportFileError(f"transaction {n}: `at` is not an ISO 8601 time") from exc
    if at.tzinfo is None:
        raise ExportFileError(f"transaction {n}: `at` needs a UTC offset")
    pan = text("masked_pan", required=False)
    if pan is not None and sum(ch.isdigit() for ch in pan) > 10:
        raise ExportFileError(f"transaction {n}: `masked_pan` shows more than first 6 / last 4")
    return ImportedTransaction(
        import_id=text("id") or "",
        terminal_id=text("terminal_id") or "",
        kind=KINDS[kind],
        status=STATUSES[status],
        amount=amount,
        currency="NOK",
        result_code=number("result_code"),
        result_text=text("result_text", required=False),
        trace_number=number("trace_number"),
        receipt_number=number("receipt_number"),
        original_receipt_number=number("original_receipt_number"),
        card_name=text("card_scheme", required=False),
        masked_pan=pan,
        at=at,
    )
