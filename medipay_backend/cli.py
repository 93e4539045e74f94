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


@backend_app.command("settlement-mail")
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
    report_email: Annotated[str | None, typer.Option(
        help="Where settlement reports are e-mailed (default: none, download only).")] = None,
    config: ConfigOption = None,
) -> None:
    """Create a clinic with the default agreement (idempotent)."""
    from medipay_backend.clinics import AlreadyExists, create_clinic
    from medipay_backend.schemas_clinics import ClinicIn

    clinic = _valid(ClinicIn, clinic_id=clinic_id, name=name, org_number=org_number,
                    report_email=report_email)
    try:
        record, outcome = _with_database(config, lambda s, now, _: create_clinic(
            s, clinic.clinic_id, clinic.name, clinic.org_number, None, now,
            report_email=clinic.report_email))
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
    out: Annotated[Path | None, typer.Option(
        help="Directory for the print batches, EHF and eFaktura files. Default: the "
             "[invoicing] configuration")] = None,
    smtp_host: Annotated[str, typer.Option(help="Default: [smtp] host; empty there: no "
                                                "e-mail, paper instead")] = "",
    smtp_port: int = 25,
    smtp_from: str = "faktura@medipay.invalid",
    letters_day: Annotated[str, typer.Option(help="YYYY-MM-DD: also print that day's "
                                                  "letters")] = "",
    config: ConfigOption = None,
) -> None:
    """Deliver issued invoices not delivered yet (EHF, eFaktura for the national IDs in the
    configured acceptance file, e-mail or paper) and print a day's dunning letters. The
    daily job does the same every morning; this is for a manual run."""
    from datetime import date

    from medipay_backend.config import load_backend_config
    from medipay_backend.invoicing.delivery import (
        Channels,
        SmtpSettings,
        deliver_pending,
        print_letters,
    )
    from medipay_backend.invoicing.settings import FileEfaktura, InvoicingSettings

    settings = load_backend_config(config)
    where = settings.invoicing.settings(settings.data_dir)
    if out is not None:
        where = InvoicingSettings(out / "print", out / "ehf", out / "efaktura",
                                  where.efaktura_accepted_file)
    smtp = (SmtpSettings(smtp_host, smtp_port, smtp_from) if smtp_host
            else settings.smtp.settings())

    def work(session: Any, now: Any, _: str) -> tuple[dict[str, int], int]:
        from medipay_backend.localtime import oslo_date

        channels = Channels(efaktura=FileEfaktura.load(where, oslo_date(now)), smtp=smtp,
                            print_dir=where.print_dir, ehf_outbox=where.ehf_outbox)
        counts = deliver_pending(session, channels, now, limit=1_000_000)
        printed = (print_letters(session, date.fromisoformat(letters_day), channels, now)
                   if letters_day else 0)
        return counts, printed

    counts, printed = _with_database(config, work)
    console.print(f"invoices delivered: {counts}  letters printed: {printed}", markup=False)
    if counts.get("deferred"):
        console.print("e-mail could not be sent now; run again later for the deferred ones")


suspense_app = typer.Typer(help="Payments no claim could take: list, apply to a claim, refund.",
                           no_args_is_help=True)
backend_app.add_typer(suspense_app, name="suspense")


@suspense_app.command("list")
def suspense_list(config: ConfigOption = None) -> None:
    """Unresolved suspense items (unknown KID, overpayment, closed claim, ...)."""
    import sqlalchemy as sa

    from medipay_backend.localtime import kroner
    from medipay_backend.models_invoicing import IncomingPayment, SuspenseItem

    rows = _with_database(config, lambda s, now, _: [
        (item.seq, item.reason, item.kid or "", item.amount, payment.paid_on.isoformat())
        for item, payment in s.execute(
            sa.select(SuspenseItem, IncomingPayment)
            .join(IncomingPayment, IncomingPayment.seq == SuspenseItem.payment_seq)
            .where(SuspenseItem.resolved_at.is_(None)).order_by(SuspenseItem.seq))])
    table = Table("id", "reason", "KID", "amount (kr)", "paid on")
    for seq, reason, kid, amount, paid_on in rows:
        table.add_row(str(seq), reason, kid, kroner(amount, " "), paid_on)
    console.print(table)


def _suspense(work: Callable[[Any, Any], str], config: Path | None) -> None:
    from medipay_backend.invoicing.suspense import SuspenseError

    try:
        message = _with_database(config, lambda s, now, _: work(s, now))
    except SuspenseError as exc:
        _fail(str(exc))
        return
    console.print(message, markup=False, soft_wrap=True)


@suspense_app.command("apply")
def suspense_apply(
    item: int, invoice_number: int,
    amount: Annotated[int | None, typer.Option(help="Øre; default: the whole item")] = None,
    note: str = "", config: ConfigOption = None,
) -> None:
    """Apply a suspense item to a claim: allocated as a payment on the day it was paid."""
    from medipay_backend.invoicing.suspense import apply_item

    def work(session: Any, now: Any) -> str:
        done = apply_item(session, item, invoice_number, amount, note or None, now)
        left = f"; {done.remainder.amount} øre left as item {done.remainder.seq}" \
            if done.remainder else ""
        return (f"item {item} applied to invoice {invoice_number} ({done.payment.amount} øre, "
                f"claim {done.claim.state}){left}")

    _suspense(work, config)


