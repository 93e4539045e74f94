"""The persisted ledger: idempotent appends, conflicts, two-phase transfers, limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from medipay_backend import ledger_store
from medipay_backend.db import Database
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.ledger import TransferRejectedError, chart, postings
from medipay_backend.ledger.chart import Channel
from medipay_backend.ledger.core import post_pending, reversal, void_pending
from medipay_backend.ledger_store import LedgerConflictError, Meta

from .helpers import check_ledger

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CLINIC = "klinikk-1"
META = Meta("card", CLINIC, "checkout", None)


def _pay(transfer_id: str, amount: int, pending: bool = False) -> postings.Transfer:
    return postings.payment(transfer_id, CLINIC, SettlementStream.CHECKOUT, Channel.CARD,
                            amount, AT, pending=pending)


async def test_append_is_idempotent_and_refuses_other_content(database: Database) -> None:
    def work(session: Session) -> None:
        ledger_store.open_accounts(session, chart.provider_accounts())
        ledger_store.open_accounts(session, chart.clinic_accounts(CLINIC))
        ledger_store.open_accounts(session, chart.clinic_accounts(CLINIC))  # repeat: no-op
        assert ledger_store.append(session, _pay("p1", 1000), META, AT) is True
        assert ledger_store.append(session, _pay("p1", 1000), META, AT) is False
        with pytest.raises(LedgerConflictError):
            ledger_store.append(session, _pay("p1", 999), META, AT)

    await database.run(work)
    await check_ledger(database)


async def test_pending_post_void_and_corrections(database: Database) -> None:
    def work(session: Session) -> None:
        ledger_store.open_accounts(session, chart.provider_accounts())
        ledger_store.open_accounts(session, chart.clinic_accounts(CLINIC))
        auth = _pay("a1", 5000, pending=True)
        ledger_store.append(session, auth, META, AT)
        ledger_store.append(session, post_pending(auth, "a1:post", AT, 4000), META, AT)
        with pytest.raises(TransferRejectedError):  # a pending is resolved once only
            ledger_store.append(session, void_pending(auth, "a1:void", AT), META, AT)
        other = _pay("a2", 700, pending=True)
        ledger_store.append(session, other, META, AT)
        ledger_store.append(session, void_pending(other, "a2:void", AT), META, AT)
        payment = _pay("p2", 300)
        ledger_store.append(session, payment, META, AT)
        ledger_store.append(session, reversal(payment, "p2:rev", AT), META, AT)
        payable = session.get(ledger_store.LedgerAccount, chart.payable_id(
            CLINIC, SettlementStream.CHECKOUT))
        assert payable is not None
        assert (payable.credits_posted, payable.debits_posted) == (4300, 300)
        assert (payable.credits_pending, payable.debits_pending) == (0, 0)

    await database.run(work)
    await check_ledger(database)


async def test_limits_of_the_chart_hold(database: Database) -> None:
    def work(session: Session) -> None:
        ledger_store.open_accounts(session, chart.provider_accounts())
        ledger_store.open_accounts(session, chart.clinic_accounts(CLINIC))
        # Suspense may not pay back more than it received.
        back = postings.Transfer("s1", chart.suspense_id(), chart.bank_id(), 100, "NOK",
                                 int(chart.TransferCode.SUSPENSE_RETURN), AT)
        with pytest.raises(TransferRejectedError):
            ledger_store.append(session, back, Meta(), AT)

    await database.run(work)
    await check_ledger(database)
