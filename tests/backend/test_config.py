"""Backend configuration: defaults, TOML, environment overrides, the operator token file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from medipay.config import ConfigError
from medipay_backend.config import (
    ADMIN_TOKEN_FILE_NAME,
    BackendConfig,
    HttpConfig,
    load_backend_config,
    resolve_admin_token,
)


def test_defaults_work_without_a_file() -> None:
    config = load_backend_config(None, environ={})
    assert config == BackendConfig()
    assert config.data_dir == Path("~/.local/share/medipay/backend").expanduser()
    assert config.http == HttpConfig(host="127.0.0.1", port=8400)
    assert config.resolved_database_url() == (
        f"sqlite+pysqlite:///{config.data_dir / 'backend.sqlite3'}"
    )


def test_file_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "backend.toml"
    path.write_text(
        'data_dir = "~/medipay-data"\n'
        'database_url = "postgresql+psycopg://medipay@db:5432/medipay"\n'
        'log_level = "debug"\n'
        "[http]\n"
        'host = "0.0.0.0"\n'
        "port = 9000\n"
    )
    environ = {"MEDIPAY_BACKEND__HTTP__PORT": "9100", "MEDIPAY_BACKEND__ADMIN_TOKEN": "x" * 24}
    config = load_backend_config(path, environ=environ)
    assert config.data_dir == Path("~/medipay-data").expanduser()
    assert config.database_url == "postgresql+psycopg://medipay@db:5432/medipay"
    assert config.resolved_database_url() == config.database_url
    assert config.http == HttpConfig(host="0.0.0.0", port=9100)
    assert config.admin_token == "x" * 24
    assert config.log_level == "debug"


@pytest.mark.parametrize(
    "environ",
    [
        {"MEDIPAY_BACKEND__HTTP__PORT": "70000"},
        {"MEDIPAY_BACKEND__HTTP__PORT": "http"},
        {"MEDIPAY_BACKEND__LOG_LEVEL": "chatty"},
        {"MEDIPAY_BACKEND__ADMIN_TOKEN": "short"},
        {"MEDIPAY_BACKEND__DATABASE": "typo"},
    ],
)
def test_bad_values_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_backend_config(None, environ=environ)


def test_generated_token_is_private_and_kept(tmp_path: Path) -> None:
    config = BackendConfig(data_dir=tmp_path / "new" / "dir")
    token = resolve_admin_token(config)
    path = config.data_dir / ADMIN_TOKEN_FILE_NAME
    assert len(token) >= 32
    assert path.read_text() == token + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_admin_token(config) == token
    assert sorted(os.listdir(config.data_dir)) == [ADMIN_TOKEN_FILE_NAME]


def test_configured_token_wins_and_writes_nothing(tmp_path: Path) -> None:
    config = BackendConfig(data_dir=tmp_path, admin_token="operator-chosen-token")
    assert resolve_admin_token(config) == "operator-chosen-token"
    assert not (tmp_path / ADMIN_TOKEN_FILE_NAME).exists()


def test_operator_written_token_file_is_used(tmp_path: Path) -> None:
    (tmp_path / ADMIN_TOKEN_FILE_NAME).write_text("  my-own-long-operator-token \n")
    assert resolve_admin_token(BackendConfig(data_dir=tmp_path)) == "my-own-long-operator-token"


def test_empty_token_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / ADMIN_TOKEN_FILE_NAME).write_text("\n")
    with pytest.raises(ConfigError, match="too short"):
        resolve_admin_token(BackendConfig(data_dir=tmp_path))
