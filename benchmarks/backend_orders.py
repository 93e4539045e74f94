"""Order intake through the HTTP API, and the deadline sweep over many expired orders.

    python benchmarks/backend_orders.py [--orders 2000] [--concurrency 8] [--expired 100000]
                                        [--pg postgresql+psycopg://postgres@127.0.0.1/test]

For SQLite (a file in a temporary directory) and, when a URL is given by --pg or the
MEDIPAY_TEST_PG_URL environment variable, PostgreSQL (in a schema of its own, dropped
afterwards), it prints:

1. orders accepted per second through the real server (hypercorn on 127.0.0.1, scheduler
   off so intake is measured alone): one order per request from `--concurrency` clients,
   and batches of 100 orders per request;
2. the time to route `--expired` orders whose deadline has passed: the orders are inserted
   directly (not timed), then the deadline job runs once, scoring every order with the
   simulated bureau and writing an invoice record and two history entries for each.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import trio

from medipay.clock import SimulatedClock
from medipay.logs import configure_logging
from medipay_backend.db import Database, make_engine, migrate
from medipay_backend.demo import DEMO_ACCOUNT_ID, DEMO_CLINIC_ID, ensure_demo_clinic
from medipay_backend.handlers import make_handlers
from medipay_backend.jobs import ClaimedJob
from medipay_backend.models_orders import Order
from medipay_backend.runtime import Runtime

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
TOKEN = "benchmark-operator-token"
NATIONAL_ID = "14038510151"


def order_body(n: int) -> dict[str, Any]:
    return {
        "idempotency_key": f"bench-{n:08d}", "amount": 45_000 + n % 1000,
        "patient": {"name": "Kari Nordmann", "national_id": NATIONAL_ID, "mobile": "91234567",
                    "address": {"street": "Storgata 1", "postal_code": "0155",
                                "city": "Oslo"}},
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start_server(url: str, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`medipay backend serve` in a process of its own, so the load generator here does not
    take the server's CPU (the machine has two cores)."""
    port = free_port()
    config = tmp / "bench.toml"
    config.write_text(f'data_dir = "{tmp}"\ndatabase_url = "{url}"\nadmin_token = "{TOKEN}"\n'
                      f'log_level = "error"\n[http]\nport = {port}\n'
                      "[scheduler]\nenabled = false\n")
    server = subprocess.Popen([sys.executable, "-m", "medipay", "backend", "serve", "-c",
                               str(config)], stdout=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base_url) as client:
        with trio.fail_after(30):
            while True:
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return server, base_url
                except httpx.TransportError:
                    pass
                await trio.sleep(0.1)


async def make_epj(client: httpx.AsyncClient) -> httpx.BasicAuth:
    admin = {"Authorization": f"Bearer {TOKEN}"}
    await client.post("/v1/clinics", json={"clinic_id": "bench", "name": "Benk legesenter",
                                           "org_number": "974760673"}, headers=admin)
    await client.post("/v1/clinics/bench/accounts", json={
        "account_id": "bench-1", "name": "Dr. Benk", "bank_account": "86011117947"},
        headers=admin)
    answer = await client.post("/v1/clinics/bench/accounts/bench-1/credentials",
                               json={"idempotency_key": "bench"}, headers=admin)
    body = answer.json()
    return httpx.BasicAuth(body["client_id"], body["secret"])


