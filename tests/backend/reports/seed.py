"""A known set of settled money for the report tests, written straight to the ledger.

Two clinics (one with two accounts), orders with KIDs at each account, card, Vipps, bought
invoice, Fakturaservice and POS payments and a card refund, settled on two dates. Every item
is listed in `ITEMS`, so a test can compute what a report must say on its own, without the
code under test.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from medipay.clock import SimulatedClock
from medipay_backend import ledger_store
from medipay_backend.clinics import AgreementTerms, create_account, create_clinic
from medipay_backend.db import Database
from medipay_backend.domain.kid import make_kid
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.ledger import postings
from medipay_backend.ledger.chart import Channel
from medipay_backend.ledger_store import Meta
from medipay_backend.models import Gateway, PosTransaction
from medipay_backend.models_ledger import GatewayClinic, Settlement
from medipay_backend.models_orders import Invoice, Order
from medipay_backend.settlement import sources
from medipay_backend.settlement.service import settle_day

from ..people import ADDRESS, ADULT, BANK_ACCOUNT, ORG_NUMBER

PRICE, PERCENT_BP = 150, 125
TERMS = AgreementTerms(price_per_transaction=PRICE, price_percent_bp=PERCENT_BP,
                       settlement_frequency="daily", invoice_fee=5_900)
DAY_1, DAY_2 = date(2026, 1, 6), date(2026, 1, 8)
# Before each settlement date's cutoff (midnight Oslo at its start).
BOOKED = {DAY_1: datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
          DAY_2: datetime(2026, 1, 7, 10, 0, tzinfo=UTC)}
ACCOUNTS = {"alfa": ("alfa-dr-1", "alfa-dr-2"), "beta": ("beta-dr-1",)}
TERMINALS, CARDS = ("T0000001", "T0000002"), ("BankAxept", "Visa")
STREAM = {"card": "checkout", "vipps": "checkout", "bought_invoice": "checkout",
          "fakturaservice": "fakturaservice", "pos": "pos"}


@dataclass(frozen=True)
class Item:
    clinic: str
    account: str | None  # None: POS (no order, no account)
    source: str
    amount: int
    day: date
    credit: bool = False

    @property
    def stream(self) -> str:
        return STREAM[self.source]

    @property
    def fee(self) -> int:
        """The agreement's fee, computed here with decimal arithmetic (not the domain's)."""
        if self.credit:
            return 0
        percent = (Decimal(self.amount) * PERCENT_BP / 10_000).quantize(
            Decimal(1), rounding=ROUND_HALF_UP)
        return PRICE + int(percent)

    @property
    def net(self) -> int:
        return -self.amount if self.credit else self.amount - self.fee


ITEMS = (
    Item("alfa", "alfa-dr-1", "card", 45_050, DAY_1),
    Item("alfa", "alfa-dr-1", "card", 12_340, DAY_1),
    Item("alfa", "alfa-dr-2", "vipps", 80_000, DAY_1),
    Item("alfa", "alfa-dr-2", "bought_invoice", 104_900, DAY_1),
    Item("alfa", "alfa-dr-1", "fakturaservice", 65_000, DAY_1),
    Item("alfa", None, "pos", 30_004, DAY_1),
    Item("alfa", None, "pos", 7_777, DAY_1),
    Item("alfa", "alfa-dr-1", "card", 9_999, DAY_2),
    Item("alfa", "alfa-dr-1", "card", 5_000, DAY_2, credit=True),
    Item("alfa", "alfa-dr-2", "fakturaservice", 22_200, DAY_2),
    Item("alfa", None, "pos", 15_015, DAY_2),
    Item("beta", "beta-dr-1", "card", 33_333, DAY_1),
    Item("beta", "beta-dr-1", "vipps", 20_000, DAY_2),
    Item("beta", None, "pos", 50_000, DAY_2),
)


def add_order(session: Session, clinic: str, account: str, n: int, amount: int,
           received: datetime) -> Order:
    order = Order(
        id=str(uuid.uuid4()), clinic_id=clinic, account_id=account,
        idempotency_key=f"seed-{n}", content_sha256="0" * 64, external_reference=None,
        status="paid", status_reason=None, payment_method="card", amount=amount,
        invoice_fee=TERMS.invoice_fee, currency="NOK", kid=make_kid(1000 + n, "mod10"),
        kid_generated=True, description="Konsultasjon", payer="patient",
        direct_to_invoice=False, always_fakturaservice=False, patient_national_id=ADULT,
        patient_birth_date=None, patient={"name": "Kari Nordmann", "address": ADDRESS},
        guardian=None, other_payer=None, company=None, sms_to=None, deadline_at=None,
        received_at=received, updated_at=received,
    )
    session.add(order)
    session.flush()
    return order


def add_invoice(session: Session, order: Order, route: str, fee: int, at: datetime) -> None:
    session.add(Invoice(
        id=str(uuid.uuid4()), order_id=order.id, clinic_id=order.clinic_id,
        account_id=order.account_id, route=route, origin="fallback", reason="seed",
        recipient={"kind": "patient", "name": "Kari Nordmann", "address": ADDRESS},
        amount=order.amount, invoice_fee=fee, total=order.amount + fee, currency="NOK",
        kid=order.kid, score_points=None, status="issued", created_at=at))
    session.flush()


def _terminal_payment(session: Session, n: int, item: Item, now: datetime) -> None:
    """A POS payment as a gateway relays it; settlement posts it itself (`pos:<id>`)."""
    session.add(PosTransaction(
        id=str(uuid.uuid4()), idempotency_key=f"seed-pos-{n}", content_sha256="0" * 64,
        gateway_id=f"gw-{item.clinic}", gateway_transaction_id=f"gtx-{n}",
        terminal_id=TERMINALS[n % 2], kind="payment", status="approved", amount=item.amount,
        currency="NOK", masked_pan="547103******1234", card_name=CARDS[n % 2],
        receipt_number=n, trace_number=100 + n, result_code=0, reference=f"EPJ-{n}",
        occurred_at=BOOKED[item.day], received_at=now))
    session.flush()


def _book(session: Session, n: int, item: Item, kid: str | None, now: datetime) -> None:
    at = BOOKED[item.day]
    tid = f"seed:{n}"
    if item.source == "pos":
        _terminal_payment(session, n, item, now)
        return
    if item.source == "fakturaservice":
        sources.fs_claim(session, f"inv-{n}", item.clinic, item.amount, at, now)
        sources.fs_payment(session, f"giro-{n}", item.clinic, item.amount, kid or "", at, now)
        return
    if item.source == "bought_invoice":
        transfer = postings.claim_purchase(tid, item.clinic, item.amount, at)
    elif item.credit:
        transfer = postings.refund(tid, item.clinic, SettlementStream.CHECKOUT, Channel.CARD,
                                   item.amount, at)
    else:
        stream = SettlementStream(item.stream)
        transfer = postings.payment(tid, item.clinic, stream, Channel(item.source),
                                    item.amount, at, pending=False)
    ledger_store.append(session, transfer, Meta(item.source, item.clinic, item.stream, kid), now)


def seed_clinics(session: Session, now: datetime) -> None:
    for clinic, accounts in ACCOUNTS.items():
        create_clinic(session, clinic, f"Klinikk {clinic.title()}", ORG_NUMBER, TERMS, now)
        for account in accounts:
            create_account(session, clinic, account, f"Dr. {account}", BANK_ACCOUNT, now)
        sources.ensure_accounts(session, clinic)
        session.add(Gateway(gateway_id=f"gw-{clinic}", name=None, public_key=bytes(32),
                            enrolled_at=now))
        session.flush()
        session.add(GatewayClinic(gateway_id=f"gw-{clinic}", clinic_id=clinic))


def seed_items(session: Session, now: datetime) -> list[Order]:
    """An order for every payment with an account (received when booked), the ledger."""
    orders: dict[str, list[Order]] = {}
    for n, item in enumerate(ITEMS, start=1):
        kid = None
        if item.credit:  # a credit of the account's first order
            kid = orders[item.account or ""][0].kid
        elif item.account is not None:
            order = add_order(session, item.clinic, item.account, n, item.amount, BOOKED[item.day])
            orders.setdefault(item.account, []).append(order)
            kid = order.kid
        _book(session, n, item, kid, now)
    return [order for account in orders.values() for order in account]


async def seed_and_settle(database: Database, clock: SimulatedClock,
                          root: Path) -> list[Settlement]:
    """Everything in `ITEMS`, settled on DAY_1 and DAY_2 (every stream of both clinics)."""
    now = clock.now()
    await database.run(lambda s: seed_clinics(s, now))
    await database.run(lambda s: seed_items(s, now))
    settled: list[Settlement] = []
    for day in (DAY_1, DAY_2):
        clock.advance(max(timedelta(0), BOOKED[day] + timedelta(days=2) - clock.now()))
        for clinic in ACCOUNTS:
            settled += await settle_day(database, clock, day, root, clinic_id=clinic,
                                        force=True)
    return settled
