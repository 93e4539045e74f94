"""The scheduled daily settlement (`settlement/jobs.py`) on a simulated clock: a durable job
per Oslo date at `[settlement] run_at`, catch-up of missed days, one clinic's failure not
stopping the others, and its wiring and configuration."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import trio
from structlog.testing import capture_logs
from typer.testing import CliRunner

from medipay.clock import SimulatedClock
from medipay.config import ConfigError
from medipay_backend.cli import backend_app
from medipay_backend.config import (
    BackendConfig,
    HttpConfig,
    SchedulerConfig,
    SettlementConfig,
    load_backend_config,
)
from medipay_backend.db import Database
from medipay_backend.handlers import make_handlers
from medipay_backend.models_clinics import ClinicAgreement
from medipay_backend.models_jobs import Job
from medipay_backend.models_ledger import Settlement
from medipay_backend.runtime import Runtime
from medipay_backend.scheduler import Scheduler
from medipay_backend.server import BackendHandle, serve_backend, settlement_settings
from medipay_backend.settlement import jobs as settlement_jobs
from medipay_backend.settlement.jobs import SettlementSettings

from ..conftest import START, EnrolGateway, MakeEpj
from .helpers import check_ledger, map_gateway, send_pos

# START is Monday 5 January 2026, 09:00 in Oslo (08:00 UTC).
MONDAY = date(2026, 1, 5)
DAILY = {"price_per_transaction": 150, "price_percent_bp": 125, "settlement_frequency": "daily"}
STREAMS = 3  # checkout, fakturaservice, pos


def agreement(frequency: str) -> dict[str, Any]:
    return {**DAILY, "settlement_frequency": frequency}


def oslo(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), settlement_jobs.OSLO)


class Service:
    """One backend process's view: its runtime and scheduler (a new one is a restart)."""

    def __init__(self, database: Database, clock: SimulatedClock, settings: SettlementSettings
                 ) -> None:
        self.database, self.clock, self.settings = database, clock, settings
        self.runtime = Runtime.simulated(clock)
        self.runtime.settlement = settings
        self.scheduler = Scheduler(database, clock, make_handlers(database, clock, self.runtime))

    async def start(self) -> date:
        return await settlement_jobs.start(self.database, self.clock, self.settings)


def settlements(database: Database) -> list[tuple[str, str, date, int]]:
    """(clinic, stream, date, count) in the order they were made."""
    return [(r.clinic_id, r.stream, r.settlement_date, r.count) for r in database.transaction(
        lambda s: list(s.scalars(sa.select(Settlement).order_by(Settlement.seq))))]


def dates_of(database: Database, clinic_id: str) -> list[date]:
    return sorted({d for c, _, d, _ in settlements(database) if c == clinic_id})


def day_jobs(database: Database) -> dict[str, tuple[str, int, datetime, str | None]]:
    """key: (state, attempts, due_at, last_error) of every settlement day job."""
    rows = database.transaction(lambda s: [
        (j.key, j.state, j.attempts, j.due_at, j.last_error) for j in s.scalars(
            sa.select(Job).where(Job.kind == settlement_jobs.JOB_KIND))])
    return {key: (state, attempts, due, error) for key, state, attempts, due, error in rows}


@pytest.fixture
def settings(tmp_path: Path) -> SettlementSettings:
    return SettlementSettings(run_at=time(6, 0), files_root=tmp_path / "settlements")


async def test_the_day_runs_at_run_at_not_before_and_once(
    database: Database, clock: SimulatedClock, make_epj: MakeEpj,
    enrol_gateway: EnrolGateway, client: httpx.AsyncClient, tmp_path: Path,
) -> None:
    settings = SettlementSettings(run_at=time(10, 30), files_root=tmp_path / "files")
    epj = await make_epj("daglig", agreement=DAILY)
    gateway = await enrol_gateway("gw-1")
    await map_gateway(database, "gw-1", epj.clinic_id)
    await send_pos(client, gateway, range(1, 3))  # Monday 09:15 Oslo: settled on Tuesday
    service = Service(database, clock, settings)
    assert await service.start() == MONDAY

    await service.scheduler.run_due()
    clock.set(oslo(MONDAY, 10, 29, 59))
    await service.scheduler.run_due()
    assert settlements(database) == []
    clock.set(oslo(MONDAY, 10, 30))
    await service.scheduler.run_due()
    assert settlements(database) == [("daglig", s, MONDAY, 0)
                                     for s in ("checkout", "fakturaservice", "pos")]
    assert await service.scheduler.run_due() == 0  # a second tick the same day: nothing
    tuesday = MONDAY + timedelta(days=1)
    assert day_jobs(database) == {
        "settlement:2026-01-05": ("done", 1, oslo(MONDAY, 10, 30), None),
        "settlement:2026-01-06": ("pending", 0, oslo(tuesday, 10, 30), None),
    }

    restarted = Service(database, clock, settings)  # a restart the same day changes nothing
    assert await restarted.start() == tuesday
    assert await restarted.scheduler.run_due() == 0
    clock.set(oslo(tuesday, 10, 30))
    await restarted.scheduler.run_due()
    made = settlements(database)
    assert len(made) == 2 * STREAMS
    assert ("daglig", "pos", tuesday, 2) in made
    for row in database.transaction(lambda s: list(s.scalars(sa.select(Settlement)))):
        assert Path(row.files["json"]["path"]).is_relative_to(settings.files_root / "daglig")
    await check_ledger(database)


