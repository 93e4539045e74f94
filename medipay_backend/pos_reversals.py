"""A POS reversal and the payment it names: checked, and linked (blocking, per session).

A gateway's reversal names its payment by the gateway's transaction id and the terminal's
receipt number (`reverses`). The identity of a payment is (gateway, gateway_transaction_id):
a reversal may only name a payment of its own gateway and terminal, of the same amount, with
the same receipt number; anything else is refused (`ReversalMismatch`, the whole request is
rolled back).

An approved reversal marks its payment `reversed` and the payment records `reversed_by`. The
two may arrive in either order: the gateway's outbox keeps order, but a payment refused once
and retried later, or a standalone terminal's list, may not. A reversal naming a payment the
backend does not have yet is stored as it is; the payment is checked and linked when it
arrives. Settlement (`settlement.sources.pos_transfer`) credits the payment and debits the
reversal either way; `reversed_by` tells a payment reversed by a reversal record (credited,
then debited) from one the terminal took back before it was charged (arrived `reversed`,
never credited).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from medipay_backend.models import PosTransaction


class ReversalMismatch(Exception):
    """A reversal and the payment it names do not fit together."""

    def __init__(self, idempotency_key: str, reason: str) -> None:
        super().__init__(f"{idempotency_key}: {reason}")
        self.idempotency_key = idempotency_key
        self.reason = reason


def link_new(session: Session, rows: Sequence[PosTransaction]) -> None:
    """Check and link newly stored records, in order, against what the backend holds.

    A payment looks for reversals that arrived before it; almost always there are none, so
    one question for the whole batch decides whether its payments need asking one by one."""
    payments = [row for row in rows if row.kind == "payment"]
    ask_payments = bool(payments) and _reversals_may_name(session, payments)
    for row in rows:
        if row.kind == "reversal" and row.reverses is not None:
            payment = _named_payment(session, row)
            if payment is not None:
                _link(payment, row, blame=row)
        elif row.kind == "payment" and ask_payments:
            for reversal in _reversals_naming(session, row):
                _link(row, reversal, blame=row)


def _reversals_may_name(session: Session, payments: Sequence[PosTransaction]) -> bool:
    """Whether any stored reversal names one of `payments` by transaction id, or names a
    receipt number of one of their terminals (a superset of `_reversals_naming`'s answers,
    each half on its own index)."""
    queries = [sa.select(PosTransaction.id).where(
        PosTransaction.reverses_gateway_transaction_id.in_(
            {p.gateway_transaction_id for p in payments}))]
    receipts = {p.receipt_number for p in payments if p.receipt_number is not None}
    if receipts:
        queries.append(sa.select(PosTransaction.id).where(
            PosTransaction.terminal_id.in_({p.terminal_id for p in payments}),
            PosTransaction.reverses_receipt_number.in_(receipts)))
    return any(session.scalar(query.limit(1)) is not None for query in queries)


def _named_payment(session: Session, reversal: PosTransaction) -> PosTransaction | None:
    wanted = reversal.reverses_gateway_transaction_id
    if wanted is not None:
        named = list(session.scalars(
            sa.select(PosTransaction)
            .where(PosTransaction.gateway_transaction_id == wanted,
                   PosTransaction.id != reversal.id)
            .order_by(PosTransaction.seq)))
        own = [row for row in named if row.gateway_id == reversal.gateway_id]
        if not own and named:
            raise ReversalMismatch(reversal.idempotency_key,
                                   "the payment it reverses belongs to another gateway")
        return own[0] if own else None
    # Only a receipt number (a standalone terminal's reversal of a payment the gateway never
    # journalled): the newest earlier payment with it at the same terminal. A terminal
    # reverses only in its open batch, and receipt numbers wrap only after 9999.
    return session.scalars(
        sa.select(PosTransaction)
        .where(PosTransaction.gateway_id == reversal.gateway_id,
               PosTransaction.terminal_id == reversal.terminal_id,
               PosTransaction.kind == "payment",
               PosTransaction.receipt_number == reversal.reverses_receipt_number,
               PosTransaction.occurred_at <= reversal.occurred_at)
        .order_by(PosTransaction.occurred_at.desc(), PosTransaction.seq.desc())
    ).first()


def _reversals_naming(session: Session, payment: PosTransaction) -> list[PosTransaction]:
    """Reversals stored before `payment` arrived that name it, in arrival order.

    Two lookups, each on its own index, rather than one query with an OR (which no index
    answers, so every payment read all of its gateway's records): by the gateway's
    transaction id, and (a standalone terminal's reversal) by terminal and receipt number."""
    own_reversal = sa.and_(PosTransaction.gateway_id == payment.gateway_id,
                           PosTransaction.kind == "reversal", PosTransaction.id != payment.id)
    # Only the reverses index narrows this well; the other conditions are checked on the few
    # rows it finds (given them in SQL, SQLite would walk the gateway's index instead).
    found = {row.id: row for row in session.scalars(
        sa.select(PosTransaction).where(
            PosTransaction.reverses_gateway_transaction_id == payment.gateway_transaction_id))
        if row.gateway_id == payment.gateway_id and row.kind == "reversal"
        and row.id != payment.id}
    if payment.receipt_number is not None:
        linked = aliased(PosTransaction)
        found.update((row.id, row) for row in session.scalars(
            sa.select(PosTransaction).where(
                own_reversal,
                PosTransaction.terminal_id == payment.terminal_id,
                PosTransaction.reverses_receipt_number == payment.receipt_number,
                PosTransaction.reverses_gateway_transaction_id.is_(None),
                PosTransaction.occurred_at >= payment.occurred_at,
                PosTransaction.status == "approved",
                # Not already linked to an earlier payment with the same receipt number.
                ~sa.exists().where(linked.reversed_by == PosTransaction.id))))
    return sorted(found.values(), key=lambda row: row.seq)


def _link(payment: PosTransaction, reversal: PosTransaction, *, blame: PosTransaction) -> None:
    """Check that `reversal` may name `payment`; mark the payment if it was reversed.
    `blame` is the record of this request whose refusal the problem reports."""
    def refuse(reason: str) -> ReversalMismatch:
        return ReversalMismatch(blame.idempotency_key, reason)

    names = f"reversal {reversal.gateway_transaction_id} names payment " \
        f"{payment.gateway_transaction_id}"
    if payment.kind != "payment":
        raise refuse(f"{names}, which is a {payment.kind}, not a payment")
    if payment.terminal_id != reversal.terminal_id:
        raise refuse(f"{names} of terminal {payment.terminal_id}, but the reversal is from "
                     f"terminal {reversal.terminal_id}")
    wanted = reversal.reverses_receipt_number
    if wanted is not None and payment.receipt_number != wanted:
        raise refuse(f"{names} by receipt {wanted}, but its receipt is "
                     f"{payment.receipt_number}")
    if (payment.amount, payment.currency) != (reversal.amount, reversal.currency):
        raise refuse(f"{names} of {payment.amount} {payment.currency}, but reverses "
                     f"{reversal.amount} {reversal.currency}")
    if reversal.status != "approved" or payment.reversed_by == reversal.id:
        return  # a declined reversal changes nothing; this one was linked already
    if payment.reversed_by is not None:
        raise refuse(f"{names}, which another approved reversal already reversed")
    if payment.status != "approved":
        raise refuse(f"{names}, which is {payment.status}; only an approved payment can be "
                     "reversed")
    payment.status = "reversed"
    payment.reversed_by = reversal.id
