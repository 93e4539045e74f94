"""Ready-made transfers for the business events, on the accounts of `chart.py`.

Each function only builds `Transfer` values; nothing is applied. The caller chooses the ids
(usually derived from the order, payment or settlement id, so that a retry repeats them).
"""

from __future__ import annotations

from datetime import datetime

from . import chart
from .chart import Channel, SettlementStream, TransferCode
from .model import Transfer, TransferFlags


def _transfer(
    transfer_id: str,
    debit: str,
    credit: str,
    amount: int,
    code: TransferCode,
    timestamp: datetime,
    reference: str,
    currency: str,
    flags: TransferFlags = TransferFlags.NONE,
) -> Transfer:
    return Transfer(
        id=transfer_id,
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        currency=currency,
        code=int(code),
        timestamp=timestamp,
        flags=flags,
        reference=reference,
    )


def payment(
    transfer_id: str,
    clinic_id: str,
    stream: SettlementStream,
    channel: Channel,
    amount: int,
    timestamp: datetime,
    *,
    pending: bool,
    reference: str = "",
    currency: str = chart.DEFAULT_CURRENCY,
) -> Transfer:
    """A patient's card, Vipps or POS payment owed to the clinic.

    `pending=True` records the authorization; capture it with `core.post_pending` and cancel
    it with `core.void_pending`. POS journals arrive already captured (`pending=False`).
    """
    return _transfer(
        transfer_id,
        chart.clearing_id(channel),
        chart.payable_id(clinic_id, stream),
        amount,
        TransferCode.PAYMENT,
        timestamp,
        reference,
        currency,
        TransferFlags.PENDING if pending else TransferFlags.NONE,
    )


def refund(
    transfer_id: str,
    clinic_id: str,
    stream: SettlementStream,
    channel: Channel,
    amount: int,
    timestamp: datetime,
    reference: str = "",
    currency: str = chart.DEFAULT_CURRENCY,
) -> Transfer:
    """A credit to the patient: the clinic's payable shrinks (deducted at the next payout)."""
    return _transfer(
        transfer_id,
        chart.payable_id(clinic_id, stream),
        chart.clearing_id(channel),
        amount,
        TransferCode.REFUND,
        timestamp,
        reference,
        currency,
    )


def claim_purchase(
    transfer_id: str,
    clinic_id: str,
    amount: int,
    timestamp: datetime,
    reference: str = "",
    currency: str = chart.DEFAULT_CURRENCY,
) -> Transfer:
    """The provider buys an invoice: it owns the claim and owes the clinic at the next payout."""
    return _transfer(
        transfer_id,
        chart.purchased_claims_id(),
        chart.payable_id(clinic_id, SettlementStream.CHECKOUT),
        amount,
        TransferCode.CLAIM_PURCHASE,
        timestamp,
        reference,
        currency,
    )


def claim_registered(
    transfer_id: str,
    clinic_id: str,
    amount: int,
    timestamp: datetime,
    reference: str = "",
    currency: str = chart.DEFAULT_CURRENCY,
) -> Transfer:
    """Memo of a Fakturaservice claim (principal + invoice fee) the clinic owns."""
    return _transfer(
        transfer_id,
        chart.administered_claims_id(clinic_id),
        chart.administered_claims_contra_id(clinic_id),
        amount,
        TransferCode.CLAIM_REGISTERED,
        timestamp,
        reference,
        currency,
    )


