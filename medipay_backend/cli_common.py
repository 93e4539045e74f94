"""What every `medipay backend` command module shares: the `--config` option, the console,
one transaction on the configured database, and how a command fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from medipay.clock import SystemClock
from medipay.logs import configure_logging

console = Console()
T = TypeVar("T")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML configuration file; every key has a default."),
]


def _with_database(config: Path | None, work: Callable[[Any, Any, str], T]) -> T:
    """Run `work(session, now, admin_token)` in one transaction on the configured database."""
    from medipay_backend.config import load_backend_config, resolve_admin_token
    from medipay_backend.db import Database, make_engine, migrate

    settings = load_backend_config(config)
    configure_logging(SystemClock(), "warning")
    engine = make_engine(settings.resolved_database_url())
    try:
        migrate(engine)
        token = resolve_admin_token(settings)
        now = SystemClock().now()
        return Database(engine).transaction(lambda session: work(session, now, token))
    finally:
        engine.dispose()


def _fail(message: str) -> None:
    console.print(f"[red]{message}[/red]")
    raise typer.Exit(1)


def _valid(model: Any, **fields: Any) -> Any:
    from pydantic import ValidationError

    try:
        return model(**fields)
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
        raise  # unreachable: _fail exits

