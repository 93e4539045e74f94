"""`medipay backend settle` and `settlement-mail`: settling clinics' payments and queueing
a settlement's report e-mail again. Registered on the backend app by cli.py."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from medipay.clock import SystemClock
from medipay.logs import configure_logging
from medipay_backend.cli_common import ConfigOption, _fail, _valid, _with_database, console


def backend_settle(
    day: Annotated[str, typer.Option("--date", help="Settlement date (YYYY-MM-DD); "
                                     "everything before it is settled. Default: today.")] = "",
    clinic: Annotated[str, typer.Option(help="Only this clinic (then regardless of "
                                        "its frequency).")] = "",
    config: ConfigOption = None,
) -> None:
    """Post new payments to the ledger and settle every clinic stream due on the date."""
    from datetime import date

    import trio

    from medipay_backend.config import load_backend_config
    from medipay_backend.db import Database, make_engine, migrate
    from medipay_backend.localtime import kroner, oslo_date
    from medipay_backend.settlement.mailing import mailing_status, send_due_reports
    from medipay_backend.settlement.service import settle_day_in_order

    settings = load_backend_config(config)
    clock = SystemClock()
    configure_logging(clock, "warning")
    try:
        when = date.fromisoformat(day) if day else oslo_date(clock.now())
    except ValueError:
        _fail(f"not a date: {day!r}")
        return
    engine = make_engine(settings.resolved_database_url())
    smtp = settings.smtp.settings()
    try:
        migrate(engine)
        database = Database(engine)
        done = trio.run(lambda: settle_day_in_order(
            database, clock, when, settings.settlement.files_root(settings.data_dir),
            clinic_id=clinic or None, force=bool(clinic)))
        rows = done.settled
        if smtp is not None:  # else the service's scheduler records them as skipped
            trio.run(send_due_reports, database, clock, smtp)
        ids = [row.id for row in rows]
        mail = database.transaction(lambda s: [mailing_status(s, i)["status"] for i in ids])
    finally:
        engine.dispose()
    table = Table(title=f"Settlements {when.isoformat()}", title_justify="left")
    for column in ("clinic", "stream", "count", "payout", "carried", "files", "e-mail"):
        table.add_column(column)
    for row, mailed in zip(rows, mail, strict=True):
        table.add_row(row.clinic_id, row.stream, str(row.count), kroner(row.total, " "),
                      kroner(row.carried_forward, " "), ", ".join(sorted(row.files)), mailed)
    console.print(table)
    # A day a later settlement overtook: that one settled its payments already.
    for key in done.superseded:
        typer.echo(f"skipped {key.clinic_id} {key.stream.value}: a settlement dated after "
                   f"{when.isoformat()} exists for this stream, so {when.isoformat()} has "
                   "nothing left to settle")


def backend_settlement_mail(
    settlement_id: str,
    to: Annotated[str | None, typer.Option(
        "--to", help="Send to this address, this once (default: the clinic's report "
                     "address).")] = None,
    config: ConfigOption = None,
) -> None:
    """Queue a settlement's report e-mail again (after setting the clinic's address, fixing
    SMTP, or when the clinic lost it); the service's scheduler or `report mail` sends it."""
    from medipay_backend.schemas_clinics import ReportEmailIn
    from medipay_backend.settlement.mailing import ResendRefused, queue_resend

    address = None if to is None else _valid(ReportEmailIn, report_email=to).report_email
    try:
        queued = _with_database(config, lambda s, now, _: queue_resend(s, settlement_id, now,
                                                                       address))
    except ResendRefused as exc:
        typer.echo(str(exc))  # not wrapped: the settlement id stays whole
        raise typer.Exit(1) from exc
    typer.echo(f"e-mail of settlement {queued.settlement_id} queued again (send "
               f"{queued.send}, job {queued.job_key}) to {queued.to or 'the clinic address'}")
