"""One crash campaign: starts the backend, the terminal and the gateway, sends the seeded
script of requests while killing the gateway, stopping the backend and hurting the terminal,
settles the terminal and has the books checked."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from pathlib import Path

import httpx
import trio

from benchmarks.crash.books import check_books, count_from_journal
from benchmarks.crash.epj import next_request, submit
from benchmarks.crash.model import (
    EPJ_TOKEN,
    FAULT_STEPS,
    GATEWAY_ID,
    CampaignConfig,
    CampaignFailure,
    Counts,
    Request,
)
from benchmarks.crash.services import (
    GatewayProcess,
    Stoppable,
    backend_intake_counter,
    free_port,
    write_gateway_config,
)
from firmware_sim.customers import CustomerDesk
from firmware_sim.device import SimTerminal
from firmware_sim.engine import TerminalEngine, TerminalSettings
from firmware_sim.faults import Fault, FaultKind, Step
from firmware_sim.state import TerminalState
from firmware_sim.tcp_server import TcpTerminal
from gateway.uplink.enrol import enrol_gateway
from gateway.uplink.signing import load_or_create_key
from medipay.clock import SystemClock
from medipay_backend.config import BackendConfig, HttpConfig, SchedulerConfig
from medipay_backend.server import BackendHandle, serve_backend


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
                await check_books(self.config.seed, self.requests, self.device,
                                  self.backend_url, self.admin_token, self.counts)
        finally:
            self.counts.gateway_starts = self.gateway.starts
            await self.gateway.terminate()
        await count_from_journal(self.config, self.requests, self.journal_url, self.clock,
                                 self.device, self.counts)
        await self.backend.stop()

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
            request = next_request(self.config, self.rng, self.requests,
                                   self.device.engine.desk, number)
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
                request.outcome = await submit(self.epj, request, config.seed, counts)
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
        settle.outcome = await submit(self.epj, settle, self.config.seed, self.counts)
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


async def run_campaign(config: CampaignConfig, workdir: Path) -> Counts:
    return await Campaign(config, workdir).run()
