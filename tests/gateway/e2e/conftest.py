"""The whole gateway, as `medipay gateway run` composes it, between a simulated terminal and a
real backend, in one trio process over real sockets (and a real pseudo-terminal).

`start_stack` starts the backend (SQLite in tmp_path), the simulator (TCP or pty, its
`SimTerminal` at hand for faults and customers), enrols the gateway and runs
`gateway.service.run_gateway` with a configuration pointing at both. One `TrioClock` serves
all three, so timestamps, signatures and the simulator's receipts follow trio's clock (the
real one, or `MockClock` in tests with long ZVT timers).

`assert_books_agree` compares the three ledgers at the end of a test: the terminal's batch
(what was charged), the gateway's journal (what the EPJ was told) and the backend's POS
transactions.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from sqlalchemy import create_engine, make_url, text

from firmware_sim import display
from firmware_sim.batch import reversed_receipts
from firmware_sim.cards import DEFAULT_DECK, Card
from firmware_sim.clocks import TrioClock
from firmware_sim.customers import CustomerDesk
from firmware_sim.device import SimTerminal
from firmware_sim.engine import TerminalEngine, TerminalSettings
from firmware_sim.faults import Fault, FaultKind
from firmware_sim.serial_server import PtyTerminal
from firmware_sim.state import TerminalState
from firmware_sim.tcp_server import TcpTerminal
from gateway.config import ApiConfig, BackendLinkConfig, GatewayConfig, TerminalConfig
from gateway.journal import TransactionRecord
from gateway.service import GatewayHandle, run_gateway
from gateway.terminal_manager import TerminalSupervisor
from gateway.uplink.enrol import enrol_gateway
from gateway.uplink.signing import load_or_create_key
from medipay_backend.config import BackendConfig, HttpConfig, SchedulerConfig
from medipay_backend.server import BackendHandle, serve_backend
from tests.conftest import PG_URL, database_params

GATEWAY_ID = "gw-e2e"
TERMINAL = "T1"
# No health checks (a Status Enquiry holding the terminal, or taking a fault armed for the
# next payment) in these tests. Not merely a long interval: under MockClock time may jump to
# any deadline while a worker thread commits, and a far one is still a deadline.
QUIET_HEALTH = math.inf


async def idle(device: SimTerminal) -> None:
    """Until the terminal finished its transaction (including the ECR's last ACK)."""
    while device.current is not None:
        await trio.sleep(0.01)


def waiting_for_card(device: SimTerminal) -> bool:
    return display.PRESENT_CARD in device.display.lines


async def until(condition: Any, step: float = 0.01) -> None:
    while not condition():
        await trio.sleep(step)


@dataclass
class Epj:
    """The journal system: HTTP calls to the gateway's EPJ API with its bearer token."""

    base_url: str
    token: str
    keys: int = 0

    def client(self) -> httpx.AsyncClient:
        # A client per call and no timeout: under MockClock an idle keep-alive connection may
        # be closed by the server while virtual time jumps, and a read timeout is virtual too.
        return httpx.AsyncClient(base_url=self.base_url, timeout=None,
                                 headers={"Authorization": f"Bearer {self.token}"})

    def new_key(self) -> str:
        self.keys += 1
        return f"epj-{self.keys}"

    async def post(self, path: str, body: dict[str, Any] | None = None, *,
                   key: str | None = None, prefer: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key or self.new_key()}
        if prefer is not None:
            headers["Prefer"] = prefer
        async with self.client() as client:
            return await client.post(path, json=body, headers=headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        async with self.client() as client:
            return await client.get(path, params=params)

    async def pay(self, amount: int, *, key: str | None = None, reference: str | None = None,
                  prefer: str | None = None, terminal: str = TERMINAL) -> httpx.Response:
        body = {"amount": amount, "currency": "NOK", "reference": reference or f"bill-{amount}"}
        return await self.post(f"/v1/terminals/{terminal}/payments", body, key=key,
                               prefer=prefer)

    async def refund(self, amount: int, *, key: str | None = None) -> httpx.Response:
        body = {"amount": amount, "currency": "NOK", "reference": f"refund-{amount}"}
        return await self.post(f"/v1/terminals/{TERMINAL}/refunds", body, key=key)

    async def reverse(self, transaction_id: str, *, key: str | None = None) -> httpx.Response:
        return await self.post(f"/v1/transactions/{transaction_id}/reversal", key=key)

    async def end_of_day(self, *, key: str | None = None) -> httpx.Response:
        return await self.post(f"/v1/terminals/{TERMINAL}/end-of-day", key=key)

    async def transaction(self, transaction_id: str) -> dict[str, Any]:
        response = await self.get(f"/v1/transactions/{transaction_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


async def start_stoppable(nursery: trio.Nursery, fn: Any, *args: Any) -> tuple[Any, Any]:
    """`nursery.start(fn, *args)` in a cancel scope of its own; returns (started value,
    async stop())."""
    scope = trio.CancelScope()
    done = trio.Event()

    async def runner(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            with scope:
                await fn(*args, task_status=task_status)
        finally:
            done.set()

    value = await nursery.start(runner)

    async def stop() -> None:
        scope.cancel()
        await done.wait()

    return value, stop


@dataclass
class Stack:
    backend: BackendHandle
    gateway: GatewayHandle
    device: SimTerminal
    sim: TcpTerminal | PtyTerminal
    epj: Epj
    config: GatewayConfig
    nursery: trio.Nursery
    stop_gateway: Any

    async def restart_gateway(self) -> None:
        """Stop the gateway (as SIGTERM would) and start it again on the same data."""
        await self.stop_gateway()
        self.gateway, self.stop_gateway = await start_stoppable(
            self.nursery, run_gateway, self.config, TrioClock())
        self.epj.base_url, self.epj.token = self.gateway.base_url, self.gateway.token
        await self.ready()

    @property
    def supervisor(self) -> TerminalSupervisor:
        return self.gateway.service.supervisor(TERMINAL)

    @property
    def engine(self) -> TerminalEngine:
        return self.device.engine

    def arm(self, kind: FaultKind, **options: Any) -> None:
        self.device.faults.arm(Fault(kind, **options))

    async def ready(self) -> None:
        """Until the supervisor has resolved everything and admits transactions again."""
        await until(lambda: self.supervisor.state == "ready"
                    and self.supervisor.busy_with is None)

    async def settled(self) -> None:
        """Until the terminal is idle, nothing is unresolved and the outbox is empty."""
        await idle(self.device)
        await self.ready()
        journal = self.gateway.journal
        while await journal.unresolved(TERMINAL) or await journal.outbox_backlog():
            self.gateway.uplink.wake()
            await trio.sleep(0.05)

    async def backend_items(self, path: str = "/v1/pos-transactions") -> list[dict[str, Any]]:
        """Every record the backend holds (all pages), oldest first."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        async with httpx.AsyncClient(base_url=self.backend.base_url, timeout=None) as client:
            while True:
                params: dict[str, Any] = {"limit": 1000}
                if cursor:
                    params["cursor"] = cursor
                response = await client.get(path, params=params, headers={
                    "Authorization": f"Bearer {self.backend.admin_token}"})
                assert response.status_code == 200, response.text
                page = response.json()
                items.extend(page["items"])
                cursor = page["next"]
                if not cursor or not page["items"]:
                    return items[::-1]


def make_device(*, deck: tuple[Card, ...] = DEFAULT_DECK, auto_card: bool = True,
                seed: int = 7, **settings: Any) -> SimTerminal:
    engine = TerminalEngine(TerminalState(), TrioClock(), deck=deck,
                            desk=CustomerDesk(auto=auto_card),
                            settings=TerminalSettings(**settings))
    return SimTerminal(engine, seed=seed)


async def start_stack(nursery: trio.Nursery, tmp_path: Path, *, transport: str = "tcp",
                      device: SimTerminal | None = None, database_url: str = "",
                      baudrate: int = 9600) -> Stack:
    # Starting up runs migrations and the enrolment in worker threads, with HTTP timeouts
    # around them: no time jumps until everything is up.
    mock = trio.lowlevel.current_clock()
    threshold = mock.autojump_threshold if isinstance(mock, trio.testing.MockClock) else None
    if isinstance(mock, trio.testing.MockClock):
        mock.autojump_threshold = math.inf
    try:
        return await _start_stack(nursery, tmp_path, transport=transport, device=device,
                                  database_url=database_url, baudrate=baudrate)
    finally:
        if isinstance(mock, trio.testing.MockClock):
            assert threshold is not None
            mock.autojump_threshold = threshold


async def _start_stack(nursery: trio.Nursery, tmp_path: Path, *, transport: str,
                       device: SimTerminal | None, database_url: str,
                       baudrate: int) -> Stack:
    clock = TrioClock()
    backend_config = replace(BackendConfig(), data_dir=tmp_path / "backend",
                             http=HttpConfig(port=0),
                             scheduler=SchedulerConfig(enabled=False))
    backend: BackendHandle = await nursery.start(serve_backend, backend_config, clock)
    device = device or make_device()
    sim: TcpTerminal | PtyTerminal
    if transport == "tcp":
        sim = TcpTerminal(device)
        port = await nursery.start(sim.serve, "127.0.0.1", 0)
        terminal = TerminalConfig(id=TERMINAL, transport="tcp", port=port)
    else:
        sim = PtyTerminal(device, baudrate=baudrate, link_path=tmp_path / "zvt0")
        await nursery.start(sim.serve)
        terminal = TerminalConfig(id=TERMINAL, transport="serial",
                                  device=str(tmp_path / "zvt0"), baudrate=baudrate)
    config = GatewayConfig(
        gateway_id=GATEWAY_ID, data_dir=tmp_path / "gateway", database_url=database_url,
        health_interval=QUIET_HEALTH, api=ApiConfig(port=0),
        # Every new outbox entry wakes the uplink; a short poll would only make MockClock
        # tests stop at every second of virtual time.
        backend=BackendLinkConfig(url=backend.base_url, poll_interval=30.0, retry_min=0.2,
                                  retry_max=2.0),
        terminals=(terminal,),
    )
    key = load_or_create_key(config.data_dir)
    await enrol_gateway(backend.base_url, backend.admin_token, GATEWAY_ID, key)
    gateway, stop = await start_stoppable(nursery, run_gateway, config, clock)
    stack = Stack(backend, gateway, device, sim, Epj(gateway.base_url, gateway.token), config,
                  nursery, stop)
    await stack.ready()
    return stack


@pytest.fixture(params=database_params())
def journal_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The gateway's journal: SQLite in its data directory (""), or with
    MEDIPAY_TEST_PG_URL set also PostgreSQL, in a schema of its own."""
    if request.param == "sqlite":
        yield ""
        return
    assert PG_URL is not None
    schema = f"gw_e2e_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
async def stack(nursery: trio.Nursery, tmp_path: Path, journal_url: str) -> Stack:
    return await start_stack(nursery, tmp_path, database_url=journal_url)


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    """Time for the long ZVT timers (T3 5 s, T4 180 s, a customer's 60 s): it runs at the
    real rate and jumps to the next deadline once everything was quiet for 50 ms of real
    time. Not at once (autojump_threshold=0): the journal and the backend commit in worker
    threads, and time must not leap over a commit to the next timeout."""
    return trio.testing.MockClock(rate=1.0, autojump_threshold=0.05)


# -- the books ---------------------------------------------------------------------------------


def terminal_books(device: SimTerminal) -> dict[str, dict[int, int]]:
    """The terminal's open batch by kind: receipt number -> amount. Payments the terminal
    reversed on its own (auto or implicit reversal) are not in it; payments reversed on an
    ECR's request are, beside their reversal."""
    batch = device.engine.state.batch
    books: dict[str, dict[int, int]] = {"purchase": {}, "refund": {}, "reversal": {},
                                        "reversed": {}}
    undone = reversed_receipts(batch)
    for booking in batch:
        assert booking.receipt is not None
        books[booking.kind][booking.receipt] = booking.amount
        if booking.kind == "purchase" and booking.receipt in undone:
            books["reversed"][booking.receipt] = booking.amount
    return books


def journal_books(records: Iterable[TransactionRecord]) -> dict[str, dict[int, int]]:
    """The same books from what the gateway told the EPJ."""
    books: dict[str, dict[int, int]] = {"purchase": {}, "refund": {}, "reversal": {},
                                        "reversed": {}}
    kinds = {"payment": "purchase", "refund": "refund", "reversal": "reversal"}
    for record in records:
        if record.kind not in kinds or record.status not in ("approved", "reversed"):
            continue
        assert record.receipt_number is not None, record
        assert record.receipt_number not in books[kinds[record.kind]], record
        books[kinds[record.kind]][record.receipt_number] = record.amount
        if record.status == "reversed":
            books["reversed"][record.receipt_number] = record.amount
    return books


def backend_books(items: Iterable[dict[str, Any]]) -> dict[str, dict[int, int]]:
    """The same books from the backend: a payment is `reversed` there once the reversal
    that names it arrived (`reversed_by`)."""
    books: dict[str, dict[int, int]] = {"purchase": {}, "refund": {}, "reversal": {},
                                        "reversed": {}}
    kinds = {"payment": "purchase", "refund": "refund", "reversal": "reversal"}
    for item in items:
        if item["status"] not in ("approved", "reversed"):
            continue
        assert item["receipt_number"] not in books[kinds[item["kind"]]], item
        books[kinds[item["kind"]]][item["receipt_number"]] = item["amount"]
        if item["status"] == "reversed":
            assert item["reversed_by"] is not None, item
            books["reversed"][item["receipt_number"]] = item["amount"]
    return books


async def assert_books_agree(stack: Stack) -> dict[str, dict[int, int]]:
    """Terminal, journal and backend agree on every approved transaction, and every
    transaction the EPJ asked for has a final status."""
    await stack.settled()
    records = await stack.gateway.journal.recent(terminal_id=TERMINAL, limit=10_000)
    assert all(r.status in ("approved", "declined", "aborted", "failed", "reversed")
               for r in records), [(r.id, r.status) for r in records]
    terminal = terminal_books(stack.device)
    journal = journal_books(records)
    assert journal == terminal
    items = await stack.backend_items()
    keys = [item["idempotency_key"] for item in items]
    assert len(keys) == len(set(keys))
    relayed = {r.id for r in records if r.status in ("approved", "declined", "aborted",
                                                     "reversed")}
    assert {item["gateway_transaction_id"] for item in items} == relayed
    backend = backend_books(items)
    assert backend == journal
    # Each reversal names the payment it reversed, as the journal has it.
    by_id = {r.id: r for r in records}
    for item in items:
        if item["kind"] == "reversal":
            record = by_id[item["gateway_transaction_id"]]
            assert item["reverses"] == {
                "gateway_transaction_id": record.original_transaction_id,
                "receipt_number": by_id[record.original_transaction_id].receipt_number}, item
    return terminal
