"""One supervisor per configured terminal: connection, recovery, health, and admission.

The supervisor owns its terminal's connection in a background task: it connects and
registers, resolves any transaction the journal left unresolved (after a crash or a broken
connection) before admitting new ones, checks health while idle, and reconnects with backoff.
Transactions are admitted one at a time; a second gets `TerminalBusy` or waits if asked.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import trio

from gateway.end_of_day import resolve_lost_end_of_day
from gateway.events import EventHub
from gateway.journal import Journal, Outcome, Relay, TransactionRecord
from gateway.operations import mask_pan
from gateway.protocols import zvt
from gateway.terminal import TerminalError, TerminalRejected, TerminalUnavailable, ZvtTerminal
from medipay.clock import Clock
from medipay.logs import get_logger

log = get_logger(__name__)


class TerminalBusy(Exception):
    def __init__(self, terminal_id: str, busy_with: str | None) -> None:
        super().__init__(f"terminal {terminal_id} is busy with transaction {busy_with}")
        self.terminal_id = terminal_id
        self.busy_with = busy_with


class TerminalNotReady(Exception):
    """The terminal is offline or still resolving an earlier transaction."""

    def __init__(self, terminal_id: str, state: str, why: str | None) -> None:
        super().__init__(f"terminal {terminal_id} is {state}" + (f": {why}" if why else ""))
        self.terminal_id = terminal_id
        self.state = state


class TerminalSupervisor:
    def __init__(
        self,
        terminal: ZvtTerminal,
        journal: Journal,
        clock: Clock,
        *,
        relay: Relay,
        on_outbox: Callable[[], None] = lambda: None,
        health_interval: float = 60.0,
        retry_min: float = 1.0,
        retry_max: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self.terminal = terminal
        self.id = terminal.terminal_id
        self._journal = journal
        self._relay = relay
        self._on_outbox = on_outbox
        self.events = EventHub(clock)
        self._health_interval = health_interval
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._rng = rng or random.Random()
        # A semaphore, not a lock: admission happens in the HTTP task, release in the worker.
        self._slot = trio.Semaphore(1)
        self._wake = trio.Event()
        self.state = "starting"
        # True until the journal was checked for unresolved transactions of this terminal and
        # they were resolved, and again from the moment one ends `unknown`: while it is set
        # nothing new is admitted, because the terminal's last receipt must still be the
        # unresolved transaction when the supervisor asks for it.
        self._unresolved = True
        self.busy_with: str | None = None
        self.last_error: str | None = None
        terminal.on_display = self._on_display

    def _on_display(self, text: str, extra: dict[str, object]) -> None:
        self.events.publish({"terminal_id": self.id, "transaction_id": self.busy_with,
                             "text": text, **extra})

    def _set_state(self, state: str, error: str | None = None) -> None:
        if state != self.state:
            log.info("terminal.state", terminal=self.id, state=state, error=error)
            self.events.publish({"terminal_id": self.id, "type": "state", "state": state})
        self.state = state
        self.last_error = error

    def status(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": "busy" if self.busy_with and self.state == "ready" else self.state,
            "registered": self.terminal.registered,
            "busy_with": self.busy_with,
            "last_error": self.last_error,
        }

    # -- admission ------------------------------------------------------------------------

    def _check_admission(self) -> None:
        if self._unresolved or self.state not in ("ready", "offline"):
            state = "recovering" if self.state == "ready" else self.state
            raise TerminalNotReady(self.id, state, self.last_error)

    async def claim(self, holder: str, *, wait: float = 0.0) -> None:
        """Reserve the terminal for `holder`; TerminalBusy if taken (after `wait` seconds)."""
        self._check_admission()
        if wait > 0:
            with trio.move_on_after(wait):
                await self._slot.acquire()
                self._admitted(holder)
                return
            raise TerminalBusy(self.id, self.busy_with)
        try:
            self._slot.acquire_nowait()
        except trio.WouldBlock:
            raise TerminalBusy(self.id, self.busy_with) from None
        self._admitted(holder)

    def _admitted(self, holder: str) -> None:
        # The transaction that held the slot may have ended unknown meanwhile.
        try:
            self._check_admission()
        except TerminalNotReady:
            self._slot.release()
            raise
        self.busy_with = holder

    def rebind(self, holder: str) -> None:
        self.busy_with = holder

    def release(self) -> None:
        self.busy_with = None
        self._slot.release()

    def needs_attention(self) -> None:
        """A transaction ended unknown: admit nothing until the supervisor resolved it.
        Called before the transaction's slot is released."""
        self._unresolved = True
        self._set_state("recovering", self.last_error)
        self._wake.set()

    # -- the background task -----------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        failures = 0
        while True:
            try:
                async with self._slot:
                    await self.terminal.ensure_ready()
                    await self._recover()
                self._set_state("ready")
                failures = 0
                await self._health_loop()
            except TerminalError as exc:
                failures += 1
                self._set_state("offline", str(exc))
                delay = min(self._retry_max, self._retry_min * 2 ** min(failures, 16))
                await trio.sleep(delay * (0.5 + self._rng.random() / 2))

    async def _health_loop(self) -> None:
        """While idle, ask the terminal how it is; return to reconnect when it is gone."""
        while True:
            self._wake = trio.Event()
            with trio.move_on_after(self._health_interval):
                await self._wake.wait()
            async with self._slot:
                if not self.terminal.connected:
                    raise TerminalUnavailable("connection to the terminal was lost")
                if await self._journal.unresolved(self.id):
                    self._set_state("recovering")
                    await self._recover()
                    self._set_state("ready")
                    continue
                try:
                    await self.terminal.run(zvt.StatusEnquiry(password=self.terminal.password))
                except TerminalRejected as exc:
                    # Some terminals refuse status enquiries; an answer still proves the link.
                    log.debug("terminal.status_enquiry_refused", terminal=self.id, code=exc.code)

    # -- recovery ---------------------------------------------------------------------

    async def _recover(self) -> None:
        unresolved = await self._journal.unresolved(self.id)
        if not unresolved:
            self._unresolved = False
            return
        self._set_state("recovering")
        *older, newest = unresolved
        for record in older:
            # Only the terminal's last transaction can still be looked up; one transaction
            # at a time means an older unresolved one never reached the terminal's receipts.
            await self._resolve(record, Outcome(
                status="failed", result_text="not charged: superseded by a later transaction"))
        outcome = await self._ask_terminal(newest)
        await self._resolve(newest, outcome)
        if outcome.receipt_sync_id is not None and \
                outcome.receipt_sync_id != self.terminal.receipt_sync_id:
            # The codec still mirrors the receipt before the one just recovered: the next
            # command's 1F1F would make the terminal reverse it. A new connection mirrors
            # the receipt id now in the journal.
            await self.terminal.close()
            await self.terminal.ensure_ready()
        self._unresolved = False

    async def _ask_terminal(self, record: TransactionRecord) -> Outcome:
        """Find out from the terminal's last receipt what became of `record`."""
        if record.kind == "end_of_day":
            return await resolve_lost_end_of_day(self.terminal, self._journal, record)
        try:
            conversation = await self.terminal.repeat_last()
        except TerminalRejected as exc:
            # A terminal without Repeat Receipt cannot tell us. "Not charged" is still true
            # in the end: our next command's 1F1F mirrors the receipt before this
            # transaction, so the terminal reverses it if it went through (chapter 4).
            return Outcome(status="failed", result_text="not charged: the terminal cannot "
                           f"repeat its last receipt ({exc})")
        last = conversation.status
        sync_id = conversation.receipt_sync_id
        if last is None or last.result_code != 0 or last.receipt_number is None:
            return Outcome(status="failed", receipt_sync_id=sync_id,
                           result_text="not charged: the terminal has no receipt for it")
        # Payments, refunds and reversals draw their receipt numbers from one counter.
        known = await self._journal.find_by_receipt(self.id, last.receipt_number)
        if known is not None or last.amount != record.amount:
            if known is None:
                log.warning("terminal.unaccounted_receipt", terminal=self.id,
                            receipt=last.receipt_number, amount=last.amount)
            return Outcome(status="failed", receipt_sync_id=sync_id,
                           result_text="not charged: the terminal's last receipt is another "
                           "transaction")
        return Outcome(
            status="approved",
            result_code=0,
            result_text="approved (recovered from the terminal's last receipt)",
            masked_pan=mask_pan(last.masked_pan),
            card_name=last.card_name,
            receipt_number=last.receipt_number,
            trace_number=last.trace_number,
            receipt_lines=conversation.receipt_lines,
            # We know this receipt now, so our next 1F1F mirrors it (a repeated Status
            # Information need not carry the tag, some terminals leave it out).
            receipt_sync_id=last.receipt_sync_id or zvt.receipt_id_bytes(last.receipt_number),
        )

    async def _resolve(self, record: TransactionRecord, outcome: Outcome) -> None:
        final = await self._journal.complete(record.id, outcome, self._relay,
                                             reverses=record.original_transaction_id)
        self._on_outbox()
        log.info("terminal.recovered", terminal=self.id, tx=record.id, status=final.status)
        self.events.publish({"terminal_id": self.id, "type": "result",
                             "transaction_id": record.id, "status": final.status})