async def intake(url: str, orders: int, concurrency: int, tmp: Path) -> tuple[float, float]:
    server, base_url = await start_server(url, tmp)
    try:
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
            auth = await make_epj(client)
            numbers = iter(range(orders))

            async def worker() -> None:
                for n in numbers:
                    response = await client.post("/v1/orders", json=order_body(n), auth=auth)
                    assert response.status_code == 201, response.text

            started = time.perf_counter()
            async with trio.open_nursery() as workers:
                for _ in range(concurrency):
                    workers.start_soon(worker)
            single = orders / (time.perf_counter() - started)

            batches = iter(range(orders, orders * 2, 100))

            async def batch_worker() -> None:
                for first in batches:
                    body = {"orders": [order_body(n) for n in range(first, first + 100)]}
                    response = await client.post("/v1/orders", json=body, auth=auth)
                    assert response.status_code == 200, response.text

            started = time.perf_counter()
            async with trio.open_nursery() as workers:
                for _ in range(max(1, concurrency // 2)):
                    workers.start_soon(batch_worker)
            batched = orders / (time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return single, batched


def insert_expired(database: Database, count: int) -> None:
    """Orders whose deadline has passed, as intake would have stored them (not timed)."""
    now = START
    birth = date(1985, 3, 14)
    patient = {"name": "Kari Nordmann", "mobile": "+4791234567", "email": None,
               "address": {"street": "Storgata 1", "postal_code": "0155", "city": "Oslo",
                           "country": "NO"}}

    def rows(first: int, size: int) -> list[dict[str, Any]]:
        return [{
            "id": str(uuid.uuid4()), "clinic_id": DEMO_CLINIC_ID, "account_id": DEMO_ACCOUNT_ID,
            "idempotency_key": f"expired-{n:08d}", "content_sha256": "0" * 64,
            "external_reference": None, "status": "awaiting_payment", "status_reason": None,
            "payment_method": None, "amount": 20_000 + (n % 5) * 100_000, "invoice_fee": 5_900,
            "currency": "NOK", "kid": f"{n:014d}0", "kid_generated": True,
            "description": "Konsultasjon", "payer": "patient", "direct_to_invoice": False,
            "always_fakturaservice": False, "patient_national_id": NATIONAL_ID,
            "patient_birth_date": birth, "patient": patient, "guardian": None,
            "other_payer": None, "company": None, "sms_to": "+4791234567",
            "deadline_at": now + timedelta(hours=48), "received_at": now, "updated_at": now,
        } for n in range(first, first + size)]

    for first in range(0, count, 10_000):
        size = min(10_000, count - first)
        database.transaction(lambda s, first=first, size=size: s.execute(
            sa.insert(Order), rows(first, size)))


async def deadline_job(url: str, count: int) -> float:
    clock = SimulatedClock(START)
    engine = make_engine(url)
    try:
        await trio.to_thread.run_sync(migrate, engine)
        database = Database(engine)
        await ensure_demo_clinic(database, clock, TOKEN)
        await trio.to_thread.run_sync(insert_expired, database, count)
        clock.advance(timedelta(hours=48))
        handlers = make_handlers(database, clock, Runtime.simulated(clock))
        job = ClaimedJob(0, "sweep_deadlines", "sweep", {}, 1, 1, clock.now())
        started = time.perf_counter()
        await handlers["sweep_deadlines"](job)
        elapsed = time.perf_counter() - started
        left = database.transaction(lambda s: s.scalar(
            sa.select(sa.func.count()).select_from(Order)
            .where(Order.status == "awaiting_payment")))
        assert left == 0, left
        return elapsed
    finally:
        engine.dispose()


def pg_schema_url(base: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    admin.dispose()
    parsed = sa.make_url(base)
    url = parsed.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop_schema(base: str, schema: str) -> None:
    admin = sa.create_engine(base)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--expired", type=int, default=100_000)
    parser.add_argument("--pg", default=os.environ.get("MEDIPAY_TEST_PG_URL", ""))
    args = parser.parse_args()
    configure_logging(SimulatedClock(START), "error")
    targets = ["sqlite"] + (["postgresql"] if args.pg else [])
    print(f"{args.orders} orders each way, {args.concurrency} clients; "
          f"deadline job over {args.expired} expired orders")
    for target in targets:
        with tempfile.TemporaryDirectory(prefix="medipay-bench-") as scratch:
            tmp = Path(scratch)
            for part in ("intake", "deadline"):
                schema = ""
                if target == "sqlite":
                    url = f"sqlite+pysqlite:///{tmp / (part + '.sqlite3')}"
                else:
                    url, schema = pg_schema_url(args.pg)
                try:
                    if part == "intake":
                        single, batched = trio.run(intake, url, args.orders, args.concurrency,
                                                   tmp)
                        print(f"{target:10s} intake: {single:8.0f} orders/s one per request, "
                              f"{batched:8.0f} orders/s in batches of 100")
                    else:
                        seconds = trio.run(deadline_job, url, args.expired)
                        print(f"{target:10s} deadline job: {args.expired} expired orders in "
                              f"{seconds:.1f} s ({args.expired / seconds:.0f} orders/s)")
                finally:
                    if schema:
                        drop_schema(args.pg, schema)


if __name__ == "__main__":
    main()
