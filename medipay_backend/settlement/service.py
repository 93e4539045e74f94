"""Settlement runs from trio: post new records, settle due streams, write their files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay.clock import Clock
from medipay.logs import get_logger
from medipay_backend.db import Database
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.models_ledger import GatewayClinic, Settlement
from medipay_backend.settlement import files, runner, sources

log = get_logger(__name__)


def assign_gateway(session: Session, gateway_id: str, clinic_id: str) -> None:
    """Settle `gateway_id`'s POS transactions to `clinic_id` (idempotent; a move is refused)."""
    row = session.get(GatewayClinic, gateway_id)
    if row is None:
        session.add(GatewayClinic(gateway_id=gateway_id, clinic_id=clinic_id))
    elif row.clinic_id != clinic_id:
        raise runner.SettlementRunError(f"gateway {gateway_id!r} belongs to {row.clinic_id!r}")


def _store_files(session: Session, settlement_id: str, root: Path) -> Settlement:
    row = session.scalars(
        sa.select(Settlement).where(Settlement.id == settlement_id).with_for_update()
    ).one()
    if not row.files:
        row.files = files.write_all(session, row, root)
    return row


async def run_one(database: Database, clock: Clock, key: runner.RunKey, root: Path) -> Settlement:
    now = clock.now()
    row = await database.run_check_then_insert(lambda s: runner.run(s, key, now))
    if not row.files:
        row = await database.run(lambda s: _store_files(s, row.id, root))
    log.info("settled", clinic_id=key.clinic_id, stream=key.stream.value,
             settlement_id=row.id, total=row.total, count=row.count)
    return row


async def settle_day(
    database: Database, clock: Clock, day: date, root: Path, *,
    clinic_id: str | None = None, streams: tuple[SettlementStream, ...] = tuple(SettlementStream),
    force: bool = False,
) -> list[Settlement]:
    """Post what is new, then settle every due clinic stream (all of them with `force`)."""
    now = clock.now()
    await database.run_check_then_insert(lambda s: sources.post_new(s, now))
    if force and clinic_id is not None:
        keys = [runner.RunKey(clinic_id, stream, day) for stream in SettlementStream]
    else:
        keys = await database.run(lambda s: runner.due_keys(s, day))
    keys = [k for k in keys if k.stream in streams and clinic_id in (None, k.clinic_id)]
    return [await run_one(database, clock, key, root) for key in keys]
