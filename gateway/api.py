"""The EPJ-facing HTTP API of the gateway (FastAPI, served by hypercorn's trio worker)."""

# No `from __future__ import annotations` here: FastAPI must resolve the handlers' annotations,
# which name dependencies local to create_gateway_app.


import hmac
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from gateway.journal import IdempotencyConflict, Journal, PaymentRequest
from gateway.payments import PaymentService, RequestInProgress, UnknownTerminal
from gateway.problems import Problem, handle_problem, handle_validation
from gateway.terminal import TerminalBusy

MAX_AMOUNT = 10_000_000_00  # NOK 10 million in øre: far above any clinic bill, below overflow


class PaymentBody(BaseModel):
    amount: int = Field(gt=0, le=MAX_AMOUNT, description="Amount in minor units (øre).")
    currency: Literal["NOK"] = "NOK"
    reference: str | None = Field(default=None, max_length=200,
                                  description="The EPJ's own reference, e.g. the bill number.")


def create_gateway_app(service: PaymentService, journal: Journal, token: str) -> FastAPI:
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

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/terminals/{terminal_id}/payments", status_code=201, dependencies=auth)
    async def create_payment(
        terminal_id: str,
        body: PaymentBody,
        idempotency_key: Annotated[str, Header(min_length=1, max_length=200)],
    ) -> JSONResponse:
        request = PaymentRequest(
            idempotency_key=idempotency_key,
            terminal_id=terminal_id,
            kind="payment",
            amount=body.amount,
            currency=body.currency,
            reference=body.reference,
        )
        try:
            record, replayed = await service.pay(request)
        except UnknownTerminal as exc:
            raise Problem(404, "unknown-terminal", "Unknown terminal", str(exc)) from exc
        except TerminalBusy as exc:
            raise Problem(409, "terminal-busy", "Terminal busy", str(exc),
                          busy_transaction_id=exc.busy_with) from exc
        except IdempotencyConflict as exc:
            raise Problem(409, "idempotency-key-reused", "Idempotency-Key reused", str(exc),
                          transaction_id=exc.existing_id) from exc
        except RequestInProgress as exc:
            raise Problem(409, "request-in-progress", "Request in progress", str(exc),
                          transaction_id=exc.record.id) from exc
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return JSONResponse(record.to_api(), status_code=201, headers=headers)

    @app.get("/v1/transactions/{transaction_id}", dependencies=auth)
    async def get_transaction(transaction_id: str) -> dict[str, Any]:
        record = await journal.get(transaction_id)
        if record is None:
            raise Problem(404, "unknown-transaction", "Unknown transaction",
                          f"no transaction {transaction_id!r} in this gateway's journal")
        return record.to_api()

    @app.get("/v1/transactions", dependencies=auth)
    async def list_transactions(
        terminal_id: str | None = None,
        status: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        records = await journal.recent(terminal_id=terminal_id, status=status, limit=limit)
        return {"items": [record.to_api() for record in records]}

    @app.get("/v1/terminals", dependencies=auth)
    async def list_terminals() -> dict[str, Any]:
        return {
            "items": [
                {"id": tid, "registered": t.registered, "busy_with": t.busy_with}
                for tid, t in service.terminals.items()
            ]
        }

    return app
