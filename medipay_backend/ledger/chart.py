"""The chart of accounts of the MediPay business and the codes its transfers carry.

Provider accounts (one set per currency):
  bank                     our settlement bank account (asset)
  clearing:<channel>       money an acquirer, Vipps or Nets owes us and has not paid yet (asset)
  claims:purchased         invoices the provider bought and now collects for itself (asset)
  revenue:<kind>           dunning fees, late interest, settlement fees (revenue)
  suspense                 money received that belongs to no claim yet (liability)

Clinic accounts (per clinic; the payable per settlement stream, DESIGN.md section 4):
  clinic:<id>:<stream>:payable      what the provider owes the clinic in that stream (liability)
  clinic:<id>:fakturaservice:claims  memo of the claims the clinic owns and the provider
  clinic:<id>:fakturaservice:claims-contra   collects for it; the pair nets to zero

The settlement streams are the domain's (`domain.settlement.SettlementStream`), so a payout
computed there and the payable it is booked against can never name different streams.
Account ids are readable strings so that a database row, a log line and a report all show
the same name.
"""

from __future__ import annotations

import re
from enum import Enum, IntEnum

from medipay_backend.domain.settlement import SettlementStream

from .errors import InvalidAccountError
from .model import Account, AccountFlags

DEFAULT_CURRENCY = "NOK"
# A clinic id becomes part of account ids (max 128 characters); 40 leaves room for the rest.
CLINIC_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,40}")


class Channel(Enum):
    """Where money comes from before it reaches our bank; each has a clearing account."""

    CARD = "card"
    VIPPS = "vipps"
    POS = "pos"
    GIRO = "giro"  # payments with KID from patients' banks, reported in OCR giro files


class AccountCode(IntEnum):
    """Account types; the thousands digit follows the usual asset/liability/revenue order."""

    BANK = 1000
    CLEARING = 1100
    PURCHASED_CLAIMS = 1200
    ADMINISTERED_CLAIMS = 1300
    ADMINISTERED_CLAIMS_CONTRA = 1310
    CLINIC_PAYABLE = 2000
    SUSPENSE = 2100
    REFUNDS_OWED = 2200
    REVENUE_DUNNING_FEES = 3000
    REVENUE_INTEREST = 3100
    REVENUE_SETTLEMENT_FEES = 3200
    REVENUE_INVOICE_FEES = 3300  # invoice fees of bought claims (`invoice_fee_revenue_id`)


class TransferCode(IntEnum):
    """Why money moved; reports group by it."""

    PAYMENT = 10  # card/Vipps/POS payment: authorization (pending) then capture (post)
    REFUND = 11  # a credit to the patient, deducted from the clinic's next settlement
    REFUND_OWED = 12  # a credit's refund the card/Vipps provider never took: owed to the patient
    REFUND_RESENT = 13  # ... sent to the provider again: back to its clearing account
    REFUND_PAID_BY_HAND = 14  # ... paid to the patient outside MediPay: from our bank
    CLAIM_PURCHASE = 20  # the provider buys an invoice and owes the clinic its amount
    CLAIM_REGISTERED = 21  # memo: a Fakturaservice claim is opened for the clinic
    CLAIM_SETTLED = 22  # memo: (part of) a Fakturaservice claim's principal was paid
    CLAIM_CREDITED = 23  # memo: (part of) a Fakturaservice claim was credited by the clinic
    CLAIM_WITHDRAWN = 24  # memo: the clinic stopped or deleted a Fakturaservice claim
    ALLOCATE_FEES = 31  # a patient's payment covering dunning fees (provider's)
    ALLOCATE_INTEREST = 32  # ... covering late interest (provider's)
    ALLOCATE_PRINCIPAL = 33  # ... covering principal and invoice fee (the claim owner's)
    OVERPAYMENT = 34  # ... more than was owed, kept in suspense until resolved
    ALLOCATE_INVOICE_FEE = 35  # ... covering a bought claim's invoice fee (provider's)
    SETTLEMENT_FEE = 40  # the agreement's fees, deducted from a settlement
    PAYOUT = 50  # the settlement paid to the clinic's bank account
    FUNDS_RECEIVED = 60  # an acquirer, Vipps or Nets paid us what it owed
    SUSPENSE_RETURN = 70  # suspense money paid back to whoever sent it
    SUSPENSE_BOOKED_OUT = 71  # suspense money handled by hand, booked out where it went
    CORRECTION = 90  # a reversal of an earlier transfer


_CREDIT_ONLY = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
_DEBIT_ONLY = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS


def _check_clinic(clinic_id: str) -> str:
    if not CLINIC_ID_PATTERN.fullmatch(clinic_id):
        raise InvalidAccountError(f"clinic id must match {CLINIC_ID_PATTERN.pattern}")
    return clinic_id


