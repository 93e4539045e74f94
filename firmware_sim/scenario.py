"""Scenario files (TOML): a terminal, its cards, its customers, faults, and what happens.

The format is documented in docs/simulator.md. `load_scenario` checks everything up front
and names the offending key, so a typo fails before anything runs. The terminal side (settings,
cards, customers, faults) is what `medipay sim run --scenario` uses beside a real ECR; the
`steps` drive the built-in ECR when a scenario runs on its own (`medipay sim scenario`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from firmware_sim.cards import DEFAULT_DECK, Card, UnknownCard, card_from_mapping, find_card
from firmware_sim.clocks import DEFAULT_START
from firmware_sim.customers import Customer, Moment
from firmware_sim.engine import TerminalSettings
from firmware_sim.faults import Fault, FaultError

STEP_ACTIONS = frozenset({
    "register", "pay", "refund", "reverse", "end_of_day", "diagnosis", "status_enquiry",
    "repeat_receipt", "log_off", "abort", "standalone", "wait", "fault", "clear_faults",
    "customer", "power_cut", "power_on", "reconnect",
})
EXPECT_KEYS = frozenset({"status", "result_code", "receipt_number", "amount", "error",
                         "display", "receipt", "intermediate"})
IDENTITY_KEYS = ("terminal_id", "vu_number", "password", "merchant_name", "merchant_address")
TRANSPORTS = ("memory", "tcp", "pty")


class ScenarioError(ValueError):
    """The scenario file is not valid; the message names the place."""


@dataclass(frozen=True)
class EcrSetup:
    receipt_sync: bool = False  # mirror 1F1F like the gateway does
    config_byte: int = 0xBE
    charset: str = "iso-8859-15"  # or "cp437": no tag 14 proposed
    textblock: bool = False  # list 06 D3 among the permitted commands


@dataclass(frozen=True)
class Step:
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    expect: dict[str, Any] = field(default_factory=dict)
    where: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    seed: int = 0
    start: datetime = DEFAULT_START
    transport: str = "memory"
    settings: TerminalSettings = field(default_factory=TerminalSettings)
    identity: dict[str, str] = field(default_factory=dict)
    deck: tuple[Card, ...] = DEFAULT_DECK
    customers: tuple[Customer, ...] = ()
    faults: tuple[Fault, ...] = ()
    ecr: EcrSetup = field(default_factory=EcrSetup)
    steps: tuple[Step, ...] = ()
    expect: dict[str, Any] = field(default_factory=dict)


def load_scenario(path: Path) -> Scenario:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ScenarioError(f"scenario file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return parse_scenario(data, default_name=Path(path).stem)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from exc


def _only(table: dict[str, Any], allowed: set[str] | frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {unknown}; allowed: {sorted(allowed)}")


def parse_scenario(data: dict[str, Any], default_name: str = "scenario") -> Scenario:
    _only(data, {"name", "description", "seed", "start", "transport", "terminal", "cards",
                 "customers", "faults", "ecr", "steps", "expect"}, "top level")
    transport = data.get("transport", "memory")
    if transport not in TRANSPORTS:
        raise ScenarioError(f"transport is one of {TRANSPORTS}, not {transport!r}")
    start = data.get("start", DEFAULT_START)
    if isinstance(start, str):
        start = datetime.fromisoformat(start)
    if not isinstance(start, datetime) or start.tzinfo is None:
        raise ScenarioError("start must be a date-time with a UTC offset")
    settings, identity = _terminal(data.get("terminal", {}))
    deck = DEFAULT_DECK + tuple(_card(item, f"cards[{i}]")
                                for i, item in enumerate(data.get("cards", [])))
    customers = tuple(customer(item, deck, f"customers[{i}]")
                      for i, item in enumerate(data.get("customers", [])))
    faults = tuple(fault(item, f"faults[{i}]") for i, item in enumerate(data.get("faults", [])))
    ecr_table = data.get("ecr", {})
    _only(ecr_table, {f.name for f in fields(EcrSetup)}, "ecr")
    if ecr_table.get("charset", "iso-8859-15") not in ("iso-8859-15", "iso-8859-1", "cp437"):
        raise ScenarioError("ecr.charset is iso-8859-15, iso-8859-1 or cp437")
    steps = tuple(_step(item, deck, f"steps[{i}]") for i, item in enumerate(data.get("steps", [])))
    expect = data.get("expect", {})
    _only(expect, {"totals", "batch", "display", "journal_statuses"}, "expect")
    return Scenario(
        name=data.get("name", default_name), description=data.get("description", ""),
        seed=int(data.get("seed", 0)), start=start, transport=transport, settings=settings,
        identity=identity, deck=deck, customers=customers, faults=faults,
        ecr=EcrSetup(**ecr_table), steps=steps, expect=expect)


def _terminal(table: dict[str, Any]) -> tuple[TerminalSettings, dict[str, str]]:
    allowed = {f.name for f in fields(TerminalSettings)} | set(IDENTITY_KEYS)
    _only(table, allowed, "terminal")
    identity = {key: str(table[key]) for key in IDENTITY_KEYS if key in table}
    options = {key: value for key, value in table.items() if key not in IDENTITY_KEYS}
    try:
        return TerminalSettings(**options), identity
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"terminal: {exc}") from exc


def _card(item: dict[str, Any], where: str) -> Card:
    if "name" not in item:
        raise ScenarioError(f"{where}: a card needs a name to be referred to")
    try:
        return card_from_mapping(dict(item))
    except ValueError as exc:
        raise ScenarioError(f"{where}: {exc}") from exc


def customer(item: dict[str, Any], deck: tuple[Card, ...], where: str) -> Customer:
    """A customer from a scenario table or a control API body."""
    _only(item, {"card", "present_after", "insert", "pins", "pin_seconds", "keypad", "cancel",
                 "walk_away"}, where)
    try:
        card = find_card(deck, item["card"]) if "card" in item else None
        return Customer(
            card=card,
            present_after=float(item.get("present_after", 0.0)),
            insert=bool(item.get("insert", False)),
            pins=tuple(str(pin) for pin in item["pins"]) if "pins" in item else None,
            pin_seconds=float(item.get("pin_seconds", 0.0)),
            keypad=bool(item.get("keypad", False)),
            cancel=Moment(item["cancel"]) if "cancel" in item else None,
            walk_away=Moment(item["walk_away"]) if "walk_away" in item else None,
        )
    except (UnknownCard, ValueError, TypeError) as exc:
        raise ScenarioError(f"{where}: {exc}") from exc


def fault(item: dict[str, Any], where: str) -> Fault:
    try:
        return Fault.from_mapping(dict(item))
    except FaultError as exc:
        raise ScenarioError(f"{where}: {exc}") from exc


def _step(item: dict[str, Any], deck: tuple[Card, ...], where: str) -> Step:
    action = item.get("do")
    if action not in STEP_ACTIONS:
        raise ScenarioError(f"{where}: 'do' is one of {sorted(STEP_ACTIONS)}, not {action!r}")
    expect = dict(item.get("expect", {}))
    _only(expect, EXPECT_KEYS, f"{where}.expect")
    params = {key: value for key, value in item.items() if key not in ("do", "expect")}
    allowed = {
        "pay": {"amount", "abort_after"}, "refund": {"amount"},
        "reverse": {"receipt", "amount"}, "standalone": {"amount", "kind"},
        "wait": {"seconds"}, "power_cut": {"restart_after"}, "repeat_receipt": {"service_byte"},
        "register": {"config_byte"},
    }.get(action, set())
    if action == "fault":
        fault({k: v for k, v in params.items()}, where)
    elif action == "customer":
        customer(params, deck, where)
    else:
        _only(params, allowed, where)
    if action in ("pay", "refund", "standalone") and not isinstance(params.get("amount"), int):
        raise ScenarioError(f"{where}: {action} needs an integer amount in øre")
    return Step(action, params, expect, where)
