"""`medipay backend ...`: the payment backend's commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from medipay.clock import SystemClock
from medipay.logs import configure_logging
from medipay.runner import run_until_signalled

backend_app = typer.Typer(help="The MediPay payment backend.", no_args_is_help=True)
clinic_app = typer.Typer(
    help="Clinics (brukersteder), their accounts, agreements and EPJ credentials.",
    no_args_is_help=True,
)
backend_app.add_typer(clinic_app, name="clinic")
console = Console()
T = TypeVar("T")

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


@backend_app.command("settle")
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
    from medipay_backend.settlement.service import settle_day

    settings = load_backend_config(config)
    clock = SystemClock()
    configure_logging(clock, "warning")
    try:
        when = date.fromisoformat(day) if day else oslo_date(clock.now())
    except ValueError:
        _fail(f"not a date: {day!r}")
        return
    engine = make_engine(settings.resolved_database_url())
    try:
        migrate(engine)
        rows = trio.run(lambda: settle_day(
            Database(engine), clock, when, settings.data_dir / "settlements",
            clinic_id=clinic or None, force=bool(clinic)))
    finally:
        engine.dispose()
    table = Table(title=f"Settlements {when.isoformat()}", title_justify="left")
    for column in ("clinic", "stream", "count", "payout", "carried", "files"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.clinic_id, row.stream, str(row.count), kroner(row.total, " "),
                      kroner(row.carried_forward, " "), ", ".join(sorted(row.files)))
    console.print(table)


# --- clinics ---------------------------------------------------------------------------


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


@clinic_app.command("create")
def clinic_create(
    clinic_id: Annotated[str, typer.Argument(help="Operator-chosen id, e.g. oslo-legesenter.")],
    name: Annotated[str, typer.Option(help="The clinic's name.")],
    org_number: Annotated[str, typer.Option(help="Norwegian organisation number.")],
    config: ConfigOption = None,
) -> None:
    """Create a clinic with the default agreement (idempotent)."""
    from medipay_backend.clinics import AlreadyExists, create_clinic
    from medipay_backend.schemas_clinics import ClinicIn

    clinic = _valid(ClinicIn, clinic_id=clinic_id, name=name, org_number=org_number)
    try:
        record, outcome = _with_database(config, lambda s, now, _: create_clinic(
            s, clinic.clinic_id, clinic.name, clinic.org_number, None, now))
    except AlreadyExists as exc:
        _fail(str(exc))
        return
    console.print(f"{outcome}: clinic {record.clinic_id} ({record.name})")


@clinic_app.command("list")
def clinic_list(config: ConfigOption = None) -> None:
    """List clinics with their accounts and agreement."""
    from medipay_backend.clinics import list_accounts, list_clinics

    rows = _with_database(config, lambda s, now, _: [
        (c, list_accounts(s, c.clinic_id)) for c in list_clinics(s)])
    table = Table("clinic", "name", "org number", "accounts", "invoice fee", "settlement")
    for clinic, accounts in rows:
        table.add_row(clinic.clinic_id, clinic.name, clinic.org_number,
                      ", ".join(a.account_id for a in accounts),
                      str(clinic.agreement.invoice_fee),
                      clinic.agreement.settlement_frequency)
    console.print(table)


@clinic_app.command("agreement")
def clinic_agreement(
    clinic_id: str,
    invoice_fee: Annotated[int, typer.Option(help="Øre.")] = 5_900,
    price_per_transaction: Annotated[int, typer.Option(help="Øre.")] = 0,
    price_percent_bp: Annotated[int, typer.Option(help="Basis points (125 = 1.25 %).")] = 0,
    settlement_frequency: Annotated[str, typer.Option(help="daily, weekly, monthly")] = "weekly",
    max_order_amount: Annotated[int, typer.Option(help="Øre.")] = 5_000_000,
    kid_scheme: Annotated[str, typer.Option(help="mod10 or mod11")] = "mod10",
    fakturaservice: Annotated[bool, typer.Option(help="The EPJ supports Fakturaservice.")] = True,
    config: ConfigOption = None,
) -> None:
    """Replace a clinic's agreement."""
    from medipay_backend.clinics import AgreementTerms, NoSuchClinic, set_agreement
    from medipay_backend.schemas_clinics import AgreementIn

    terms = _valid(AgreementIn, invoice_fee=invoice_fee,
                   price_per_transaction=price_per_transaction,
                   price_percent_bp=price_percent_bp, settlement_frequency=settlement_frequency,
                   max_order_amount=max_order_amount, kid_scheme=kid_scheme,
                   fakturaservice=fakturaservice)
    try:
        _with_database(config, lambda s, now, _: set_agreement(
            s, clinic_id, AgreementTerms(**terms.model_dump()), now))
    except NoSuchClinic as exc:
        _fail(str(exc))
    console.print(f"agreement of {clinic_id} set")


@clinic_app.command("account")
def clinic_account(
    clinic_id: str,
    account_id: str,
    name: Annotated[str, typer.Option(help="The practitioner.")],
    bank_account: Annotated[str, typer.Option(help="Norwegian bank account for settlements.")],
    config: ConfigOption = None,
) -> None:
    """Add a practitioner's account to a clinic (idempotent)."""
    from medipay_backend.clinics import AlreadyExists, NoSuchClinic, create_account
    from medipay_backend.schemas_clinics import AccountIn

    account = _valid(AccountIn, account_id=account_id, name=name, bank_account=bank_account)
    try:
        record, outcome = _with_database(config, lambda s, now, _: create_account(
            s, clinic_id, account.account_id, account.name, account.bank_account, now))
    except (AlreadyExists, NoSuchClinic) as exc:
        _fail(str(exc))
        return
    console.print(f"{outcome}: account {record.account_id} at {record.clinic_id}")


