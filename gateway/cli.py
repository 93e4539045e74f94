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


@gateway_app.command("import")
def gateway_import(
    file: Annotated[Path, typer.Argument(help="The terminal's export, .json or .csv.")],
    terminal: Annotated[str, typer.Option(help="The gateway's id for the terminal.")],
    config: ConfigOption = None,
) -> None:
    """Import a standalone terminal's transaction list into the running gateway."""
    import httpx

    from gateway.config import load_gateway_config
    from gateway.secrets_file import load_or_create_token

    settings = load_gateway_config(config)
    token = settings.api.token or load_or_create_token(settings.data_dir / "api_token")
    content_type = "text/csv" if file.suffix.lower() == ".csv" else "application/json"
    url = f"http://{settings.api.host}:{settings.api.port}/v1/terminals/{terminal}/imports"
    try:
        response = httpx.post(url, content=file.read_bytes(), timeout=120,
                              headers={"Authorization": f"Bearer {token}",
                                       "Content-Type": content_type})
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot reach the gateway at {url}:[/red] {exc}")
        raise typer.Exit(1) from exc
    if response.status_code != 200:
        console.print(f"[red]import refused ({response.status_code}):[/red] "
                      f"{response.json().get('detail', response.text)}")
        raise typer.Exit(1)
    result = response.json()
    console.print(f"imported {result['imported']} transaction(s), "
                  f"{result['duplicates']} already known")


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
