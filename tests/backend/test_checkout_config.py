"""The checkout, SMS and scheduler keys of the backend configuration."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from medipay.clock import SimulatedClock
from medipay.config import ConfigError
from medipay_backend.config import load_backend_config
from medipay_backend.sms.sender import RecordingSender, SmppSender, parse_smpp_url

from .conftest import START


def test_defaults_need_no_configuration() -> None:
    config = load_backend_config(None, environ={})
    assert config.checkout.deadline_hours == 48 and config.checkout.reminder_hours == 8
    assert config.sms.url == "record:" and config.scheduler.enabled


def test_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "backend.toml"
    path.write_text('[checkout]\ndeadline_hours = 24\npublic_url = "https://pay.example.no"\n'
                    '[sms]\nurl = "smpp://medipay:pw@smsc.example:2775?source=Klinikk"\n')
    config = load_backend_config(path, environ={
        "MEDIPAY_BACKEND__CHECKOUT__REMINDER_HOURS": "4",
        "MEDIPAY_BACKEND__SCHEDULER__ENABLED": "false"})
    assert (config.checkout.deadline_hours, config.checkout.reminder_hours) == (24, 4)
    assert not config.scheduler.enabled
    url = parse_smpp_url(config.sms.url)
    assert (url.host, url.port, url.system_id, url.password, url.source) == (
        "smsc.example", 2775, "medipay", "pw", "Klinikk")


@pytest.mark.parametrize("text", [
    "[checkout]\ndeadline_hours = 0\n",
    "[checkout]\nreminder_hours = 50\n",
    '[checkout]\npublic_url = "pay.example.no"\n',
    '[sms]\nurl = "http://smsc"\n',
    "[scheduler]\npoll_seconds = 0\n",
    "[checkout]\nsurprise = 1\n",
])
def test_bad_values_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "backend.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_backend_config(path, environ={})


def test_runtime_follows_the_configuration(tmp_path: Path) -> None:
    from medipay_backend.config import BackendConfig, CheckoutConfig, SmsConfig
    from medipay_backend.db import Database, make_engine
    from medipay_backend.server import runtime_from_config

    clock = SimulatedClock(START)
    engine = make_engine(f"sqlite:///{tmp_path}/x.sqlite3")
    database = Database(engine)
    recorded = runtime_from_config(BackendConfig(), clock, database)
    assert isinstance(recorded.sms, RecordingSender)
    config = BackendConfig(checkout=CheckoutConfig(public_url="https://pay.example.no/",
                                                   deadline_hours=12, reminder_hours=2),
                           sms=SmsConfig(url="smpp://a:b@127.0.0.1:2775"))
    runtime = runtime_from_config(config, clock, database)
    assert isinstance(runtime.sms, SmppSender)
    assert runtime.base_url == "https://pay.example.no"
    assert runtime.timing.deadline == timedelta(hours=12)
    assert runtime.timing.reminder_before == timedelta(hours=2)
    engine.dispose()
