"""`medipay backend import-ocr | dunning-run | issue-invoices | outstanding | deliver |
suspense`."""

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


def test_suspense_commands(database_url: str, tmp_path: Path) -> None:
    import pytest

    if not database_url.startswith("sqlite"):
        # Each command migrates and connects anew (seconds on PostgreSQL); the rules behind
        # them run on both databases in test_suspense.py.
        pytest.skip("the CLI is a thin shell over invoicing.suspense")
    from datetime import UTC, datetime

    from medipay_backend.db import Database, make_engine, migrate
    from medipay_backend.domain.kid import make_kid
    from medipay_backend.localtime import oslo_date

    from .seed import make_claim
    from .test_payments_in import ocr_file

    engine = make_engine(database_url)
    migrate(engine)
    now = datetime.now(UTC)
    claim = Database(engine).transaction(lambda s: make_claim(s, now))
    engine.dispose()
    config = ["--config", str(_config(tmp_path, database_url))]
    giro = tmp_path / "giro.txt"
    giro.write_text(ocr_file(oslo_date(now), (make_kid(5551, "mod10"), 30_000),
                             (make_kid(5552, "mod10"), 1_000)))
    assert runner.invoke(backend_app, ["import-ocr", str(giro), *config]).exit_code == 0
    listed = runner.invoke(backend_app, ["suspense", "list", *config])
    assert listed.exit_code == 0 and "unknown_kid" in listed.output and "300,00" in listed.output
    applied = runner.invoke(backend_app, ["suspense", "apply", "1", str(claim.invoice_number),
                                          "--amount", "20000", *config])
    assert applied.exit_code == 0, applied.output
    assert "claim open" in applied.output and "10000 øre left as item 3" in applied.output
    twice = runner.invoke(backend_app, ["suspense", "apply", "1", str(claim.invoice_number),
                                        *config])
    assert twice.exit_code == 1 and "already applied" in twice.output
    bad = runner.invoke(backend_app, ["suspense", "refund", "2", "86011117948", *config])
    assert bad.exit_code == 1 and "not a valid" in bad.output
    refunded = runner.invoke(backend_app, ["suspense", "refund", "2", "86011117947", *config])
    assert refunded.exit_code == 0 and "1000 øre to 86011117947" in refunded.output
    assert "remainder" in runner.invoke(backend_app, ["suspense", "list", *config]).output
    nowhere = runner.invoke(backend_app, ["suspense", "resolve", "3", "--note", "i banken",
                                          *config])
    assert nowhere.exit_code == 1 and "say where the money went" in nowhere.output
    handled = runner.invoke(backend_app, ["suspense", "resolve", "3", "--note", "i banken",
                                          "--to", "bank", "--reference", "NB-1", *config])
    assert handled.exit_code == 0, handled.output
    assert "10000 øre booked out to provider:bank" in handled.output
    unbooked = runner.invoke(backend_app, ["suspense", "not-booked-out", *config])
    assert unbooked.exit_code == 0 and "i banken" not in unbooked.output
    listed = runner.invoke(backend_app, ["suspense", "list", *config])
    assert "remainder" not in listed.output
