"""Settle one clinic's stream up to a cutoff (blocking; one database transaction).

The runner posts nothing it has not settled and settles nothing twice: the settlement row is
unique per (clinic, stream, date) and every settled transfer id is a primary key of
`settlement_items`. Two runners racing on PostgreSQL: the loser's insert fails, its
transaction rolls back, and its retry (`Database.run_check_then_insert`) finds the winner's
settlement and returns it. Fees and the payout are booked as ledger transfers with ids
derived from the settlement id; a negative result is carried into the next settlement.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend import ledger_store
from medipay_backend.domain.settlement import (
    FeeRule,
    ItemKind,
    SettlementItem,
    SettlementStream,
    Source,
    settle,
)
from medipay_backend.ledger import TransferFlags, postings
from medipay_backend.ledger.chart import TransferCode
from medipay_backend.ledger_store import Meta
from medipay_backend.localtime import OSLO, oslo_date
from medipay_backend.models_clinics import ClinicAccount, ClinicAgreement
from medipay_backend.models_ledger import LedgerTransfer, Settlement
from medipay_backend.models_ledger import SettlementItem as ItemRow
from medipay_backend.settlement import sources

PAYMENT_CODES = (TransferCode.PAYMENT, TransferCode.CLAIM_PURCHASE, TransferCode.ALLOCATE_PRINCIPAL)
CREDIT_CODES = (TransferCode.REFUND, TransferCode.CORRECTION)
_MOVING = (TransferFlags.NONE.value, TransferFlags.POST_PENDING.value)
FREQUENCY_DUE = {
    "daily": lambda day: True,
    "weekly": lambda day: day.isoweekday() == 1,
    "monthly": lambda day: day.day == 1,
}


class SettlementRunError(Exception):
    """A settlement cannot be made (unknown clinic, no agreement)."""


@dataclass(frozen=True, slots=True)
class RunKey:
    clinic_id: str
    stream: SettlementStream
    settlement_date: date

    @property
    def cutoff(self) -> datetime:
        """Midnight at the start of the settlement day, Oslo time: the day itself is next."""
        return datetime.combine(self.settlement_date, time(0), OSLO)


def unsettled(session: Session, key: RunKey) -> sa.Select[Any]:
    settled = sa.select(ItemRow.transfer_id).where(ItemRow.transfer_id == LedgerTransfer.id)
    return (
        sa.select(LedgerTransfer)
        .where(LedgerTransfer.clinic_id == key.clinic_id)
        .where(LedgerTransfer.stream == key.stream.value)
        .where(LedgerTransfer.code.in_([int(c) for c in PAYMENT_CODES + CREDIT_CODES]))
        .where(LedgerTransfer.flags.in_(_MOVING))
        .where(LedgerTransfer.timestamp < key.cutoff)
        .where(~settled.exists())
        .order_by(LedgerTransfer.seq)
    )


def _items(session: Session, key: RunKey) -> Iterator[SettlementItem]:
    query = unsettled(session, key).execution_options(yield_per=sources.SCAN_BATCH)
    row: LedgerTransfer
    for row in session.scalars(query):
        kind = ItemKind.CREDIT if row.code in CREDIT_CODES else ItemKind.PAYMENT
        yield SettlementItem(row.id, Source(row.source), kind, row.amount,
                             oslo_date(row.timestamp), row.kid)


def run(session: Session, key: RunKey, now: datetime) -> Settlement:
    """The settlement for `key`, made now if it does not exist yet."""
    existing = session.scalar(
        sa.select(Settlement).where(Settlement.clinic_id == key.clinic_id)
        .where(Settlement.stream == key.stream.value)
        .where(Settlement.settlement_date == key.settlement_date)
    )
    if existing is not None:
        return existing
    agreement = session.get(ClinicAgreement, key.clinic_id)
    if agreement is None:
        raise SettlementRunError(f"clinic {key.clinic_id!r} has no agreement")
    sources.ensure_accounts(session, key.clinic_id)
    previous = session.scalar(
        sa.select(Settlement.carried_forward).where(Settlement.clinic_id == key.clinic_id)
        .where(Settlement.stream == key.stream.value)
        .where(Settlement.settlement_date < key.settlement_date)
        .order_by(Settlement.settlement_date.desc()).limit(1)
    )
    rule = FeeRule(agreement.price_per_transaction, agreement.price_percent_bp)
    result = settle(key.clinic_id, key.stream, _items(session, key), rule,
                    key.settlement_date, carried_in=previous or 0)
    report = result.report
    bank = session.scalar(
        sa.select(ClinicAccount.bank_account).where(ClinicAccount.clinic_id == key.clinic_id)
        .order_by(ClinicAccount.account_id).limit(1)
    )
    row = Settlement(
        id=uuid.uuid4().hex, clinic_id=key.clinic_id, stream=key.stream.value,
        settlement_date=key.settlement_date, cutoff=key.cutoff, currency=report.currency,
        count=len(report.lines), gross=report.gross, fees=report.fees, credits=report.credits,
        carried_in=report.carried_in, total=report.total,
        carried_forward=report.carried_forward, bank_account=bank, files={}, created_at=now,
    )
    session.add(row)
    session.flush()  # the unique (clinic, stream, date) decides a race here
    items = [
        {"transfer_id": line.item.id, "settlement_id": row.id, "position": position,
         "fee": line.fee, "net": line.net}
        for position, line in enumerate(report.lines, start=1)
    ]
    if items:
        session.execute(sa.insert(ItemRow), items)
    _book(session, row, now)
    return row


def _book(session: Session, row: Settlement, now: datetime) -> None:
    stream = SettlementStream(row.stream)
    meta_fee = Meta("fee", row.clinic_id, None)
    meta_payout = Meta("payout", row.clinic_id, None)
    reference = f"settlement {row.id}"
    if row.fees:
        fee = postings.settlement_fee(f"stl:{row.id}:fees", row.clinic_id, stream, row.fees,
                                      now, reference, row.currency)
        ledger_store.append(session, fee, meta_fee, now)
    if row.total:
        payout = postings.payout(f"stl:{row.id}:payout", row.clinic_id, stream, row.total,
                                 now, reference, row.currency)
        ledger_store.append(session, payout, meta_payout, now)


def due_keys(session: Session, day: date) -> list[RunKey]:
    """Every clinic and stream whose settlement frequency falls on `day`."""
    keys: list[RunKey] = []
    agreements = sa.select(ClinicAgreement).order_by(ClinicAgreement.clinic_id)
    for agreement in session.scalars(agreements):
        if FREQUENCY_DUE[agreement.settlement_frequency](day):
            keys.extend(RunKey(agreement.clinic_id, stream, day) for stream in SettlementStream)
    return keys
