"""The runner prices and sums the items inside the database (one INSERT … SELECT, SQL sums).
Proven equal, line by line and error by error, to the old in-memory `settle` (the oracle),
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from stdnum import luhn

from medipay_backend.db import Database
from medipay_backend.domain.settlement import (
    STREAM_OF,
    FeeRule,
    InvalidItemError,
    ItemKind,
    SettlementError,
    SettlementItem,
    SettlementStream,
    Source,
    StreamMismatchError,
)
from medipay_backend.ledger import chart
from medipay_backend.ledger.chart import Channel, TransferCode
from medipay_backend.models_clinics import Clinic, ClinicAgreement
from medipay_backend.models_ledger import LedgerTransfer, Settlement
from medipay_backend.models_ledger import SettlementItem as ItemRow
from medipay_backend.settlement import runner, sources

from ..domain import settlement_oracle as oracle

CLINIC = "klinikk-sql"
DAY = date(2026, 3, 2)
BEFORE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)  # before the cutoff (midnight, Oslo)
AFTER = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
CODES = {  # what each source books, and the codes a credit may have
    Source.CARD: TransferCode.PAYMENT, Source.VIPPS: TransferCode.PAYMENT,
    Source.POS: TransferCode.PAYMENT, Source.BOUGHT_INVOICE: TransferCode.CLAIM_PURCHASE,
    Source.FAKTURASERVICE: TransferCode.ALLOCATE_PRINCIPAL,
}
CREDITS = (TransferCode.REFUND, TransferCode.CORRECTION)
DB_SETTINGS = settings(max_examples=40, deadline=None,
                       suppress_health_check=[HealthCheck.function_scoped_fixture])


def kid(n: int) -> str:
    base = str(n).zfill(9)
    return base + luhn.calc_check_digit(base)


@pytest.fixture
def clinic(engine: Engine) -> Engine:
    """A clinic with an agreement and its accounts; every example then runs in a transaction
    that is rolled back."""

    def setup(session: Session) -> None:
        session.add(Clinic(clinic_id=CLINIC, name="Klinikk", org_number="974760673",
                           created_at=BEFORE))
        session.flush()
        session.add(ClinicAgreement(
            clinic_id=CLINIC, invoice_fee=0, price_per_transaction=0, price_percent_bp=0,
            settlement_frequency="daily", max_order_amount=5_000_000, kid_scheme="mod10",
            fakturaservice=True, updated_at=BEFORE))
        sources.ensure_accounts(session, CLINIC)

    Database(engine).transaction(setup)
    return engine


def _rolled_back(engine: Engine) -> Iterator[Session]:
    session = Session(engine)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def _book(session: Session, stream: SettlementStream, items: list[SettlementItem],
          rule: FeeRule, carried_in: int) -> None:
    """The example's agreement, previous settlement and ledger rows, plus rows the run must
    leave alone (after the cutoff, still pending, another stream)."""
    agreement = session.get_one(ClinicAgreement, CLINIC)
    agreement.price_per_transaction, agreement.price_percent_bp = (
        rule.per_transaction, rule.percent_bp)
    if carried_in:
        session.add(Settlement(
            id="previous", clinic_id=CLINIC, stream=stream.value,
            settlement_date=DAY - timedelta(days=1), cutoff=BEFORE, currency="NOK", count=0,
            gross=0, fees=0, credits=0, carried_in=0, total=0, carried_forward=carried_in,
            bank_account=None, files={}, created_at=BEFORE))
    payable = chart.payable_id(CLINIC, stream)
    clearing = chart.clearing_id(Channel.CARD)
    rows = []
    for n, each in enumerate(items):
        credit = each.kind is ItemKind.CREDIT
        rows.append(_row(each.id, each.source.value, stream.value, each.amount, each.kid,
                         CREDITS[n % 2] if credit else CODES[each.source],
                         (payable, clearing) if credit else (clearing, payable), BEFORE))
    kind = Source.POS if stream is SettlementStream.POS else Source.CARD
    other = next(s for s in SettlementStream if s is not stream)
    rows += [
        _row("late", kind.value, stream.value, 500, kid(1), TransferCode.PAYMENT,
             (clearing, payable), AFTER),
        _row("pending", kind.value, stream.value, 500, kid(2), TransferCode.PAYMENT,
             (clearing, payable), BEFORE, flags=1),
        _row("elsewhere", "card", other.value, 500, kid(3), TransferCode.PAYMENT,
             (clearing, chart.payable_id(CLINIC, other)), BEFORE),
    ]
    session.execute(sa.insert(LedgerTransfer), rows)


def _row(transfer_id: str, source: str, stream: str, amount: int, kid_text: str | None,
         code: int, accounts: tuple[str, str], at: datetime, flags: int = 0) -> dict[str, object]:
    return {
        "id": transfer_id, "debit_account_id": accounts[0], "credit_account_id": accounts[1],
        "amount": amount, "currency": "NOK", "code": int(code), "flags": flags,
        "pending_id": None, "reference": "", "timestamp": at, "clinic_id": CLINIC,
        "stream": stream, "source": source, "kid": kid_text, "recorded_at": at,
    }


@st.composite
def cases(draw: st.DrawFn) -> tuple[SettlementStream, list[SettlementItem], FeeRule, int]:
    """Items a stream may or may not accept (other streams' sources, zero amounts, missing or
    wrong KIDs), amounts up to 2**58 øre so that even their sums fit the 64-bit columns."""
    stream = draw(st.sampled_from(SettlementStream))
    own = [s for s, owner in STREAM_OF.items() if owner is stream]
    items = []
    for n in range(draw(st.integers(0, 12))):
        mismatch = draw(st.integers(0, 14)) == 0
        source = draw(st.sampled_from(Source if mismatch else own))
        amount = draw(oracle.amounts(0, 2**58))
        kid_text = draw(st.sampled_from([kid(n)] * 6 + [None, kid(n)[:-1] + "x", "12345683"]))
        items.append(SettlementItem(f"t-{n:02d}", source, draw(st.sampled_from(ItemKind)),
                                    amount, BEFORE.date(), kid_text))
    return stream, items, draw(oracle.fee_rules()), draw(st.integers(-(10**12), 0))


@DB_SETTINGS
@given(case=cases())
def test_settling_in_the_database_equals_the_old_settle(
    clinic: Engine, case: tuple[SettlementStream, list[SettlementItem], FeeRule, int],
) -> None:
    stream, items, rule, carried_in = case
    key = runner.RunKey(CLINIC, stream, DAY)
    for session in _rolled_back(clinic):
        _book(session, stream, items, rule, carried_in)
        try:
            expected = oracle.settle(stream, items, rule, carried_in)
        except SettlementError as exc:
            with pytest.raises(type(exc)) as raised:
                runner.run(session, key, NOW)
            assert str(raised.value) == str(exc)
            return
        row = runner.run(session, key, NOW)
        assert (row.count, row.gross, row.fees, row.credits, row.carried_in, row.total,
                row.carried_forward) == (
            len(expected.lines), expected.gross, expected.fees, expected.credits,
            expected.carried_in, expected.total, expected.carried_forward)
        stored = session.execute(
            sa.select(ItemRow.transfer_id, ItemRow.position, ItemRow.fee, ItemRow.net)
            .where(ItemRow.settlement_id == row.id).order_by(ItemRow.position)
        ).all()
        assert [tuple(r) for r in stored] == [
            (line.item.id, position, line.fee, line.net)
            for position, line in enumerate(expected.lines, start=1)
        ]
        # Every report line adds up to the total.
        assert sum(r.net for r in stored) + row.carried_in == row.total + row.carried_forward


@DB_SETTINGS
@given(rule=oracle.fee_rules(),
       amounts=st.lists(oracle.amounts(0, 2**63 - 10**6 - 1), min_size=1, max_size=30))
def test_the_sql_fee_is_the_fee_rule(clinic: Engine, rule: FeeRule, amounts: list[int]) -> None:
    """Also for amounts whose `amount * percent` would not fit 64 bits (the fee still does)."""
    values = sa.union_all(
        *(sa.select(sa.literal(n).label("n"), sa.literal(a, sa.BigInteger).label("amount"))
          for n, a in enumerate(amounts))
    ).subquery()
    query = sa.select(runner.fee_sql(rule, values.c.amount)).order_by(values.c.n)
    with clinic.connect() as connection:
        assert list(connection.scalars(query)) == [rule.fee(a) for a in amounts]


def test_a_fee_beyond_64_bits_is_refused_and_nothing_is_stored(clinic: Engine) -> None:
    database = Database(clinic)
    rule = FeeRule(2**63 - 1_000, 100)  # a nonsense price: the fee on 1,000 kroner overflows
    item = SettlementItem("t-big", Source.CARD, ItemKind.PAYMENT, 100_000, DAY, kid(7))

    def run(session: Session) -> None:
        _book(session, SettlementStream.CHECKOUT, [item], rule, 0)
        runner.run(session, runner.RunKey(CLINIC, SettlementStream.CHECKOUT, DAY), NOW)

    with pytest.raises(runner.SettlementRunError, match="does not fit 64 bits"):
        database.transaction(run)
    assert _stored(database) == (0, 0, 0)


def test_a_refused_item_stores_nothing(clinic: Engine) -> None:
    """A bad KID halfway through a settlement: the typed error, and not a row written."""
    database = Database(clinic)
    items = [SettlementItem(f"t-{n:02d}", Source.CARD, ItemKind.PAYMENT, 10_000, DAY,
                            "12345683" if n == 5 else kid(n)) for n in range(10)]

    def run(session: Session) -> None:
        _book(session, SettlementStream.CHECKOUT, items, FeeRule(150, 125), 0)
        runner.run(session, runner.RunKey(CLINIC, SettlementStream.CHECKOUT, DAY), NOW)

    with pytest.raises(InvalidItemError, match="'t-05'"):
        database.transaction(run)
    assert _stored(database) == (0, 0, 0)


def test_a_transfer_of_no_settlement_source_is_refused(clinic: Engine) -> None:
    """A payment booked in a stream with a source outside the domain's (here "other")."""
    database = Database(clinic)
    payable, clearing = chart.payable_id(CLINIC, SettlementStream.POS), chart.clearing_id(
        Channel.POS)

    def run(session: Session) -> None:
        _book(session, SettlementStream.POS, [], FeeRule(), 0)
        session.execute(sa.insert(LedgerTransfer), [_row(
            "odd", "other", "pos", 100, None, TransferCode.PAYMENT, (clearing, payable), BEFORE)])
        runner.run(session, runner.RunKey(CLINIC, SettlementStream.POS, DAY), NOW)

    with pytest.raises(StreamMismatchError, match="'odd' from other"):
        database.transaction(run)
    assert _stored(database) == (0, 0, 0)


def _stored(database: Database) -> tuple[int, int, int]:
    def count(session: Session) -> tuple[int, int, int]:
        return tuple(  # type: ignore[return-value]
            int(session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
            for table in (Settlement, ItemRow, LedgerTransfer)
        )

    return database.transaction(count)
