"""The POS transaction list of a POS settlement: what the terminals' own lists show (terminal,
time, card scheme, masked card number, receipt number), with each payment's fee and net, and
the settlement's totals per terminal and card scheme.

The settlement's own transaction list (`transactions-pos-<date>.csv`) is the ledger's view of
the same lines; this one joins them back to the gateways' records (`pos:<id>` transfers).
Card numbers are only ever stored masked (first 6 / last 4).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.localtime import OSLO
from medipay_backend.models import PosTransaction
from medipay_backend.models_ledger import LedgerTransfer, Settlement, SettlementItem
from medipay_backend.reports.filters import ReportFilterError
from medipay_backend.settlement.runner import CREDIT_CODES

POS_PREFIX = "pos:"
FIELDS = ("position", "date", "time", "gateway_id", "terminal_id", "kind", "card_name",
          "masked_pan", "receipt_number", "amount", "fee", "net", "transaction_id")


@dataclass(frozen=True)
class PosGroup:
    terminal_id: str
    card_name: str
    payments: int
    amount: int  # payments (øre)
    refunds: int  # refunds and reversals (count)
    refunded: int  # their amount (øre, positive)
    fees: int
    net: int


def _pos_settlement(session: Session, settlement_id: str) -> Settlement:
    row = session.scalar(sa.select(Settlement).where(Settlement.id == settlement_id))
    if row is None:
        raise ReportFilterError("settlement_id", f"no settlement {settlement_id!r}")
    if row.stream != "pos":
        raise ReportFilterError("settlement_id",
                                f"settlement {settlement_id} is not a POS settlement")
    return row


def _joined(settlement_id: str, *columns: Any) -> sa.Select[Any]:
    # `pos:<id>` -> <id>: substr is 1-based on both databases.
    pos_id = sa.func.substr(SettlementItem.transfer_id, len(POS_PREFIX) + 1)
    return (
        sa.select(*columns)
        .select_from(SettlementItem)
        .join(LedgerTransfer, LedgerTransfer.id == SettlementItem.transfer_id)
        .join(PosTransaction, PosTransaction.id == pos_id)
        .where(SettlementItem.settlement_id == settlement_id)
    )


def pos_transactions(session: Session, settlement_id: str) -> Iterator[dict[str, Any]]:
    """The lines of a POS settlement in settlement order (streams); `ReportFilterError` if
    the settlement does not exist or is not a POS one."""
    _pos_settlement(session, settlement_id)
    query = (
        _joined(settlement_id, SettlementItem.position, PosTransaction.occurred_at,
                PosTransaction.gateway_id, PosTransaction.terminal_id, PosTransaction.kind,
                PosTransaction.card_name, PosTransaction.masked_pan,
                PosTransaction.receipt_number, LedgerTransfer.amount, SettlementItem.fee,
                SettlementItem.net, PosTransaction.id)
        .order_by(SettlementItem.position)
        .execution_options(yield_per=1000)
    )
    for (position, at, gateway, terminal, kind, card, pan, receipt, amount, fee, net,
         tx_id) in session.execute(query):
        local = at.astimezone(OSLO)
        yield dict(zip(FIELDS, (
            position, local.date().isoformat(), local.strftime("%H:%M:%S"), gateway, terminal,
            kind, card or "", pan or "", receipt if receipt is not None else "", amount, fee,
            net, tx_id), strict=True))


def pos_summary(session: Session, settlement_id: str) -> list[PosGroup]:
    """The settlement's lines summed per terminal and card scheme."""
    _pos_settlement(session, settlement_id)
    credit = LedgerTransfer.code.in_([int(c) for c in CREDIT_CODES])
    card = sa.func.coalesce(PosTransaction.card_name, "")
    query = (
        _joined(settlement_id, PosTransaction.terminal_id, card,
                sa.func.sum(sa.case((credit, 0), else_=1)),
                sa.func.sum(sa.case((credit, 0), else_=LedgerTransfer.amount)),
                sa.func.sum(sa.case((credit, 1), else_=0)),
                sa.func.sum(sa.case((credit, LedgerTransfer.amount), else_=0)),
                sa.func.sum(SettlementItem.fee), sa.func.sum(SettlementItem.net))
        .group_by(PosTransaction.terminal_id, card)
        .order_by(PosTransaction.terminal_id, card)
    )
    return [PosGroup(terminal, card_name, *(int(v or 0) for v in figures))
            for terminal, card_name, *figures in session.execute(query)]


def pos_report(session: Session, settlement_id: str) -> dict[str, Any]:
    """JSON body: the settlement's summary, the groups and the lines."""
    row = _pos_settlement(session, settlement_id)
    return {
        "settlement_id": row.id, "clinic_id": row.clinic_id,
        "settlement_date": row.settlement_date.isoformat(), "count": row.count,
        "gross": row.gross, "credits": row.credits, "fees": row.fees, "total": row.total,
        "groups": [asdict(g) for g in pos_summary(session, settlement_id)],
        "transactions": list(pos_transactions(session, settlement_id)),
    }
