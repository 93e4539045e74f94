"""`medipay gateway ...`: the clinic gateway's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import trio
import typer
from rich.console import Console

from medipay.clock import SystemClock
from medipay.logs import configure_logging
from medipay.runner import run_until_signalled

gateway_app = typer.Typer(help="The clinic gateway: drives card terminals for the EPJ.",
                          no_args_is_help=True)
console = Console()

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML configuration file; every key has a default."),
]


@gateway_app.command("run")
def gateway_run(config: ConfigOption = None) -> None:
    """Run the gateway with its configured terminals, EPJ API and uplink."""
    from gateway.config import load_gateway_config
    from gateway.service import run_gateway

    settings = load_gateway_config(config)
    clock = SystemClock()
    configure_logging(clock, settings.log_level)
    run_until_signalled(run_gateway, settings, clock, console=console)


@gateway_app.command("devices")
def gateway_devices() -> None:
    """List the serial ports and USB devices this box can see, to find a terminal."""
    from gateway.devices.discovery import discover, format_device_table

    console.print(format_device_table(discover()))


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
