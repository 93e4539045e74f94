"""`medipay sim ...`: the terminal simulator's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medipay.clock import SystemClock
from medipay.logs import configure_logging
from medipay.runner import run_until_signalled

sim_app = typer.Typer(help="The ZVT card terminal simulator.", no_args_is_help=True)


@sim_app.command("run")
def sim_run(
    tcp: Annotated[str, typer.Option(help="HOST:PORT to listen on.")] = "127.0.0.1:20007",
    state_file: Annotated[
        Path | None, typer.Option(help="Where the terminal keeps its counters across restarts.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run a simulated ZVT terminal that approves payments with its default test card."""
    from firmware_sim.engine import TerminalEngine
    from firmware_sim.state import load_state
    from firmware_sim.tcp_server import TcpTerminal

    host, _, port = tcp.rpartition(":")
    clock = SystemClock()
    configure_logging(clock, log_level)
    terminal = TcpTerminal(TerminalEngine(load_state(state_file), clock), state_file=state_file)
    run_until_signalled(terminal.serve, host or "127.0.0.1", int(port))
