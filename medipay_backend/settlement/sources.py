"""Post the business records to the ledger (blocking, idempotent).

Every transfer id is derived from the record it books, so running `post_new` again (or two
processes at once) posts nothing twice: a repeat is a no-op in `ledger_store.append`.
  * POS transactions (stream pos): `pos:<id>`; payments that were approved (or later
    reversed by a reversal record, `reversed_by`) credit the clinic, approved refunds and
    reversals debit it, so a payment and its reversal net to 0 in whichever order they
    arrive. A payment that arrived `reversed` (the terminal took it back before it was
    charged) moves nothing. Only gateways mapped to a clinic (`gateway_clinics`) are settled.
  * Checkout card/Vipps payments (stream checkout): `pay:<id>:auth` pending when authorized,
    `pay:<id>:capture` posting it, `pay:<id>:void` when cancelled after authorization.
  * Bought invoices (stream checkout): `inv:<id>:purchase` for the invoice's amount.
  * Fakturaservice (stream fakturaservice): `fs_claim`, `fs_claim_released`, `fs_payment`,
    `fs_invoice_fee` and `fs_suspense_return` below are the hooks the invoicing module calls
    when it issues a claim, credits, stops or deletes one, allocates a payment (OCR, card,
    Vipps, an applied suspense item) or refunds suspense money (`invoicing/ledger_posts.py`).
    Ids are `fs:<...>`.
  * Credits on orders (stream checkout): `credit:<id>`, booked by `credits.credit_order` when
    the credit is made (after `post_payment` / `post_purchase` of what it credits), not here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend import ledger_store
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.ledger import Transfer, chart, postings
from medipay_backend.ledger.chart import Channel
from medipay_backend.ledger.core import post_pending, void_pending
from medipay_backend.ledger_store import Meta
from medipay_backend.models import PosTransaction
from medipay_backend.models_ledger import GatewayClinic, LedgerTransfer
from medipay_backend.models_orders import Invoice, Order, Payment

_POS = SettlementStream.POS
_CHECKOUT = SettlementStream.CHECKOUT
# Rows fetched per round trip while scanning a large backlog.
SCAN_BATCH = 1000


def ensure_accounts(session: Session, clinic_id: str, currency: str = "NOK") -> None:
    ledger_store.open_accounts(session, chart.provider_accounts(currency))
    ledger_store.open_accounts(session, chart.clinic_accounts(clinic_id, currency))


def _missing(session: Session, prefix: str, id_column: Any) -> sa.Exists:
    return (
        sa.select(LedgerTransfer.seq)
        .where(LedgerTransfer.id == sa.literal(prefix) + id_column)
        .exists()
    )


def new_pos_rows(session: Session) -> Iterator[tuple[PosTransaction, str]]:
    query = (
        sa.select(PosTransaction, GatewayClinic.clinic_id)
        .join(GatewayClinic, GatewayClinic.gateway_id == PosTransaction.gateway_id)
        .where(~_missing(session, "pos:", PosTransaction.id))
        .order_by(PosTransaction.seq)
    )
    for tx, clinic_id in session.execute(query.execution_options(yield_per=SCAN_BATCH)):
        yield tx, str(clinic_id)


def pos_transfer(tx: PosTransaction, clinic_id: str) -> tuple[Transfer, Meta] | None:
    meta = Meta("pos", clinic_id, _POS.value, None)
    reference = f"pos {tx.gateway_id}/{tx.gateway_transaction_id}"
    if tx.amount <= 0:
        return None
    if tx.kind == "payment" and (tx.status == "approved" or tx.reversed_by is not None):
        return postings.payment(
            f"pos:{tx.id}", clinic_id, _POS, Channel.POS, tx.amount, tx.occurred_at,
            pending=False, reference=reference, currency=tx.currency,
        ), meta
    if tx.kind in ("refund", "reversal") and tx.status == "approved":
        return postings.refund(
            f"pos:{tx.id}", clinic_id, _POS, Channel.POS, tx.amount, tx.occurred_at,
            reference=reference, currency=tx.currency,
        ), meta
    return None  # declined, aborted or failed: no money moved


def post_pos(session: Session, now: datetime) -> int:
    posted = 0
    clinics: set[str] = set()
    for tx, clinic_id in list(new_pos_rows(session)):
        built = pos_transfer(tx, clinic_id)
        if built is None:
            continue
        if clinic_id not in clinics:
            ensure_accounts(session, clinic_id, tx.currency)
            clinics.add(clinic_id)
        posted += ledger_store.append(session, built[0], built[1], now)
    return posted


def post_checkout(session: Session, now: datetime) -> int:
    """Card and Vipps payments and bought invoices not yet (fully) in the ledger."""
    posted = 0
    payments = session.execute(
        sa.select(Payment, Order)
        .join(Order, Order.id == Payment.order_id)
        .where(Payment.method.in_(("card", "vipps")))
        .where(Payment.status.in_(("authorized", "captured", "cancelled")))
        .order_by(Payment.created_at, Payment.id)
    ).all()
    for payment, order in payments:
        posted += post_payment(session, payment, order, now)
    invoices = session.execute(
        sa.select(Invoice).where(Invoice.route == "bought")
        .where(~_missing(session, "inv:", Invoice.id + sa.literal(":purchase")))
        .order_by(Invoice.seq)
    ).scalars().all()
    for invoice in invoices:
        posted += post_purchase(session, invoice, now)
    return posted


def post_purchase(session: Session, invoice: Invoice, now: datetime) -> int:
    """A bought invoice's purchase (idempotent); credits call it before crediting the claim."""
    ensure_accounts(session, invoice.clinic_id, invoice.currency)
    transfer = postings.claim_purchase(
        f"inv:{invoice.id}:purchase", invoice.clinic_id, invoice.amount,
        invoice.created_at, reference=f"invoice {invoice.id}", currency=invoice.currency,
    )
    meta = Meta("bought_invoice", invoice.clinic_id, _CHECKOUT.value, invoice.kid)
    return int(ledger_store.append(session, transfer, meta, now))