@clinic_app.command("credential")
def clinic_credential(
    clinic_id: str,
    account_id: str,
    key: Annotated[str, typer.Option(help="Idempotency key: the same key shows the same "
                                          "credential again.")],
    label: Annotated[str | None, typer.Option(help="A note, e.g. the EPJ's name.")] = None,
    config: ConfigOption = None,
) -> None:
    """Create an EPJ credential; prints the client id and secret."""
    from medipay_backend.clinics import ClinicError, create_credential

    try:
        record, _ = _with_database(config, lambda s, now, token: create_credential(
            s, clinic_id, account_id, key, label, token, now))
    except ClinicError as exc:
        _fail(str(exc))
        return
    console.print(f"client_id: {record.client_id}\nsecret:    {record.secret}", soft_wrap=True,
                  markup=False, highlight=False)


@clinic_app.command("revoke")
def clinic_revoke(clinic_id: str, client_id: str, config: ConfigOption = None) -> None:
    """Revoke an EPJ credential."""
    from medipay_backend.clinics import ClinicError, revoke_credential

    try:
        _with_database(config, lambda s, now, _: revoke_credential(s, clinic_id, client_id, now))
    except ClinicError as exc:
        _fail(str(exc))
    console.print(f"revoked {client_id}")


# --- invoicing ---------------------------------------------------------------------------


@backend_app.command("issue-invoices")
def backend_issue_invoices(config: ConfigOption = None) -> None:
    """Issue every invoice record without a number yet (number, KID, dates, claim)."""
    from medipay_backend.invoicing.issuing import issue_pending

    numbers = _with_database(config, lambda s, now, _: [
        c.invoice_number for c in issue_pending(s, now, limit=1_000_000)])
    console.print(f"issued {len(numbers)} invoices")


@backend_app.command("dunning-run")
def backend_dunning_run(config: ConfigOption = None) -> None:
    """Run today's dunning: every claim with a step due gets it done and recorded."""
    from medipay_backend.invoicing.dunning_runner import run_all
    from medipay_backend.localtime import oslo_date

    summary = _with_database(config, lambda s, now, _: run_all(s, oslo_date(now), now))
    console.print(f"claims: {summary.claims}  actions: {dict(summary.actions)}  "
                  f"fees: {summary.fees} øre", markup=False)


@backend_app.command("import-ocr")
def backend_import_ocr(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    config: ConfigOption = None,
) -> None:
    """Import an OCR giro file (Nets format): match by KID, allocate, suspense the rest."""
    from medipay_backend.domain.ocr import OcrError
    from medipay_backend.invoicing.payments_in import import_ocr

    text = file.read_text(encoding="latin-1")
    try:
        summary = _with_database(config, lambda s, now, _: import_ocr(s, text, now))
    except OcrError as exc:
        _fail(f"{file}: {exc}")
        return
    console.print(
        f"transmission {summary.transmission}: {summary.payments} payments "
        f"({summary.duplicates} already imported), {summary.matched} matched, "
        f"{summary.amount} øre, {summary.to_suspense} øre to suspense "
        f"{dict(summary.suspense_reasons)}", markup=False)


@backend_app.command("outstanding")
def backend_outstanding(
    clinic_id: str,
    at: Annotated[str, typer.Option(help="YYYY-MM-DD; default today")] = "",
    config: ConfigOption = None,
) -> None:
    """Outstanding Fakturaservice claims of a clinic at a date (its receivables)."""
    from datetime import date

    from medipay_backend.invoicing.reports import outstanding_claims
    from medipay_backend.localtime import kroner, oslo_date

    rows = _with_database(config, lambda s, now, _: outstanding_claims(
        s, clinic_id, date.fromisoformat(at) if at else oslo_date(now)))
    table = Table("invoice", "due", "age", "stage", "receivable (kr)")
    for row in rows:
        table.add_row(str(row.invoice_number), row.due_date.isoformat(), str(row.age_days),
                      row.stage, kroner(row.receivable, " "))
    console.print(table)
    console.print(f"total: {kroner(sum(r.receivable for r in rows), ' ')} kr")


@backend_app.command("deliver")
def backend_deliver(
    out: Annotated[Path, typer.Option(help="Directory for the print batches and EHF files")],
    smtp_host: Annotated[str, typer.Option(help="Empty: no e-mail, paper instead")] = "",
    smtp_port: int = 25,
    smtp_from: str = "faktura@medipay.invalid",
    letters_day: Annotated[str, typer.Option(help="YYYY-MM-DD: also print that day's "
                                                  "letters")] = "",
    config: ConfigOption = None,
) -> None:
    """Deliver issued invoices not delivered yet (EHF, e-mail or paper; eFaktura is
    simulated and has no acceptances here) and print a day's dunning letters."""
    from datetime import date

    from medipay_backend.invoicing.delivery import (
        Channels,
        SimulatedEfaktura,
        SmtpSettings,
        deliver_pending,
        print_letters,
    )

    channels = Channels(
        efaktura=SimulatedEfaktura(),
        smtp=SmtpSettings(smtp_host, smtp_port, smtp_from) if smtp_host else None,
        print_dir=out / "print", ehf_outbox=out / "ehf",
    )

    def work(session: Any, now: Any, _: str) -> tuple[dict[str, int], int]:
        counts = deliver_pending(session, channels, now, limit=1_000_000)
        printed = (print_letters(session, date.fromisoformat(letters_day), channels, now)
                   if letters_day else 0)
        return counts, printed

    counts, printed = _with_database(config, work)
    console.print(f"invoices delivered: {counts}  letters printed: {printed}", markup=False)
