"""`medipay backend settle` settles due clinics and prints the payouts."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from medipay_backend.cli import backend_app

runner = CliRunner()


def test_settle_command(database_url: str, tmp_path: Path) -> None:
    config_path = tmp_path / "backend.toml"
    config_path.write_text(f'database_url = "{database_url}"\n'
                           f'admin_token = "cli-operator-token-1"\ndata_dir = "{tmp_path}"\n')
    config = ["--config", str(config_path)]
    created = runner.invoke(backend_app, ["clinic", "create", "oslo", "--name", "Oslo",
                                          "--org-number", "974760673", *config])
    assert created.exit_code == 0, created.output
    done = runner.invoke(backend_app, ["settle", "--date", "2026-01-05", "--clinic", "oslo",
                                       *config])
    assert done.exit_code == 0, done.output
    assert done.output.count("oslo") == 3 and "0,00 kr" in done.output
    assert list((tmp_path / "settlements" / "oslo").iterdir())
    bad = runner.invoke(backend_app, ["settle", "--date", "5. januar", *config])
    assert bad.exit_code == 1
