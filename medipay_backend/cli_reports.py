"""`medipay backend report ...` and `medipay backend clinic report-email`: reports in the
terminal (rich tables, or JSON/CSV for scripts), and sending queued report e-mails now."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from medipay_backend.cli_common import ConfigOption, _fail, _valid, _with_database

report_app = typer.Typer(
    help="Reports: earnings (the EPJ guide's), settlements with filters, report e-mails.",
    no_args_is_help=True,
)
console = Console()

FormatOption = Annotated[str, typer.Option("--format", help="table, json or csv")]
FORMATS = ("table", "json", "csv")
PAYMENT_TYPE_NAMES = {"card": "kort", "vipps": "Vipps", "bought_invoice": "kjøpt faktura",
                      "fakturaservice": "Fakturaservice", "pos": "betalingsterminal"}


def _date(value: str, option: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"{option}: not a date (YYYY-MM-DD): {value!r}")
        raise  # unreachable: _fail exits


def _report(config: Path | None, work: Any) -> Any:
    """`work(session)` in one transaction; a bad filter is printed and exits 1."""
    from medipay_backend.reports.filters import ReportFilterError

    try:
        return _with_database(config, lambda session, now, _: work(session))
    except ReportFilterError as exc:
        _fail(str(exc))


def _check_format(output: str) -> None:
    if output not in FORMATS:
        _fail(f"--format: one of {', '.join(FORMATS)}")


@report_app.command("earnings")
def report_earnings(
    clinic_id: str,
    date_from: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    date_to: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD).")],
    price_per_card: Annotated[int | None, typer.Option(
        help="Øre per settled payment; default the agreement's.")] = None,
    percent_bp: Annotated[int | None, typer.Option(
        help="Basis points per payment (125 = 1.25 %); default the agreement's.")] = None,
    output: FormatOption = "table",
    config: ConfigOption = None,
) -> None:
    """The earnings report ("MediPay inntjening") of a clinic for a period."""
    from medipay_backend.api.reports import earnings_csv
    from medipay_backend.localtime import kroner
    from medipay_backend.reports.earnings import earnings_report

    _check_format(output)
    start, end = _date(date_from, "--from"), _date(date_to, "--to")
    assert start is not None and end is not None  # both options are required
    report = _report(config, lambda s: earnings_report(
        s, clinic_id, start, end, price_per_card=price_per_card, percent_bp=percent_bp))
    if output == "json":
        console.print_json(json.dumps(report.as_dict()))
        return
    if output == "csv":
        console.print(earnings_csv(report), end="", markup=False, highlight=False)
        return
    table = Table(title=f"MediPay inntjening: {report.clinic_name} ({report.clinic_id}), "
                        f"{start:%d.%m.%Y}-{end:%d.%m.%Y}", title_justify="left")
    table.add_column("")
    table.add_column("antall", justify="right")
    table.add_column("beløp", justify="right")

    def add(label: str, count: int | str, amount: int) -> None:
        table.add_row(label, str(count), kroner(amount, " "))

    add("Regningskort eksportert (pasientdel)", report.exported_count, report.exported_amount)
    add("Gjort opp (pasientdel)", report.settled_count, report.settled_amount)
    for line in report.settled_by_type:
        add(f"  {PAYMENT_TYPE_NAMES[line.payment_type]}", line.count, line.amount)
    add("Krediteringer", report.credits_count, -report.credits)
    add("Administrasjonsgebyr (fakturagebyr)", report.admin_fee_count, report.admin_fees)
    add(f"Pris per kort ({kroner(report.price_per_card, ' ')})", report.settled_count,
        report.cost_per_card)
    add(f"Pris prosent ({_percent(report.percent_bp)})", "", report.cost_percent)
    add(f"Kostnad MediPay ({_percent(report.provider_share_bp)} av oppgjort)", "",
        report.provider_cost)
    add("Gebyrer trukket i oppgjør", "", report.fees_deducted)
    add("Netto til klinikken", "", report.net_to_clinic)
    console.print(table)


def _percent(basis_points: int) -> str:
    """`1,25 %`: Norwegian decimals, from basis points."""
    whole, part = divmod(basis_points, 100)
    return f"{whole},{part:02d} %"


@report_app.command("settlements")
def report_settlements(
    clinic: Annotated[str | None, typer.Option(help="Only this clinic.")] = None,
    account: Annotated[str | None, typer.Option(help="Only this account (regnskap).")] = None,
    date_from: Annotated[str, typer.Option("--from", help="First settlement date.")] = "",
    date_to: Annotated[str, typer.Option("--to", help="Last settlement date.")] = "",
    stream: Annotated[str | None, typer.Option(
        help="checkout, fakturaservice or pos")] = None,
    payment_type: Annotated[str | None, typer.Option(
        help="card, vipps, bought_invoice, fakturaservice or pos")] = None,
    output: FormatOption = "table",
    config: ConfigOption = None,
) -> None:
    """Settled lines summed per clinic, account, stream and payment type, with totals."""
    from dataclasses import asdict

    from medipay_backend.api.reports import ROW_FIELDS
    from medipay_backend.localtime import kroner
    from medipay_backend.reports.csv_out import to_csv
    from medipay_backend.reports.settlements import SettlementFilters, settlement_report

    _check_format(output)
    filters = SettlementFilters(clinic_id=clinic, account_id=account,
                                date_from=_date(date_from, "--from"),
                                date_to=_date(date_to, "--to"), stream=stream,
                                payment_type=payment_type)
    report = _report(config, lambda s: settlement_report(s, filters))
    if output == "json":
        console.print_json(json.dumps(report.as_dict()))
        return
    if output == "csv":
        rows = [*(asdict(r) for r in report.rows),
                {"clinic_id": "total", **asdict(report.totals)}]
        console.print(to_csv(ROW_FIELDS, rows), end="", markup=False, highlight=False)
        return
    table = Table(title="Settlement report (kr)", title_justify="left")
    for column in ("clinic", "account", "stream", "payment type"):
        table.add_column(column)
    for column in ("count", "gross", "credits", "fees", "net"):
        table.add_column(column, justify="right", no_wrap=True)

    def amounts(*values: int) -> list[str]:
        return [kroner(v, " ").removesuffix(" kr") for v in values]

    for row in report.rows:
        table.add_row(row.clinic_id, row.account_id or "-", row.stream, row.payment_type,
                      str(row.count), *amounts(row.gross, -row.credits, -row.fees, row.net))
    totals = report.totals
    table.add_row(f"total ({totals.settlements} settlements)", "", "", "", str(totals.count),
                  *amounts(totals.gross, -totals.credits, -totals.fees, totals.net),
                  style="bold")
    console.print(table)


@report_app.command("mail")
def report_mail(config: ConfigOption = None) -> None:
    """Send the settlement report e-mails that are due now (the service's scheduler does
    this too; this is for installations that settle from cron without it)."""
    import trio

    from medipay.clock import SystemClock
    from medipay.logs import configure_logging
    from medipay_backend.config import load_backend_config
    from medipay_backend.db import Database, make_engine, migrate
    from medipay_backend.settlement.mailing import send_due_reports

    settings = load_backend_config(config)
    smtp = settings.smtp.settings()
    if smtp is None:
        _fail("no [smtp] host configured: report e-mails cannot be sent")
    clock = SystemClock()
    configure_logging(clock, "warning")
    engine = make_engine(settings.resolved_database_url())
    try:
        migrate(engine)
        ran = trio.run(send_due_reports, Database(engine), clock, smtp)
    finally:
        engine.dispose()
    console.print(f"report e-mail jobs run: {ran}")


def clinic_report_email(
    clinic_id: str,
    address: Annotated[str | None, typer.Argument(
        help="Where settlement reports are e-mailed; leave out with --clear.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="E-mail no reports.")] = False,
    config: ConfigOption = None,
) -> None:
    """Set where a clinic's settlement reports are e-mailed (or --clear it)."""
    from medipay_backend.clinics import NoSuchClinic, set_report_email
    from medipay_backend.schemas_clinics import ReportEmailIn

    if clear == (address is not None):
        _fail("give an address, or --clear")
    email = None if clear else _valid(ReportEmailIn, report_email=address).report_email
    try:
        _with_database(config, lambda s, now, _: set_report_email(s, clinic_id, email))
    except NoSuchClinic as exc:
        _fail(str(exc))
    console.print(f"reports of {clinic_id}: {email or 'not e-mailed (download only)'}",
                  markup=False)
