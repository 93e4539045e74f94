"""`medipay backend clinic ...`, `medipay backend simulate`, and the demo clinic for
`medipay up`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import trio
from typer.testing import CliRunner

from medipay.clock import SimulatedClock
from medipay_backend.cli import backend_app
from medipay_backend.config import BackendConfig, HttpConfig, SchedulerConfig
from medipay_backend.demo import ensure_demo_admin, ensure_demo_clinic, order_curl
from medipay_backend.models_portal import ClinicAdmin
from medipay_backend.server import BackendHandle, serve_backend
from medipay_backend.simulate import simulate

from .conftest import START

runner = CliRunner()


def _config(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "backend.toml"
    path.write_text(f'database_url = "{database_url}"\nadmin_token = "cli-operator-token-1"\n'
                    f'data_dir = "{tmp_path}"\n')
    return path


def test_clinic_commands(database_url: str, tmp_path: Path) -> None:
    config = ["--config", str(_config(tmp_path, database_url))]
    created = runner.invoke(backend_app, ["clinic", "create", "oslo", "--name", "Oslo legesenter",
                                          "--org-number", "974760673", *config])
    assert created.exit_code == 0, created.output
    assert "created: clinic oslo" in created.output
    again = runner.invoke(backend_app, ["clinic", "create", "oslo", "--name", "Oslo legesenter",
                                        "--org-number", "974760673", *config])
    assert "unchanged" in again.output
    bad = runner.invoke(backend_app, ["clinic", "create", "x", "--name", "X",
                                      "--org-number", "123", *config])
    assert bad.exit_code == 1 and "organisation number" in bad.output
    account = runner.invoke(backend_app, ["clinic", "account", "oslo", "oslo-1", "--name",
                                          "Dr. Hansen", "--bank-account", "86011117947", *config])
    assert account.exit_code == 0, account.output
    terms = runner.invoke(backend_app, ["clinic", "agreement", "oslo", "--invoice-fee", "4900",
                                        "--settlement-frequency", "daily", *config])
    assert terms.exit_code == 0, terms.output
    credential = runner.invoke(backend_app, ["clinic", "credential", "oslo", "oslo-1", "--key",
                                             "epj-1", *config])
    assert credential.exit_code == 0, credential.output
    lines = dict(line.split(":", 1) for line in credential.output.strip().splitlines())
    repeat = runner.invoke(backend_app, ["clinic", "credential", "oslo", "oslo-1", "--key",
                                         "epj-1", *config])
    assert repeat.output == credential.output
    listing = runner.invoke(backend_app, ["clinic", "list", *config])
    assert "oslo-1" in listing.output and "4900" in listing.output and "daily" in listing.output
    revoked = runner.invoke(backend_app, ["clinic", "revoke", "oslo", lines["client_id"].strip(),
                                          *config])
    assert revoked.exit_code == 0, revoked.output
    missing = runner.invoke(backend_app, ["clinic", "account", "nowhere", "a-1", "--name", "A",
                                          "--bank-account", "86011117947", *config])
    assert missing.exit_code == 1


async def test_simulated_days_reach_the_outcomes_and_repeat_by_seed() -> None:
    report = await simulate(days=1, orders=40, seed=7)
    assert sum(report.statuses.values()) == 40
    assert report.statuses["paid"] > 0 and report.statuses["invoiced"] > 0
    assert report.methods["card"] > 0 and report.methods["vipps"] > 0
    assert report.sms["checkout submitted"] >= 35
    assert report.sms["reminder submitted"] > 0
    again = await simulate(days=1, orders=40, seed=7)
    assert again.statuses == report.statuses  # the same seed, the same month


def test_simulate_command_prints_a_report() -> None:
    result = runner.invoke(backend_app, ["simulate", "--days", "1", "--orders", "10"])
    assert result.exit_code == 0, result.output
    assert "Simulated 1 days, 10 orders" in result.output and "Order status" in result.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_demo_clinic_and_its_curl(database_url: str, tmp_path: Path) -> None:
    clock = SimulatedClock(START)
    config = BackendConfig(data_dir=tmp_path, database_url=database_url,
                           http=HttpConfig(port=0), admin_token="demo-operator-token",
                           scheduler=SchedulerConfig(poll_seconds=0.05))
    async with trio.open_nursery() as nursery:
        handle: BackendHandle = await nursery.start(serve_backend, config, clock)
        assert handle.database is not None
        demo = await ensure_demo_clinic(handle.database, clock, handle.admin_token)
        assert demo == await ensure_demo_clinic(handle.database, clock, handle.admin_token)
        command = order_curl(handle.base_url, demo)
        process = await trio.run_process(["bash", "-c", command], capture_stdout=True)
        answer = httpx.Response(200, content=process.stdout).json()
        assert answer["status"] == "accepted", answer
        async with httpx.AsyncClient(base_url=handle.base_url) as client:
            with trio.fail_after(10):
                while True:
                    outbox = await client.get("/v1/sms-outbox", headers={
                        "Authorization": f"Bearer {handle.admin_token}"})
                    if outbox.json()["items"]:
                        break
                    await trio.sleep(0.05)
            text = outbox.json()["items"][0]["text"]
            assert handle.base_url + "/c/" in text
        nursery.cancel_scope.cancel()


async def _portal_login(base_url: str, email: str, password: str) -> httpx.Response:
    """Log in to the portal over HTTP as a browser would (cookie and CSRF token kept)."""
    async with httpx.AsyncClient(base_url=base_url) as browser:
        page = await browser.get("/klinikk/logg-inn")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found, page.text
        return await browser.post("/klinikk/logg-inn", data={
            "email": email, "password": password, "csrf": found.group(1)})


async def test_demo_admin_logs_in_with_the_printed_one_time_password(
    database_url: str, tmp_path: Path
) -> None:
    clock = SimulatedClock(START)
    config = BackendConfig(data_dir=tmp_path, database_url=database_url,
                           http=HttpConfig(port=0), admin_token="demo-operator-token")
    async with trio.open_nursery() as nursery:
        handle: BackendHandle = await nursery.start(serve_backend, config, clock)
        assert handle.database is not None
        await ensure_demo_clinic(handle.database, clock, handle.admin_token)
        first = await ensure_demo_admin(handle.database, clock)
        # A restart before the first login: a new one-time password, the old one is void.
        second = await ensure_demo_admin(handle.database, clock)
        assert first.one_time_password and second.one_time_password
        assert first.one_time_password != second.one_time_password
        old = await _portal_login(handle.base_url, first.email, first.one_time_password)
        assert old.status_code != 303, old.text
        new = await _portal_login(handle.base_url, second.email, second.one_time_password)
        assert new.status_code == 303, new.text
        assert new.headers["location"] == "/klinikk/nytt-passord"

        # Once the tester chose a password, a restart keeps it and prints none.
        def chose_password(session: Any) -> None:
            admin = session.scalars(sa.select(ClinicAdmin)
                                    .where(ClinicAdmin.email == second.email)).one()
            admin.password_hash = "chosen"

        await handle.database.run(chose_password)
        assert (await ensure_demo_admin(handle.database, clock)).one_time_password is None
        nursery.cancel_scope.cancel()