@suspense_app.command("refund")
def suspense_refund(item: int, account: str, note: str = "",
                    config: ConfigOption = None) -> None:
    """Record that a suspense item was paid back to the payer's bank account."""
    from medipay_backend.invoicing.suspense import refund_item

    def work(session: Any, now: Any) -> str:
        done = refund_item(session, item, account, note or None, now)
        return f"item {item} refunded: {done.amount} øre to {done.refund_account}"

    _suspense(work, config)


@suspense_app.command("resolve")
def suspense_resolve(
    item: int,
    note: Annotated[str, typer.Option(help="What was done, for the record")],
    to: Annotated[str | None, typer.Option(
        help="Where the money went: bank (paid out of our bank account by hand). Required "
             "unless the item is a reversal")] = None,
    reference: Annotated[str | None, typer.Option(
        help="The reference of that booking, e.g. the bank transaction's")] = None,
    config: ConfigOption = None,
) -> None:
    """Mark a suspense item handled by hand and book its money out of suspense to where it
    went (also books out an item handled earlier whose money is still in suspense)."""
    from medipay_backend.invoicing.suspense import booked_out_to, mark_handled

    def work(session: Any, now: Any) -> str:
        done = mark_handled(session, item, note, now, to=to, reference=reference)
        target = booked_out_to(session, done)
        moved = f": {done.amount} øre booked out to {target}" if target else ""
        return f"item {item} handled{moved}"

    _suspense(work, config)


@suspense_app.command("not-booked-out")
def suspense_not_booked_out(config: ConfigOption = None) -> None:
    """Items marked handled by hand whose money is still in suspense (book them out with
    `suspense resolve ITEM --note ... --to bank --reference ...`)."""
    from medipay_backend.invoicing.suspense import not_booked_out
    from medipay_backend.localtime import kroner

    rows = _with_database(config, lambda s, now, _: [
        (item.seq, item.reason, item.amount, item.note or "") for item in not_booked_out(s)])
    table = Table("id", "reason", "amount (kr)", "note")
    for seq, reason, amount, note in rows:
        table.add_row(str(seq), reason, kroner(amount, " "), note)
    console.print(table)


# --- clinic administrators (the clinic portal) --------------------------------------------

clinic_admin_app = typer.Typer(
    help="Clinic administrators: the people who log in to the clinic portal (/klinikk).",
    no_args_is_help=True,
)
backend_app.add_typer(clinic_admin_app, name="clinic-admin")


def _portal_login_url(config: Path | None) -> str:
    from medipay_backend.config import load_backend_config

    settings = load_backend_config(config)
    base = settings.checkout.public_url or f"http://{settings.http.host}:{settings.http.port}"
    return base.rstrip("/") + "/klinikk/logg-inn"


def _portal_settings(config: Path | None) -> Any:
    """The portal's settings from `[portal]` (the one-time password's lifetime)."""
    from medipay_backend.config import load_backend_config

    return load_backend_config(config).portal.settings()


def _print_one_time_password(record: Any, otp: str, config: Path | None) -> None:
    console.print(f"admin:             {record.admin_id} ({record.email}, {record.clinic_id})\n"
                  f"one-time password: {otp}\n"
                  f"valid until:       {record.one_time_password_expires_at:%Y-%m-%d %H:%M} UTC\n"
                  f"log in at:         {_portal_login_url(config)}",
                  soft_wrap=True, markup=False, highlight=False)


@clinic_admin_app.command("create")
def clinic_admin_create(
    clinic_id: str,
    email: Annotated[str, typer.Argument(help="The admin's e-mail address (the login name).")],
    name: Annotated[str | None, typer.Option(help="The admin's name.")] = None,
    config: ConfigOption = None,
) -> None:
    """Create a clinic administrator; prints a one-time password (shown only this once)."""
    from medipay_backend.portal import accounts

    portal = _portal_settings(config)
    try:
        accounts.login_email(email)
    except accounts.InvalidEmail as exc:
        _fail(f"not an e-mail address: {exc}")
    otp = accounts.issue_one_time_password(portal.scrypt)
    try:
        record = _with_database(config, lambda s, now, _: accounts.create_admin(
            s, clinic_id, email, name, otp, portal.otp_lifetime, now))
    except accounts.AdminError as exc:
        _fail(str(exc))
        return
    _print_one_time_password(record, otp.password, config)