async def test_missed_days_are_caught_up_oldest_first_once_with_two_processes(
    database: Database, clock: SimulatedClock, make_epj: MakeEpj,
    enrol_gateway: EnrolGateway, client: httpx.AsyncClient, settings: SettlementSettings,
) -> None:
    epj = await make_epj("daglig", agreement=DAILY)
    gateway = await enrol_gateway("gw-1")
    await map_gateway(database, "gw-1", epj.clinic_id)
    await send_pos(client, gateway, range(1, 4))
    first = Service(database, clock, settings)
    await first.start()
    await first.scheduler.run_due()  # 09:00, after run_at: Monday is settled at once
    assert dates_of(database, "daglig") == [MONDAY]

    clock.advance(timedelta(days=4))  # down until Friday 09:00
    one, two = Service(database, clock, settings), Service(database, clock, settings)
    async with trio.open_nursery() as nursery:  # two processes start at once
        nursery.start_soon(one.start)
        nursery.start_soon(two.start)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(one.scheduler.run_due)
        nursery.start_soon(two.scheduler.run_due)

    days = [MONDAY + timedelta(days=n) for n in range(5)]
    made = settlements(database)
    assert [d for _, _, d, _ in made] == [d for d in days for _ in range(STREAMS)]  # in order
    assert ("daglig", "pos", days[1], 3) in made  # Monday's payments, in Tuesday's
    jobs_now = day_jobs(database)
    assert {k: (state, attempts) for k, (state, attempts, _, _) in jobs_now.items()} == {
        **{f"settlement:{d}": ("done", 1) for d in days},  # each day run by one worker once
        "settlement:2026-01-10": ("pending", 0),
    }
    assert jobs_now["settlement:2026-01-10"][2] == oslo(date(2026, 1, 10), 6)
    await check_ledger(database)


async def test_weekly_and_monthly_clinics_settle_only_on_their_days(
    database: Database, clock: SimulatedClock, make_epj: MakeEpj, settings: SettlementSettings,
) -> None:
    for frequency in ("daily", "weekly", "monthly"):
        await make_epj(frequency, agreement=agreement(frequency))
    friday = date(2026, 1, 30)
    clock.set(oslo(friday, 5))
    service = Service(database, clock, settings)
    assert await service.start() == friday
    for _ in range(4):  # Friday 30 January to Monday 2 February, 07:00 each day
        clock.advance(timedelta(hours=2))
        await service.scheduler.run_due()
        clock.advance(timedelta(hours=22))
    days = [friday + timedelta(days=n) for n in range(4)]
    assert dates_of(database, "daily") == days
    assert dates_of(database, "monthly") == [date(2026, 2, 1)]  # Sunday the 1st
    assert dates_of(database, "weekly") == [date(2026, 2, 2)]  # Monday
    states = {k: v[0] for k, v in day_jobs(database).items()}
    assert states == {**{f"settlement:{d}": "done" for d in days},
                      "settlement:2026-02-03": "pending"}


