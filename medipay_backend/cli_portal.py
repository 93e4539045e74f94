"""`medipay backend clinic-admin ...`: the clinic administrators who log in to the clinic
portal (/klinikk) — creating them, one-time passwords, disabling, listing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from medipay_backend.cli_common import ConfigOption, _fail, _with_database, console

clinic_admin_app = typer.Typer(
    help="Clinic administrators: the people who log in to the clinic portal (/klinikk).",
    no_args_is_help=True,
)


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

