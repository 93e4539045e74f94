"""Run a scenario on its own: the simulated terminal and the built-in ECR in one process.

On trio's MockClock (what `medipay sim scenario` uses unless told to run in real time) a run
with the same file and seed gives the same display log, receipts and journal every time.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import tty
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
import trio.testing

from firmware_sim.clocks import TrioClock
from firmware_sim.device import SimTerminal
from firmware_sim.ecr import Ecr, EcrResult
from firmware_sim.engine import TerminalEngine
from firmware_sim.scenario import Scenario, customer, fault
from firmware_sim.serial_server import SERIAL_T3, PtyTerminal
from firmware_sim.state import TerminalState
from firmware_sim.tcp_server import TcpTerminal
from gateway.protocols import zvt

CHARSETS = {"iso-8859-15": zvt.CHARSET_ISO_8859_15, "iso-8859-1": zvt.CHARSET_ISO_8859_1,
            "cp437": None}
# Attempts to reach a terminal that lost power or hung up, one per second of (virtual) time.
RECONNECT_ATTEMPTS = 300


@dataclass
class StepReport:
    where: str
    action: str
    outcome: str
    failures: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScenarioReport:
    name: str
    steps: list[StepReport]
    display: list[str]
    receipts: list[dict[str, object]]
    totals: dict[str, object]
    journal: list[dict[str, object]]
    failures: list[str]

    @property
    def ok(self) -> bool:
        return not self.failures

    def render(self) -> str:
        lines = [f"Scenario: {self.name}", ""]
        for step in self.steps:
            mark = "ok " if not step.failures else "FAIL"
            lines.append(f"[{mark}] {step.where:<10} {step.action:<15} {step.outcome}")
            lines += [f"        ! {failure}" for failure in step.failures]
        lines += ["", "Display log:", *[f"  {line}" for line in self.display], "",
                  f"Totals: {self.totals}"]
        lines += [f"FAILED: {failure}" for failure in self.failures] or ["All expectations met."]
        return "\n".join(lines)


def build_device(scenario: Scenario, storage_dir: Path | None = None) -> SimTerminal:
    state = TerminalState(**scenario.identity)  # type: ignore[arg-type]
    engine = TerminalEngine(state, TrioClock(scenario.start), deck=scenario.deck,
                            settings=scenario.settings)
    device = SimTerminal(engine, seed=scenario.seed)
    for item in scenario.customers:
        engine.desk.add(item)
    for planned in scenario.faults:
        device.faults.arm(planned)
    return device


def open_line(path: str) -> trio.abc.Stream:
    """The ECR's end of the simulated serial cable, raw, as a trio stream. (The gateway uses
    pyserial for this; the simulator may not import the gateway's device layer.)"""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    return trio.lowlevel.FdStream(fd)


class _Connector:
    """Opens ECR connections to the terminal over the scenario's transport."""

    def __init__(self, device: SimTerminal, nursery: trio.Nursery, transport: str,
                 workdir: Path) -> None:
        self.device = device
        self.nursery = nursery
        self.transport = transport
        self.workdir = workdir
        self.port = 0
        self.path = ""
        self.framing = zvt.Framing.SERIAL if transport == "pty" else zvt.Framing.TCP

    async def start(self) -> None:
        if self.transport == "tcp":
            self.port = await self.nursery.start(TcpTerminal(self.device).serve, "127.0.0.1", 0)
        elif self.transport == "pty":
            pty = PtyTerminal(self.device, link_path=self.workdir / "zvt0")
            self.path = await self.nursery.start(pty.serve)

    async def open(self) -> trio.abc.Stream:
        if self.transport == "tcp":
            return await trio.open_tcp_stream("127.0.0.1", self.port)
        if self.transport == "pty":
            return open_line(self.path)
        ecr_side, terminal_side = trio.testing.memory_stream_pair()
        with trio.move_on_after(1.0):
            await self.device.wait_powered()  # boots by itself if the cut said when
        if not self.device.powered:
            raise OSError("the terminal has no power")
        self.nursery.start_soon(self._serve_memory, terminal_side)
        return ecr_side

    async def _serve_memory(self, stream: trio.abc.Stream) -> None:
        with self.device.power_scope():
            async with stream:
                await self.device.serve_ecr(stream, zvt.Framing.TCP)


