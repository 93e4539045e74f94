"""Crash campaign: the gateway killed with SIGKILL at random points of many transactions,
with the backend going down and up, and the books checked at the end.

    python benchmarks/crash_campaign.py --transactions 1000 --seed 7

Parts and where they run:

- the gateway: a subprocess, `python -m medipay gateway run -c gateway.toml`, its journal
  (SQLite) and key in a temporary data directory; killed with SIGKILL at a random moment
  after a request was sent (so during the journal write, the terminal's conversation, the
  outcome's commit, the answer or the uplink), and restarted after a random pause;
- the terminal: the simulator (`firmware_sim`) on TCP in this process, its host taking a
  moment (so kills land inside conversations), with customers who sometimes present a card
  that is declined or press STOP, and now and then dropping the connection or losing power
  at a random step of a transaction;
- the backend: `medipay_backend.server.serve_backend` in this process on a fixed port,
  stopped for a few requests now and then (an uplink outage) and started again;
- the EPJ: this process, one request at a time (payments, refunds, reversals of payments it
  was told were approved), each repeated with the same Idempotency-Key until its status is
  final; 409 request-in-progress / terminal-busy, 503 terminal-not-ready, `unknown` and
  connection errors are answered by asking again.

At the end the killing stops, the backend is up, one more payment (which carries 1F1F)
settles the terminal, and the campaign checks: every request has a final status; the
terminal's batch (approved and not reversed), what the EPJ was told, the gateway's journal
and the backend agree on every approved payment, refund and reversal, each reached the
backend exactly once, approved answers match the terminal's receipts; the uplink backlog is
empty and nothing was refused. A mismatch raises `CampaignFailure` with the seed. The same
seed gives the same requests, customers, kill delays and outages; the interleaving with the
real clock still varies, which is the point.

`tests/gateway/test_crash_campaign.py` runs a small campaign in CI.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import httpx
import structlog
import trio

from firmware_sim.batch import reversed_receipts
from firmware_sim.cards import DEFAULT_DECK
from firmware_sim.customers import Customer, CustomerDesk, Moment
from firmware_sim.device import SimTerminal
from firmware_sim.engine import TerminalEngine, TerminalSettings
from firmware_sim.faults import Fault, FaultKind, Step
from firmware_sim.state import TerminalState
from firmware_sim.tcp_server import TcpTerminal
from gateway.journal import Journal
from gateway.uplink.enrol import enrol_gateway
from gateway.uplink.signing import load_or_create_key
from medipay.clock import SystemClock
from medipay_backend.config import BackendConfig, HttpConfig, SchedulerConfig
from medipay_backend.server import BackendHandle, serve_backend

GATEWAY_ID = "gw-campaign"
TERMINAL = "T1"
EPJ_TOKEN = "campaign-epj-token"
FINAL = frozenset({"approved", "declined", "aborted", "failed", "reversed"})
CARDS = {card.name: card for card in DEFAULT_DECK}
# Cards a customer may present; the default (nobody queued) is the approving VISA card.
DECLINING = ("visa-declined", "mastercard-blocked", "maestro-expired")
APPROVING = ("mastercard", "amex")
# Where a terminal fault strikes (the steps of a payment, refund or reversal).
FAULT_STEPS = (Step.ACK, Step.CARD, Step.HOST, Step.STATUS, Step.STATUS_SENT, Step.STORED,
               Step.PRINT, Step.COMPLETION)
# How long one EPJ request may take to reach a final status, kills and outages included.
REQUEST_DEADLINE = 300.0
# Pause between two attempts of the same request.
RETRY_PAUSE = 0.1


class CampaignFailure(AssertionError):
    """The books disagree, or a request never got a final status."""


@dataclass(frozen=True)
class CampaignConfig:
    transactions: int = 1000
    seed: int = 1
    # Per request: chance that the gateway is killed while it runs, and the delay window
    # after sending it in which the kill lands (seconds).
    kill_chance: float = 0.12
    kill_window: float = 0.6
    # Seconds the gateway stays down after a kill (uniform in [0, this]).
    max_downtime: float = 0.5
    # Per request: chance that the backend goes down (if up), for 1..outage_requests requests.
    outage_chance: float = 0.05
    outage_requests: int = 6
    # Seconds the terminal's host takes: the window in which kills hit the conversation.
    host_delay: float = 0.15
    # Shares of refunds and reversals among the requests (the rest are payments).
    refund_share: float = 0.08
    reversal_share: float = 0.08
    # Per payment: chance of a declining card, and of a customer pressing STOP.
    decline_chance: float = 0.08
    cancel_chance: float = 0.04
    # Per request: chance that the terminal drops the connection at a random step, and that
    # it loses power at a random step (back 0.2-1.5 s later).
    disconnect_chance: float = 0.03
    power_cut_chance: float = 0.01


@dataclass
class Counts:
    transactions: int = 0
    payments: int = 0
    refunds: int = 0
    reversals: int = 0
    kills: int = 0
    gateway_starts: int = 0
    backend_outages: int = 0
    terminal_disconnects: int = 0
    terminal_power_cuts: int = 0
    approved: int = 0
    declined: int = 0
    aborted: int = 0
    failed_not_charged: int = 0
    recovered_from_terminal: int = 0
    resolved_not_charged: int = 0
    reversed_by_terminal: int = 0
    delivered: int = 0
    duplicates_refused_by_backend: int = 0
    retries: int = 0
    connection_errors: int = 0
    unknown_answers: int = 0
    in_progress_answers: int = 0
    busy_answers: int = 0
    not_ready_answers: int = 0
    elapsed_s: float = 0.0

    def render(self) -> str:
        width = max(len(f.name) for f in fields(self))
        lines = []
        for f in fields(self):
            value = getattr(self, f.name)
            shown = f"{value:.1f}" if isinstance(value, float) else str(value)
            lines.append(f"{f.name.replace('_', ' '):<{width}}  {shown}")
        return "\n".join(lines)


@dataclass
class Request:
    number: int
    kind: str  # payment, refund, reversal
    key: str
    amount: int
    original: dict[str, Any] | None = None  # for a reversal: the payment as the EPJ knows it
    outcome: dict[str, Any] | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Stoppable:
    """A service started in a nursery under its own cancel scope, to be stopped and started
    again (the backend)."""

    def __init__(self, nursery: trio.Nursery, fn: Any, *args: Any) -> None:
        self._nursery, self._fn, self._args = nursery, fn, args
        self._scope: trio.CancelScope | None = None
        self._done = trio.Event()

    @property
    def running(self) -> bool:
        return self._scope is not None

    async def start(self) -> Any:
        scope, done = trio.CancelScope(), trio.Event()
        self._scope, self._done = scope, done

        async def runner(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                with scope:
                    await self._fn(*self._args, task_status=task_status)
            finally:
                done.set()

        return await self._nursery.start(runner)

    async def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            await self._done.wait()
            self._scope = None


class GatewayProcess:
    """`medipay gateway run` as a child process; killed with SIGKILL, restarted."""

    def __init__(self, config_path: Path, log_path: Path, base_url: str) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.base_url = base_url
        self.process: trio.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        assert self.process is None
        with self.log_path.open("ab") as log:
            self.process = await trio.lowlevel.open_process(
                [sys.executable, "-m", "medipay", "gateway", "run", "-c",
                 str(self.config_path)],
                stdin=None, stdout=log, stderr=log)
        self.starts += 1
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as client:
            with trio.fail_after(60):
                while True:
                    if self.process.poll() is not None:
                        raise CampaignFailure(
                            f"the gateway exited with {self.process.returncode} at start; "
                            f"see {self.log_path}")
                    try:
                        if (await client.get("/healthz")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass  # not listening yet
                    await trio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as a power loss or the OOM killer would do."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self.process = None

    async def terminate(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            with trio.move_on_after(15) as waited:
                await self.process.wait()
            if waited.cancelled_caught:
                self.process.send_signal(signal.SIGKILL)
                await self.process.wait()
            self.process = None


def write_gateway_config(path: Path, data_dir: Path, api_port: int, backend_url: str,
                         terminal_port: int) -> None:
    path.write_text(f"""\
