"""Settle N card payments of one clinic and write their OCR giro file, on PostgreSQL.

    python benchmarks/settlement.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test \
        [--transactions 1000000] [--tracemalloc]

Steps, each timed on its own:
  post    a fresh schema, migrated; one clinic with an agreement and an account; N captured
          card payments bulk-loaded straight into `ledger_transfers` (with the stored sums of
          their accounts, so the ledger stays consistent). Not `ledger_store.append` one by
          one: this is the setup, not what is measured.
  settle  `runner.run`: one INSERT … SELECT prices the N items into `settlement_items`, their
          KIDs are checked as they stream past, the database sums them, fee and payout are
          booked.
  files   `files.write_all`: Balance Report (JSON, CSV, PDF), the transaction list and the
          OCR file, both streamed from a server-side cursor, the OCR file then recounted.

Memory: the process's peak resident set during each step (VmHWM, reset before the step), and
how far it rose above the resident set at the step's start. With --tracemalloc, also the
peak of the Python heap above its level at the step's start; tracing slows the Python parts
several times, so its timings are not comparable. The figures are checked afterwards: the
payout against the fee rule applied in Python while loading, the Balance Report JSON against
the payout, and the transaction list's nets against the payout. The schema is dropped at the
end.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import resource
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from medipay_backend.db import Database, make_engine, migrate
from medipay_backend.domain.kid import make_kid
from medipay_backend.domain.settlement import FeeRule, SettlementStream
from medipay_backend.ledger import chart
from medipay_backend.ledger.chart import Channel, TransferCode
from medipay_backend.models_clinics import Clinic, ClinicAccount, ClinicAgreement
from medipay_backend.models_ledger import LedgerAccount, LedgerTransfer, Settlement
from medipay_backend.settlement import files, runner, sources

CLINIC = "bench-klinikk"
DAY = date(2026, 2, 2)
RULE = FeeRule(per_transaction=150, percent_bp=125)
BATCH = 20_000
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass
class Step:
    name: str
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    rss_rise_mb: float = 0.0
    heap_peak_mb: float | None = None


def _status_mb(field: str) -> float | None:
    if not _STATUS.exists():
        return None
    found = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    return int(found.group(1)) / 1024 if found else None


def _reset_peak_rss() -> bool:
    """Linux resets VmHWM to the current resident set when "5" is written to clear_refs."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


@contextmanager
def measured(step: Step, trace: bool) -> Iterator[None]:
    resettable = _reset_peak_rss()
    start_rss = _status_mb("VmRSS") or 0.0
    if trace:
        tracemalloc.start()
        heap_start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
    started = time.perf_counter()
    try:
        yield
    finally:
        step.seconds = time.perf_counter() - started
        if trace:
            _, heap_peak = tracemalloc.get_traced_memory()
            step.heap_peak_mb = (heap_peak - heap_start) / 2**20
            tracemalloc.stop()
        # Without clear_refs, ru_maxrss is the peak of the whole process so far.
        peak = _status_mb("VmHWM") if resettable else None
        step.peak_rss_mb = peak or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        step.rss_rise_mb = step.peak_rss_mb - start_rss