def patient_payment(
    id_prefix: str,
    clinic_id: str,
    timestamp: datetime,
    *,
    fees: int,
    interest: int,
    principal: int,
    overpayment: int,
    clinic_owned: bool,
    reference: str = "",
    currency: str = chart.DEFAULT_CURRENCY,
    from_account_id: str | None = None,
) -> tuple[Transfer, ...]:
    """The transfers for one incoming giro payment already split by `domain.allocation`.

    `from_account_id` is where the money is taken from: the giro clearing account by default;
    the card or Vipps clearing account for a payment from a dunning SMS link, or the
    suspense account when an operator applies a suspense item to a claim.

    Fees and interest are the provider's revenue ("no cure, no pay"). Principal (with the
    invoice fee) goes to the clinic's Fakturaservice payable when the clinic owns the claim,
    and pays down `claims:purchased` when the provider bought it. Zero parts are left out.
    Ids are `<id_prefix>:<part>`.
    """
    source = from_account_id or chart.clearing_id(Channel.GIRO)
    owner = (
        chart.payable_id(clinic_id, SettlementStream.FAKTURASERVICE)
        if clinic_owned
        else chart.purchased_claims_id()
    )
    parts = (
        ("fees", chart.revenue_id(chart.AccountCode.REVENUE_DUNNING_FEES), fees,
         TransferCode.ALLOCATE_FEES),
        ("interest", chart.revenue_id(chart.AccountCode.REVENUE_INTEREST), interest,
         TransferCode.ALLOCATE_INTEREST),
        ("principal", owner, principal, TransferCode.ALLOCATE_PRINCIPAL),
        ("overpayment", chart.suspense_id(), overpayment, TransferCode.OVERPAYMENT),
    )
    transfers = [
        _transfer(
            f"{id_prefix}:{name}", source, credit, amount, code, timestamp, reference, currency
        )
        for name, credit, amount, code in parts
        if amount
    ]
    if clinic_owned and principal:
        transfers.append(_claim_memo_down(
            f"{id_prefix}:claim-memo", clinic_id, principal, TransferCode.CLAIM_SETTLED,
            timestamp, reference, currency))
    return tuple(transfers)


def _claim_memo_down(
    transfer_id: str,
    clinic_id: str,
    amount: int,
    code: TransferCode,
    timestamp: datetime,
    reference: str,
    currency: str,
) -> Transfer:
    """The reverse of `claim_registered`: the memo of a clinic's claim shrinks (paid,
    credited or withdrawn; `code` says which). No money moves."""
    return _transfer(
        transfer_id,
        chart.administered_claims_contra_id(clinic_id),
        chart.administered_claims_id(clinic_id),
        amount,
        code,
        timestamp,
        reference,
        currency,
    )


def settlement_fee(
    transfer_id: str,
    clinic_id: str,
    stream: SettlementStream,
    amount: int,
    timestamp: datetime,
    reference: str = "",
    currency: str = chart.DEFAULT_CURRENCY,
) -> Transfer:
    return _transfer(
        transfer_id,
        chart.payable_id(clinic_id, stream),
        chart.revenue_id(chart.AccountCode.REVENUE_SETTLEMENT_FEES),
        amount,
        TransferCode.SETTLEMENT_FEE,
        timestamp,
        reference,
        currency,
    )


def payout(
    transfer_id: str,
    clinic_id: str,
    stream: SettlementStream,
    amount: int,
    timestamp: datetime,
    reference: str = "",
    currency: str = chart.DEFAULT_CURRENCY,
) -> Transfer:
    return _transfer(
        transfer_id,
        chart.payable_id(clinic_id, stream),
        chart.bank_id(),
        amount,
        TransferCode.PAYOUT,
        timestamp,
        reference,
        currency,
    )


def funds_received(
    transfer_id: str,
    channel: Channel,
    amount: int,
    timestamp: datetime,
    reference: str = "",
    currency: str = chart.DEFAULT_CURRENCY,
) -> Transfer:
    """An acquirer, Vipps or Nets settled what it owed us into our bank account."""
    return _transfer(
        transfer_id,
        chart.bank_id(),
        chart.clearing_id(channel),
        amount,
        TransferCode.FUNDS_RECEIVED,
        timestamp,
        reference,
        currency,
    )


def bought_claim_credit(
    transfer_id: str,
    clinic_id: str,
    amount: int,
    timestamp: datetime,
    reference: str = "",
    currency: str = chart.DEFAULT_CURRENCY,
) -> Transfer:
    """The clinic credits (part of) an invoice the provider bought: the credit note lowers
    the provider's claim, and the clinic gives back what it was paid for that part, deducted
    from its next checkout settlement (a REFUND, so settlement treats it as a credit)."""
    return _transfer(
        transfer_id,
        chart.payable_id(clinic_id, SettlementStream.CHECKOUT),
        chart.purchased_claims_id(),
        amount,
        TransferCode.REFUND,
        timestamp,
        reference,
        currency,
    )


