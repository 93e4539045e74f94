"""The simulator's control API (HTTP on localhost): present a card, press keys, cut the power,
inject a fault, read the display, the receipts, the totals, key in a standalone amount, export
the transaction list. `medipay sim ...` commands are thin clients of it.

Errors are RFC 7807 problem+json with a stable `type` under PROBLEM_BASE.
"""

# No `from __future__ import annotations`: FastAPI resolves the handlers' annotations at runtime.

from typing import Any, Literal

import trio
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from firmware_sim.customers import KEYS
from firmware_sim.device import AmountEntryRefused, SimTerminal, TerminalOff
from firmware_sim.export import ExportError, export_csv, export_json, record
from firmware_sim.faults import Fault, FaultError
from firmware_sim.scenario import ScenarioError, customer
from medipay.logs import get_logger

log = get_logger(__name__)

PROBLEM_BASE = "https://medipay.example/problems/sim/"
MAX_AMOUNT = 10_000_000_00  # NOK 10 million in øre: above any clinic bill, below overflow
MAX_TAIL = 2000


class SimProblem(Exception):
    def __init__(self, slug: str, title: str, status: int, detail: str) -> None:
        super().__init__(detail)
        self.slug, self.title, self.status, self.detail = slug, title, status, detail


def problem(slug: str, title: str, status: int, detail: str,
            **extra: object) -> JSONResponse:
    return JSONResponse(
        {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail,
         **extra},
        status_code=status, media_type="application/problem+json")


class CardBody(BaseModel):
    card: str | int | None = Field(default=None, description="Deck name or index; "
                                   "default: the deck's first card.")
    present_after: float = Field(default=0.0, ge=0, le=3600)
    insert: bool = False
    pins: list[str] | None = Field(default=None, description="PINs typed in turn.")
    pin_seconds: float = Field(default=0.0, ge=0, le=3600)
    keypad: bool = Field(default=False, description="Type the PIN with POST /v1/keys.")
    cancel: Literal["card", "pin"] | None = None
    walk_away: Literal["card", "pin"] | None = None


class KeysBody(BaseModel):
    keys: list[str] = Field(min_length=1, max_length=64)


class PowerCutBody(BaseModel):
    restart_after: float | None = Field(default=None, ge=0, le=86400)


class FaultBody(BaseModel):
    kind: str
    at: str | None = None
    count: int = Field(default=1, ge=0)
    seconds: float = Field(default=0.0, ge=0)
    size: int = Field(default=1, ge=1)
    ber: float = Field(default=0.0, ge=0)
    restart_after: float | None = Field(default=None, ge=0)
    times: int = Field(default=1, ge=0)


class StandaloneBody(BaseModel):
    amount: int = Field(gt=0, le=MAX_AMOUNT, description="Amount in øre.")
    kind: Literal["purchase", "refund"] = "purchase"
    wait: bool = Field(default=True, description="Answer when the transaction is over; "
                       "false: answer 202 at once.")