class ScenarioRunner:
    def __init__(self, scenario: Scenario, device: SimTerminal, connector: _Connector) -> None:
        self.scenario = scenario
        self.device = device
        self.connector = connector
        self.ecr: Ecr | None = None
        self.receipt_id: bytes | None = None
        self.last_receipt: int | None = None
        self.broken = False

    async def connect(self) -> Ecr:
        if self.ecr is not None and not self.broken:
            return self.ecr
        if self.ecr is not None:
            await self.ecr.close()
        for _attempt in range(RECONNECT_ATTEMPTS):
            try:
                stream = await self.connector.open()
                break
            except OSError:
                await trio.sleep(1.0)
        else:
            raise OSError("the terminal did not come back")
        setup = self.scenario.ecr
        self.ecr = Ecr(stream, self.connector.framing, receipt_sync=setup.receipt_sync,
                       t3=SERIAL_T3 if self.connector.framing is zvt.Framing.SERIAL
                       else zvt.T3, last_receipt_id=self.receipt_id)
        self.broken = False
        return self.ecr

    async def ecr_command(self, run: Callable[[Ecr], Awaitable[EcrResult]]) -> EcrResult:
        ecr = await self.connect()
        result = await run(ecr)
        if result.status == "error":
            self.broken = True
        else:
            # Like the gateway's journal: remember the 1F1F of completed conversations only,
            # so a payment whose conversation broke off is reversed on the next command.
            self.receipt_id = ecr.conn.receipt_sync_id
        if result.receipt_number is not None and result.status == "approved":
            self.last_receipt = result.receipt_number
        return result

    async def run_step(self, step: Any) -> StepReport:
        # Each step starts with the terminal idle: a fault armed while the previous
        # conversation still ends (its last ACK in flight) would hit the wrong message.
        while self.device.current is not None:
            await trio.sleep(0.01)
        action, params = step.action, step.params
        setup = self.scenario.ecr
        report = StepReport(step.where, action, "done")
        result: EcrResult | None = None
        if action == "register":
            result = await self.ecr_command(lambda e: e.register(
                config_byte=params.get("config_byte", setup.config_byte),
                charset=CHARSETS[setup.charset], textblock=setup.textblock))
        elif action == "pay":
            result = await self.ecr_command(lambda e: e.pay(
                params["amount"], abort_after=params.get("abort_after")))
        elif action == "refund":
            result = await self.ecr_command(lambda e: e.refund(params["amount"]))
        elif action == "reverse":
            receipt = params.get("receipt", "last")
            number = self.last_receipt if receipt == "last" else int(receipt)
            result = await self.ecr_command(lambda e: e.reverse(number or 0,
                                                                 params.get("amount")))
        elif action in ("end_of_day", "diagnosis", "status_enquiry", "log_off"):
            result = await self.ecr_command(lambda e: getattr(e, action)())
        elif action == "repeat_receipt":
            result = await self.ecr_command(
                lambda e: e.repeat_receipt(params.get("service_byte", 0x01)))
        elif action == "abort":
            result = await self.ecr_command(lambda e: e.run(zvt.Abort()))
        elif action == "standalone":
            booking = await self.device.standalone(params.get("kind", "purchase"),
                                                   params["amount"])
            report.outcome = booking.status
            report.detail = {"result_code": booking.result_code, "receipt": booking.receipt}
        elif action == "wait":
            await trio.sleep(float(params["seconds"]))
        elif action == "fault":
            self.device.faults.arm(fault(dict(params), step.where))
        elif action == "clear_faults":
            self.device.faults.clear()
        elif action == "customer":
            self.device.engine.desk.add(customer(dict(params), self.scenario.deck, step.where))
        elif action == "power_cut":
            self.device.cut_power(params.get("restart_after"))
        elif action == "power_on":
            self.device.power_on()
        elif action == "reconnect":
            self.broken = True
        if result is not None:
            report.outcome = result.status + (f" ({result.error})" if result.error else "")
            report.detail = {"result_code": result.result_code,
                             "receipt_number": result.receipt_number,
                             "amount": result.status_info.amount if result.status_info
                             else None}
            report.failures = check(step.expect, result, self.device)
        elif step.expect:
            report.failures = check_booking(step.expect, report)
        return report


