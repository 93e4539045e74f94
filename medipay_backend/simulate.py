"""`medipay backend simulate`: a synthetic clinic month on a simulated clock.

Everything runs in-process against a fresh database: an EPJ posts its outgoing queue every
hour in opening hours, the scheduler sends SMS and reminders and sweeps deadlines, and
patients act through the real checkout pages: most pay at once by card or Vipps, some pay
late after the reminder, some choose invoice, some never pay and get a fallback invoice; a
few orders are for children, companies, or large amounts. The clock jumps in steps, so a
month takes seconds; the same seed gives the same month.
"""

from __future__ import annotations

import random
import re
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from stdnum.no import fodselsnummer

from medipay.clock import SimulatedClock
from medipay_backend.adapters.bureau import SimulatedBureau
from medipay_backend.app import create_app
from medipay_backend.db import Database, make_engine, migrate
from medipay_backend.demo import ensure_demo_clinic
from medipay_backend.domain.scoring import CreditHistory
from medipay_backend.handlers import make_handlers, sweep_job
from medipay_backend.localtime import OSLO
from medipay_backend.models_orders import Invoice, Order, SmsMessage
from medipay_backend.runtime import Runtime
from medipay_backend.scheduler import Scheduler
from medipay_backend.sms.sender import RecordingSender

STEP = timedelta(minutes=15)
OPENING_HOURS = range(8, 16)  # Oslo time; the EPJ sends its queue at each full hour
SIM_ADMIN_TOKEN = "simulation-operator-token"
_LINK = re.compile(r"(/c/[A-Za-z0-9_-]+)")
# Behaviours and their shares of patients (they add up to 1).
BEHAVIOURS = (("card_now", 0.42), ("vipps_now", 0.25), ("pay_late", 0.10),
              ("invoice", 0.08), ("never", 0.15))
CARD = "4111111111111111"


@dataclass
class Patient:
    order_key: str
    mobile: str
    behaviour: str
    act_at: datetime | None = None
    link: str | None = None
    done: bool = False


@dataclass
class Report:
    days: int
    orders: int
    seed: int
    statuses: Counter[str] = field(default_factory=Counter)
    methods: Counter[str] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    behaviours: Counter[str] = field(default_factory=Counter)
    sms: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    totals: Counter[str] = field(default_factory=Counter)


def _national_id(rng: random.Random, age: int, today: date) -> str:
    while True:
        born = today - timedelta(days=age * 365 + rng.randrange(1, 360))
        low, high = (0, 499) if born.year < 2000 else (500, 999)
        base = f"{born.day:02d}{born.month:02d}{born.year % 100:02d}{rng.randint(low, high):03d}"
        c1 = fodselsnummer.calc_check_digit1(base)
        c2 = fodselsnummer.calc_check_digit2(base + c1) if len(c1) == 1 else "x"
        if len(c1) == 1 and c1.isdigit() and len(c2) == 1 and c2.isdigit():
            return base + c1 + c2


def _order(rng: random.Random, n: int, mobile: str, today: date, bureau: SimulatedBureau
           ) -> dict[str, Any]:
    age = rng.choice([8, 12, 17, 25, 34, 41, 52, 67, 78]) if rng.random() < 0.9 else 45
    national_id = _national_id(rng, age, today)
    if rng.random() < 0.2:
        bureau.profiles[national_id] = CreditHistory(
            claims_in_collection=rng.choice([0, 1, 2]), defaults=rng.choice([0, 2, 3]))
    body: dict[str, Any] = {
        "idempotency_key": f"sim-{n:06d}", "external_reference": f"RK-{n}",
        "amount": rng.choice([25_000, 35_000, 45_000, 60_000, 120_000, 380_000]),
        "description": "Konsultasjon",
        "patient": {"name": f"Pasient {n}", "national_id": national_id, "mobile": mobile,
                    "address": {"street": f"Gate {n}", "postal_code": "0150", "city": "Oslo"}},
    }
    if age < 16:
        body["guardian"] = {"name": f"Foresatt {n}", "mobile": mobile,
                            "address": body["patient"]["address"]}
    if rng.random() < 0.03:
        body["patient"].pop("address")
    if rng.random() < 0.02:
        body["payer"] = "company"
        body["company"] = {"org_number": "974760673", "name": "Arbeidsgiver AS",
                           "address": {"street": "Kaia 1", "postal_code": "0150",
                                       "city": "Oslo"}}
    return body


