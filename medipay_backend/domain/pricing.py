"""Amounts derived from an order and the clinic's agreement (pure, integer øre)."""

from __future__ import annotations

from dataclasses import dataclass

# Percent prices are kept in basis points (1/100 of a percent) so they stay integers.
BASIS_POINTS = 10_000


@dataclass(frozen=True)
class InvoiceAmounts:
    amount: int
    invoice_fee: int
    total: int


def invoice_amounts(amount: int, fee_on: bool, agreed_fee: int) -> InvoiceAmounts:
    """The invoice fee is added to the patient part when the order has it switched on."""
    fee = agreed_fee if fee_on else 0
    return InvoiceAmounts(amount=amount, invoice_fee=fee, total=amount + fee)


def transaction_price(amount: int, per_transaction: int, percent_bp: int) -> int:
    """What the provider charges the clinic for one transaction, rounded half up to an øre."""
    percent_part = (amount * percent_bp * 2 + BASIS_POINTS) // (2 * BASIS_POINTS)
    return per_transaction + percent_part
