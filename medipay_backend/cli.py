"""`medipay backend ...`: the payment backend's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medipay.clock import SystemClock
from medipay.logs import configure_logging
from medipay.runner import run_until_signalled

backend_app = typer.Typer(help="The MediPay payment backend.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML configuration file; every key has a default."),
]


@backend_app.command("serve")
def backend_serve(config: ConfigOption = None) -> None:
    """Serve the backend's HTTP API (SQLite by default, PostgreSQL by URL)."""
    from medipay_backend.config import load_backend_config
    from medipay_backend.server import serve_backend

    settings = load_backend_config(config)
    clock = SystemClock()
    configure_logging(clock, settings.log_level)
    run_until_signalled(serve_backend, settings, clock)
