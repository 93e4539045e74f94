import pytest
from typer.testing import CliRunner

from medipay.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["up", "gateway", "sim", "backend"]),
        (["up"], ["--data-dir", "--gateway-port", "localhost"]),
        (["gateway"], ["run", "enrol", "devices", "import"]),
        (["gateway", "run"], ["--config"]),
        (["gateway", "enrol"], ["--admin-token"]),
        (["sim"], ["run"]),
        (["sim", "run"], ["--tcp"]),
        (["backend"], ["serve"]),
        (["backend", "serve"], ["--config"]),
    ],
)
def test_help_at_every_level(args, expected):
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    for word in expected:
        assert word in result.output


def test_gateway_devices_lists_without_crashing():
    result = runner.invoke(app, ["gateway", "devices"])
    assert result.exit_code == 0, result.output
    assert "Devices" in result.output
