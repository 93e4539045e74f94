from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.config import GatewayConfig, load_gateway_config
from medipay.clock import SimulatedClock, SystemClock
from medipay.config import ConfigError


def test_defaults_work_without_a_file():
    config = load_gateway_config(None, environ={})
    assert config == GatewayConfig()
    assert config.api.host == "127.0.0.1" and config.api.port == 8401
    assert config.terminals[0].port == 20007


def test_toml_then_env_override(tmp_path: Path):
    path = tmp_path / "gateway.toml"
    path.write_text(
        'gateway_id = "gw-7"\n[api]\nport = 9000\n'
        '[[terminals]]\nid = "A"\nport = 1\n[[terminals]]\nid = "B"\nhost = "10.0.0.9"\n'
    )
    config = load_gateway_config(
        path, environ={"MEDIPAY_GATEWAY__API__PORT": "9100", "MEDIPAY_GATEWAY__LOG_LEVEL": "debug"}
    )
    assert config.gateway_id == "gw-7"
    assert config.api.port == 9100
    assert config.log_level == "debug"
    assert [t.id for t in config.terminals] == ["A", "B"]
    assert config.terminals[1].host == "10.0.0.9" and config.terminals[1].port == 20007


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("prot = 1\n", {}, "unknown key(s) prot"),
        ("[api]\nport = 'x'\n", {}, "MEDIPAY_GATEWAY.api.port: expected a number"),
        ("", {"MEDIPAY_GATEWAY__API__PORT": "eighty"}, "expected a number"),
        ("gateway_id = [\n", {}, "not valid TOML"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, toml, env, message):
    path = tmp_path / "gateway.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_gateway_config(path, environ=env)


def test_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        load_gateway_config(tmp_path / "nope.toml", environ={})


def test_simulated_clock_moves_only_when_told():
    clock = SimulatedClock(datetime(2026, 3, 1, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2026, 3, 1, tzinfo=UTC)
    clock.advance(timedelta(hours=48))
    assert clock.now() == datetime(2026, 3, 3, tzinfo=UTC)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        SimulatedClock(datetime(2026, 1, 1))


def test_system_clock_is_aware_utc():
    assert SystemClock().now().tzinfo is UTC


def test_terminal_transports_are_checked(tmp_path: Path):
    path = tmp_path / "gateway.toml"
    path.write_text('[[terminals]]\nid = "U"\ntransport = "usb"\nvendor_id = 0x1209\n'
                    'product_id = 7\n[[terminals]]\nid = "S"\ntransport = "serial"\n'
                    'device = "/dev/ttyS3"\nbaudrate = 115200\n')
    usb, serial = load_gateway_config(path, environ={}).terminals
    assert (usb.vendor_id, usb.product_id, usb.effective_framing) == (0x1209, 7, "serial")
    assert (serial.device, serial.baudrate, serial.effective_framing) == ("/dev/ttyS3", 115200,
                                                                        "serial")
    path.write_text('[[terminals]]\nid = "X"\ntransport = "bluetooth"\n')
    with pytest.raises(ConfigError, match="transport must be one of"):
        load_gateway_config(path, environ={})
    path.write_text('[[terminals]]\nid = "U"\ntransport = "usb"\n')
    with pytest.raises(ConfigError, match="needs vendor_id and product_id"):
        load_gateway_config(path, environ={})


def test_hex_ids_from_the_environment(tmp_path: Path):
    from gateway.config import TerminalConfig
    from medipay.config import load_config

    config = load_config(TerminalConfig, None, env_prefix="T",
                         environ={"T__TRANSPORT": "usb", "T__VENDOR_ID": "0x1209",
                                  "T__PRODUCT_ID": "0x0007"})
    assert (config.vendor_id, config.product_id) == (0x1209, 7)