def post_payment(session: Session, payment: Payment, order: Order, now: datetime) -> int:
    """A card/Vipps payment's authorization and capture or void (idempotent); credits call it
    so that the payment is in the ledger before its refund."""
    ensure_accounts(session, order.clinic_id, order.currency)
    channel = Channel.CARD if payment.method == "card" else Channel.VIPPS
    meta = Meta(payment.method, order.clinic_id, _CHECKOUT.value, order.kid)
    auth = postings.payment(
        f"pay:{payment.id}:auth", order.clinic_id, _CHECKOUT, channel, payment.amount,
        payment.created_at, pending=True, reference=f"order {order.id}", currency=order.currency,
    )
    posted = int(ledger_store.append(session, auth, meta, now))
    if payment.status == "captured":
        capture = post_pending(auth, f"pay:{payment.id}:capture", payment.updated_at,
                               amount=payment.amount)
        posted += ledger_store.append(session, capture, meta, now)
    elif payment.status == "cancelled":
        void = void_pending(auth, f"pay:{payment.id}:void", payment.updated_at)
        posted += ledger_store.append(session, void, meta, now)
    return posted


def fs_claim(
    session: Session, invoice_id: str, clinic_id: str, amount: int, at: datetime, now: datetime
) -> bool:
    """The hook for the invoicing module: a Fakturaservice claim was opened (memo only)."""
    ensure_accounts(session, clinic_id)
    transfer = postings.claim_registered(
        f"fs:{invoice_id}:claim", clinic_id, amount, at, reference=f"invoice {invoice_id}"
    )
    return ledger_store.append(session, transfer, Meta("other", clinic_id), now)


def fs_claim_released(
    session: Session, transfer_id: str, clinic_id: str, amount: int, at: datetime,
    now: datetime, *, withdrawn: bool, reference: str,
) -> bool:
    """The hook for the invoicing module: (part of) a Fakturaservice claim left collection
    without being paid, so its memo shrinks (no money moves): a credit note, or the clinic
    stopping or deleting the claim (`withdrawn`). The caller derives `transfer_id` from the
    claim (`fs:<invoice>:...`), so a repeat posts nothing."""
    ensure_accounts(session, clinic_id)
    build = postings.claim_memo_withdrawn if withdrawn else postings.claim_memo_credited
    transfer = build(transfer_id, clinic_id, amount, at, reference=reference)
    return ledger_store.append(session, transfer, Meta("other", clinic_id), now)


