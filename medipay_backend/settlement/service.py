"""Settlement runs from trio: post new records, settle due streams, write their files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay.clock import Clock
from medipay.logs import get_logger
from medipay_backend.db import Database
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.models_clinics import ClinicAccount, ClinicAgreement
from medipay_backend.models_ledger import GatewayClinic, Settlement
from medipay_backend.settlement import files, mailing, runner, sources

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


def _run_and_enqueue(session: Session, key: runner.RunKey, root: Path,
                     now: datetime) -> Settlement:
    """Settle, and queue the report e-mail in the same transaction (see `mailing`)."""
    row = runner.run(session, key, now)
    mailing.enqueue(session, row, root, now)
    return row


async def run_one(database: Database, clock: Clock, key: runner.RunKey, root: Path) -> Settlement:
    now = clock.now()
    row = await database.run_check_then_insert(lambda s: _run_and_enqueue(s, key, root, now))
    if not row.files:
        row = await database.run(lambda s: _store_files(s, row.id, root))
    log.info("settled", clinic_id=key.clinic_id, stream=key.stream.value,
             settlement_id=row.id, total=row.total, count=row.count)
    return row


@dataclass(frozen=True)
class DayRun:
    """What `settle_day_in_order` did: the settlements made (or found made) for the day, and
    the clinic streams it skipped because a later settlement had already taken their
    payments."""

    settled: list[Settlement]
    superseded: list[runner.RunKey]


async def settle_day_in_order(
    database: Database, clock: Clock, day: date, root: Path, *,
    clinic_id: str | None = None, streams: tuple[SettlementStream, ...] = tuple(SettlementStream),
    force: bool = False,
) -> DayRun:
    """Post what is new, then settle every due clinic stream (all of them with `force`).

    Each stream runs as the scheduled job does (`_run_in_order`): under the clinic's
    agreement-row lock, and skipped when the stream already has a settlement dated after
    `day` (that one settled everything up to its own date, so an earlier settlement made now
    would be empty and out of order). A settlement already made for `day` is returned as it
    is. Unlike the job, a clinic without a bank account is not refused here (`check_payable`):
    the operator's command settles what it is told to."""
    now = clock.now()
    await database.run_check_then_insert(lambda s: sources.post_new(s, now))
    if force and clinic_id is not None:
        keys = [runner.RunKey(clinic_id, stream, day) for stream in SettlementStream]
    else:
        keys = await database.run(lambda s: runner.due_keys(s, day))
    keys = [k for k in keys if k.stream in streams and clinic_id in (None, k.clinic_id)]
    done = DayRun([], [])
    for key in keys:
        row = await _run_in_order_async(database, clock, key, root, check=False)
        if row is None:
            done.superseded.append(key)
        else:
            done.settled.append(row)
    return done


async def settle_day(
    database: Database, clock: Clock, day: date, root: Path, *,
    clinic_id: str | None = None, streams: tuple[SettlementStream, ...] = tuple(SettlementStream),
    force: bool = False,
) -> list[Settlement]:
    """`settle_day_in_order`, only the settlements (superseded streams are logged)."""
    done = await settle_day_in_order(database, clock, day, root, clinic_id=clinic_id,
                                     streams=streams, force=force)
    return done.settled


# --- used by the scheduled settlement job (settlement/jobs.py) -------------------------------


class MissingBankAccountError(Exception):
    """A clinic has payments to settle but no account, so no bank account to pay them to."""


def check_payable(session: Session, key: runner.RunKey) -> None:
    """Refuse to settle money that has nowhere to go (a clinic without accounts: POS only).

    A settlement with nothing to settle pays nothing (a carry is never positive), so it may
    go ahead; one with payments waits until the clinic has an account, and the payments
    stay unsettled meanwhile."""
    account = session.scalar(
        sa.select(ClinicAccount.account_id).where(ClinicAccount.clinic_id == key.clinic_id)
        .limit(1)
    )
    if account is not None:
        return
    if session.scalar(sa.select(runner.unsettled(session, key).order_by(None).exists())):
        raise MissingBankAccountError(
            f"clinic {key.clinic_id!r} has {key.stream.value} payments to settle but no "
            "account with a bank account"
        )


async def post_new(database: Database, clock: Clock) -> int:
    """Post every record not in the ledger yet (idempotent); the number of new transfers."""
    now = clock.now()
    return await database.run_check_then_insert(lambda s: sources.post_new(s, now))


def _run_in_order(session: Session, key: runner.RunKey, root: Path,
                  now: datetime, *, check: bool = True) -> Settlement | None:
    """`_run_and_enqueue` after `check_payable`, unless a later settlement of the clinic's
    stream exists: that one took the payments already, so `key`'s day is superseded (None).

    The clinic's agreement row is locked first (PostgreSQL; SQLite serialises writers
    anyway), so a retried earlier day and a later day never settle one clinic at once, and
    an earlier day is never settled after a later one."""
    session.scalar(sa.select(ClinicAgreement.clinic_id)
                   .where(ClinicAgreement.clinic_id == key.clinic_id).with_for_update())
    same_stream = (sa.select(Settlement.id).where(Settlement.clinic_id == key.clinic_id)
                   .where(Settlement.stream == key.stream.value))
    made = session.scalar(same_stream.where(Settlement.settlement_date == key.settlement_date))
    if made is None:
        if session.scalar(same_stream.where(
                Settlement.settlement_date > key.settlement_date).limit(1)) is not None:
            return None
        if check:
            check_payable(session, key)
    return _run_and_enqueue(session, key, root, now)


async def run_in_order(database: Database, clock: Clock, key: runner.RunKey,
                       root: Path) -> Settlement | None:
    """`run_one` for the scheduled job: checked by `check_payable`, and None (nothing done)
    when a later settlement of the stream superseded `key`'s day."""
    return await _run_in_order_async(database, clock, key, root, check=True)


async def _run_in_order_async(database: Database, clock: Clock, key: runner.RunKey,
                              root: Path, *, check: bool) -> Settlement | None:
    now = clock.now()
    row = await database.run_check_then_insert(
        lambda s: _run_in_order(s, key, root, now, check=check))
    if row is None:
        log.info("settlement day superseded by a later one", clinic_id=key.clinic_id,
                 stream=key.stream.value, settlement_date=key.settlement_date.isoformat())
        return None
    if not row.files:
        settlement_id = row.id
        row = await database.run(lambda s: _store_files(s, settlement_id, root))
    log.info("settled", clinic_id=key.clinic_id, stream=key.stream.value,
             settlement_id=row.id, total=row.total, count=row.count)
    return row


async def keys_due(database: Database, day: date) -> list[runner.RunKey]:
    """Every clinic stream whose settlement frequency falls on `day`."""
    return await database.run(lambda s: runner.due_keys(s, day))
