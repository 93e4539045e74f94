"""The `medipay` command line: one entry point for all three deployables.

Each deployable owns its sub-commands (`gateway/cli.py`, `firmware_sim/cli.py`,
`medipay_backend/cli.py`); this module mounts them and adds `up`, which runs all three.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from firmware_sim.cli import sim_app
from gateway.cli import gateway_app
from medipay.clock import SystemClock
from medipay.logs import configure_logging
from medipay.runner import run_until_signalled
from medipay_backend.cli import backend_app

app = typer.Typer(
    help="MediPay Edge: clinic payment gateway, payment backend and terminal simulator.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(gateway_app, name="gateway")
app.add_typer(sim_app, name="sim")
app.add_typer(backend_app, name="backend")

console = Console()
DEFAULT_DEMO_DIR = Path("~/.local/share/medipay/demo")


@app.command()
def up(
    data_dir: Annotated[
        Path, typer.Option(help="Where the SQLite databases, keys and terminal state live.")
    ] = DEFAULT_DEMO_DIR,
    backend_port: Annotated[int, typer.Option(help="Backend HTTP port.")] = 8400,
    gateway_port: Annotated[int, typer.Option(help="Gateway (EPJ API) HTTP port.")] = 8401,
    terminal_port: Annotated[int, typer.Option(help="Simulated ZVT terminal TCP port.")] = 20007,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "warning",
) -> None:
    """Run everything on localhost: backend, a simulated terminal, and the gateway."""
    from medipay.up import UpPorts, run_up

    clock = SystemClock()
    configure_logging(clock, log_level)
    ports = UpPorts(backend=backend_port, gateway=gateway_port, terminal=terminal_port)
    run_until_signalled(run_up, data_dir.expanduser(), clock, ports, console, console=console)