def _money_source(channel: Channel | None, payment_id: str) -> tuple[str, str]:
    """(account the money comes from, transfer reference) for a payment that came in on
    `channel`; None is the suspense account (an operator applied a suspense item)."""
    if channel is None:
        return chart.suspense_id(), f"suspense {payment_id}"
    return chart.clearing_id(channel), f"{channel.value} {payment_id}"


def fs_payment(
    session: Session, payment_id: str, clinic_id: str | None, principal: int, kid: str | None,
    at: datetime, now: datetime, *, fees: int = 0, interest: int = 0, overpayment: int = 0,
    clinic_owned: bool = True, channel: Channel | None = Channel.GIRO,
) -> int:
    """The hook for the invoicing module: a patient paid (part of) a claim, or money came in
    that belongs to no claim (`clinic_id` None, only `overpayment`: it waits in suspense).

    Fakturaservice (`clinic_owned`): `principal` (the claim's principal with its invoice fee)
    goes to the clinic's fakturaservice payable, settled in stream 2. A bought claim is the
    provider's: `principal` pays down claims:purchased (the caller posts the purchase first)
    and nothing reaches a clinic. Fees and interest are the provider's revenue either way.
    `channel` is where the money came from (giro, card, Vipps); None means the suspense
    account (an operator applied a suspense item), so an overpayment simply stays there.
    Ids are `fs:<payment_id>:<part>`.
    """
    if clinic_id is None and (principal or fees or interest):
        raise ValueError("a payment allocated to a claim needs the claim's clinic")
    if clinic_id is None:
        ledger_store.open_accounts(session, chart.provider_accounts())
    else:
        ensure_accounts(session, clinic_id)
    source, reference = _money_source(channel, payment_id)
    transfers = postings.patient_payment(
        f"fs:{payment_id}", clinic_id or "", at, fees=fees, interest=interest,
        principal=principal, overpayment=0 if channel is None else overpayment,
        clinic_owned=clinic_owned and clinic_id is not None,
        reference=reference, from_account_id=source,
    )
    posted = 0
    for transfer in transfers:
        meta = Meta("other", clinic_id)
        if transfer.id.endswith(":principal"):
            meta = (Meta("fakturaservice", clinic_id, SettlementStream.FAKTURASERVICE.value,
                         kid) if clinic_owned else Meta("bought_invoice", clinic_id, None, kid))
        posted += ledger_store.append(session, transfer, meta, now)
    return posted


def fs_invoice_fee(
    session: Session, payment_id: str, clinic_id: str, amount: int, kid: str | None,
    at: datetime, now: datetime, *, channel: Channel | None = Channel.GIRO,
) -> bool:
    """The hook for the invoicing module: a payment covered (part of) the invoice fee of a
    claim the provider bought; the provider's invoice-fee revenue. `channel` as in
    `fs_payment` (None: from suspense). Id `fs:<payment_id>:invoice-fee`."""
    ledger_store.open_accounts(session, [chart.invoice_fee_revenue_account()])
    source, reference = _money_source(channel, payment_id)
    transfer = postings.bought_invoice_fee_paid(
        f"fs:{payment_id}:invoice-fee", source, amount, at, reference=reference)
    return ledger_store.append(session, transfer, Meta("other", clinic_id, None, kid), now)


def fs_suspense_return(
    session: Session, item_id: str, amount: int, at: datetime, now: datetime, reference: str
) -> bool:
    """The hook for the invoicing module: suspense money is paid back to whoever sent it
    (it leaves the provider's bank account). Id `fs:<item_id>:return`."""
    ledger_store.open_accounts(session, chart.provider_accounts())
    transfer = Transfer(
        id=f"fs:{item_id}:return", debit_account_id=chart.suspense_id(),
        credit_account_id=chart.bank_id(), amount=amount, currency=chart.DEFAULT_CURRENCY,
        code=int(chart.TransferCode.SUSPENSE_RETURN), timestamp=at, reference=reference,
    )
    return ledger_store.append(session, transfer, Meta("other"), now)


def post_new(session: Session, now: datetime) -> int:
    """Everything not yet posted; returns the number of new transfers."""
    return post_pos(session, now) + post_checkout(session, now)
