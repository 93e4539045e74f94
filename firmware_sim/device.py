"""The simulated terminal as a device: power, display, printer, faults, one transaction at a time.

Transports (TCP, pty, USB) hand each ECR connection to `serve_ecr`; standalone payments come
from the control API. Everything that runs on the terminal runs inside a power scope: a power
cut cancels it all, blanks the display and forgets what was not saved; power-on reloads the
saved state and reverses a payment that was in flight (see state.py).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import trio

from firmware_sim import display
from firmware_sim.commands import CommandRunner
from firmware_sim.display import Display
from firmware_sim.engine import TerminalEngine
from firmware_sim.faults import FaultPlan
from firmware_sim.link import EcrGone, EcrLink
from firmware_sim.port import EcrPort, PrintedReceipt
from firmware_sim.receipts import Receipt
from firmware_sim.state import Booking, MemoryStorage, Storage, TerminalState
from firmware_sim.wire import FaultyStream
from gateway.protocols import zvt
from medipay.logs import get_logger

log = get_logger(__name__)

# Printed receipts the control API can show; the oldest fall off.
PRINTER_MEMORY = 500
# While another transaction runs the terminal answers a new ECR command with 84 9C this often.
BUSY_REPEAT = 2.0


class TerminalOff(RuntimeError):
    """The terminal has no power."""


class AmountEntryRefused(RuntimeError):
    """Amounts cannot be keyed in: the registered ECR controls payments (config byte 0x10)."""


class SimTerminal:
    def __init__(self, engine: TerminalEngine, storage: Storage | None = None, *,
                 seed: int | None = None, display_log: Path | None = None) -> None:
        self.engine = engine
        self.storage = storage if storage is not None else MemoryStorage()
        self.rng = random.Random(seed)
        if seed is not None:
            engine.issuer.rng = random.Random(seed + 1)
        self.display = Display(engine.clock, display_log)
        self.faults = FaultPlan()
        self.printed: deque[PrintedReceipt] = deque(maxlen=PRINTER_MEMORY)
        self.powered = True
        self.power_cuts = 0
        self._power_scopes: set[trio.CancelScope] = set()
        self._power_on = trio.Event()
        self._power_on.set()
        self._restart_at: float | None = None
        self._transaction = trio.Lock()
        self.current: str | None = None  # what the terminal is busy with, for the control API
        self.commands_handled = 0
        self.connections = 0
        self.persist()
        self.display.show(*display.IDLE)

    # -- memory and printer -------------------------------------------------------------------

    def persist(self) -> None:
        self.storage.save(self.engine.state)

    def print_receipt(self, receipt: Receipt, printer: str) -> None:
        at = self.engine.now().isoformat(timespec="seconds")
        self.printed.append(PrintedReceipt(at, printer, receipt.receipt_type, receipt.lines))

    # -- power --------------------------------------------------------------------------------

    def cut_power(self, restart_after: float | None = None) -> None:
        """Everything running stops now; unsaved state is lost. With `restart_after` the
        power comes back by itself after that many seconds."""
        if not self.powered:
            return
        log.warning("sim.power_cut", restart_after=restart_after)
        self.powered = False
        self.power_cuts += 1
        self._power_on = trio.Event()
        self._restart_at = None if restart_after is None else \
            trio.current_time() + restart_after
        for scope in list(self._power_scopes):
            scope.cancel()
        self.engine.desk.keys.clear()  # the keypad buffer is RAM
        self.current = None
        self.display.blank()

    def power_on(self) -> Booking | None:
        """Boot: reload what was saved, reverse a payment that was in flight."""
        if self.powered:
            return None
        self.display.show(*display.BOOTING)
        saved = self.storage.load()
        self.engine.state = saved if saved is not None else TerminalState()
        recovered = self.engine.recover_after_power_cut()
        if recovered is not None:
            log.info("sim.recovered_in_flight", receipt=recovered.receipt,
                     amount=recovered.amount)
        self.persist()
        self.powered = True
        self._restart_at = None
        self._power_on.set()
        self.display.show(*display.IDLE)
        return recovered

    async def wait_powered(self) -> None:
        while not self.powered:
            if self._restart_at is not None:
                with trio.move_on_at(self._restart_at):
                    await self._power_on.wait()
                if not self.powered:
                    self.power_on()
            else:
                await self._power_on.wait()

    @contextmanager
    def power_scope(self) -> Iterator[trio.CancelScope]:
        """A scope that a power cut cancels."""
        if not self.powered:
            raise TerminalOff("the terminal has no power")
        scope = trio.CancelScope()
        self._power_scopes.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._power_scopes.discard(scope)

    # -- transactions -------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self, name: str) -> AsyncIterator[None]:
        async with self._transaction:
            self.current = name
            try:
                yield
            finally:
                self.current = None

    async def serve_ecr(self, stream: trio.abc.Stream, framing: zvt.Framing,
                        *, t3: float = zvt.T3) -> None:
        """Serve one ECR over `stream` until it goes away or the dialog breaks."""
        self.connections += 1
        async with trio.open_nursery() as nursery:
            wire = FaultyStream(stream, self.faults, framing, self.rng, nursery)
            link = EcrLink(wire, framing, t3=t3)
            nursery.start_soon(link.run_reader)
            try:
                while True:
                    command = await link.next_command()
                    await self._run_command(link, command)
            except EcrGone as exc:
                log.info("sim.ecr_gone", reason=str(exc))
            finally:
                nursery.cancel_scope.cancel()

    async def _run_command(self, link: EcrLink, command: zvt.Message) -> None:
        self.commands_handled += 1
        link.new_command()
        port = EcrPort(self, link)
        if self._transaction.locked():
            # Busy with a standalone payment: keep the ECR waiting with 84 9C (its T3 restarts).
            while self._transaction.locked():
                await port.respond(zvt.Nack(zvt.PLEASE_WAIT))
                with trio.move_on_after(BUSY_REPEAT):
                    async with self._transaction:
                        break
        async with self.transaction(type(command).__name__):
            await CommandRunner(self, port).handle(command)
            self.persist()

    async def standalone(self, kind: str, amount: int) -> Booking:
        """A payment or refund keyed in on the terminal (no ECR): the customer side and the
        host as usual, receipts on the terminal's printer, the result in the journal."""
        if not self.engine.amount_entry_allowed:
            raise AmountEntryRefused(
                "the registered ECR controls payments (config byte 0x10): no amount entry")
        if kind not in ("purchase", "refund"):
            raise ValueError(f"standalone transactions are purchase or refund, not {kind!r}")
        with self.power_scope():
            async with self.transaction(f"standalone {kind}"):
                runner = CommandRunner(self, EcrPort(self, None))
                booking = await runner.card_transaction(kind, amount, source="standalone")
                self.persist()
                return booking
        raise TerminalOff("the power went off during the transaction")