def bank_id() -> str:
    return "provider:bank"


def clearing_id(channel: Channel) -> str:
    return f"provider:clearing:{channel.value}"


def purchased_claims_id() -> str:
    return "provider:claims:purchased"


def suspense_id() -> str:
    return "provider:suspense"


def revenue_id(code: AccountCode) -> str:
    names = {
        AccountCode.REVENUE_DUNNING_FEES: "dunning-fees",
        AccountCode.REVENUE_INTEREST: "interest",
        AccountCode.REVENUE_SETTLEMENT_FEES: "settlement-fees",
        AccountCode.REVENUE_INVOICE_FEES: "invoice-fees",
    }
    if code not in names:
        raise InvalidAccountError(f"{code!r} is not a revenue account")
    return f"provider:revenue:{names[code]}"


def payable_id(clinic_id: str, stream: SettlementStream) -> str:
    return f"clinic:{_check_clinic(clinic_id)}:{stream.value}:payable"


def administered_claims_id(clinic_id: str) -> str:
    return f"clinic:{_check_clinic(clinic_id)}:fakturaservice:claims"


def administered_claims_contra_id(clinic_id: str) -> str:
    return f"clinic:{_check_clinic(clinic_id)}:fakturaservice:claims-contra"


def provider_accounts(currency: str = DEFAULT_CURRENCY) -> tuple[Account, ...]:
    """The provider's own accounts.

    Limits say what the business can never do: collect more on a bought claim than it is
    worth (the excess goes to suspense), pay out more suspense money than arrived, or let a
    revenue account go negative. Bank and clearing accounts carry no limit: timing differences
    between a payout and the acquirer's funds are normal.
    """
    accounts = [
        Account(bank_id(), currency, AccountCode.BANK),
        *(Account(clearing_id(c), currency, AccountCode.CLEARING) for c in Channel),
        Account(purchased_claims_id(), currency, AccountCode.PURCHASED_CLAIMS, _DEBIT_ONLY),
        Account(suspense_id(), currency, AccountCode.SUSPENSE, _CREDIT_ONLY),
        refunds_owed_account(currency),
    ]
    for code in (
        AccountCode.REVENUE_DUNNING_FEES,
        AccountCode.REVENUE_INTEREST,
        AccountCode.REVENUE_SETTLEMENT_FEES,
        AccountCode.REVENUE_INVOICE_FEES,
    ):
        accounts.append(Account(revenue_id(code), currency, code, _CREDIT_ONLY))
    return tuple(accounts)


def clinic_accounts(clinic_id: str, currency: str = DEFAULT_CURRENCY) -> tuple[Account, ...]:
    """A clinic's accounts: a payable per stream and the Fakturaservice claims memo pair.

    The payables carry no limit because a settlement whose credits exceed its payments
    leaves the clinic owing the provider; that debit is carried into the next settlement.
    """
    payables = tuple(
        Account(payable_id(clinic_id, stream), currency, AccountCode.CLINIC_PAYABLE)
        for stream in SettlementStream
    )
    memo = (
        Account(
            administered_claims_id(clinic_id),
            currency,
            AccountCode.ADMINISTERED_CLAIMS,
            _DEBIT_ONLY,
        ),
        Account(
            administered_claims_contra_id(clinic_id),
            currency,
            AccountCode.ADMINISTERED_CLAIMS_CONTRA,
            _CREDIT_ONLY,
        ),
    )
    return payables + memo


def refunds_owed_id() -> str:
    """Refunds of credits that the acquirer or Vipps did not take (liability): the clinic's
    settlement has already given the money up, and the provider owes it to the patient."""
    return "provider:refunds-owed"


def refunds_owed_account(currency: str = DEFAULT_CURRENCY) -> Account:
    # Credit-only: more cannot be paid out of it than failed refunds put in.
    return Account(refunds_owed_id(), currency, AccountCode.REFUNDS_OWED, _CREDIT_ONLY)


def invoice_fee_revenue_id() -> str:
    """The invoice fees (fakturagebyr) of claims the provider bought: revenue of its own,
    apart from dunning fees, which are regulated and reported differently. (A Fakturaservice
    claim's invoice fee is the clinic's and goes to its payable.)"""
    return revenue_id(AccountCode.REVENUE_INVOICE_FEES)


def invoice_fee_revenue_account(currency: str = DEFAULT_CURRENCY) -> Account:
    # Credit-only like the other revenue accounts: income can never go negative.
    return Account(
        invoice_fee_revenue_id(), currency, AccountCode.REVENUE_INVOICE_FEES, _CREDIT_ONLY
    )
