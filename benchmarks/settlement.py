"""Settle N card payments of one clinic and write their OCR giro file, on PostgreSQL.

    python benchmarks/settlement.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test \
        [--transactions 1000000]

Setup (not timed): a fresh schema, migrated; one clinic with an agreement and an account;
N captured card payments bulk-loaded straight into `ledger_transfers` (with the stored sums
of their accounts, so the ledger stays consistent). Timed: `runner.run` (select the unsettled
transfers, `domain.settlement.settle`, insert the settlement and its N items, book fee and
payout) and then `files.write_all` (Balance Report, transaction list, and the OCR file from
a server-side cursor through `build_ocr`, parsed back with `iter_ocr`). Peak memory is the
process's maximum resident set (ru_maxrss) before and after each step; the domain's
`settle` keeps its report lines in memory, the OCR file streams.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from medipay_backend.db import Database, make_engine, migrate
from medipay_backend.domain.kid import make_kid
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.ledger import chart
from medipay_backend.ledger.chart import Channel, TransferCode
from medipay_backend.models_clinics import Clinic, ClinicAccount, ClinicAgreement
from medipay_backend.models_ledger import LedgerAccount, LedgerTransfer
from medipay_backend.settlement import files, runner, sources

CLINIC = "bench-klinikk"
DAY = date(2026, 2, 2)
BATCH = 20_000


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load(database: Database, n: int) -> None:
    at = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
    payable = chart.payable_id(CLINIC, SettlementStream.CHECKOUT)
    clearing = chart.clearing_id(Channel.CARD)

    def setup(session: sa.orm.Session) -> None:
        session.add(Clinic(clinic_id=CLINIC, name="Bench", org_number="974760673",
                           created_at=at))
        session.flush()
        session.add(ClinicAgreement(
            clinic_id=CLINIC, invoice_fee=0, price_per_transaction=150, price_percent_bp=125,
            settlement_frequency="daily", max_order_amount=5_000_000, kid_scheme="mod10",
            fakturaservice=True, updated_at=at))
        session.add(ClinicAccount(account_id=f"{CLINIC}-1", clinic_id=CLINIC, name="Dr",
                                  bank_account="86011117947", created_at=at))
        sources.ensure_accounts(session, CLINIC)

    database.transaction(setup)
    total = 0
    for start in range(0, n, BATCH):
        rows = []
        for i in range(start, min(n, start + BATCH)):
            amount = 10_000 + i % 90_000
            total += amount
            rows.append({
                "id": f"bench:{i}", "debit_account_id": clearing, "credit_account_id": payable,
                "amount": amount, "currency": "NOK", "code": int(TransferCode.PAYMENT),
                "flags": 0, "pending_id": None, "reference": "", "timestamp": at,
                "clinic_id": CLINIC, "stream": "checkout", "source": "card",
                "kid": make_kid(i + 1, "mod10"), "recorded_at": at,
            })
        database.transaction(lambda s, rows=rows: s.execute(sa.insert(LedgerTransfer), rows))

    def sums(session: sa.orm.Session) -> None:
        session.get_one(LedgerAccount, payable).credits_posted += total
        session.get_one(LedgerAccount, clearing).debits_posted += total

    database.transaction(sums)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="PostgreSQL URL (a schema is made in it)")
    parser.add_argument("--transactions", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.transactions
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(args.url, poolclass=NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = sa.make_url(args.url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        migrate(engine)
        database = Database(engine)
        started = time.perf_counter()
        _load(database, n)
        print(f"loaded {n:,} ledger transfers in {time.perf_counter() - started:.1f} s "
              f"(setup, not timed below); peak RSS {_rss_mb():.0f} MB")
        key = runner.RunKey(CLINIC, SettlementStream.CHECKOUT, DAY)
        now = datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(hours=6)
        started = time.perf_counter()
        row = database.transaction(lambda s: runner.run(s, key, now))
        settled = time.perf_counter() - started
        print(f"settle: {row.count:,} transactions in {settled:.1f} s "
              f"= {row.count / settled:,.0f} rows/s; payout {row.total} øre; "
              f"peak RSS {_rss_mb():.0f} MB")
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            index = database.transaction(lambda s: files.write_all(s, row, Path(folder)))
            written = time.perf_counter() - started
            size = Path(index["ocr"]["path"]).stat().st_size
            print(f"files (OCR {size / 1e6:.0f} MB, parsed back and rechecked, + reports and "
                  f"transaction list): {written:.1f} s = {row.count / written:,.0f} rows/s; "
                  f"peak RSS {_rss_mb():.0f} MB")
        print(f"total settle + files: {settled + written:.1f} s for N = {n:,}")
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


if __name__ == "__main__":
    main()