def claim_memo_credited(
    transfer_id: str,
    clinic_id: str,
    amount: int,
    timestamp: datetime,
    reference: str = "",
    currency: str = chart.DEFAULT_CURRENCY,
) -> Transfer:
    """Memo: a credit note lowered a Fakturaservice claim the clinic owns (no money moves)."""
    return _claim_memo_down(
        transfer_id, clinic_id, amount, TransferCode.CLAIM_CREDITED, timestamp, reference, currency
    )


def refund_owed(
    transfer_id: str,
    channel: Channel,
    amount: int,
    timestamp: datetime,
    reference: str = "",
    currency: str = chart.DEFAULT_CURRENCY,
) -> Transfer:
    """A credit's refund that the acquirer or Vipps never took (it failed for good).

    `refund` credited the channel's clearing account, expecting the provider to net the
    refund against what it pays us. It will not, so the clearing account gets the amount
    back, and the provider now owes it to the patient: `refunds-owed` until it is sent again
    (`refund_resent`) or paid back some other way. The clinic's payable is not touched: the
    credit was deducted from its settlement either way."""
    return _transfer(
        transfer_id,
        chart.clearing_id(channel),
        chart.refunds_owed_id(),
        amount,
        TransferCode.REFUND_OWED,
        timestamp,
        reference,
        currency,
    )


def refund_resent(
    transfer_id: str,
    channel: Channel,
    amount: int,
    timestamp: datetime,
    reference: str = "",
    currency: str = chart.DEFAULT_CURRENCY,
) -> Transfer:
    """A refund owed to a patient is sent to the acquirer or Vipps again: the reverse of
    `refund_owed`."""
    return _transfer(
        transfer_id,
        chart.refunds_owed_id(),
        chart.clearing_id(channel),
        amount,
        TransferCode.REFUND_RESENT,
        timestamp,
        reference,
        currency,
    )


def refund_paid_by_hand(
    transfer_id: str,
    amount: int,
    timestamp: datetime,
    reference: str = "",
    currency: str = chart.DEFAULT_CURRENCY,
) -> Transfer:
    """A refund owed to a patient (`refund_owed`) that the operator paid outside MediPay,
    e.g. by a bank transfer made by hand: the liability is settled from our bank account."""
    return _transfer(
        transfer_id,
        chart.refunds_owed_id(),
        chart.bank_id(),
        amount,
        TransferCode.REFUND_PAID_BY_HAND,
        timestamp,
        reference,
        currency,
    )


def claim_memo_withdrawn(
    transfer_id: str,
    clinic_id: str,
    amount: int,
    timestamp: datetime,
    reference: str = "",
    currency: str = chart.DEFAULT_CURRENCY,
) -> Transfer:
    """Memo: the clinic stopped or deleted a Fakturaservice claim, so what was left of its
    principal and invoice fee is no longer under collection (no money moves)."""
    return _claim_memo_down(
        transfer_id, clinic_id, amount, TransferCode.CLAIM_WITHDRAWN, timestamp, reference, currency
    )


def bought_invoice_fee_paid(
    transfer_id: str,
    from_account_id: str,
    amount: int,
    timestamp: datetime,
    reference: str = "",
    currency: str = chart.DEFAULT_CURRENCY,
) -> Transfer:
    """The part of a patient's payment that covers the invoice fee of a claim the provider
    bought: the provider's revenue, on an account of its own. `from_account_id` is where
    the money came from (a clearing account, or suspense for an applied item)."""
    return _transfer(
        transfer_id,
        from_account_id,
        chart.invoice_fee_revenue_id(),
        amount,
        TransferCode.ALLOCATE_INVOICE_FEE,
        timestamp,
        reference,
        currency,
    )


def suspense_booked_out(
    transfer_id: str,
    to_account_id: str,
    amount: int,
    timestamp: datetime,
    reference: str = "",
    currency: str = chart.DEFAULT_CURRENCY,
) -> Transfer:
    """Suspense money an operator handled by hand leaves suspense for where it went
    (`to_account_id`, e.g. the bank account it was paid out of)."""
    return _transfer(
        transfer_id,
        chart.suspense_id(),
        to_account_id,
        amount,
        TransferCode.SUSPENSE_BOOKED_OUT,
        timestamp,
        reference,
        currency,
    )
