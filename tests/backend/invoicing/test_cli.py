"""`medipay backend import-ocr | dunning-run | issue-invoices | outstanding`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from medipay_backend.cli import backend_app

from ..test_cli_and_demo import _config
from .test_payments_in import SAMPLE

runner = CliRunner()


def test_invoicing_commands(database_url: str, tmp_path: Path) -> None:
    config = ["--config", str(_config(tmp_path, database_url))]
    imported = runner.invoke(backend_app, ["import-ocr", str(SAMPLE), *config])
    assert imported.exit_code == 0, imported.output
    assert "payments (0 already imported), 0 matched" in imported.output
    again = runner.invoke(backend_app, ["import-ocr", str(SAMPLE), *config])
    assert "0 payments" in again.output and "already imported" in again.output
    broken = tmp_path / "broken.txt"
    broken.write_text("NY000010\n")
    refused = runner.invoke(backend_app, ["import-ocr", str(broken), *config])
    assert refused.exit_code == 1
    for command in (["issue-invoices"], ["dunning-run"], ["outstanding", "clinic-x"]):
        result = runner.invoke(backend_app, [*command, *config])
        assert result.exit_code == 0, result.output


def test_deliver_command(database_url: str, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from medipay_backend.db import Database, make_engine, migrate

    from .seed import make_claim

    engine = make_engine(database_url)
    migrate(engine)
    now = datetime.now(UTC)
    claim = Database(engine).transaction(lambda s: make_claim(s, now))
    engine.dispose()
    config = ["--config", str(_config(tmp_path, database_url))]
    out = tmp_path / "out"
    result = runner.invoke(backend_app, ["deliver", "--out", str(out), "--letters-day",
                                         "2026-01-05", *config])
    assert result.exit_code == 0, result.output
    assert "{'paper': 1}" in result.output
    assert list((out / "print").glob(f"*/{claim.invoice_number}-faktura.pdf"))
    again = runner.invoke(backend_app, ["deliver", "--out", str(out), *config])
    assert "invoices delivered: {}" in again.output