def _load(database: Database, n: int) -> tuple[int, int]:
    """N captured card payments; returns their gross and the fees `RULE` charges on them."""
    at = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
    payable = chart.payable_id(CLINIC, SettlementStream.CHECKOUT)
    clearing = chart.clearing_id(Channel.CARD)

    def setup(session: sa.orm.Session) -> None:
        session.add(Clinic(clinic_id=CLINIC, name="Bench", org_number="974760673",
                           created_at=at))
        session.flush()
        session.add(ClinicAgreement(
            clinic_id=CLINIC, invoice_fee=0, price_per_transaction=RULE.per_transaction,
            price_percent_bp=RULE.percent_bp, settlement_frequency="daily",
            max_order_amount=5_000_000, kid_scheme="mod10", fakturaservice=True,
            updated_at=at))
        session.add(ClinicAccount(account_id=f"{CLINIC}-1", clinic_id=CLINIC, name="Dr",
                                  bank_account="86011117947", created_at=at))
        sources.ensure_accounts(session, CLINIC)

    database.transaction(setup)
    gross = fees = 0
    for start in range(0, n, BATCH):
        rows = []
        for i in range(start, min(n, start + BATCH)):
            amount = 10_000 + i % 90_000
            gross += amount
            fees += RULE.fee(amount)
            rows.append({
                "id": f"bench:{i}", "debit_account_id": clearing, "credit_account_id": payable,
                "amount": amount, "currency": "NOK", "code": int(TransferCode.PAYMENT),
                "flags": 0, "pending_id": None, "reference": "", "timestamp": at,
                "clinic_id": CLINIC, "stream": "checkout", "source": "card",
                "kid": make_kid(i + 1, "mod10"), "recorded_at": at,
            })
        database.transaction(partial(_insert, rows))

    def sums(session: sa.orm.Session) -> None:
        session.get_one(LedgerAccount, payable).credits_posted += gross
        session.get_one(LedgerAccount, clearing).debits_posted += gross

    database.transaction(sums)
    return gross, fees


def _insert(rows: list[dict[str, Any]], session: sa.orm.Session) -> None:
    session.execute(sa.insert(LedgerTransfer), rows)


def _check(row: Settlement, index: dict[str, Any], gross: int, fees: int) -> None:
    """The figures the benchmark produced are the right ones (not timed)."""
    assert (row.gross, row.fees, row.total) == (gross, fees, gross - fees), row
    report = json.loads(Path(index["json"]["path"]).read_text())
    assert report["total"] == report["payout"] == row.total
    with Path(index["transactions"]["path"]).open(newline="") as handle:
        nets = sum(int(line["net"]) for line in csv.DictReader(handle))
    assert nets == row.total


def _print(steps: list[Step], n: int, trace: bool) -> None:
    print(f"\nN = {n:,} transactions")
    heap = " | Python heap peak" if trace else ""
    print(f"| step | time | rows/s | peak RSS | RSS rise{heap} |")
    print("|---|---|---|---|---|" + ("---|" if trace else ""))
    for step in steps:
        cells = [step.name, f"{step.seconds:.1f} s", f"{n / step.seconds:,.0f}",
                 f"{step.peak_rss_mb:.0f} MB", f"{step.rss_rise_mb:+.0f} MB"]
        if trace:
            cells.append("-" if step.heap_peak_mb is None else f"{step.heap_peak_mb:.1f} MB")
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--url", required=True, help="PostgreSQL URL (a schema is made in it)")
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also trace the Python heap's peak (slows the run)")
    args = parser.parse_args()
    n, trace = args.transactions, args.tracemalloc
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(args.url, poolclass=NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = sa.make_url(args.url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url.render_as_string(hide_password=False))
    steps = [Step("post (bulk load, setup)"), Step("settle (runner.run)"),
             Step("files (reports, transaction list, OCR + recount)")]
    try:
        migrate(engine)
        database = Database(engine)
        with measured(steps[0], trace=False):
            gross, fees = _load(database, n)
        key = runner.RunKey(CLINIC, SettlementStream.CHECKOUT, DAY)
        now = datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(hours=6)

        def settle(session: sa.orm.Session) -> Settlement:
            return runner.run(session, key, now)

        with measured(steps[1], trace):
            row = database.transaction(settle)
        with tempfile.TemporaryDirectory() as folder:

            def write(session: sa.orm.Session) -> dict[str, Any]:
                return files.write_all(session, row, Path(folder))

            with measured(steps[2], trace):
                index = database.transaction(write)
            size = Path(index["ocr"]["path"]).stat().st_size
            _check(row, index, gross, fees)
        print(f"settled {row.count:,} transactions, payout {row.total} øre (checked); "
              f"OCR file {size / 1e6:.0f} MB")
        _print(steps, n, trace)
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


if __name__ == "__main__":
    main()