gateway_id = "{GATEWAY_ID}"
data_dir = "{data_dir}"
log_level = "warning"
health_interval = 5.0

[api]
host = "127.0.0.1"
port = {api_port}
token = "{EPJ_TOKEN}"

[backend]
url = "{backend_url}"
poll_interval = 0.5
retry_min = 0.1
retry_max = 1.0
batch_size = 20

[[terminals]]
id = "{TERMINAL}"
transport = "tcp"
host = "127.0.0.1"
port = {terminal_port}
""", encoding="utf-8")


@contextmanager
def backend_intake_counter(counts: Counts) -> Iterator[None]:
    """Count the duplicates the backend refused, from its intake log events; the campaign's
    own process logs nothing else (the gateway's log goes to a file)."""
    previous = structlog.get_config()

    def count(_logger: Any, _method: str, event: Any) -> Any:
        if event.get("event") in ("pos transactions received", "end-of-day totals received"):
            counts.duplicates_refused_by_backend += int(event.get("duplicates", 0))
        raise structlog.DropEvent

    structlog.configure(processors=[count], cache_logger_on_first_use=False)
    try:
        yield
    finally:
        structlog.configure(**previous)


class Campaign:
    def __init__(self, config: CampaignConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.rng = random.Random(config.seed)
        self.counts = Counts()
        self.requests: list[Request] = []
        self.clock = SystemClock()

    # -- the parts ----------------------------------------------------------------------

    def make_terminal(self) -> SimTerminal:
        engine = TerminalEngine(
            TerminalState(), self.clock, desk=CustomerDesk(auto=True),
            settings=TerminalSettings(host_delay=self.config.host_delay))
        return SimTerminal(engine, seed=self.config.seed)

    async def run(self) -> Counts:
        started = time.monotonic()
        with backend_intake_counter(self.counts):
            async with trio.open_nursery() as nursery:
                await self._run(nursery)
                nursery.cancel_scope.cancel()
        self.counts.elapsed_s = time.monotonic() - started
        return self.counts

    async def _run(self, nursery: trio.Nursery) -> None:
        workdir = self.workdir
        backend_port = free_port()
        backend_config = replace(
            BackendConfig(), data_dir=workdir / "backend",
            http=HttpConfig(port=backend_port), scheduler=SchedulerConfig(enabled=False))
        self.backend = Stoppable(nursery, serve_backend, backend_config, self.clock)
        handle: BackendHandle = await self.backend.start()
        self.backend_url, self.admin_token = handle.base_url, handle.admin_token

        self.device = self.make_terminal()
        sim = TcpTerminal(self.device)
        terminal_port = await nursery.start(sim.serve, "127.0.0.1", 0)

        data_dir = workdir / "gateway"
        await enrol_gateway(self.backend_url, self.admin_token, GATEWAY_ID,
                            load_or_create_key(data_dir))
        api_port = free_port()
        config_path = workdir / "gateway.toml"
        write_gateway_config(config_path, data_dir, api_port, self.backend_url, terminal_port)
        self.journal_url = f"sqlite:///{data_dir / 'journal.sqlite3'}"
        self.gateway = GatewayProcess(config_path, workdir / "gateway.log",
                                      f"http://127.0.0.1:{api_port}")
        await self.gateway.start()
        try:
            async with httpx.AsyncClient(
                    base_url=self.gateway.base_url, timeout=30.0,
                    headers={"Authorization": f"Bearer {EPJ_TOKEN}"}) as epj:
                self.epj = epj
                await self._transactions(nursery)
                await self._settle()
                await self._check()
        finally:
            self.counts.gateway_starts = self.gateway.starts
            await self.gateway.terminate()
        await self._count_from_journal()
        await self.backend.stop()

    # -- the EPJ ------------------------------------------------------------------------

    def _next_request(self, number: int) -> Request:
        config, rng = self.config, self.rng
        key = f"campaign-{config.seed}-{number}"
        # The same draws every time, whatever earlier outcomes were: the seed fixes the
        # script (which request, which customer, and below: kills and outages).
        draw, pick, who, card, delay = (rng.random() for _ in range(5))
        amount = rng.randrange(100, 50_000)
        reversible = [r for r in self.requests if r.kind == "payment" and r.outcome
                      and r.outcome["status"] == "approved" and not self._reversed(r)]
        if draw < config.reversal_share and reversible:
            original = reversible[int(pick * len(reversible))].outcome
            assert original is not None
            return Request(number, "reversal", key, original["amount"], original=original)
        if draw < config.reversal_share + config.refund_share:
            return Request(number, "refund", key, amount)
        desk = self.device.engine.desk
        if who < config.decline_chance:
            desk.add(Customer(card=CARDS[DECLINING[int(card * len(DECLINING))]]))
        elif who < config.decline_chance + config.cancel_chance:
            desk.add(Customer(card=CARDS["bankaxept"], cancel=Moment.PIN))
        elif who < 0.5:
            desk.add(Customer(card=CARDS[APPROVING[int(card * len(APPROVING))]],
                              present_after=0.2 * delay))
        return Request(number, "payment", key, amount)

    def _reversed(self, payment: Request) -> bool:
        assert payment.outcome is not None
        return any(r.kind == "reversal" and r.outcome and r.outcome["status"] == "approved"
                   and r.original and r.original["id"] == payment.outcome["id"]
                   for r in self.requests)

    async def _post(self, request: Request) -> httpx.Response:
        headers = {"Idempotency-Key": request.key}
        if request.kind == "reversal":
            assert request.original is not None
            path = f"/v1/transactions/{request.original['id']}/reversal"
            return await self.epj.post(path, headers=headers)
        body = {"amount": request.amount, "currency": "NOK", "reference": request.key}
        path = f"/v1/terminals/{TERMINAL}/{'payments' if request.kind == 'payment' else 'refunds'}"
        return await self.epj.post(path, json=body, headers=headers)

    async def _submit(self, request: Request) -> dict[str, Any]:
        """Ask until the answer is final, the way a careful EPJ does."""
        counts = self.counts
        first = True
        with trio.move_on_after(REQUEST_DEADLINE) as deadline:
            while True:
                if not first:
                    counts.retries += 1
                    await trio.sleep(RETRY_PAUSE)
                first = False
                try:
                    response = await self._post(request)
                except httpx.TransportError:
                    counts.connection_errors += 1  # the gateway is down or was killed
                    continue
                body = response.json() if response.content else {}
                if response.status_code == 201:
                    if body["status"] in FINAL:
                        return dict(body)
                    counts.unknown_answers += 1
                    continue
                slug = str(body.get("type", "")).rsplit("/", 1)[-1]
                if response.status_code == 409 and slug == "request-in-progress":
                    counts.in_progress_answers += 1
                    continue
                if response.status_code == 409 and slug == "terminal-busy":
                    counts.busy_answers += 1  # e.g. the supervisor's health check
                    continue
                if response.status_code == 503 and slug == "terminal-not-ready":
                    counts.not_ready_answers += 1
                    continue
                raise CampaignFailure(
                    f"seed {self.config.seed}: request {request.number} ({request.kind}, key "
                    f"{request.key}) got {response.status_code}: {response.text}")
        assert deadline.cancelled_caught
        raise CampaignFailure(f"seed {self.config.seed}: request {request.number} "
                              f"({request.key}) had no final status after {REQUEST_DEADLINE} s")

    # -- faults ---------------------------------------------------------------------------

    async def _kill_later(self, delay: float, downtime: float) -> None:
        await trio.sleep(delay)
        await self.gateway.kill()
        self.counts.kills += 1
        await trio.sleep(downtime)
        await self.gateway.start()

    async def _transactions(self, nursery: trio.Nursery) -> None:
        config, rng, counts = self.config, self.rng, self.counts
        outage_left = 0
        for number in range(1, config.transactions + 1):
            request = self._next_request(number)
            self.requests.append(request)
            counts.transactions += 1
            setattr(counts, request.kind + "s", getattr(counts, request.kind + "s") + 1)
            # Decide everything random now, so the seed fixes the script.
            kill = rng.random() < config.kill_chance
            kill_delay = rng.uniform(0.0, config.kill_window)
            downtime = rng.uniform(0.0, config.max_downtime)
            outage = rng.random() < config.outage_chance
            outage_length = rng.randint(1, config.outage_requests)
            fault, step, restart = rng.random(), rng.choice(FAULT_STEPS), rng.uniform(0.2, 1.5)
            await self._arm_terminal_fault(fault, step, restart)
            if outage_left == 0 and not self.backend.running:
                await self.backend.start()
            if outage and self.backend.running:
                await self.backend.stop()
                counts.backend_outages += 1
                outage_left = outage_length
            outage_left = max(0, outage_left - 1)
            async with trio.open_nursery() as during:
                if kill:
                    during.start_soon(self._kill_later, kill_delay, downtime)
                request.outcome = await self._submit(request)
        if not self.backend.running:
            await self.backend.start()

    async def _arm_terminal_fault(self, draw: float, step: Step, restart: float) -> None:
        config, device = self.config, self.device
        if draw >= config.disconnect_chance + config.power_cut_chance:
            return
        # A fault armed for one request must not hit the next one: wait until the terminal
        # is idle and clear what is left.
        while device.current is not None or not device.powered:
            await trio.sleep(0.01)
        device.faults.clear()
        if draw < config.disconnect_chance:
            device.faults.arm(Fault(FaultKind.DISCONNECT, at=step))
            self.counts.terminal_disconnects += 1
        else:
            device.faults.arm(Fault(FaultKind.POWER_CUT, at=step, restart_after=restart))
            self.counts.terminal_power_cuts += 1

    # -- the end ------------------------------------------------------------------------

    async def _settle(self) -> None:
        """One more payment: its 1F1F makes the terminal reverse a payment nobody knows."""
        while self.device.current is not None or not self.device.powered:
            await trio.sleep(0.01)
        self.device.faults.clear()
        settle = Request(self.config.transactions + 1, "payment",
                         f"campaign-{self.config.seed}-settle", 100)
        settle.outcome = await self._submit(settle)
        if settle.outcome["status"] != "approved":
            raise CampaignFailure(f"seed {self.config.seed}: the settling payment was "
                                  f"{settle.outcome}")
        self.requests.append(settle)
        with trio.fail_after(120):
            while True:
                status = (await self.epj.get("/v1/uplink")).json()
                if status["rejected"]:
                    raise CampaignFailure(f"seed {self.config.seed}: the backend refused "
                                          f"{status['rejected']}")
                if status["backlog"] == 0:
                    return
                await trio.sleep(0.2)

    def _fail(self, what: str, expected: Any, actual: Any) -> None:
        if expected != actual:
            raise CampaignFailure(f"seed {self.config.seed}: {what}:\n"
                                  f"  expected {expected}\n  actual   {actual}")

    async def _backend_items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        async with httpx.AsyncClient(base_url=self.backend_url, timeout=30.0) as client:
            while True:
                params: dict[str, Any] = {"limit": 1000}
                if cursor:
                    params["cursor"] = cursor
                response = await client.get("/v1/pos-transactions", params=params, headers={
                    "Authorization": f"Bearer {self.admin_token}"})
                page = response.json()
                items.extend(page["items"])
                cursor = page["next"]
                if not cursor or not page["items"]:
                    return items

    async def _check(self) -> None:
        seed = self.config.seed
        for request in self.requests:
            if request.outcome is None or request.outcome["status"] not in FINAL:
                raise CampaignFailure(f"seed {seed}: request {request.key} has no final "
                                      f"status: {request.outcome}")
        # The terminal: what was charged, by kind, receipt number -> amount.
        batch = self.device.engine.state.batch
        undone = reversed_receipts(batch)
        terminal = {kind: {b.receipt: b.amount for b in batch if b.kind == kind}
                    for kind in ("purchase", "refund", "reversal")}
        terminal_kept = {r: a for r, a in terminal["purchase"].items() if r not in undone}
        # The EPJ: what it was told.
        told: dict[str, dict[int, int]] = {"purchase": {}, "refund": {}, "reversal": {}}
        kinds = {"payment": "purchase", "refund": "refund", "reversal": "reversal"}
        for request in self.requests:
            outcome = request.outcome
            assert outcome is not None
            if outcome["status"] != "approved":
                continue
            slot = told[kinds[request.kind]]
            if outcome["receipt_number"] in slot:
                raise CampaignFailure(f"seed {seed}: receipt {outcome['receipt_number']} "
                                      f"approved twice at the EPJ")
            slot[outcome["receipt_number"]] = outcome["amount"]
        reversed_told = {r.original["receipt_number"] for r in self.requests  # type: ignore[index]
                         if r.kind == "reversal" and r.outcome
                         and r.outcome["status"] == "approved"}
        told_kept = {r: a for r, a in told["purchase"].items() if r not in reversed_told}
        self._fail("approved payments not reversed: terminal vs EPJ", terminal_kept, told_kept)
        for kind in ("purchase", "refund", "reversal"):
            self._fail(f"approved {kind}s: terminal vs EPJ", terminal[kind], told[kind])
        # The backend: every approved transaction exactly once.
        items = await self._backend_items()
        keys = [item["idempotency_key"] for item in items]
        if len(keys) != len(set(keys)):
            raise CampaignFailure(f"seed {seed}: the backend holds an entry twice")
        ids = [item["gateway_transaction_id"] for item in items]
        if len(ids) != len(set(ids)):
            raise CampaignFailure(f"seed {seed}: a gateway transaction reached the backend "
                                  f"twice")
        backend: dict[str, dict[int, int]] = {"purchase": {}, "refund": {}, "reversal": {}}
        # A payment is `reversed` in the backend once the reversal naming it arrived.
        reversed_backend: set[int] = set()
        for item in items:
            if item["status"] in ("approved", "reversed"):
                backend[kinds[item["kind"]]][item["receipt_number"]] = item["amount"]
            if item["status"] == "reversed":
                reversed_backend.add(item["receipt_number"])
        for kind in ("purchase", "refund", "reversal"):
            self._fail(f"approved {kind}s: terminal vs backend", terminal[kind], backend[kind])
        self._fail("reversed payments: EPJ vs backend", reversed_told, reversed_backend)
        self.counts.delivered = len(items)
        # Every final answer the EPJ got is what the journal and the backend hold.
        by_id = {item["gateway_transaction_id"]: item for item in items}
        for request in self.requests:
            outcome = request.outcome
            assert outcome is not None
            if outcome["status"] in ("approved", "declined", "aborted"):
                item = by_id.get(outcome["id"])
                status = outcome["status"]
                if request.kind == "payment" and outcome["receipt_number"] in reversed_told:
                    status = "reversed"  # approved, then reversed by a later request
                if item is None or item["status"] != status:
                    raise CampaignFailure(f"seed {seed}: {request.key} answered "
                                          f"{outcome['status']}, backend has {item}")

    async def _count_from_journal(self) -> None:
        counts = self.counts
        for request in self.requests[:self.config.transactions]:
            assert request.outcome is not None
            status = request.outcome["status"]
            if status == "failed":
                counts.failed_not_charged += 1
            elif status in ("approved", "declined", "aborted"):
                setattr(counts, status, getattr(counts, status) + 1)
        journal = Journal.open(self.journal_url, self.clock)
        try:
            records = await journal.recent(limit=10 * self.config.transactions + 100)
            status = await journal.outbox_status()
        finally:
            journal.close()
        counts.recovered_from_terminal = sum(
            1 for r in records if (r.result_text or "").startswith("approved (recovered"))
        counts.resolved_not_charged = sum(
            1 for r in records if (r.result_text or "").startswith("not charged:"))
        if status["backlog"] or status["rejected"]:
            raise CampaignFailure(f"seed {self.config.seed}: uplink not drained: {status}")
        counts.reversed_by_terminal = sum(
            1 for b in self.device.engine.state.journal
            if b.status == "auto_reversed" or (b.kind == "reversal" and b.source == "terminal"))


async def run_campaign(config: CampaignConfig, workdir: Path) -> Counts:
    return await Campaign(config, workdir).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None,
                        help="default: a random one (printed)")
    parser.add_argument("--kill-chance", type=float, default=CampaignConfig.kill_chance)
    parser.add_argument("--outage-chance", type=float, default=CampaignConfig.outage_chance)
    parser.add_argument("--keep", action="store_true",
                        help="keep the working directory (journal, logs) for a look")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    config = CampaignConfig(transactions=args.transactions, seed=seed,
                            kill_chance=args.kill_chance, outage_chance=args.outage_chance)
    print(f"crash campaign: {config.transactions} transactions, seed {seed}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="crash-campaign-"))
    try:
        counts = trio.run(run_campaign, config, workdir)
    except CampaignFailure as exc:
        print(f"FAILED: {exc}\n(working directory kept: {workdir})", file=sys.stderr)
        return 1
    print(counts.render())
    print(f"transactions per second (kills included): "
          f"{counts.transactions / counts.elapsed_s:.1f}")
    if args.keep:
        print(f"working directory: {workdir}")
    else:
        _remove(workdir)
    return 0


def _remove(path: Path) -> None:
    for child in sorted(path.rglob("*"), key=lambda p: -len(p.parts)):
        if child.is_dir() and not child.is_symlink():
            child.rmdir()
        else:
            child.unlink()
    path.rmdir()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
