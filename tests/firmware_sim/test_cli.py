"""`medipay sim ...`: the commands, their help, a scenario run, the control clients, and
`medipay sim run --pty` as a real process that a serial ECR pays through."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import structlog
import trio
from typer.testing import CliRunner

from firmware_sim.ecr import Ecr
from firmware_sim.runtime import SimOptions, run_simulator
from medipay.cli import app
from medipay.clock import SimulatedClock
from medipay.logs import configure_logging

runner = CliRunner()


@pytest.fixture(autouse=True)
def _forget_logging_setup():
    """Commands configure structlog to write to the stream CliRunner gave them, which is
    closed afterwards; later tests must not log there."""
    yield
    structlog.reset_defaults()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"


@pytest.mark.parametrize(("args", "expected"), [
    (["sim"], ["run", "scenario", "present-card", "press", "power-cut", "power-on", "fault",
               "display", "receipts", "key-in", "export", "totals", "status"]),
    (["sim", "run"], ["--tcp", "--pty", "--usb", "--scenario", "--seed", "--control",
                      "--manual", "--display-log", "--state-file"]),
    (["sim", "scenario"], ["--seed", "--transport", "--real-time"]),
    (["sim", "fault"], ["--at", "--count", "--ber", "--restart-after"]),
])
def test_help(args, expected):
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    for word in expected:
        assert word in result.output


def test_scenario_command_runs_a_file():
    result = runner.invoke(app, ["sim", "scenario", str(EXAMPLES / "customers.toml")])
    assert result.exit_code == 0, result.output
    assert "All expectations met." in result.output
    assert "FOR MANGE FEIL PIN" in result.output


def test_scenario_command_reports_failures_as_json(tmp_path):
    path = tmp_path / "wrong.toml"
    path.write_text('[[steps]]\ndo = "register"\n[[steps]]\ndo = "pay"\namount = 100\n'
                    'expect = { status = "declined" }\n', encoding="utf-8")
    result = runner.invoke(app, ["sim", "scenario", str(path), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False and "expected 'declined'" in report["failures"][0]


def test_bad_scenario_file_is_a_usage_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('transport = "smoke-signals"\n', encoding="utf-8")
    result = runner.invoke(app, ["sim", "scenario", str(path)])
    assert result.exit_code == 2 and "transport is one of" in result.output


def test_run_refuses_two_transports():
    result = runner.invoke(app, ["sim", "run", "--pty", "--usb"])
    assert result.exit_code == 2 and "choose one of" in result.output


def cli(*args: str) -> str:
    result = runner.invoke(app, ["sim", *args])
    assert result.exit_code == 0, result.output
    return result.output


async def test_control_commands(nursery):
    # The simulator runs in this process: its log must not end up in the commands' output.
    configure_logging(SimulatedClock(), "warning", stream=io.StringIO())
    running = await nursery.start(run_simulator, SimOptions(port=0, control=("127.0.0.1", 0)),
                                  SimulatedClock())
    url = running.control_url

    def run(*args: str) -> str:
        return cli(*args, "--control", url)

    async def in_thread(*args: str) -> str:
        return await trio.to_thread.run_sync(lambda: run(*args))

    sold = json.loads(await in_thread("key-in", "5000"))
    assert sold["status"] == "approved" and sold["source"] == "standalone"
    assert "BELØP NOK 50,00" in await in_thread("receipts", "--last", "1")
    assert "VELKOMMEN" in await in_thread("display", "--log", "5")
    assert "mastercard" in await in_thread("present-card", "mastercard", "--pin", "1234")
    armed = json.loads(await in_thread("fault", "busy", "--times", "1", "--seconds", "0.1"))
    assert armed["kind"] == "busy"
    port = int(running.where.rsplit(":", 1)[1])
    ecr = Ecr(await trio.open_tcp_stream("127.0.0.1", port))
    await ecr.register(config_byte=0x8E)  # the ECR lets the terminal take amounts (no 0x10)
    assert (await ecr.pay(2500)).status_info.card_type == 6
    assert json.loads(await in_thread("totals"))["count"] == 2
    assert '"fired"' in await in_thread("faults")
    exported = await in_thread("export", "--format", "csv", "--source", "all")
    assert exported.count("\n") == 3 and "standalone" in exported and ",ecr," in exported
    assert json.loads(await in_thread("power-cut"))["powered"] is False
    assert json.loads(await in_thread("status"))["powered"] is False
    assert json.loads(await in_thread("power-on"))["powered"] is True
    assert json.loads(await in_thread("fault", "delay", "--clear")) == {"armed": []}


def test_unreachable_simulator_is_a_clear_error():
    result = runner.invoke(app, ["sim", "status", "--control", "http://127.0.0.1:9"])
    assert result.exit_code == 2 and "cannot reach the simulator" in result.output


def test_sim_run_pty_as_a_process(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "medipay", "sim", "run", "--pty", "--baud", "115200",
         "--control", "off", "--state-file", str(tmp_path / "state.json"),
         "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        banner = ""
        while time.monotonic() < deadline and "serial" not in banner:
            banner += process.stdout.readline()
        path = re.search(r"serial (\S+) \(115200 baud", banner)
        assert path, banner
        result = trio.run(_pay_over_serial, path.group(1))
        assert result == "approved"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Traceback" not in output
    state = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert state["receipt_number"] == 1 and state["batch"][0]["amount"] == 9900


async def _pay_over_serial(path: str) -> str:
    from gateway.devices import open_serial
    from gateway.protocols import zvt

    ecr = Ecr(await open_serial(path, 115200), zvt.Framing.SERIAL, t3=zvt.T3 + 1)
    with trio.fail_after(20):
        await ecr.register()
        result = await ecr.pay(9900)
    await ecr.close()
    return result.status
