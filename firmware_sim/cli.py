"""`medipay sim ...`: run the terminal simulator, run a scenario, and talk to a running one.

`run` starts a terminal; the other commands (present-card, press, power-cut, fault, display,
receipts ...) are clients of its control API (`--control`, default http://127.0.0.1:20080,
or the MEDIPAY_SIM_CONTROL environment variable).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from medipay.clock import SystemClock
from medipay.logs import configure_logging
from medipay.runner import run_until_signalled

sim_app = typer.Typer(help="The ZVT card terminal simulator.", no_args_is_help=True)
console = Console()

DEFAULT_CONTROL_URL = "http://127.0.0.1:20080"
ControlUrl = Annotated[str, typer.Option(
    "--control", envvar="MEDIPAY_SIM_CONTROL", help="The simulator's control API.")]


def _host_port(text: str, what: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise typer.BadParameter(f"{what} must be HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


@sim_app.command("run")
def sim_run(
    tcp: Annotated[str | None, typer.Option(
        help="Serve ZVT over TCP on HOST:PORT (the default, 127.0.0.1:20007).")] = None,
    pty: Annotated[bool, typer.Option(
        "--pty", help="Serve on a pseudo-terminal; prints the device path to open.")] = False,
    usb: Annotated[bool, typer.Option(
        "--usb", help="Be a USB device behind a fake pyusb backend (in-process only).")] = False,
    baud: Annotated[int, typer.Option(help="Serial speed for --pty: 9600 or 115200.")] = 9600,
    link: Annotated[Path | None, typer.Option(
        help="With --pty: also make this symlink point at the device (a stable path).")] = None,
    scenario: Annotated[Path | None, typer.Option(
        help="Scenario file (TOML): terminal settings, cards, customers, faults.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for the random parts.")] = None,
    state_file: Annotated[Path | None, typer.Option(
        help="Where the terminal keeps its counters, batch and journal across restarts.")
    ] = None,
    control: Annotated[str, typer.Option(
        help="HOST:PORT for the control API; 'off' for none.")] = "127.0.0.1:20080",
    manual: Annotated[bool, typer.Option(
        help="Wait for a card presented through the control API for every payment.")
    ] = False,
    realistic: Annotated[bool, typer.Option(
        help="Let the host take a moment to answer, as on a real network.")] = False,
    display_log: Annotated[Path | None, typer.Option(
        help="Append the display texts to this file, one line per change.")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run a simulated ZVT terminal (approves payments with its default test card unless a
    scenario, the control API or --manual says otherwise)."""
    from firmware_sim.runtime import SimOptions
    from firmware_sim.scenario import ScenarioError, load_scenario

    chosen = [name for name, on in (("tcp", tcp is not None), ("pty", pty), ("usb", usb)) if on]
    if len(chosen) > 1:
        raise typer.BadParameter("choose one of --tcp, --pty, --usb")
    if baud not in (9600, 115200):
        raise typer.BadParameter("ZVT serial lines run at 9600 or 115200 baud")
    host, port = _host_port(tcp or "127.0.0.1:20007", "--tcp")
    try:
        loaded = load_scenario(scenario) if scenario is not None else None
    except ScenarioError as exc:
        raise typer.BadParameter(str(exc)) from exc
    options = SimOptions(
        transport=chosen[0] if chosen else "tcp", host=host, port=port, baudrate=baud,
        link=link, state_file=state_file, seed=seed, scenario=loaded, manual=manual,
        realistic=realistic, display_log=display_log,
        control=None if control == "off" else _host_port(control, "--control"))
    clock = SystemClock()
    configure_logging(clock, log_level)
    run_until_signalled(_forever, options, clock, console=console)


async def _forever(options: Any, clock: Any) -> None:
    import trio

    from firmware_sim.runtime import run_simulator

    async with trio.open_nursery() as nursery:
        await nursery.start(run_simulator, options, clock, console)