@clinic_admin_app.command("reset")
def clinic_admin_reset(email: str, config: ConfigOption = None) -> None:
    """A new one-time password for an admin (also lifts a lock-out, ends their sessions)."""
    from medipay_backend.portal import accounts

    portal = _portal_settings(config)
    otp = accounts.issue_one_time_password(portal.scrypt)

    def work(session: Any, now: Any, _: str) -> Any:
        found = accounts.find_admin(session, email, now)
        if found is None:
            raise accounts.NoSuchAdmin(f"no clinic administrator {email!r}")
        return accounts.reset_admin(session, found.clinic_id, found.admin_id, otp,
                                    portal.otp_lifetime, now)

    try:
        record = _with_database(config, work)
    except accounts.AdminError as exc:
        _fail(str(exc))
        return
    _print_one_time_password(record, otp.password, config)


@clinic_admin_app.command("disable")
def clinic_admin_disable(email: str, config: ConfigOption = None) -> None:
    """Stop an admin from logging in; their open sessions end at once."""
    from medipay_backend.portal import accounts

    def work(session: Any, now: Any, _: str) -> Any:
        found = accounts.find_admin(session, email, now)
        if found is None:
            raise accounts.NoSuchAdmin(f"no clinic administrator {email!r}")
        return accounts.disable_admin(session, found.clinic_id, found.admin_id, now)

    try:
        record = _with_database(config, work)
    except accounts.AdminError as exc:
        _fail(str(exc))
        return
    console.print(f"disabled {record.email}", markup=False)


@clinic_admin_app.command("list")
def clinic_admin_list(clinic_id: str, config: ConfigOption = None) -> None:
    """List a clinic's administrators (never their passwords)."""
    from medipay_backend.portal import accounts

    try:
        rows = _with_database(config, lambda s, now, _: accounts.list_admins(s, clinic_id, now))
    except accounts.AdminError as exc:
        _fail(str(exc))
        return
    table = Table("e-mail", "name", "state", "last login (UTC)")
    for row in rows:
        table.add_row(row.email, row.name or "", row.state,
                      f"{row.last_login_at:%Y-%m-%d %H:%M}" if row.last_login_at else "")
    console.print(table)


# --- reports (in cli_reports.py) -----------------------------------------------------------

from medipay_backend.cli_reports import clinic_report_email, report_app  # noqa: E402

backend_app.add_typer(report_app, name="report")
clinic_app.command("report-email")(clinic_report_email)


# --- credits on orders --------------------------------------------------------------------

credits_app = typer.Typer(
    help="Credits on orders: refunds to cards and Vipps that the providers would not take.",
    no_args_is_help=True,
)
backend_app.add_typer(credits_app, name="credits")


@credits_app.command("failed-refunds")
def credits_failed_refunds(config: ConfigOption = None) -> None:
    """Credits whose refund to the card or Vipps failed after every retry."""
    import sqlalchemy as sa

    from medipay_backend.localtime import kroner
    from medipay_backend.models_credits import OrderCredit

    rows = _with_database(config, lambda s, now, _: [
        (c.id, c.clinic_id, c.order_id, c.target, c.amount, c.refund_attempts, c.refund_error)
        for c in s.scalars(sa.select(OrderCredit).where(OrderCredit.refund_status == "failed")
                           .order_by(OrderCredit.seq))])
    # One line per credit, never wrapped or cut: the ids are copied into `retry-refund`.
    typer.echo(f"{len(rows)} failed refund(s)")
    for credit_id, clinic, order_id, method, amount, attempts, error in rows:
        typer.echo(f"{credit_id}  clinic={clinic} order={order_id} {method} "
                   f"{kroner(amount, ' ')} attempts={attempts} last error: {error or '-'}")


@credits_app.command("retry-refund")
def credits_retry_refund(credit_id: str, config: ConfigOption = None) -> None:
    """Queue a failed refund again; the running backend's scheduler sends it."""
    from medipay_backend.credit_refunds import RefundNotRetryable, retry_refund

    try:
        _with_database(config, lambda s, now, _: retry_refund(s, credit_id, now))
    except RefundNotRetryable as exc:
        _fail(str(exc))
    console.print(f"refund of credit {credit_id} queued again")


@credits_app.command("paid-by-hand")
def credits_paid_by_hand(
    credit_id: str,
    reference: Annotated[str, typer.Option(help="How the patient was paid, e.g. the bank "
                                           "transfer's id (1-80 characters).")],
    config: ConfigOption = None,
) -> None:
    """Record that a failed refund was paid to the patient outside MediPay: books it from
    refunds owed to the bank and marks the refund refunded. Once per credit."""
    from medipay_backend.credit_refunds import PaidByHandRefused, record_paid_by_hand
    from medipay_backend.localtime import kroner

    try:
        done = _with_database(
            config, lambda s, now, _: record_paid_by_hand(s, credit_id, reference, now))
    except PaidByHandRefused as exc:
        typer.echo(str(exc))  # not wrapped: the credit id stays whole
        raise typer.Exit(1) from exc
    if not done.created:
        typer.echo(f"refund of credit {done.credit_id} was already recorded as paid by hand "
                   f"(reference {done.reference}); nothing changed")
        return
    typer.echo(f"refund of credit {done.credit_id} recorded as paid by hand: "
               f"{kroner(done.amount, ' ')} from provider:refunds-owed to provider:bank "
               f"(transfer {done.transfer_id}, reference {done.reference})")
