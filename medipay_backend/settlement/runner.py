"""Settle one clinic's stream up to a cutoff (blocking; one database transaction).

The runner posts nothing it has not settled and settles nothing twice: the settlement row is
unique per (clinic, stream, date) and every settled transfer id is a primary key of
`settlement_items`. The items never pass through Python as objects, so memory does not grow
with their number: one INSERT … SELECT copies them into `settlement_items`, priced with the
domain's fee rule written in SQL (`fee_sql`); they are then checked against the domain's
rules (`_check_items`) and summed by the database (`_totals`), so the report lines add up to
the report by construction. Two runners racing on PostgreSQL: the loser's insert fails, its
transaction rolls back, and its retry (`Database.run_check_then_insert`) finds the winner's
settlement and returns it. Fees and the payout are booked as ledger transfers with ids
derived from the settlement id; a negative result is carried into the next settlement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute, Session

from medipay_backend import ledger_store
from medipay_backend.domain.ocr import kid_is_valid
from medipay_backend.domain.settlement import (
    BASIS_POINTS,
    STREAM_OF,
    FeeRule,
    ItemKind,
    SettlementItem,
    SettlementStream,
    Source,
    StreamMismatchError,
    Totals,
    balance_report,
    check_item,
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
# Rows per round trip while the KIDs of a large settlement stream past their check.
CHECK_BATCH = 10_000
# Both databases store øre in signed 64-bit integers.
LARGEST_ORE = 2**63 - 1
# PostgreSQL's numeric_value_out_of_range, raised when a fee overflows 64 bits.
_OUT_OF_RANGE = "22003"


class SettlementRunError(Exception):
    """A settlement cannot be made (unknown clinic, no agreement, a fee beyond 64 bits)."""


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
    bank = session.scalar(
        sa.select(ClinicAccount.bank_account).where(ClinicAccount.clinic_id == key.clinic_id)
        .order_by(ClinicAccount.account_id).limit(1)
    )
    # The row comes first (its items refer to it); its figures are filled in below.
    row = Settlement(
        id=uuid.uuid4().hex, clinic_id=key.clinic_id, stream=key.stream.value,
        settlement_date=key.settlement_date, cutoff=key.cutoff, currency="NOK",
        count=0, gross=0, fees=0, credits=0, carried_in=previous or 0, total=0,
        carried_forward=0, bank_account=bank, files={}, created_at=now,
    )
    session.add(row)
    session.flush()  # the unique (clinic, stream, date) decides a race here
    _insert_items(session, key, row.id, rule)
    _check_items(session, row.id, key.stream)
    report = balance_report(key.clinic_id, key.stream, key.settlement_date,
                            _totals(session, row.id, rule), row.carried_in, row.currency)
    row.count, row.gross, row.fees = report.count, report.gross, report.fees
    row.credits, row.total = report.credits, report.total
    row.carried_forward = report.carried_forward
    _book(session, row, now)
    return row


def fee_sql(
    rule: FeeRule, amount: sa.ColumnElement[int] | InstrumentedAttribute[int]
) -> sa.ColumnElement[int]:
    """`rule.fee(amount)` as an SQL expression, exact in SQLite's and PostgreSQL's integers.

    The percent part, round_half_up(amount * bp, 10 000), is split at 10 000 øre so that no
    intermediate value exceeds the fee itself (amount * bp would overflow 64 bits first):
        per + (amount // 10 000) * bp + (2 * (amount % 10 000) * bp + 10 000) // 20 000
    This is exact because (amount // 10 000) * bp * 10 000 is a multiple of the divisor.
    `//` is integer division in both dialects, and every term is >= 0, so it is the floor.
    Proven equal to `FeeRule.fee` on both databases by tests/backend/settlement.
    """
    per = sa.literal(rule.per_transaction, sa.BigInteger)
    bp = sa.literal(rule.percent_bp, sa.BigInteger)
    whole, rest = amount // BASIS_POINTS, amount % BASIS_POINTS
    return per + whole * bp + (2 * rest * bp + BASIS_POINTS) // (2 * BASIS_POINTS)


def _insert_items(session: Session, key: RunKey, settlement_id: str, rule: FeeRule) -> None:
    """Copy every unsettled transfer into `settlement_items`, numbered in ledger order."""
    credit = LedgerTransfer.code.in_([int(c) for c in CREDIT_CODES])
    fee = fee_sql(rule, LedgerTransfer.amount)
    rows = unsettled(session, key).order_by(None).with_only_columns(
        LedgerTransfer.id,
        sa.literal(settlement_id),
        sa.func.row_number().over(order_by=LedgerTransfer.seq),
        sa.case((credit, 0), else_=fee),
        sa.case((credit, -LedgerTransfer.amount), else_=LedgerTransfer.amount - fee),
    )
    columns = ["transfer_id", "settlement_id", "position", "fee", "net"]
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        # The rows this INSERT adds are invisible to its own NOT EXISTS, but a sequential scan
        # of settlement_items still reads every one of them for every transfer: quadratic,
        # and PostgreSQL plans exactly that when its statistics say the table is small (a new
        # database). The primary key answers the lookup whatever the table's size.
        session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    try:
        session.execute(sa.insert(ItemRow).from_select(columns, rows))
    except sa.exc.DataError as exc:
        if getattr(exc.orig, "sqlstate", None) == _OUT_OF_RANGE:
            raise SettlementRunError(f"a fee of {rule} does not fit 64 bits") from exc
        raise
    if postgresql:
        session.execute(sa.text("SET LOCAL enable_seqscan = on"))


def _check_items(session: Session, settlement_id: str, stream: SettlementStream) -> None:
    """Raise the domain's error for the first item (in ledger order) it would refuse.

    What SQL can test cheaply is tested there (stream, amount, a KID at all); only the KIDs'
    check digits are streamed through `kid_is_valid`, a batch of plain strings at a time.
    """
    t, item = LedgerTransfer, ItemRow
    own = [source.value for source, owner in STREAM_OF.items() if owner is stream]
    bad = [t.source.not_in(own), t.amount <= 0]
    if stream is not SettlementStream.POS:
        bad.append(t.kid.is_(None))
    query = (
        sa.select(item.position).join(t, t.id == item.transfer_id)
        .where(item.settlement_id == settlement_id).order_by(item.position)
    )
    first: int | None
    if stream is SettlementStream.POS:
        first = session.scalar(query.where(sa.or_(*bad)).limit(1))
    else:
        first = None
        flagged = query.add_columns(sa.case((sa.or_(*bad), 1), else_=0), t.kid)
        for position, flag, kid in session.connection().execute(
            flagged.execution_options(yield_per=CHECK_BATCH)
        ):
            if flag or not kid_is_valid(kid):
                first = position
                break
    if first is not None:
        _refuse(session, settlement_id, first, stream)


def _refuse(session: Session, settlement_id: str, position: int,
            stream: SettlementStream) -> None:
    row = session.scalars(
        sa.select(LedgerTransfer).join(ItemRow, ItemRow.transfer_id == LedgerTransfer.id)
        .where(ItemRow.settlement_id == settlement_id).where(ItemRow.position == position)
    ).one()
    if row.source not in {source.value for source in Source}:
        raise StreamMismatchError(f"item {row.id!r} from {row.source} is not {stream}")
    kind = ItemKind.CREDIT if row.code in CREDIT_CODES else ItemKind.PAYMENT
    check_item(SettlementItem(row.id, Source(row.source), kind, row.amount,
                              oslo_date(row.timestamp), row.kid), stream)
    raise SettlementRunError(f"item {row.id!r} was refused in SQL but passes the rules")


def _totals(session: Session, settlement_id: str, rule: FeeRule) -> Totals:
    t, item = LedgerTransfer, ItemRow
    credit = t.code.in_([int(c) for c in CREDIT_CODES])
    payment = sa.case((credit, 0), else_=t.amount)
    count, gross, fees, credits, largest = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(payment), 0),
            sa.func.coalesce(sa.func.sum(item.fee), 0),
            sa.func.coalesce(sa.func.sum(sa.case((credit, t.amount), else_=0)), 0),
            sa.func.coalesce(sa.func.max(payment), 0),
        ).join_from(item, t, t.id == item.transfer_id).where(item.settlement_id == settlement_id)
    ).one()
    # SQLite turns an overflowing integer into a float instead of failing as PostgreSQL does;
    # the fee grows with the amount, so the largest payment has the largest fee.
    if rule.fee(int(largest)) > LARGEST_ORE:
        raise SettlementRunError(f"a fee of {rule} on {largest} øre does not fit 64 bits")
    # PostgreSQL sums bigints as numeric (Decimal): exact, converted back to int here.
    return Totals(int(count), int(gross), int(fees), int(credits))


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