def create_control_app(device: SimTerminal, nursery: trio.Nursery) -> FastAPI:
    app = FastAPI(title="MediPay terminal simulator control API", version="1")

    @app.exception_handler(SimProblem)
    async def _problem(request: Request, exc: SimProblem) -> JSONResponse:
        return problem(exc.slug, exc.title, exc.status, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Field names and messages only: the rejected input is never echoed.
        errors = [{"field": ".".join(str(p) for p in e["loc"][1:]), "message": e["msg"]}
                  for e in exc.errors()]
        return problem("validation-failed", "Request is not valid", 422,
                       "see errors", errors=errors)

    def engine() -> Any:
        return device.engine

    @app.get("/v1/status")
    async def status() -> dict[str, Any]:
        state = engine().state
        return {
            "powered": device.powered, "busy_with": device.current,
            "display": list(device.display.lines), "terminal_id": state.terminal_id,
            "registered_config": state.registered_config, "receipt_number": state.receipt_number,
            "trace_number": state.trace_number, "batch_number": state.batch_number,
            "connections": device.connections, "commands_handled": device.commands_handled,
            "customers_waiting": len(engine().desk.queue), "faults": device.faults.pending(),
        }

    @app.get("/v1/display")
    async def display(tail: int = Query(default=50, ge=1, le=MAX_TAIL)) -> dict[str, Any]:
        history = list(device.display.history)[-tail:]
        return {"lines": list(device.display.lines),
                "log": [{"at": e.at, "text": e.render(), "logged": e.logged()}
                        for e in history]}

    @app.post("/v1/cards", status_code=202)
    async def present_card(body: CardBody) -> dict[str, Any]:
        data = body.model_dump(exclude_none=True)
        try:
            who = customer(data, engine().deck, "card")
        except ScenarioError as exc:
            raise SimProblem("unknown-card", "No such card", 404, str(exc)) from exc
        engine().desk.add(who)
        return {"queued": len(engine().desk.queue),
                "card": who.card.name if who.card else engine().default_card.name}

    @app.post("/v1/keys", status_code=202)
    async def press(body: KeysBody) -> dict[str, Any]:
        keys = [key.upper() for key in body.keys]
        wrong = [key for key in keys if key not in KEYS]
        if wrong:
            raise SimProblem("unknown-key", "No such key", 422,
                             f"keys are 0-9, OK, STOP, CLEAR; not {wrong}")
        for key in keys:
            engine().desk.press(key)
        return {"pressed": keys}

    @app.post("/v1/power/cut")
    async def power_cut(body: PowerCutBody) -> dict[str, Any]:
        device.cut_power(body.restart_after)
        return {"powered": device.powered, "restart_after": body.restart_after}

    @app.post("/v1/power/on")
    async def power_on() -> dict[str, Any]:
        recovered = device.power_on()
        return {"powered": device.powered,
                "reversed_in_flight": recovered.receipt if recovered else None}

    @app.get("/v1/faults")
    async def faults() -> dict[str, Any]:
        return {"armed": device.faults.pending(),
                "fired": [{"kind": k, "step": s} for k, s in device.faults.fired]}

    @app.post("/v1/faults", status_code=201)
    async def add_fault(body: FaultBody) -> dict[str, Any]:
        try:
            fault = Fault.from_mapping(body.model_dump(exclude_none=True))
        except FaultError as exc:
            raise SimProblem("invalid-fault", "Fault not understood", 422, str(exc)) from exc
        device.faults.arm(fault)
        return fault.to_json()

    @app.delete("/v1/faults")
    async def clear_faults() -> dict[str, Any]:
        device.faults.clear()
        return {"armed": []}

    @app.get("/v1/receipts")
    async def receipts(tail: int = Query(default=10, ge=1, le=MAX_TAIL)) -> dict[str, Any]:
        return {"receipts": [p.to_json() for p in list(device.printed)[-tail:]]}

    @app.get("/v1/totals")
    async def totals() -> dict[str, Any]:
        return {"batch_number": engine().state.batch_number, **engine().totals().to_json()}

    @app.get("/v1/journal")
    async def journal(tail: int = Query(default=50, ge=1, le=MAX_TAIL)) -> dict[str, Any]:
        state = engine().state
        return {"journal": [record(b, state.terminal_id) for b in state.journal[-tail:]]}

    @app.post("/v1/standalone")
    async def standalone(body: StandaloneBody) -> Response:
        if not engine().amount_entry_allowed:
            raise SimProblem("amount-entry-refused", "Amounts cannot be keyed in", 409,
                             "the registered ECR controls payments (config byte 0x10)")
        if not device.powered:
            raise SimProblem("terminal-off", "The terminal has no power", 409,
                             "power it on first (POST /v1/power/on)")
        if not body.wait:
            nursery.start_soon(_standalone_quietly, device, body.kind, body.amount)
            return JSONResponse({"started": True}, status_code=202)
        try:
            booking = await device.standalone(body.kind, body.amount)
        except (TerminalOff, AmountEntryRefused) as exc:
            raise SimProblem("terminal-off" if isinstance(exc, TerminalOff)
                             else "amount-entry-refused", "Not possible now", 409,
                             str(exc)) from exc
        return JSONResponse(record(booking, engine().state.terminal_id))

    @app.get("/v1/export")
    async def export(format: Literal["json", "csv"] = "json",
                     source: str = Query(default="standalone"),
                     after: int = Query(default=0, ge=0)) -> Response:
        chosen = None if source == "all" else source
        state = engine().state
        try:
            if format == "csv":
                return PlainTextResponse(export_csv(state, chosen, after),
                                         media_type="text/csv; charset=utf-8")
            now = engine().now().isoformat(timespec="seconds")
            return JSONResponse(export_json(state, now, chosen, after))
        except ExportError as exc:
            raise SimProblem("bad-export", "Export not possible", 422, str(exc)) from exc

    return app


async def _standalone_quietly(device: SimTerminal, kind: str, amount: int) -> None:
    try:
        await device.standalone(kind, amount)
    except (TerminalOff, AmountEntryRefused) as exc:
        log.warning("sim.standalone_failed", reason=str(exc))
