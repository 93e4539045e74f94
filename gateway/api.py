"""The EPJ-facing HTTP API of the gateway (FastAPI, served by hypercorn's trio worker)."""

# No `from __future__ import annotations` here: FastAPI must resolve the handlers' annotations,
# which name dependencies local to create_gateway_app.

import hmac
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Literal

import trio
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from gateway.journal import IdempotencyConflict, Journal, PaymentRequest, TransactionRecord
from gateway.problems import Problem, handle_problem, handle_validation
from gateway.standalone import ExportFileError, parse_export
from gateway.terminal import TerminalUnavailable
from gateway.terminal_manager import TerminalBusy, TerminalNotReady
from gateway.transactions import (
    NotReversible,
    RequestInProgress,
    TransactionService,
    UnknownTerminal,
)

MAX_AMOUNT = 10_000_000_00  # NOK 10 million in øre: far above any clinic bill, below overflow
# RFC 7240 "Prefer: wait=N": wait up to N seconds for a busy terminal instead of a 409.
MAX_WAIT_SECONDS = 300
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait=(\d+)")
IdempotencyKey = Annotated[str, Header(min_length=1, max_length=200)]


class AmountBody(BaseModel):
    amount: int = Field(gt=0, le=MAX_AMOUNT, description="Amount in minor units (øre).")
    currency: Literal["NOK"] = "NOK"
    reference: str | None = Field(default=None, max_length=200,
                                  description="The EPJ's own reference, e.g. the bill number.")


def _wait_seconds(prefer: str | None) -> float:
    match = _PREFER_WAIT.search(prefer or "")
    return float(min(int(match.group(1)), MAX_WAIT_SECONDS)) if match else 0.0


async def _run(submit: Callable[[], Awaitable[tuple[TransactionRecord, bool]]]) -> JSONResponse:
    """Turn the workflow's outcomes and errors into responses."""
    try:
        record, replayed = await submit()
    except UnknownTerminal as exc:
        raise Problem(404, "unknown-terminal", "Unknown terminal", str(exc)) from exc
    except TerminalBusy as exc:
        raise Problem(409, "terminal-busy", "Terminal busy", str(exc),
                      busy_transaction_id=exc.busy_with) from exc
    except TerminalNotReady as exc:
        raise Problem(503, "terminal-not-ready", "Terminal not ready", str(exc),
                      state=exc.state) from exc
    except IdempotencyConflict as exc:
        raise Problem(409, "idempotency-key-reused", "Idempotency-Key reused", str(exc),
                      transaction_id=exc.existing_id) from exc
    except RequestInProgress as exc:
        raise Problem(409, "request-in-progress", "Request in progress", str(exc),
                      transaction_id=exc.record.id) from exc
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(record.to_api(), status_code=201, headers=headers)


