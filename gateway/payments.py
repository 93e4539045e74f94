"""The payment workflow: journal the request, drive the terminal, journal the outcome, relay.

Each terminal transaction runs as a task in the service's own nursery, not in the HTTP
handler: if the EPJ hangs up mid-payment, the card is still charged or not, and the outcome is
still journalled and relayed; the EPJ can fetch it later by id or by repeating its request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import trio

from gateway.journal import (
    IN_FLIGHT,
    Journal,
    Outcome,
    PaymentRequest,
    TransactionRecord,
)
from gateway.terminal import (
    TerminalLost,
    TerminalRejected,
    TerminalUnavailable,
    ZvtTerminal,
)
from medipay.logs import get_logger

log = get_logger(__name__)

# Outcomes the terminal itself decided, which the backend should know about.
RELAYED_STATES = frozenset({"approved", "declined", "aborted"})


class UnknownTerminal(LookupError):
    def __init__(self, terminal_id: str) -> None:
        super().__init__(f"no terminal {terminal_id!r} is configured on this gateway")
        self.terminal_id = terminal_id


class RequestInProgress(Exception):
    """A repeat of a request whose terminal transaction has not finished yet."""

    def __init__(self, record: TransactionRecord) -> None:
        super().__init__(f"transaction {record.id} for this Idempotency-Key is still running")
        self.record = record


def uplink_key(gateway_id: str, record: TransactionRecord) -> str:
    """Stable across retries and restarts: gateway + terminal + the terminal's own numbers."""
    if record.trace_number is not None:
        return (
            f"{gateway_id}:{record.terminal_id}:{record.trace_number}:"
            f"{record.receipt_number if record.receipt_number is not None else '-'}"
        )
    # Declines and aborts may carry no trace number; the journal id is just as stable.
    return f"{gateway_id}:{record.terminal_id}:tx:{record.id}"


def uplink_payload(gateway_id: str, record: TransactionRecord) -> dict[str, Any]:
    return {
        "idempotency_key": uplink_key(gateway_id, record),
        "gateway_transaction_id": record.id,
        "terminal_id": record.terminal_id,
        "kind": record.kind,
        "status": record.status,
        "amount": record.amount,
        "currency": record.currency,
        "masked_pan": record.masked_pan,
        "card_name": record.card_name,
        "receipt_number": record.receipt_number,
        "trace_number": record.trace_number,
        "result_code": record.result_code,
        "reference": record.reference,
        "occurred_at": record.updated_at.isoformat(),
    }


class PaymentService:
    def __init__(
        self,
        gateway_id: str,
        journal: Journal,
        terminals: Mapping[str, ZvtTerminal],
        *,
        on_outbox: Callable[[], None] = lambda: None,
    ) -> None:
        self._gateway_id = gateway_id
        self._journal = journal
        self.terminals = dict(terminals)
        self._on_outbox = on_outbox
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the nursery in which terminal transactions run; until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    async def pay(self, request: PaymentRequest) -> tuple[TransactionRecord, bool]:
        """Run (or replay) a payment; returns (record, replayed)."""
        terminal = self.terminals.get(request.terminal_id)
        if terminal is None:
            raise UnknownTerminal(request.terminal_id)
        # Claim before journalling, so a busy terminal leaves no trace of the refused request.
        terminal.claim(request.idempotency_key)
        try:
            record, created = await self._journal.begin(request)
        except BaseException:
            terminal.release(request.idempotency_key)
            raise
        if not created:
            terminal.release(request.idempotency_key)
            if record.status == IN_FLIGHT:
                raise RequestInProgress(record)
            return record, True
        terminal.busy_with = record.id
        done = trio.Event()
        result: list[TransactionRecord] = []
        assert self._nursery is not None, "PaymentService.run() must be running"
        self._nursery.start_soon(self._run_payment, terminal, record, result, done)
        await done.wait()
        return result[0], False

    async def _run_payment(
        self,
        terminal: ZvtTerminal,
        record: TransactionRecord,
        result: list[TransactionRecord],
        done: trio.Event,
    ) -> None:
        try:
            outcome = await self._drive(terminal, record)
            final = await self._journal.complete(record.id, outcome, self._relay)
            if final.status in RELAYED_STATES:
                self._on_outbox()
            log.info("payment.finished", tx=record.id, terminal=record.terminal_id,
                     status=final.status, amount=record.amount)
            result.append(final)
        finally:
            terminal.release(record.id)
            done.set()

    def _relay(self, record: TransactionRecord) -> dict[str, Any] | None:
        if record.status not in RELAYED_STATES:
            return None
        return uplink_payload(self._gateway_id, record)

    async def _drive(self, terminal: ZvtTerminal, record: TransactionRecord) -> Outcome:
        try:
            return await terminal.authorize(record.amount, record.currency)
        except TerminalUnavailable as exc:
            return Outcome(status="failed", result_text=str(exc))
        except TerminalRejected as exc:
            return Outcome(status="failed", result_code=exc.code, result_text=str(exc))
        except TerminalLost as exc:
            # The terminal may or may not have charged the card; recovery must find out.
            log.error("payment.outcome_unknown", tx=record.id, error=str(exc))
            return Outcome(status="unknown", result_text=str(exc))
