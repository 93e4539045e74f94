"""The files of a settlement: Balance Report (JSON, CSV, PDF), transaction list (CSV) and,
for streams checkout and fakturaservice, the OCR giro file (blocking).

Everything is read back from the database, so writing again gives the same bytes. The
transaction list and the OCR file stream from a server-side cursor line by line; the OCR
file is then parsed back with `iter_ocr` and its record 88/89 counts and totals compared
with the settlement row (`OcrMismatchError` if they differ).
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
from sqlalchemy.orm import Session

from medipay_backend.domain.ocr import (
    OcrHeader,
    OcrTransaction,
    TransmissionSummary,
    build_ocr,
    iter_ocr,
)
from medipay_backend.ledger.chart import TransferCode
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
    query = (
        sa.select(SettlementItem, LedgerTransfer)
        .join(LedgerTransfer, LedgerTransfer.id == SettlementItem.transfer_id)
        .where(SettlementItem.settlement_id == row.id)
        .order_by(SettlementItem.position)
        .execution_options(yield_per=1000)
    )
    for item, transfer in session.execute(query):
        yield {
            "position": item.position, "transfer_id": transfer.id, "source": transfer.source,
            "kind": "credit" if transfer.code in CREDIT_CODES else "payment",
            "date": oslo_date(transfer.timestamp).isoformat(), "kid": transfer.kid or "",
            "amount": transfer.amount, "fee": item.fee, "net": item.net,
            "reference": transfer.reference,
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
        .execution_options(yield_per=5000)
    )
    for kid, amount, timestamp, code in session.execute(query):
        if kid is None:
            raise OcrMismatchError(f"settlement {row.id}: an item has no KID")
        yield OcrTransaction(kid, amount, oslo_date(timestamp),
                             reversal=code in (int(TransferCode.REFUND),
                                               int(TransferCode.CORRECTION)))


def write_ocr(session: Session, row: Settlement, path: Path) -> TransmissionSummary:
    with path.open("w", encoding="ascii", newline="\n") as handle:
        for line in build_ocr(ocr_header(row), ocr_transactions(session, row)):
            handle.write(line + "\n")
    return recheck_ocr(row, path)


def recheck_ocr(row: Settlement, path: Path) -> TransmissionSummary:
    """Parse the file back (streaming) and compare its end records with the settlement."""
    end: TransmissionSummary | None = None
    with path.open(encoding="ascii") as handle:
        for item in iter_ocr(handle):
            if isinstance(item, TransmissionSummary):
                end = item
    expected_total = row.gross + row.credits  # credits are listed as reversals, positive
    if end is None or end.transactions != row.count or end.total_amount != expected_total:
        raise OcrMismatchError(f"settlement {row.id}: OCR file says {end}, expected "
                               f"{row.count} transactions and {expected_total} øre")
    return end


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