class _Browser:
    """What a patient's phone does with the checkout pages (in-process HTTP)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def go(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(method, url, **kwargs)
        while response.status_code in (302, 303):
            response = await self.client.get(response.headers["location"])
        return response

    async def pay(self, link: str, behaviour: str) -> None:
        if behaviour == "invoice":
            await self.go("POST", f"{link}/faktura")
        elif behaviour == "vipps_now":
            start = await self.client.post(f"{link}/vipps")
            await self.go("POST", start.headers["location"] + "/approve")
        else:
            start = await self.client.post(f"{link}/kort")
            await self.go("POST", start.headers["location"], data={"card_number": CARD})


async def simulate(days: int, orders: int, seed: int,
                   progress: Callable[[int, int], None] | None = None,
                   database_url: str | None = None) -> Report:
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)  # a Monday, 08:00 in Oslo
    clock = SimulatedClock(start)
    with tempfile.TemporaryDirectory(prefix="medipay-sim-") as scratch:
        url = database_url or f"sqlite+pysqlite:///{Path(scratch) / 'simulation.sqlite3'}"
        engine = make_engine(url)
        if engine.dialect.name == "sqlite":
            # A throwaway database: skip the fsync per commit that the service insists on.
            sa.event.listen(engine, "connect", _no_fsync)
        migrate(engine)
        try:
            return await _run(rng, clock, Database(engine), days, orders, seed, progress)
        finally:
            engine.dispose()


async def _run(rng: random.Random, clock: SimulatedClock, database: Database, days: int,
               orders: int, seed: int, progress: Callable[[int, int], None] | None) -> Report:
    bureau = SimulatedBureau()
    sender = RecordingSender(clock)
    runtime = Runtime.simulated(clock, sms=sender, bureau=bureau, base_url="http://sim")
    app = create_app(database=database, clock=clock, admin_token=SIM_ADMIN_TOKEN,
                     runtime=runtime)
    scheduler = Scheduler(database, clock, make_handlers(database, clock, runtime))
    await scheduler.add(sweep_job(clock.now()))
    demo = await ensure_demo_clinic(database, clock, SIM_ADMIN_TOKEN)
    auth = httpx.BasicAuth(demo.epj_client_id, demo.epj_secret)
    report = Report(days, orders, seed)
    end = clock.now() + timedelta(days=days)
    slots = _send_slots(clock.now(), end)
    per_slot = _spread(orders, len(slots), rng)
    patients: dict[str, Patient] = {}
    waiting: list[Patient] = []
    seen: list[str] = []
    steps = int((end + timedelta(days=3) - clock.now()) / STEP)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        browser = _Browser(client)
        queue = iter(zip(slots, per_slot, strict=True))
        next_slot = next(queue, None)
        n = 0
        for step in range(steps):
            now = clock.now()
            while next_slot is not None and next_slot[0] <= now:
                batch = []
                for _ in range(next_slot[1]):
                    n += 1
                    mobile = f"9{n:07d}"
                    behaviour = _pick(rng)
                    batch.append(_order(rng, n, mobile, now.date(), bureau))
                    patients["+47" + mobile] = Patient(f"sim-{n:06d}", "+47" + mobile,
                                                       behaviour)
                    report.behaviours[behaviour] += 1
                if batch:
                    answer = await client.post("/v1/orders", json={"orders": batch}, auth=auth)
                    report.rejected += sum(r["outcome"] == "rejected"
                                           for r in answer.json()["results"])
                next_slot = next(queue, None)
            await scheduler.run_due()
            await _patients_act(rng, browser, sender, patients, waiting, seen, now)
            clock.advance(STEP)
            if progress is not None:
                progress(step + 1, steps)
        await scheduler.run_due()
    await database.run(lambda s: _tally(s, report))
    return report


def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=OFF")
    finally:
        cursor.close()


def _send_slots(start: datetime, end: datetime) -> list[datetime]:
    slots = []
    moment = start
    while moment < end:
        local = moment.astimezone(OSLO)
        if local.weekday() < 5 and local.hour in OPENING_HOURS and local.minute == 0:
            slots.append(moment)
        moment += STEP
    return slots or [start]


def _spread(orders: int, slots: int, rng: random.Random) -> list[int]:
    counts = [0] * slots
    for _ in range(orders):
        counts[rng.randrange(slots)] += 1
    return counts


def _pick(rng: random.Random) -> str:
    roll = rng.random()
    for behaviour, share in BEHAVIOURS:
        if roll < share:
            return behaviour
        roll -= share
    return "never"


async def _patients_act(rng: random.Random, browser: _Browser, sender: RecordingSender,
                        patients: dict[str, Patient], waiting: list[Patient], seen: list[str],
                        now: datetime) -> None:
    """Patients read their new SMS and decide when to act; those whose time has come act.
    (`seen` holds the id of the last SMS read: the recorder keeps only the newest ones.)"""
    fresh = [m for m in sender.messages if not seen or m.message_id > seen[0]]
    if fresh:
        seen[:] = [max(m.message_id for m in fresh)]
    # Jobs run concurrently, so SMS of one step arrive in any order: read them in patient
    # order, so the same seed draws the same numbers for the same patients.
    for message in sorted(fresh, key=lambda m: m.to):
        patient = patients.get(message.to)
        if patient is None or patient.done or patient.link is not None:
            continue
        found = _LINK.search(message.text)
        patient.link = found.group(1) if found else None
        if patient.behaviour == "never" or patient.link is None:
            patient.done = True
            continue
        delay = (timedelta(hours=rng.uniform(40.5, 47)) if patient.behaviour == "pay_late"
                 else timedelta(minutes=rng.randint(1, 90)))
        patient.act_at = message.sent_at + delay
        waiting.append(patient)
    due = sorted((p for p in waiting if p.act_at is not None and p.act_at <= now),
                 key=lambda p: p.order_key)
    for patient in due:
        assert patient.link is not None
        await browser.pay(patient.link, patient.behaviour)
        patient.done = True
        waiting.remove(patient)


def _tally(session: Any, report: Report) -> None:
    for status, method, count, amount in session.execute(
        sa.select(Order.status, Order.payment_method, sa.func.count(), sa.func.sum(Order.amount))
        .group_by(Order.status, Order.payment_method)
    ):
        report.statuses[status] += count
        if method:
            report.methods[method] += count
        report.totals[status] += int(amount or 0)
    for route, reason, count in session.execute(
        sa.select(Invoice.route, Invoice.reason, sa.func.count())
        .group_by(Invoice.route, Invoice.reason)
    ):
        report.routes[f"{route}: {reason}"] += count
    for reason, count in session.execute(
        sa.select(Order.status_reason, sa.func.count())
        .where(Order.status == "manual_handling").group_by(Order.status_reason)
    ):
        report.routes[f"manual: {reason}"] += count
    for kind, status, count in session.execute(
        sa.select(SmsMessage.kind, SmsMessage.status, sa.func.count())
        .group_by(SmsMessage.kind, SmsMessage.status)
    ):
        report.sms[f"{kind} {status}"] += count
