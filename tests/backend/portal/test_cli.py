"""`medipay backend clinic-admin create | list | reset | disable`."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from medipay_backend.cli import backend_app
from medipay_backend.db import Database, make_engine
from medipay_backend.models_portal import ClinicAdmin
from medipay_backend.portal.passwords import verify_password

from ..test_cli_and_demo import _config

runner = CliRunner()
OTP = re.compile(r"one-time password: (\S+)")


def _stored(database_url: str) -> ClinicAdmin:
    engine = make_engine(database_url)
    try:
        return Database(engine).transaction(
            lambda s: s.scalars(sa.select(ClinicAdmin)).one())
    finally:
        engine.dispose()


def test_clinic_admin_commands(database_url: str, tmp_path: Path) -> None:
    config = ["--config", str(_config(tmp_path, database_url))]
    assert runner.invoke(backend_app, ["clinic", "create", "oslo", "--name", "Oslo legesenter",
                                       "--org-number", "974760673", *config]).exit_code == 0
    created = runner.invoke(backend_app, ["clinic-admin", "create", "oslo", "Kari@Oslo.no",
                                          "--name", "Kari", *config])
    assert created.exit_code == 0, created.output
    assert "kari@oslo.no" in created.output
    assert "log in at:         http://127.0.0.1:8400/klinikk/logg-inn" in created.output
    found = OTP.search(created.output)
    assert found is not None
    otp = found.group(1)
    row = _stored(database_url)
    assert row.otp_hash is not None and verify_password(otp, row.otp_hash)
    assert row.otp_hash.startswith("scrypt$32768$8$3$")  # the production cost

    for refused in (["create", "oslo", "kari@oslo.no"], ["create", "oslo", "ikke-en-adresse"],
                    ["reset", "ukjent@oslo.no"], ["list", "ingen"]):
        result = runner.invoke(backend_app, ["clinic-admin", *refused, *config])
        assert result.exit_code == 1, (refused, result.output)

    listed = runner.invoke(backend_app, ["clinic-admin", "list", "oslo", *config])
    assert "kari@oslo.no" in listed.output and "awaiting_first_login" in listed.output
    assert otp not in listed.output
    reset = runner.invoke(backend_app, ["clinic-admin", "reset", "kari@oslo.no", *config])
    assert reset.exit_code == 0, reset.output
    new = OTP.search(reset.output)
    assert new is not None and new.group(1) != otp
    disabled = runner.invoke(backend_app, ["clinic-admin", "disable", "kari@oslo.no", *config])
    assert disabled.exit_code == 0 and _stored(database_url).disabled_at is not None
