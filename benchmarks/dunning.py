"""One daily dunning run over many open Fakturaservice invoices on PostgreSQL.

    python benchmarks/dunning.py [--invoices 1000000] [--pg postgresql+psycopg://...]

The invoices (orders, invoice records and claims) are generated inside PostgreSQL with
`generate_series` in a schema of its own (dropped afterwards); that part is not timed. Their
issue dates are spread evenly over the last `AGES` days and each claim's dunning state is
the one the pure rules give an invoice of that age when every daily run happened, so the
database holds a steady state: on the measured day, the claims with a step due are those
whose age hits a step (about one in ten). The run is then timed as the job does it, chunk by
chunk, one transaction each, and it prints the wall time, the claims read, the actions, and
peak memory (Python heap by tracemalloc, and the process's maximum RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import tracemalloc
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medipay_backend.db import Database, make_engine, migrate
from medipay_backend.domain.dunning import (
    FAKTURASERVICE_SCHEDULE,
    ClaimState,
    due_steps,
    stage,
)
from medipay_backend.invoicing.dunning_runner import RunSummary, run_chunk
from medipay_backend.invoicing.progress import next_action_on

AGES = 130
TODAY = date(2026, 6, 1)
NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)


def state_at(age: int) -> tuple[dict[str, str], str, date | None]:
    """(done, stage, next_action_on) of an invoice issued `age` days before TODAY, after the
    run of the day before TODAY (every earlier daily run done)."""
    issued = TODAY - timedelta(days=age)
    done: dict[str, date] = {}
    for offset in range(age):
        day = issued + timedelta(days=offset)
        while True:
            due = due_steps(FAKTURASERVICE_SCHEDULE, issued, day, ClaimState(done=done))
            if not due:
                break
            for item in due:
                done[item.step.id] = day
    state = ClaimState(done=done)
    yesterday = TODAY - timedelta(days=1)
    upcoming = next_action_on(FAKTURASERVICE_SCHEDULE, issued, state, yesterday)
    if upcoming is not None:
        upcoming = max(upcoming, issued)
    return ({k: v.isoformat() for k, v in done.items()},
            stage(FAKTURASERVICE_SCHEDULE, state).value, upcoming)


def populate(engine: sa.Engine, invoices: int) -> None:
    ages = [(age, *state_at(age)) for age in range(AGES)]
    with engine.begin() as c:
        c.execute(sa.text(
            "INSERT INTO clinics VALUES ('bench', 'Benk legesenter', '974760673', :now)"),
            {"now": NOW})
        c.execute(sa.text(
            "INSERT INTO clinic_accounts VALUES ('bench-main', 'bench', 'Hoved', "
            "'86011117947', :now)"), {"now": NOW})
        c.execute(sa.text("CREATE TEMP TABLE ages (age int, done json, stage text, "
                          "next_on date)"))
        c.execute(sa.text("INSERT INTO ages VALUES (:age, CAST(:done AS json), :stage, :next)"),
                  [{"age": a, "done": json.dumps(d), "stage": s, "next": n}
                   for a, d, s, n in ages])
        c.execute(sa.text(f"""
            INSERT INTO orders (id, clinic_id, account_id, idempotency_key, content_sha256,
                status, amount, invoice_fee, currency, kid, kid_generated, description, payer,
                direct_to_invoice, always_fakturaservice, patient_national_id, patient,
                sms_to, received_at, updated_at)
            SELECT md5('o' || g)::uuid::text, 'bench', 'bench-main', 'k' || g, repeat('0', 64),
                'invoiced', 50000 + (g % 200000), 4900, 'NOK', lpad(g::text, 15, '0'), true,
                'Konsultasjon', 'patient', false, false, NULL,
                json_build_object('name', 'Pasient ' || g, 'mobile', '91234567',
                                  'address', json_build_object('street', 'Gate ' || g,
                                  'postal_code', '0155', 'city', 'Oslo')),
                '+4791234567', :now, :now
            FROM generate_series(1, {invoices}) AS g"""), {"now": NOW})
        c.execute(sa.text(f"""
            INSERT INTO invoices (id, order_id, clinic_id, account_id, route, origin, reason,
                recipient, amount, invoice_fee, total, currency, kid, status, created_at)
            SELECT md5('i' || g)::uuid::text, md5('o' || g)::uuid::text, 'bench',
                'bench-main', 'fakturaservice', 'fallback', 'poor_score',
                json_build_object('kind', 'patient', 'name', 'Pasient ' || g,
                                  'address_source', 'epj'),
                50000 + (g % 200000), 4900, 54900 + (g % 200000), 'NOK',
                lpad(g::text, 15, '0'), 'created', :now
            FROM generate_series(1, {invoices}) AS g"""), {"now": NOW})
        c.execute(sa.text(f"""
            INSERT INTO claims (invoice_id, invoice_number, clinic_id, route, kid, issue_date,
                due_date, state, paused, stage, done, next_action_on, principal, invoice_fee,
                fees_charged, paid_fees, paid_interest, paid_invoice_fee, paid_principal,
                credited_invoice_fee, credited_principal, created_at)
            SELECT md5('i' || g)::uuid::text, 100000 + g, 'bench', 'fakturaservice',
                lpad(g::text, 15, '0'), CAST(:today AS date) - a.age,
                CAST(:today AS date) - a.age + 14, 'open', false, a.stage, a.done, a.next_on,
                50000 + (g % 200000), 4900, 0, 0, 0, 0, 0, 0, 0, :now
            FROM generate_series(1, {invoices}) AS g JOIN ages a ON a.age = g % {AGES}
"""), {"now": NOW, "today": TODAY})
        c.execute(sa.text("ANALYZE"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--pg", default=os.environ.get("MEDIPAY_TEST_PG_URL", ""))
    args = parser.parse_args()
    if not args.pg:
        sys.exit("give --pg or set MEDIPAY_TEST_PG_URL")
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(args.pg, poolclass=NullPool)
    with admin.begin() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = sa.make_url(args.pg).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        migrate(engine)
        started = time.perf_counter()
        populate(engine, args.invoices)
        print(f"populated {args.invoices:,} open invoices in "
              f"{time.perf_counter() - started:.1f} s (not part of the run)")
        db = Database(engine)
        summary = RunSummary()
        tracemalloc.start()
        started = time.perf_counter()
        while db.transaction(lambda s: run_chunk(s, TODAY, NOW, summary)):
            pass
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"daily dunning run on {TODAY}: {elapsed:.1f} s wall, "
              f"{summary.claims:,} claims with a step due, actions {dict(summary.actions)}, "
              f"fees {summary.fees / 100:,.2f} kr")
        print(f"peak Python heap {peak / 2**20:.1f} MiB, max RSS {rss_mb:.0f} MiB")
        again = RunSummary()
        started = time.perf_counter()
        while db.transaction(lambda s: run_chunk(s, TODAY, NOW, again)):
            pass
        print(f"second run the same day: {time.perf_counter() - started:.2f} s, "
              f"{again.claims} claims")
    finally:
        engine.dispose()
        with admin.begin() as c:
            c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


if __name__ == "__main__":
    main()
