"""The `medipay` command line: one entry point for all three deployables."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import trio
import typer
from rich.console import Console

from medipay.clock import SystemClock
from medipay.logs import configure_logging

app = typer.Typer(
    help="MediPay Edge: clinic payment gateway, payment backend and terminal simulator.",
    no_args_is_help=True,
    add_completion=False,
)
gateway_app = typer.Typer(help="The clinic gateway: drives card terminals for the EPJ.",
                          no_args_is_help=True)
sim_app = typer.Typer(help="The ZVT card terminal simulator.", no_args_is_help=True)
backend_app = typer.Typer(help="The MediPay payment backend.", no_args_is_help=True)
app.add_typer(gateway_app, name="gateway")
app.add_typer(sim_app, name="sim")
app.add_typer(backend_app, name="backend")

console = Console()
DEFAULT_DEMO_DIR = Path("~/.local/share/medipay/demo")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML configuration file; every key has a default."),
]


async def _until_signalled(main: Callable[..., Awaitable[object]], *args: object) -> None:
    """Run `main` until it returns or SIGINT/SIGTERM arrives, then cancel it cleanly."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def stop_on_signal() -> None:
                async for signum in signals:
                    console.print(f"stopping ({signal.Signals(signum).name})")
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(stop_on_signal)
            await main(*args)
            nursery.cancel_scope.cancel()


def _run(main: Callable[..., Awaitable[object]], *args: object) -> None:
    trio.run(_until_signalled, main, *args)
    console.print("stopped")


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
    _run(run_up, data_dir.expanduser(), clock, ports, console)


@gateway_app.command("run")
def gateway_run(config: ConfigOption = None) -> None:
    """Run the gateway with its configured terminals, EPJ API and uplink."""
    from gateway.config import load_gateway_config
    from gateway.service import run_gateway

    settings = load_gateway_config(config)
    clock = SystemClock()
    configure_logging(clock, settings.log_level)
    _run(run_gateway, settings, clock)


@gateway_app.command("enrol")
def gateway_enrol(
    admin_token: Annotated[str, typer.Option(help="The backend operator's admin token.")],
    config: ConfigOption = None,
) -> None:
    """Create the gateway's Ed25519 key (if missing) and register it with the backend."""
    from gateway.config import load_gateway_config
    from gateway.uplink.enrol import EnrolmentError, enrol_gateway
    from gateway.uplink.signing import load_or_create_key

    settings = load_gateway_config(config)
    key = load_or_create_key(settings.data_dir)
    try:
        result = trio.run(
            enrol_gateway, settings.backend.url, admin_token, settings.gateway_id, key
        )
    except EnrolmentError as exc:
        console.print(f"[red]enrolment failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"enrolled gateway {result['gateway_id']} at {settings.backend.url}")


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
    _run(terminal.serve, host or "127.0.0.1", int(port))


@backend_app.command("serve")
def backend_serve(config: ConfigOption = None) -> None:
    """Serve the backend's HTTP API (SQLite by default, PostgreSQL by URL)."""
    from medipay_backend.config import load_backend_config
    from medipay_backend.server import serve_backend

    settings = load_backend_config(config)
    clock = SystemClock()
    configure_logging(clock, settings.log_level)
    _run(serve_backend, settings, clock)