async def test_a_failing_clinic_does_not_stop_the_others_and_is_retried(
    database: Database, clock: SimulatedClock, make_epj: MakeEpj,
    enrol_gateway: EnrolGateway, client: httpx.AsyncClient, admin_headers: dict[str, str],
    settings: SettlementSettings,
) -> None:
    for clinic_id in ("alfa", "beta"):
        await make_epj(clinic_id, agreement=DAILY)
    created = await client.post("/v1/clinics", headers=admin_headers, json={
        "clinic_id": "gamma", "name": "Klinikk gamma", "org_number": "974760673",
        "agreement": DAILY})  # no account, so no bank account: POS payments cannot be paid
    assert created.status_code in (200, 201), created.text
    for n, clinic_id in enumerate(("alfa", "beta", "gamma")):
        gateway = await enrol_gateway(f"gw-{clinic_id}")
        await map_gateway(database, gateway.gateway_id, clinic_id)
        await send_pos(client, gateway, range(10 * n + 1, 10 * n + 3))

    def set_price(price: int) -> None:
        database.transaction(lambda s: s.execute(sa.update(ClinicAgreement).where(
            ClinicAgreement.clinic_id == "beta").values(price_per_transaction=price)))

    set_price(2**63 - 1)  # a nonsense price: the fee on these payments overflows
    service = Service(database, clock, settings)
    await service.start()
    await service.scheduler.run_due()  # Monday: nothing before its cutoff, all settle
    assert len(settlements(database)) == 3 * STREAMS

    tuesday = MONDAY + timedelta(days=1)
    clock.set(oslo(tuesday, 7))
    with capture_logs() as logs:
        await service.scheduler.run_due()
    failed = {(e["clinic_id"], e["stream"], e["error"].split(":")[0]) for e in logs
              if e["event"] == "scheduled settlement failed" and e["log_level"] == "error"}
    assert failed == {("beta", "pos", "SettlementRunError"),
                      ("gamma", "pos", "MissingBankAccountError")}
    on_tuesday = {(c, s) for c, s, d, _ in settlements(database) if d == tuesday}
    assert on_tuesday == {(c, s) for c in ("alfa", "beta", "gamma")
                          for s in ("checkout", "fakturaservice", "pos")} - {
        ("beta", "pos"), ("gamma", "pos")}
    state, attempts, _, error = day_jobs(database)["settlement:2026-01-06"]
    assert (state, attempts) == ("pending", 1)
    assert error is not None and "beta/pos: SettlementRunError" in error
    assert "gamma/pos: MissingBankAccountError" in error and "2 clinic stream(s) failed" in error
    assert day_jobs(database)["settlement:2026-01-07"][0] == "pending"  # the next day goes on

    set_price(150)
    clock.advance(timedelta(seconds=30))  # the first retry
    await service.scheduler.run_due()
    assert ("beta", "pos", tuesday, 2) in settlements(database)
    assert day_jobs(database)["settlement:2026-01-06"][:2] == ("pending", 2)

    account = await client.post("/v1/clinics/gamma/accounts", headers=admin_headers, json={
        "account_id": "gamma-1", "name": "Dr. Berg", "bank_account": "86011117947"})
    assert account.status_code in (200, 201), account.text
    clock.advance(timedelta(minutes=1))  # the second retry
    await service.scheduler.run_due()
    assert ("gamma", "pos", tuesday, 2) in settlements(database)
    assert day_jobs(database)["settlement:2026-01-06"][:2] == ("done", 3)
    assert day_jobs(database)["settlement:2026-01-06"][3] is None
    await check_ledger(database)


async def test_a_failed_day_superseded_by_the_next_is_left_alone(
    database: Database, clock: SimulatedClock, make_epj: MakeEpj,
    enrol_gateway: EnrolGateway, client: httpx.AsyncClient, settings: SettlementSettings,
) -> None:
    """A day still failing when the next day's run settles the clinic: the next settlement
    takes the payments, and the retried day makes no settlement after it."""
    await make_epj("beta", agreement=DAILY)
    gateway = await enrol_gateway("gw-beta")
    await map_gateway(database, "gw-beta", "beta")
    await send_pos(client, gateway, range(1, 3))
    database.transaction(lambda s: s.execute(
        sa.update(ClinicAgreement).values(price_per_transaction=2**63 - 1)))
    service = Service(database, clock, settings)
    await service.start()
    tuesday, wednesday = MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)
    clock.set(oslo(tuesday, 7))
    await service.scheduler.run_due()
    assert ("beta", "pos") not in {(c, s) for c, s, d, _ in settlements(database) if d == tuesday}
    database.transaction(lambda s: s.execute(
        sa.update(ClinicAgreement).values(price_per_transaction=150)))
    database.transaction(lambda s: s.execute(  # a retry backed off past Wednesday's run
        sa.update(Job).where(Job.key == "settlement:2026-01-06")
        .values(due_at=oslo(wednesday, 8))))
    clock.set(oslo(wednesday, 7))
    await service.scheduler.run_due()
    clock.set(oslo(wednesday, 8))
    await service.scheduler.run_due()
    pos = [(d, count) for c, s, d, count in settlements(database) if s == "pos"]
    assert pos == [(MONDAY, 0), (wednesday, 2)]
    assert day_jobs(database)["settlement:2026-01-06"][:2] == ("done", 2)
    await check_ledger(database)