@sim_app.command("scenario")
def sim_scenario(
    file: Annotated[Path, typer.Argument(help="Scenario file (TOML).")],
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    transport: Annotated[str | None, typer.Option(
        help="memory, tcp or pty (default: the scenario's).")] = None,
    real_time: Annotated[bool, typer.Option(
        help="Run on the real clock instead of a virtual one.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "warning",
) -> None:
    """Run a scenario on its own (terminal and a built-in ECR), print what happened; exit
    status 1 if an expectation failed. Same file and seed, same run."""
    from firmware_sim.clocks import TrioClock
    from firmware_sim.scenario import ScenarioError, load_scenario
    from firmware_sim.scenario_run import run_scenario_sync

    configure_logging(TrioClock(), log_level)
    try:
        scenario = load_scenario(file)
    except ScenarioError as exc:
        raise typer.BadParameter(str(exc)) from exc
    report = run_scenario_sync(scenario, transport=transport, seed=seed, real_time=real_time)
    if json_out:
        print(json.dumps({"name": report.name, "ok": report.ok, "failures": report.failures,
                          "steps": [vars(step) for step in report.steps],
                          "display": report.display, "totals": report.totals,
                          "receipts": report.receipts}, ensure_ascii=False, indent=2))
    else:
        console.print(report.render(), markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(0 if report.ok else 1)


# -- clients of the control API ---------------------------------------------------------------

def _call(control: str, method: str, path: str, body: dict[str, Any] | None = None,
          params: dict[str, Any] | None = None) -> Any:
    import httpx

    try:
        response = httpx.request(method, control.rstrip("/") + path, json=body,
                                 params=params, timeout=300.0)
    except httpx.HTTPError as exc:
        console.print(f"cannot reach the simulator at {control}: {exc}", markup=False)
        raise typer.Exit(2) from exc
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        console.print(f"error {response.status_code}: {detail}", markup=False)
        raise typer.Exit(1)
    if response.headers.get("content-type", "").startswith("text/"):
        return response.text
    return response.json()


def _show(data: Any) -> None:
    console.print_json(json.dumps(data, ensure_ascii=False))


@sim_app.command("present-card")
def present_card(
    card: Annotated[str | None, typer.Argument(help="Deck name or index (default: first).")
                    ] = None,
    pin: Annotated[list[str] | None, typer.Option(
        help="PIN typed (repeat for several tries).")] = None,
    after: Annotated[float, typer.Option(help="Seconds before the card is presented.")] = 0.0,
    insert: Annotated[bool, typer.Option(help="Insert the chip instead of tapping.")] = False,
    keypad: Annotated[bool, typer.Option(help="Type the PIN later with `press`.")] = False,
    cancel: Annotated[str | None, typer.Option(help="Press STOP at: card or pin.")] = None,
    walk_away: Annotated[str | None, typer.Option(help="Walk away at: card or pin.")] = None,
    control: ControlUrl = DEFAULT_CONTROL_URL,
) -> None:
    """Queue a customer with a card at the terminal."""
    body: dict[str, Any] = {"present_after": after, "insert": insert, "keypad": keypad}
    for key, value in (("card", card), ("pins", pin), ("cancel", cancel),
                       ("walk_away", walk_away)):
        if value:
            body[key] = value
    _show(_call(control, "POST", "/v1/cards", body))


@sim_app.command("press")
def press(keys: Annotated[list[str], typer.Argument(help="0-9, OK, STOP, CLEAR.")],
          control: ControlUrl = DEFAULT_CONTROL_URL) -> None:
    """Press keys on the terminal's keypad (a PIN typed by hand, STOP to cancel)."""
    _show(_call(control, "POST", "/v1/keys", {"keys": keys}))


@sim_app.command("power-cut")
def power_cut(restart_after: Annotated[float | None, typer.Option(
    help="Seconds until the power returns (default: stays off).")] = None,
    control: ControlUrl = DEFAULT_CONTROL_URL) -> None:
    """Cut the terminal's power now."""
    _show(_call(control, "POST", "/v1/power/cut", {"restart_after": restart_after}))


@sim_app.command("power-on")
def power_on(control: ControlUrl = DEFAULT_CONTROL_URL) -> None:
    """Switch the terminal on again (it reverses a payment that was in flight)."""
    _show(_call(control, "POST", "/v1/power/on"))


@sim_app.command("fault")
def fault(
    kind: Annotated[str, typer.Argument(help="bad_crc, drop_ack, lose_ack, duplicate_ack, "
                                        "nak_storm, delay, fragment, coalesce, disconnect, "
                                        "power_cut, busy, unknown_command, unknown_apdu, "
                                        "noise")],
    at: Annotated[str | None, typer.Option(help="Step: command, ack, card, pin, host, status, "
                                           "status_sent, stored, print, completion.")] = None,
    count: Annotated[int, typer.Option(help="How often it fires (0: until cleared).")] = 1,
    seconds: Annotated[float, typer.Option(help="delay / coalesce / fragment gap.")] = 0.0,
    size: Annotated[int, typer.Option(help="fragment: bytes per piece.")] = 1,
    ber: Annotated[float, typer.Option(help="noise: bit error rate.")] = 0.0,
    restart_after: Annotated[float | None, typer.Option(help="power_cut: seconds off.")
                             ] = None,
    times: Annotated[int, typer.Option(help="busy: how many 84 9C.")] = 1,
    clear: Annotated[bool, typer.Option(help="Remove all armed faults instead.")] = False,
    control: ControlUrl = DEFAULT_CONTROL_URL,
) -> None:
    """Arm a fault (or --clear them all)."""
    if clear:
        _show(_call(control, "DELETE", "/v1/faults"))
        return
    body: dict[str, Any] = {"kind": kind, "count": count, "seconds": seconds, "size": size,
                            "ber": ber, "times": times}
    if at:
        body["at"] = at
    if restart_after is not None:
        body["restart_after"] = restart_after
    _show(_call(control, "POST", "/v1/faults", body))


@sim_app.command("faults")
def faults(control: ControlUrl = DEFAULT_CONTROL_URL) -> None:
    """List armed faults and those that fired."""
    _show(_call(control, "GET", "/v1/faults"))


@sim_app.command("display")
def display(log: Annotated[int, typer.Option(help="Also show the last N log lines.")] = 0,
            control: ControlUrl = DEFAULT_CONTROL_URL) -> None:
    """What the terminal's display shows now (and its recent history)."""
    data = _call(control, "GET", "/v1/display", params={"tail": max(log, 1)})
    if log:
        for entry in data["log"]:
            console.print(entry["logged"], markup=False, highlight=False)
    console.print(" | ".join(data["lines"]) or "(dark)", markup=False, highlight=False)


@sim_app.command("receipts")
def receipts(last: Annotated[int, typer.Option(help="How many receipts.")] = 1,
             control: ControlUrl = DEFAULT_CONTROL_URL) -> None:
    """The last printed receipts (by the terminal or sent to the ECR)."""
    data = _call(control, "GET", "/v1/receipts", params={"tail": last})
    for receipt in data["receipts"]:
        console.print(f"--- {receipt['at']} printed by {receipt['printer']}", markup=False)
        for line in receipt["lines"]:
            console.print(line, markup=False, highlight=False)


@sim_app.command("status")
def status(control: ControlUrl = DEFAULT_CONTROL_URL) -> None:
    """Power, display, counters, armed faults."""
    _show(_call(control, "GET", "/v1/status"))


@sim_app.command("totals")
def totals(control: ControlUrl = DEFAULT_CONTROL_URL) -> None:
    """The open batch's totals per card scheme."""
    _show(_call(control, "GET", "/v1/totals"))


@sim_app.command("key-in")
def key_in(
    amount: Annotated[int, typer.Argument(help="Amount in øre (12345 = NOK 123,45).")],
    refund: Annotated[bool, typer.Option(help="A refund instead of a payment.")] = False,
    no_wait: Annotated[bool, typer.Option(help="Return at once.")] = False,
    control: ControlUrl = DEFAULT_CONTROL_URL,
) -> None:
    """Standalone mode: key an amount in on the terminal (no ECR)."""
    _show(_call(control, "POST", "/v1/standalone",
                {"amount": amount, "kind": "refund" if refund else "purchase",
                 "wait": not no_wait}))


@sim_app.command("export")
def export(
    format: Annotated[str, typer.Option(help="json or csv.")] = "json",
    source: Annotated[str, typer.Option(help="standalone, ecr, terminal or all.")
                      ] = "standalone",
    after: Annotated[int, typer.Option(help="Only entries after this seq.")] = 0,
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    control: ControlUrl = DEFAULT_CONTROL_URL,
) -> None:
    """The transaction list, for the gateway to import (format: docs/simulator.md)."""
    data = _call(control, "GET", "/v1/export",
                 params={"format": format, "source": source, "after": after})
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, indent=2)
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
