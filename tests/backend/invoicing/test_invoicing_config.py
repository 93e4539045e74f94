"""The `[invoicing]` section: where the daily job delivers (defaults under data_dir), from the
file or the environment, and the running service's wiring of it and of `[smtp]`."""

from __future__ import annotations

from pathlib import Path

import pytest

from medipay.clock import SimulatedClock
from medipay.config import ConfigError
from medipay_backend.config import load_backend_config
from medipay_backend.db import Database
from medipay_backend.invoicing.settings import InvoicingSettings
from medipay_backend.mail import SmtpSettings
from medipay_backend.server import runtime_from_config


def test_defaults_are_under_the_data_dir(tmp_path: Path) -> None:
    config = load_backend_config(None, environ={"MEDIPAY_BACKEND__DATA_DIR": str(tmp_path)})
    base = tmp_path / "invoicing"
    assert config.invoicing.settings(config.data_dir) == InvoicingSettings(
        print_dir=base / "print", ehf_outbox=base / "ehf", efaktura_outbox=base / "efaktura",
        efaktura_accepted_file=None)


def test_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "backend.toml"
    path.write_text('[invoicing]\nprint_dir = "/srv/print"\n'
                    'efaktura_accepted_file = "~/efaktura.txt"\n')
    config = load_backend_config(path, environ={
        "MEDIPAY_BACKEND__INVOICING__EHF_OUTBOX": "/srv/ehf"})
    settings = config.invoicing.settings(config.data_dir)
    assert settings.print_dir == Path("/srv/print")
    assert settings.ehf_outbox == Path("/srv/ehf")
    assert settings.efaktura_accepted_file == Path("~/efaktura.txt").expanduser()
    assert settings.efaktura_outbox == config.data_dir / "invoicing" / "efaktura"


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "backend.toml"
    path.write_text('[invoicing]\nprint_directory = "/srv/print"\n')
    with pytest.raises(ConfigError, match="print_directory"):
        load_backend_config(path, environ={})


def test_the_service_runtime_gets_invoicing_and_smtp(
    tmp_path: Path, database: Database, clock: SimulatedClock
) -> None:
    config = load_backend_config(None, environ={
        "MEDIPAY_BACKEND__DATA_DIR": str(tmp_path), "MEDIPAY_BACKEND__SMTP__HOST": "mail.test",
        "MEDIPAY_BACKEND__SMTP__PORT": "2525"})
    runtime = runtime_from_config(config, clock, database)
    assert runtime.invoicing is not None
    assert runtime.invoicing.print_dir == tmp_path / "invoicing" / "print"
    assert runtime.smtp == SmtpSettings("mail.test", 2525, "medipay@localhost", 30.0)