def check(expect: dict[str, Any], result: EcrResult, device: SimTerminal) -> list[str]:
    failures = []
    status = result.status_info
    actual = {
        "status": result.status, "result_code": result.result_code,
        "receipt_number": result.receipt_number, "amount": status.amount if status else None,
    }
    for key in ("status", "result_code", "receipt_number", "amount"):
        if key in expect and expect[key] != actual[key]:
            failures.append(f"{key}: expected {expect[key]!r}, got {actual[key]!r}")
    if "error" in expect and expect["error"] not in (result.error or ""):
        failures.append(f"error: expected {expect['error']!r} in {result.error!r}")
    if "receipt" in expect and expect["receipt"] not in result.receipt_lines:
        failures.append(f"receipt: no line {expect['receipt']!r}")
    if "display" in expect and expect["display"] not in device.display.texts():
        failures.append(f"display: {expect['display']!r} was never shown")
    for code in expect.get("intermediate", []):
        if code not in result.intermediate:
            failures.append(f"intermediate: status 0x{code:02X} never sent")
    return failures


def check_booking(expect: dict[str, Any], report: StepReport) -> list[str]:
    failures = []
    if "status" in expect and expect["status"] != report.outcome:
        failures.append(f"status: expected {expect['status']!r}, got {report.outcome!r}")
    if "result_code" in expect and expect["result_code"] != report.detail.get("result_code"):
        failures.append(f"result_code: expected {expect['result_code']!r}, "
                        f"got {report.detail.get('result_code')!r}")
    return failures


def _final_checks(scenario: Scenario, device: SimTerminal) -> list[str]:
    failures = []
    expect = scenario.expect
    summary = device.engine.totals().to_json()
    for key, wanted in expect.get("totals", {}).items():
        if summary.get(key) != wanted:
            failures.append(f"totals.{key}: expected {wanted!r}, got {summary.get(key)!r}")
    if "batch" in expect:
        amounts = [b.amount for b in device.engine.state.batch]
        if amounts != expect["batch"]:
            failures.append(f"batch: expected amounts {expect['batch']}, got {amounts}")
    for text in expect.get("display", []):
        if text not in device.display.texts():
            failures.append(f"display: {text!r} was never shown")
    if "journal_statuses" in expect:
        statuses = [b.status for b in device.engine.state.journal]
        if statuses != expect["journal_statuses"]:
            failures.append(f"journal: expected {expect['journal_statuses']}, got {statuses}")
    return failures


@asynccontextmanager
async def _workdir() -> AsyncIterator[Path]:
    with tempfile.TemporaryDirectory(prefix="medipay-sim-") as name:
        yield Path(name)


async def run_scenario(scenario: Scenario, *, transport: str | None = None,
                       seed: int | None = None) -> ScenarioReport:
    """Run every step; expectations that fail are collected, not raised."""
    if seed is not None:
        scenario = dataclasses.replace(scenario, seed=seed)
    device = build_device(scenario)
    async with _workdir() as workdir, trio.open_nursery() as nursery:
        connector = _Connector(device, nursery, transport or scenario.transport, workdir)
        await connector.start()
        runner = ScenarioRunner(scenario, device, connector)
        reports = [await runner.run_step(step) for step in scenario.steps]
        if runner.ecr is not None:
            await runner.ecr.close()
        while device.current is not None:  # let the last conversation end on both sides
            await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    failures = [f"{r.where}: {f}" for r in reports for f in r.failures]
    failures += _final_checks(scenario, device)
    return ScenarioReport(
        name=scenario.name, steps=reports,
        display=[entry.logged() for entry in device.display.history],
        receipts=[p.to_json() for p in device.printed],
        totals=device.engine.totals().to_json(),
        journal=[dataclasses.asdict(b) for b in device.engine.state.journal],
        failures=failures)


def run_scenario_sync(scenario: Scenario, *, transport: str | None = None,
                      seed: int | None = None, real_time: bool = False) -> ScenarioReport:
    """Run in a fresh trio loop; on a virtual clock unless `real_time`."""
    clock = None if real_time else trio.testing.MockClock(
        autojump_threshold=0.05 if (transport or scenario.transport) == "pty" else 0)
    return trio.run(lambda: run_scenario(scenario, transport=transport, seed=seed),
                    clock=clock)
