"""The commands: `settle` e-mails the reports at once when SMTP is configured; `report
earnings`, `report settlements` and `report mail`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from medipay.clock import SimulatedClock
from medipay_backend.cli import backend_app
from medipay_backend.clinics import set_report_email
from medipay_backend.db import Database
from medipay_backend.localtime import kroner

from .seed import DAY_1, ITEMS, seed_clinics, seed_items
from .smtp import SmtpServer, smtp_server

__all__ = ["smtp_server"]  # the fixture
cli = CliRunner()


def _config(tmp_path: Path, database_url: str, smtp: SmtpServer | None) -> list[str]:
    text = (f'database_url = "{database_url}"\nadmin_token = "cli-operator-token-1"\n'
            f'data_dir = "{tmp_path}"\n')
    if smtp is not None:
        text += (f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\n'
                 f'sender = "{smtp.settings.sender}"\n')
    path = tmp_path / ("smtp.toml" if smtp else "plain.toml")
    path.write_text(text)
    return ["--config", str(path)]


def _run(*args: str) -> Any:
    result = cli.invoke(backend_app, list(args), terminal_width=200)
    return result


def test_settle_mails_and_reports_print(
    database: Database, database_url: str, clock: SimulatedClock, tmp_path: Path,
    smtp_server: SmtpServer,
) -> None:
    def seed(session: Any) -> None:
        seed_clinics(session, clock.now())
        seed_items(session, clock.now())
        set_report_email(session, "alfa", "regnskap@alfa.example")

    database.transaction(seed)
    smtp_server.start()
    with_smtp = _config(tmp_path, database_url, smtp_server)
    plain = _config(tmp_path, database_url, None)

    done = _run("settle", "--date", DAY_1.isoformat(), "--clinic", "alfa", *with_smtp)
    assert done.exit_code == 0, done.output
    assert done.output.count("sent") == 3
    assert len(smtp_server.inbox.messages) == 3
    again = _run("report", "mail", *with_smtp)
    assert again.exit_code == 0 and "jobs run: 0" in again.output
    assert _run("report", "mail", *plain).exit_code == 1  # no [smtp]: cannot send

    settled = [i for i in ITEMS if i.clinic == "alfa" and i.day == DAY_1]
    fees = sum(i.fee for i in settled)
    table = _run("report", "earnings", "alfa", "--from", "2026-01-05", "--to", "2026-01-31",
                 *plain)
    assert table.exit_code == 0, table.output
    assert "MediPay inntjening" in table.output and kroner(fees, " ") in table.output
    as_json = _run("report", "earnings", "alfa", "--from", "2026-01-05", "--to",
                   "2026-01-31", "--format", "json", *plain)
    body = json.loads(as_json.output)
    assert body["provider_cost"] == fees
    assert body["settled_amount"] == sum(i.amount for i in settled)

    rows = _run("report", "settlements", "--clinic", "alfa", "--format", "csv", *plain)
    *lines, total = list(csv.DictReader(io.StringIO(rows.output)))
    assert int(total["net"]) == sum(i.net for i in settled)
    shown = _run("report", "settlements", "--payment-type", "pos", *plain)
    assert shown.exit_code == 0 and "Settlement report" in shown.output
    for args in (("report", "settlements", "--stream", "kontant"),
                 ("report", "settlements", "--from", "5. januar"),
                 ("report", "earnings", "gamma", "--from", "2026-01-01", "--to", "2026-01-31"),
                 ("report", "earnings", "alfa", "--from", "2026-01-05", "--to", "2026-01-31",
                  "--format", "xlsx")):
        refused = _run(*args, *plain)
        assert refused.exit_code == 1, (args, refused.output)
