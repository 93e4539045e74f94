"""The files of a settlement: Balance Report (JSON, CSV, PDF), transaction list (CSV) and,
for streams checkout and fakturaservice, the OCR giro file (blocking).

Everything is read back from the database, so writing again gives the same bytes. The
transaction list and the OCR file stream from a server-side cursor line by line, as plain
rows (no ORM objects), so memory does not grow with the number of items. The OCR file is
then read back and recounted (`recheck_ocr`): its record 88/89 counts and totals must match
the recount and the settlement row (`OcrMismatchError` if they differ).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from netsgiro import TransactionType
from netsgiro.records import AssignmentEnd, TransmissionEnd, TransmissionStart
from sqlalchemy.orm import Session

from medipay_backend.domain.ocr import (
    RECORD_LENGTH,
    OcrHeader,
    OcrTransaction,
    TransmissionSummary,
    build_ocr,
)
from medipay_backend.localtime import kroner, oslo_date
from medipay_backend.models_ledger import LedgerTransfer, Settlement, SettlementItem
from medipay_backend.settlement.pdf import text_pdf
from medipay_backend.settlement.runner import CREDIT_CODES

# The provider's Nets identities on the files it writes for clinics (placeholders that a
# deployment sets in its agreement with Nets).
DATA_TRANSMITTER = "00008080"
DATA_RECIPIENT = "00012345"
AGREEMENT_ID = "000000001"
FALLBACK_ACCOUNT = "00000000000"
STREAM_TITLES = {"checkout": "Kort, Vipps og kjøpte fakturaer",
                 "fakturaservice": "Fakturaservice", "pos": "Betalingsterminal (POS)"}
# Rows per round trip of the server-side cursors that feed the transaction list and OCR file.
STREAM_BATCH = 5_000
_CREDITS = frozenset(int(code) for code in CREDIT_CODES)
# Fixed fields of an 80-character OCR giro record that the recount reads (Nets, "OCR giro
# system specification"): transaction type in positions 5-6, record type in 7-8 and, in
# amount item 1 (record 30), the amount in øre in positions 33-49.
_TRANSACTION_TYPE = slice(4, 6)
_RECORD_TYPE = slice(6, 8)
_AMOUNT = slice(32, 49)
_REVERSAL = f"{TransactionType.REVERSING_WITH_KID.value:02d}"
# The record types that may follow each one in a file of one assignment ("" = the start).
_FOLLOWS = {"": {"10"}, "10": {"20"}, "20": {"30", "88"}, "30": {"31"}, "31": {"30", "88"},
            "88": {"89"}, "89": set()}


class OcrMismatchError(Exception):
    """The written OCR file does not add up to its settlement."""


def summary(row: Settlement) -> dict[str, Any]:
    return {
        "settlement_id": row.id, "clinic_id": row.clinic_id, "stream": row.stream,
        "settlement_date": row.settlement_date.isoformat(), "cutoff": row.cutoff.isoformat(),
        "currency": row.currency, "count": row.count, "gross": row.gross, "fees": row.fees,
        "credits": row.credits, "carried_in": row.carried_in, "total": row.total,
        "payout": row.total, "carried_forward": row.carried_forward,
        "bank_account": row.bank_account,
    }


def lines(session: Session, row: Settlement) -> Iterator[dict[str, Any]]:
    t, item = LedgerTransfer, SettlementItem
    query = (
        sa.select(item.position, t.id, t.source, t.code, t.timestamp, t.kid, t.amount,
                  item.fee, item.net, t.reference)
        .join(t, t.id == item.transfer_id)
        .where(item.settlement_id == row.id)
        .order_by(item.position)
        .execution_options(yield_per=STREAM_BATCH)
    )
    # Through the Core connection: plain rows, without the ORM's per-row bookkeeping.
    for position, transfer_id, source, code, timestamp, kid, amount, fee, net, reference in (
        session.connection().execute(query)
    ):
        yield {
            "position": position, "transfer_id": transfer_id, "source": source,
            "kind": "credit" if code in _CREDITS else "payment",
            "date": oslo_date(timestamp).isoformat(), "kid": kid or "",
            "amount": amount, "fee": fee, "net": net, "reference": reference,
        }


def report_json(row: Settlement) -> bytes:
    return json.dumps(summary(row), indent=2, sort_keys=True).encode()


def report_csv(row: Settlement) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["field", "amount_ore"])
    for name in ("gross", "fees", "credits", "carried_in", "total", "carried_forward"):
        writer.writerow([name, getattr(row, name)])
    return out.getvalue().encode()


def report_pdf(row: Settlement) -> bytes:
    text = [
        "MediPay - Balance Report (oppgjorsrapport)",
        f"Klinikk: {row.clinic_id}",
        f"Strom: {STREAM_TITLES[row.stream]}",
        f"Oppgjorsdato: {row.settlement_date.isoformat()}  Oppgjor-id: {row.id}",
        f"Antall transaksjoner: {row.count}",
        "",
        f"Brutto innbetalt:        {kroner(row.gross, ' '):>20}",
        f"Gebyrer:                 {kroner(-row.fees, ' '):>20}",
        f"Krediteringer:           {kroner(-row.credits, ' '):>20}",
        f"Overfort fra forrige:    {kroner(row.carried_in, ' '):>20}",
        f"Utbetalt (total):        {kroner(row.total, ' '):>20}",
        f"Overfores til neste:     {kroner(row.carried_forward, ' '):>20}",
        f"Til konto: {row.bank_account or '-'}",
    ]
    return text_pdf(text)


def _write_transactions(session: Session, row: Settlement, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["position", "transfer_id", "source", "kind", "date", "kid",
                         "amount", "fee", "net", "reference"])
        for line in lines(session, row):
            writer.writerow(line.values())


def ocr_header(row: Settlement) -> OcrHeader:
    number = f"{row.seq % 10**7:07d}"
    return OcrHeader(
        transmission_number=number, data_recipient=DATA_RECIPIENT, agreement_id=AGREEMENT_ID,
        assignment_number=number, assignment_account=row.bank_account or FALLBACK_ACCOUNT,
        nets_date=row.settlement_date, data_transmitter=DATA_TRANSMITTER,
    )


def ocr_transactions(session: Session, row: Settlement) -> Iterator[OcrTransaction]:
    query = (
        sa.select(LedgerTransfer.kid, LedgerTransfer.amount, LedgerTransfer.timestamp,
                  LedgerTransfer.code)
        .join(SettlementItem, SettlementItem.transfer_id == LedgerTransfer.id)
        .where(SettlementItem.settlement_id == row.id)
        .order_by(SettlementItem.position)
        .execution_options(yield_per=STREAM_BATCH)
    )
    for kid, amount, timestamp, code in session.connection().execute(query):
        if kid is None:
            raise OcrMismatchError(f"settlement {row.id}: an item has no KID")
        yield OcrTransaction(kid, amount, oslo_date(timestamp), reversal=code in _CREDITS)


def write_ocr(session: Session, row: Settlement, path: Path) -> TransmissionSummary:
    with path.open("w", encoding="ascii", newline="\n") as handle:
        for line in build_ocr(ocr_header(row), ocr_transactions(session, row)):
            handle.write(line + "\n")
    return recheck_ocr(row, path)


def recheck_ocr(row: Settlement, path: Path) -> TransmissionSummary:
    """Read the written file back, recount it and compare it with itself and the settlement.

    The records must come in the order of a file with one assignment (10, 20, pairs of 30
    and 31, 88, 89), and every amount item 1 (30) adds its amount, purchases and reversals
    apart, read from the record's fixed fields. The start (10) and the end records (88, 89)
    are parsed with netsgiro; the ends must state the recount, and the recount must be the
    settlement's count, gross and credits. (Parsing every record with `iter_ocr`, as the
    tests do, checks each field again at many times the cost.)
    """
    kind = ""
    n = purchases = reversals = 0
    parsed: dict[str, str] = {}  # record type -> the line, for 10, 88 and 89
    with path.open(encoding="ascii") as handle:
        for number, text in enumerate(handle, 1):
            line = text.rstrip("\n")
            previous, kind = kind, line[_RECORD_TYPE]
            if len(line) != RECORD_LENGTH or kind not in _FOLLOWS[previous]:
                raise OcrMismatchError(
                    f"settlement {row.id}: line {number} is not the record that comes next")
            if kind == "30":
                amount = line[_AMOUNT]
                if not amount.isdigit():
                    raise OcrMismatchError(f"settlement {row.id}: line {number} has no amount")
                n += 1
                if line[_TRANSACTION_TYPE] == _REVERSAL:
                    reversals += int(amount)
                else:
                    purchases += int(amount)
            elif kind in ("10", "88", "89"):
                parsed[kind] = line
    if kind != "89":
        raise OcrMismatchError(f"settlement {row.id}: the OCR file ends before its record 89")
    try:
        start = TransmissionStart.from_string(parsed["10"])
        assignment = AssignmentEnd.from_string(parsed["88"])
        transmission = TransmissionEnd.from_string(parsed["89"])
    except ValueError as exc:  # netsgiro: a field does not match the format
        raise OcrMismatchError(f"settlement {row.id}: {exc}") from exc
    total = purchases + reversals
    stated = (assignment.num_transactions, assignment.num_records, assignment.total_amount or 0,
              transmission.num_transactions, transmission.num_records, transmission.total_amount)
    if stated != (n, 2 + 2 * n, total, n, 4 + 2 * n, total) or (n, purchases, reversals) != (
        row.count, row.gross, row.credits
    ):
        raise OcrMismatchError(
            f"settlement {row.id}: the OCR file states (count, records, total) {stated[:3]} "
            f"and {stated[3:]} and holds {n} transactions of {purchases} + {reversals} øre; "
            f"expected {row.count} transactions, {row.gross} øre of payments and "
            f"{row.credits} øre of credits")
    return TransmissionSummary(start.transmission_number, start.data_transmitter,
                               start.data_recipient, n, 4 + 2 * n, total, transmission.nets_date)


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def write_all(session: Session, row: Settlement, root: Path) -> dict[str, Any]:
    """Write every file of `row` under `root/<clinic>/<settlement id>/`; returns the index."""
    folder = root / row.clinic_id / row.id
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{row.stream}-{row.settlement_date.isoformat()}"
    written: dict[str, Path] = {}
    for kind, suffix, data in (("json", "json", report_json(row)),
                               ("csv", "csv", report_csv(row)),
                               ("pdf", "pdf", report_pdf(row))):
        path = folder / f"balance-report-{stem}.{suffix}"
        path.write_bytes(data)
        written[kind] = path
    written["transactions"] = folder / f"transactions-{stem}.csv"
    _write_transactions(session, row, written["transactions"])
    if row.stream != "pos":
        written["ocr"] = folder / f"ocr-{stem}.txt"
        write_ocr(session, row, written["ocr"])
    return {kind: {"path": str(path), "sha256": _digest(path), "name": path.name}
            for kind, path in written.items()}