async def test_disabled_leaves_the_day_waiting_and_enabling_catches_up(
    database: Database, clock: SimulatedClock, make_epj: MakeEpj, settings: SettlementSettings,
) -> None:
    await make_epj("daglig", agreement=DAILY)
    service = Service(database, clock, settings)
    await service.start()
    service.runtime.settlement = None  # `enabled = false` with a day job left pending
    await service.scheduler.run_due()
    clock.advance(timedelta(days=2))
    await service.scheduler.run_due()
    assert settlements(database) == []
    assert day_jobs(database)["settlement:2026-01-05"][:2] == ("pending", 0)

    service.runtime.settlement = settings
    await service.start()
    await service.scheduler.run_due()
    assert dates_of(database, "daglig") == [MONDAY + timedelta(days=n) for n in range(3)]


async def _serve(config: BackendConfig) -> tuple[list[str], BackendHandle]:
    clock = SimulatedClock(START)
    async with trio.open_nursery() as nursery:
        handle: BackendHandle = await nursery.start(serve_backend, config, clock)
        assert handle.database is not None
        database = handle.database
        with trio.fail_after(10):
            while config.settlement.enabled and day_jobs(database).get(
                    "settlement:2026-01-05", ("",))[0] != "done":
                await trio.sleep(0.02)
        keys = sorted(day_jobs(database))
        nursery.cancel_scope.cancel()
    return keys, handle


async def test_the_service_schedules_the_day_unless_disabled(database_url: str,
                                                             tmp_path: Path) -> None:
    config = BackendConfig(
        data_dir=tmp_path / "data", database_url=database_url,
        http=HttpConfig(host="127.0.0.1", port=0), admin_token="configured-operator-token",
        scheduler=SchedulerConfig(poll_seconds=0.02),
        settlement=SettlementConfig(enabled=False),
    )
    keys, handle = await _serve(config)
    assert keys == []
    assert handle.runtime is not None and handle.runtime.settlement is None

    keys, handle = await _serve(replace(config, settlement=SettlementConfig()))
    assert keys == ["settlement:2026-01-05", "settlement:2026-01-06"]
    assert handle.runtime is not None and handle.runtime.settlement == SettlementSettings(
        time(6, 0), tmp_path / "data" / "settlements")


@pytest.mark.parametrize("run_at", ["6:00", "24:00", "06:60", "06:00:00", "noon", ""])
def test_a_bad_run_at_is_a_config_error(tmp_path: Path, run_at: str) -> None:
    path = tmp_path / "backend.toml"
    path.write_text(f'[settlement]\nrun_at = "{run_at}"\n')
    with pytest.raises(ConfigError, match="settlement.run_at"):
        load_backend_config(path, environ={})
    with pytest.raises(ConfigError, match="settlement.run_at"):
        load_backend_config(None, environ={"MEDIPAY_BACKEND__SETTLEMENT__RUN_AT": run_at})


def test_settlement_config_gives_the_job_its_settings(tmp_path: Path) -> None:
    path = tmp_path / "backend.toml"
    path.write_text(f'data_dir = "{tmp_path}"\n[settlement]\nrun_at = "23:59"\n'
                    f'files_dir = "{tmp_path / "oppgjor"}"\n')
    config = load_backend_config(path, environ={})
    assert settlement_settings(config) == SettlementSettings(time(23, 59), tmp_path / "oppgjor")
    off = load_backend_config(path, environ={"MEDIPAY_BACKEND__SETTLEMENT__ENABLED": "false"})
    assert settlement_settings(off) is None


def test_the_settle_command_writes_where_the_job_does(database_url: str,
                                                      tmp_path: Path) -> None:
    files_dir = tmp_path / "oppgjor"
    config_path = tmp_path / "backend.toml"
    config_path.write_text(f'database_url = "{database_url}"\n'
                           f'admin_token = "cli-operator-token-1"\ndata_dir = "{tmp_path}"\n'
                           f'[settlement]\nfiles_dir = "{files_dir}"\n')
    config = ["--config", str(config_path)]
    runner = CliRunner()
    created = runner.invoke(backend_app, ["clinic", "create", "oslo", "--name", "Oslo",
                                          "--org-number", "974760673", *config])
    assert created.exit_code == 0, created.output
    done = runner.invoke(backend_app, ["settle", "--date", "2026-01-05", "--clinic", "oslo",
                                       *config])
    assert done.exit_code == 0, done.output
    settings = settlement_settings(load_backend_config(config_path, environ={}))
    assert settings is not None and settings.files_root == files_dir
    assert len(list((files_dir / "oslo").iterdir())) == STREAMS
    assert not (tmp_path / "settlements").exists()


def test_run_time_is_oslo_local_time_across_summer_time() -> None:
    winter = settlement_jobs.run_time(date(2026, 1, 5), time(6, 0))
    summer = settlement_jobs.run_time(date(2026, 7, 6), time(6, 0))
    assert winter.astimezone(UTC).hour == 5 and summer.astimezone(UTC).hour == 4