def create_gateway_app(service: TransactionService, journal: Journal, token: str) -> FastAPI:
    app = FastAPI(
        title="MediPay Edge gateway",
        version="1",
        description="Local API through which a journal system (EPJ) takes card payments.",
    )
    app.add_exception_handler(Problem, handle_problem)
    app.add_exception_handler(RequestValidationError, handle_validation)
    bearer = HTTPBearer(auto_error=False)

    def authorised(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        # Constant-time comparison: the token is the only secret between EPJ and gateway.
        if credentials is None or not hmac.compare_digest(
            credentials.credentials.encode(), token.encode()
        ):
            raise Problem(401, "unauthorized", "Unauthorized",
                          "A valid bearer token is required.")

    auth = [Depends(authorised)]

    async def record_or_404(transaction_id: str) -> TransactionRecord:
        record = await journal.get(transaction_id)
        if record is None:
            raise Problem(404, "unknown-transaction", "Unknown transaction",
                          f"no transaction {transaction_id!r} in this gateway's journal")
        return record

    def supervisor_or_404(terminal_id: str) -> Any:
        try:
            return service.supervisor(terminal_id)
        except UnknownTerminal as exc:
            raise Problem(404, "unknown-terminal", "Unknown terminal", str(exc)) from exc

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/terminals/{terminal_id}/payments", status_code=201, dependencies=auth)
    async def create_payment(
        terminal_id: str, body: AmountBody, idempotency_key: IdempotencyKey,
        prefer: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        """Take a card payment; returns when the terminal is done."""
        request = PaymentRequest(idempotency_key, terminal_id, "payment", body.amount,
                                 body.currency, body.reference)
        return await _run(lambda: service.submit(request, wait=_wait_seconds(prefer)))

    @app.post("/v1/terminals/{terminal_id}/refunds", status_code=201, dependencies=auth)
    async def create_refund(
        terminal_id: str, body: AmountBody, idempotency_key: IdempotencyKey,
        prefer: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        """Pay an amount back to a card presented at the terminal."""
        request = PaymentRequest(idempotency_key, terminal_id, "refund", body.amount,
                                 body.currency, body.reference)
        return await _run(lambda: service.submit(request, wait=_wait_seconds(prefer)))

    @app.post("/v1/transactions/{transaction_id}/reversal", status_code=201, dependencies=auth)
    async def create_reversal(
        transaction_id: str, idempotency_key: IdempotencyKey,
        prefer: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        """Reverse (cancel) an approved payment of today's batch by its receipt number."""
        await record_or_404(transaction_id)
        try:
            request = await service.reversal_request(transaction_id, idempotency_key)
        except NotReversible as exc:
            raise Problem(409, "not-reversible", "Not reversible", str(exc)) from exc
        return await _run(lambda: service.submit(request, wait=_wait_seconds(prefer)))

    @app.post("/v1/terminals/{terminal_id}/end-of-day", status_code=201, dependencies=auth)
    async def create_end_of_day(
        terminal_id: str, idempotency_key: IdempotencyKey,
        prefer: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        """Close the terminal's batch; the totals per card scheme are in `details`."""
        request = PaymentRequest(idempotency_key, terminal_id, "end_of_day", 0, "NOK", None)
        return await _run(lambda: service.submit(request, wait=_wait_seconds(prefer)))

    @app.post("/v1/terminals/{terminal_id}/abort", status_code=202, dependencies=auth)
    async def abort(terminal_id: str) -> dict[str, Any]:
        """Ask the terminal to abort the running transaction; its outcome says if it did."""
        supervisor = supervisor_or_404(terminal_id)
        if supervisor.busy_with is None:
            raise Problem(409, "nothing-to-abort", "Nothing to abort",
                          f"terminal {terminal_id} is not running a transaction")
        try:
            await supervisor.terminal.abort()
        except TerminalUnavailable as exc:
            raise Problem(503, "terminal-not-ready", "Terminal not ready", str(exc)) from exc
        return {"transaction_id": supervisor.busy_with, "abort": "requested"}

    @app.get("/v1/terminals", dependencies=auth)
    async def list_terminals() -> dict[str, Any]:
        return {"items": [s.status() for s in service.supervisors.values()]}

    @app.get("/v1/terminals/{terminal_id}", dependencies=auth)
    async def get_terminal(terminal_id: str) -> dict[str, Any]:
        status: dict[str, Any] = supervisor_or_404(terminal_id).status()
        return status

    @app.get("/v1/terminals/{terminal_id}/events", dependencies=auth,
             response_class=StreamingResponse)
    async def terminal_events(terminal_id: str) -> StreamingResponse:
        """Server-sent events: display texts, print lines, state changes and results."""
        supervisor = supervisor_or_404(terminal_id)

        async def stream() -> AsyncIterator[bytes]:
            async with supervisor.events.subscribe() as events:
                yield b": connected\n\n"
                while True:
                    # A comment line every 15 s keeps proxies from closing an idle stream.
                    with trio.move_on_after(15) as idle:
                        event = await events.receive()
                    if idle.cancelled_caught:
                        yield b": keep-alive\n\n"
                        continue
                    kind = str(event.get("type", "message"))
                    yield f"event: {kind}\ndata: {json.dumps(event)}\n\n".encode()

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    @app.get("/v1/transactions/{transaction_id}", dependencies=auth)
    async def get_transaction(transaction_id: str) -> dict[str, Any]:
        return (await record_or_404(transaction_id)).to_api()

    @app.get("/v1/transactions/{transaction_id}/receipt", dependencies=auth)
    async def get_receipt(
        transaction_id: str, format: Literal["json", "text"] = "json"
    ) -> Any:
        """The terminal's receipt for the EPJ to print, as JSON lines or plain text."""
        record = await record_or_404(transaction_id)
        if format == "text":
            return PlainTextResponse("\n".join(record.receipt_lines) + "\n")
        return {"transaction_id": record.id, "status": record.status,
                "lines": record.receipt_lines}

    @app.post("/v1/terminals/{terminal_id}/imports", dependencies=auth,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"type": "object"}},
                  "text/csv": {"schema": {"type": "string"}}}}})
    async def import_standalone(terminal_id: str, request: Request) -> dict[str, Any]:
        """Import a standalone terminal's transaction list (JSON or CSV export)."""
        supervisor = supervisor_or_404(terminal_id)
        body = await request.body()
        try:
            items = parse_export(body, request.headers.get("content-type", ""))
        except ExportFileError as exc:
            raise Problem(422, "invalid-import", "Invalid transaction list", str(exc)) from exc
        known = supervisor.terminal.zvt_terminal_id
        foreign = sorted({i.terminal_id for i in items} - ({known} if known else set()))
        if known and foreign:
            raise Problem(422, "wrong-terminal", "List from another terminal",
                          f"terminal {terminal_id} is ZVT terminal {known}; the list is from "
                          f"{', '.join(foreign)}")
        try:
            imported, duplicates = await journal.import_standalone(
                terminal_id, items, service.relay)
        except IdempotencyConflict as exc:
            raise Problem(409, "import-conflict", "Conflicting import", str(exc)) from exc
        if imported:
            service.wake_uplink()
        return {"terminal_id": terminal_id, "imported": imported, "duplicates": duplicates}

    @app.get("/v1/uplink", dependencies=auth)
    async def uplink_status() -> dict[str, Any]:
        """What still waits for the backend, and entries it refused (for an operator)."""
        return await journal.outbox_status()

    @app.post("/v1/uplink/rejected/{seq}/retry", status_code=202, dependencies=auth)
    async def retry_rejected(seq: int) -> dict[str, Any]:
        """Send a refused entry again, after its cause was fixed at the backend."""
        if not await journal.requeue_rejected(seq):
            raise Problem(404, "unknown-rejected-entry", "Unknown refused entry",
                          f"no refused outbox entry {seq}")
        return {"seq": seq, "requeued": True}

    @app.get("/v1/transactions", dependencies=auth)
    async def list_transactions(
        terminal_id: str | None = None,
        status: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        records = await journal.recent(terminal_id=terminal_id, status=status, limit=limit)
        return {"items": [record.to_api() for record in records]}

    return app
