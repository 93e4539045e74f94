"""The transaction workflow: journal the request, drive the terminal, journal the outcome.

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
    UNKNOWN,
    Journal,
    Outcome,
    PaymentRequest,
    TransactionRecord,
)
from gateway.operations import classify, command_for
from gateway.terminal import TerminalLost, TerminalRejected, TerminalUnavailable
from gateway.terminal_manager import TerminalSupervisor
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


class NotReversible(Exception):
    """The transaction named for a reversal cannot be reversed (and nothing was sent)."""


def uplink_key(gateway_id: str, record: TransactionRecord) -> str:
    """Stable across retries and restarts: gateway + terminal + the terminal's own numbers."""
    if record.kind != "end_of_day" and record.trace_number is not None:
        receipt = record.receipt_number if record.receipt_number is not None else "-"
        return f"{gateway_id}:{record.terminal_id}:{record.trace_number}:{receipt}"
    # Declines, aborts and end-of-day totals: the journal id is just as stable.
    return f"{gateway_id}:{record.terminal_id}:{record.kind}:{record.id}"


def make_relay(gateway_id: str) -> Callable[[TransactionRecord], tuple[str, dict[str, Any]] | None]:
    def relay(record: TransactionRecord) -> tuple[str, dict[str, Any]] | None:
        key = uplink_key(gateway_id, record)
        if record.kind == "end_of_day":
            if record.status != "approved":
                return None
            details = record.details or {}
            schemes = details.get("per_scheme", {})
            return "pos-end-of-day", {
                "idempotency_key": key,
                "terminal_id": record.terminal_id,
                "occurred_at": record.updated_at.isoformat(),
                "count": sum(s["count"] for s in schemes.values()),
                "amount": details.get("total_amount") or 0,
                "currency": record.currency,
                "per_scheme": [{"card_name": name.upper(), **s} for name, s in schemes.items()],
                # "reconstructed": the terminal closed its batch but its totals were lost;
                # these are the journal's (see gateway.end_of_day).
                "totals_source": details.get("totals_source", "terminal"),
            }
        if record.status not in RELAYED_STATES:
            return None
        payload: dict[str, Any] = {
            "idempotency_key": key,
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
        if record.kind == "reversal" and (record.original_transaction_id is not None
                                          or record.original_receipt_number is not None):
            # The payment it reverses: our id for it (None for an imported reversal whose
            # payment we never journalled) and its receipt number at the terminal.
            payload["reverses"] = {"gateway_transaction_id": record.original_transaction_id,
                                   "receipt_number": record.original_receipt_number}
        return "pos-transaction", payload

    return relay


class TransactionService:
    def __init__(
        self,
        gateway_id: str,
        journal: Journal,
        supervisors: Mapping[str, TerminalSupervisor],
        *,
        on_outbox: Callable[[], None] = lambda: None,
    ) -> None:
        self.relay = make_relay(gateway_id)
        self._journal = journal
        self.supervisors = dict(supervisors)
        self._on_outbox = on_outbox
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the nursery in which terminal transactions run; until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def wake_uplink(self) -> None:
        self._on_outbox()

    def supervisor(self, terminal_id: str) -> TerminalSupervisor:
        try:
            return self.supervisors[terminal_id]
        except KeyError:
            raise UnknownTerminal(terminal_id) from None

    async def _replay(self, request: PaymentRequest) -> TransactionRecord | None:
        if await self._journal.lookup(request.idempotency_key) is None:
            return None
        # The key exists, so begin() inserts nothing: it returns the record or refuses a
        # repeat with other content (IdempotencyConflict).
        existing, _ = await self._journal.begin(request)
        if existing.status == IN_FLIGHT:
            raise RequestInProgress(existing)
        return existing

    async def reversal_request(
        self, original_id: str, idempotency_key: str
    ) -> PaymentRequest:
        original = await self._journal.get(original_id)
        if original is None:
            raise LookupError(f"no transaction {original_id!r} in this gateway's journal")
        if original.kind != "payment" or original.status not in ("approved", "reversed"):
            raise NotReversible(
                f"only approved payments can be reversed; {original_id} is a "
                f"{original.kind} with status {original.status}")
        if original.receipt_number is None:
            raise NotReversible(f"{original_id} has no receipt number to reverse by")
        return PaymentRequest(idempotency_key, original.terminal_id, "reversal",
                              original.amount, original.currency, original.reference,
                              original_transaction_id=original.id,
                              original_receipt_number=original.receipt_number)

    async def submit(
        self, request: PaymentRequest, *, wait: float = 0.0
    ) -> tuple[TransactionRecord, bool]:
        """Run (or replay) a request; returns (record, replayed).

        The terminal is claimed before the request is journalled, so a request refused as
        busy leaves no trace and may be repeated with the same key.
        """
        supervisor = self.supervisor(request.terminal_id)
        replayed = await self._replay(request)
        if replayed is not None:
            return replayed, True
        await supervisor.claim(request.idempotency_key, wait=wait)
        try:
            record, created = await self._journal.begin(request)
            original = (await self._journal.get(request.original_transaction_id)
                        if request.original_transaction_id else None)
        except BaseException:
            supervisor.release()
            raise
        if not created:  # an identical request won the race between lookup and claim
            supervisor.release()
            if record.status == IN_FLIGHT:
                raise RequestInProgress(record)
            return record, True
        supervisor.rebind(record.id)
        done = trio.Event()
        result: list[TransactionRecord] = []
        assert self._nursery is not None, "TransactionService.run() must be running"
        self._nursery.start_soon(self._execute, supervisor, record, original, result, done)
        await done.wait()
        return result[0], False

    async def _execute(
        self,
        supervisor: TerminalSupervisor,
        record: TransactionRecord,
        original: TransactionRecord | None,
        result: list[TransactionRecord],
        done: trio.Event,
    ) -> None:
        try:
            outcome = await self._drive(supervisor, record, original)
            final = await self._journal.complete(
                record.id, outcome, self.relay, reverses=record.original_transaction_id
            )
            if self.relay(final) is not None:
                self._on_outbox()
            if final.status == UNKNOWN:
                supervisor.needs_attention()
            supervisor.events.publish({"terminal_id": record.terminal_id, "type": "result",
                                       "transaction_id": record.id, "status": final.status})
            log.info("transaction.finished", tx=record.id, kind=record.kind,
                     terminal=record.terminal_id, status=final.status, amount=record.amount)
            result.append(final)
        finally:
            supervisor.release()
            done.set()

    async def _drive(
        self, supervisor: TerminalSupervisor, record: TransactionRecord,
        original: TransactionRecord | None,
    ) -> Outcome:
        terminal = supervisor.terminal
        command = command_for(record, terminal.password, original)
        try:
            return classify(await terminal.run(command), end_of_day=record.kind == "end_of_day")
        except TerminalUnavailable as exc:
            return Outcome(status="failed", result_text=str(exc))
        except TerminalRejected as exc:
            return Outcome(status="failed", result_code=exc.code, result_text=str(exc))
        except TerminalLost as exc:
            # The terminal may or may not have done it; the supervisor finds out.
            log.error("transaction.outcome_unknown", tx=record.id, error=str(exc))
            return Outcome(status=UNKNOWN, result_text=str(exc))
