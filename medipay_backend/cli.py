"""`medipay backend ...`: the payment backend's commands. This module holds the app, `serve`
and `simulate`; the other commands live in one module per concept (cli_settlement,
cli_clinics, cli_invoicing, cli_portal, cli_reports, cli_credits) and are registered here,
in the order `--help` lists them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from medipay.clock import SystemClock
from medipay.logs import configure_logging
from medipay.runner import run_until_signalled
from medipay_backend import cli_clinics, cli_credits, cli_invoicing, cli_portal, cli_settlement
from medipay_backend.cli_common import ConfigOption, console
from medipay_backend.cli_reports import clinic_report_email, report_app

backend_app = typer.Typer(help="The MediPay payment backend.", no_args_is_help=True)


@backend_app.command("serve")
def backend_serve(config: ConfigOption = None) -> None:
    """Serve the backend's HTTP API (SQLite by default, PostgreSQL by URL)."""
    from medipay_backend.config import load_backend_config
    from medipay_backend.server import serve_backend

    settings = load_backend_config(config)
    clock = SystemClock()
    configure_logging(clock, settings.log_level)
    run_until_signalled(serve_backend, settings, clock)


@backend_app.command("simulate")
def backend_simulate(
    days: Annotated[int, typer.Option(min=1, max=366, help="Days of clinic operation.")] = 30,
    orders: Annotated[int, typer.Option(min=1, max=1_000_000, help="Orders in all.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed, the same month.")] = 1,
    database_url: Annotated[str, typer.Option(help="Empty: a temporary SQLite file.")] = "",
) -> None:
    """Run a synthetic clinic month on a simulated clock and print what happened."""
    import time

    import trio
    from rich.progress import Progress

    from medipay_backend.simulate import simulate

    configure_logging(SystemClock(), "error")
    started = time.monotonic()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("Simulerer", total=1)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = trio.run(simulate, days, orders, seed, advance, database_url or None)
    elapsed = time.monotonic() - started
    console.print(f"Simulated {report.days} days, {report.orders} orders, seed {report.seed}, "
                  f"in {elapsed:.1f} s ({report.rejected} rejected at intake)")
    for title, counts in (("Patient behaviour", report.behaviours),
                          ("Order status", report.statuses), ("Paid with", report.methods),
                          ("Invoices and manual handling", report.routes),
                          ("SMS", report.sms)):
        table = Table(title=title, title_justify="left")
        table.add_column("what")
        table.add_column("count", justify="right")
        for key, count in sorted(counts.items()):
            table.add_row(key, str(count))
        console.print(table)



backend_app.command("settle")(cli_settlement.backend_settle)
backend_app.command("settlement-mail")(cli_settlement.backend_settlement_mail)
backend_app.command("issue-invoices")(cli_invoicing.backend_issue_invoices)
backend_app.command("dunning-run")(cli_invoicing.backend_dunning_run)
backend_app.command("import-ocr")(cli_invoicing.backend_import_ocr)
backend_app.command("outstanding")(cli_invoicing.backend_outstanding)
backend_app.command("deliver")(cli_invoicing.backend_deliver)

cli_clinics.clinic_app.command("report-email")(clinic_report_email)
backend_app.add_typer(cli_clinics.clinic_app, name="clinic")
backend_app.add_typer(cli_invoicing.suspense_app, name="suspense")
backend_app.add_typer(cli_portal.clinic_admin_app, name="clinic-admin")
backend_app.add_typer(report_app, name="report")
backend_app.add_typer(cli_credits.credits_app, name="credits")
