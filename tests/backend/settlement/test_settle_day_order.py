"""`settle_day` (the `medipay backend settle` command) follows the scheduled job's ordering
rule: under the clinic's agreement-row lock, and a day that a later settlement of the stream
already overtook is skipped (and said so), never settled empty and out of order."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import trio
from typer.testing import CliRunner

from medipay.clock import SimulatedClock
from medipay_backend.cli import backend_app
from medipay_backend.db import Database
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.models_clinics import ClinicAgreement
from medipay_backend.models_ledger import Settlement
from medipay_backend.settlement import runner
from medipay_backend.settlement.service import settle_day, settle_day_in_order

from ..conftest import EnrolGateway, MakeEpj
from .helpers import AGREEMENT, check_ledger, map_gateway, send_pos

MONDAY = date(2026, 1, 5)  # the simulated clock starts on it
TUESDAY, WEDNESDAY = MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)


def made(database: Database) -> list[tuple[str, str, date, int]]:
    """(clinic, stream, date, count) of every settlement, in the order they were made."""
    return database.transaction(lambda s: [
        (r.clinic_id, r.stream, r.settlement_date, r.count)
        for r in s.scalars(sa.select(Settlement).order_by(Settlement.seq))])


async def test_an_earlier_day_than_a_settlement_made_is_skipped(
    database: Database, clock: SimulatedClock, make_epj: MakeEpj,
    enrol_gateway: EnrolGateway, client: httpx.AsyncClient, tmp_path: Path,
) -> None:
    await make_epj("beta", agreement=AGREEMENT)
    gateway = await enrol_gateway("gw-beta")
    await map_gateway(database, "gw-beta", "beta")
    await send_pos(client, gateway, range(1, 4))  # Monday's sales: settled from Tuesday on
    clock.advance(timedelta(days=2))
    wednesday = await settle_day_in_order(database, clock, WEDNESDAY, tmp_path,
                                          clinic_id="beta", force=True)
    assert wednesday.superseded == []
    assert [(r.stream, r.count) for r in wednesday.settled] == [
        ("checkout", 0), ("fakturaservice", 0), ("pos", 3)]
    before = made(database)

    tuesday = await settle_day_in_order(database, clock, TUESDAY, tmp_path,
                                        clinic_id="beta", force=True)
    assert tuesday.settled == []
    assert tuesday.superseded == [runner.RunKey("beta", s, TUESDAY) for s in SettlementStream]
    # The daily clinic is due on Tuesday too: the due path skips it the same way.
    assert await settle_day(database, clock, TUESDAY, tmp_path) == []
    assert made(database) == before
    # One directory of files per settlement: Wednesday's, and none for Tuesday.
    assert {p.name for p in (tmp_path / "beta").iterdir()} == {
        r.id for r in wednesday.settled}

    again = await settle_day_in_order(database, clock, WEDNESDAY, tmp_path,
                                      clinic_id="beta", force=True)
    assert [r.id for r in again.settled] == [r.id for r in wednesday.settled]
    assert again.superseded == [] and made(database) == before
    await check_ledger(database)


async def test_settle_day_waits_for_the_clinic_agreement_lock(
    database: Database, clock: SimulatedClock, make_epj: MakeEpj, tmp_path: Path,
) -> None:
    """While another transaction holds the clinic's agreement row (a scheduled run, or a
    second `settle`), the command does not settle that clinic."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers anyway")
    await make_epj("beta", agreement=AGREEMENT)
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with database.engine.begin() as connection:
            connection.execute(sa.select(ClinicAgreement.clinic_id)
                               .where(ClinicAgreement.clinic_id == "beta").with_for_update())
            locked.set()
            release.wait(timeout=30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert await trio.to_thread.run_sync(locked.wait, 10)
        done: list[int] = []

        async def settle() -> None:
            run = await settle_day_in_order(database, clock, TUESDAY, tmp_path,
                                            clinic_id="beta", force=True)
            done.append(len(run.settled))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(settle)
            await trio.sleep(0.5)  # real time: the settlement is blocked on the row lock
            assert done == [] and made(database) == []
            release.set()
        assert done == [len(SettlementStream)]
    finally:
        release.set()
        holder.join()


def test_the_settle_command_says_which_days_it_skipped(database_url: str,
                                                        tmp_path: Path) -> None:
    config_path = tmp_path / "backend.toml"
    config_path.write_text(f'database_url = "{database_url}"\n'
                           f'admin_token = "cli-operator-token-1"\ndata_dir = "{tmp_path}"\n')
    config = ["--config", str(config_path)]
    cli = CliRunner()
    created = cli.invoke(backend_app, ["clinic", "create", "oslo", "--name", "Oslo",
                                       "--org-number", "974760673", *config])
    assert created.exit_code == 0, created.output
    later = cli.invoke(backend_app, ["settle", "--date", "2026-01-06", "--clinic", "oslo",
                                     *config])
    assert later.exit_code == 0 and "skipped" not in later.output, later.output
    files = sorted((tmp_path / "settlements" / "oslo").iterdir())
    earlier = cli.invoke(backend_app, ["settle", "--date", "2026-01-05", "--clinic", "oslo",
                                       *config])
    assert earlier.exit_code == 0, earlier.output
    skipped = [line for line in earlier.output.splitlines() if line.startswith("skipped")]
    assert skipped == [
        f"skipped oslo {stream.value}: a settlement dated after 2026-01-05 exists for this "
        "stream, so 2026-01-05 has nothing left to settle" for stream in SettlementStream]
    assert sorted((tmp_path / "settlements" / "oslo").iterdir()) == files
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            dates = connection.scalars(sa.select(Settlement.settlement_date)).all()
    finally:
        engine.dispose()
    assert dates == [date(2026, 1, 6)] * len(SettlementStream)
