"""Request and response bodies of the invoicing API (amounts in øre)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field


class IssueResult(BaseModel):
    issued: list[int]  # invoice numbers


class DunningRunResult(BaseModel):
    day: date
    claims: int
    actions: dict[str, int]
    fees: int


class OcrImportResult(BaseModel):
    transmission: str
    payments: int
    duplicates: int
    matched: int
    amount: int
    to_suspense: int
    suspense_reasons: dict[str, int]


class ClaimEventOut(BaseModel):
    kind: str
    step_id: str | None
    on_date: date
    amount: int
    interest: int
    detail: dict[str, Any]


class ClaimOut(BaseModel):
    invoice_number: int
    invoice_id: str
    clinic_id: str
    route: str
    kid: str
    issue_date: date
    due_date: date
    state: str
    paused: bool
    stage: str
    principal: int
    invoice_fee: int
    fees_charged: int
    paid: int
    credited: int
    next_action_on: date | None
    events: list[ClaimEventOut]


class StopIn(BaseModel):
    delete: bool = False
    reason: str = Field(min_length=1, max_length=200)


class NoteIn(BaseModel):
    note: str = Field(min_length=1, max_length=500)


class CreditIn(BaseModel):
    amount: int | None = Field(default=None, gt=0, description="None: credit all that is left")
    reason: str = Field(min_length=1, max_length=200)


class SuspenseOut(BaseModel):
    id: int
    reason: str
    kid: str | None
    amount: int
    paid_on: date
    source_ref: str
    resolution: str | None = Field(
        default=None, description="handled, applied or refunded; null while unresolved")
    applied_to: int | None = Field(default=None, description="invoice number, when applied")
    refund_account: str | None = None
    note: str | None = None
    booked_out_to: str | None = Field(
        default=None, description="handled by hand: the ledger account its money was booked "
        "out to (e.g. provider:bank); null while still in suspense")


class SuspenseApplyIn(BaseModel):
    invoice_number: int = Field(gt=0)
    amount: int | None = Field(default=None, gt=0,
                               description="Øre to apply; null: the whole item")
    note: str | None = Field(default=None, min_length=1, max_length=500)


class SuspenseResolveIn(BaseModel):
    note: str = Field(min_length=1, max_length=500)
    to: Literal["bank"] | None = Field(
        default=None, description="Where the money went (required unless the item is a "
        "reversal): bank = paid out of the provider's bank account by hand")
    reference: str | None = Field(
        default=None, min_length=1, max_length=120,
        description="The reference of that booking, e.g. the bank transaction's")


class SuspenseRefundIn(BaseModel):
    account: str = Field(min_length=11, max_length=14,
                         description="The payer's Norwegian bank account (11 digits, MOD11)")
    note: str | None = Field(default=None, min_length=1, max_length=500)


class SuspenseApplied(BaseModel):
    item: SuspenseOut
    remainder: SuspenseOut | None
    claim: ClaimOut


class OutstandingRowOut(BaseModel):
    invoice_number: int
    kid: str
    issue_date: date
    due_date: date
    age_days: int
    stage: str
    paused: bool
    principal: int
    invoice_fee: int
    receivable: int
    provider_fees: int


class OutstandingOut(BaseModel):
    clinic_id: str
    at: date
    receivable: int
    items: list[OutstandingRowOut]
