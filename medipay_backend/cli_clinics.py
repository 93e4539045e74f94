"""`medipay backend clinic ...`: clinics, their accounts, agreements and EPJ credentials.
(`clinic report-email` lives in cli_reports.py; cli.py adds it to this app.)"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from medipay_backend.cli_common import ConfigOption, _fail, _valid, _with_database, console

clinic_app = typer.Typer(
    help="Clinics (brukersteder), their accounts, agreements and EPJ credentials.",
    no_args_is_help=True,
)


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
