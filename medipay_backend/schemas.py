"""Request and response bodies of the HTTP API (pydantic); the OpenAPI schema comes from here.

Inputs forbid unknown fields and take integers strictly (no "100" or 100.0 for an amount), so
what a gateway sends is exactly what is stored and fingerprinted. Times must carry an offset
and are normalised to UTC.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from medipay_backend.domain.cards import masked_pan_error

# The batch size a gateway may send at once: large enough to drain a day's backlog quickly,
# small enough that one request is one short database transaction.
MAX_BATCH_ITEMS = 500
# ZVT carries amounts as 6-byte BCD: 12 digits of minor units is the most a terminal reports.
MAX_AMOUNT_MINOR = 999_999_999_999
# Card schemes on one end-of-day report (ZVT lists a handful; leave room for others).
MAX_SCHEMES = 64
MAX_COUNT = 1_000_000_000
MAX_INT32 = 2**31 - 1

GATEWAY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# Identifiers: visible ASCII without spaces.
_TOKEN_PATTERN = r"^[!-~]+$"
# Free text: no control characters.
_TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"

GatewayId = Annotated[str, StringConstraints(pattern=GATEWAY_ID_PATTERN)]
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=3, max_length=200, pattern=_TOKEN_PATTERN)
]
Token64 = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_TOKEN_PATTERN)]
Token100 = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=_TOKEN_PATTERN)
]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Amount = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT_MINOR)]
Count = Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)]
SmallNumber = Annotated[StrictInt, Field(ge=0, le=MAX_INT32)]
CardName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_TEXT_PATTERN)]
Reference = Annotated[str, StringConstraints(max_length=200, pattern=_TEXT_PATTERN)]
TxKind = Literal["payment", "refund", "reversal"]
TxStatus = Literal["approved", "declined", "aborted", "failed", "reversed"]
TotalsSource = Literal["terminal", "reconstructed"]


def _check_masked_pan(value: str | None) -> str | None:
    if value is None:
        return None
    reason = masked_pan_error(value)
    if reason is not None:
        raise ValueError(f"masked_pan {reason}")
    return value


MaskedPan = Annotated[str, StringConstraints(max_length=32), AfterValidator(_check_masked_pan)]


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcTime = Annotated[AwareDatetime, AfterValidator(_utc)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- gateways ----------------------------------------------------------------------------


class GatewayEnrolment(_Input):
    gateway_id: GatewayId
    public_key: str = Field(description="Base64 (standard alphabet) of the raw 32-byte key.")
    name: Annotated[str, StringConstraints(max_length=200, pattern=_TEXT_PATTERN)] | None = None
    replace: StrictBool = Field(
        default=False, description="Replace the key of an already enrolled gateway."
    )

    @field_validator("public_key")
    @classmethod
    def _valid_key(cls, value: str) -> str:
        decode_public_key(value)
        return value

    def public_key_bytes(self) -> bytes:
        return decode_public_key(self.public_key)


def decode_public_key(value: str) -> bytes:
    """The raw Ed25519 public key in a base64 string; ValueError if it is not one."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("public_key is not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != value:
        raise ValueError("public_key is not canonical base64 (standard alphabet, padded)")
    if len(raw) != 32:
        raise ValueError("public_key must be a raw 32-byte Ed25519 public key")
    return raw


class GatewayOut(BaseModel):
    gateway_id: str
    name: str | None
    public_key: str
    enrolled_at: datetime


class GatewayList(BaseModel):
    items: list[GatewayOut]


# --- POS transactions --------------------------------------------------------------------


class ReversedPayment(_Input):
    """The payment a reversal reverses, as the gateway knows it."""

    gateway_transaction_id: Token100 | None = Field(
        default=None, description="The payment's gateway_transaction_id; null if the gateway "
        "never journalled it (a standalone terminal's reversal of an unknown payment).")
    receipt_number: SmallNumber | None = Field(
        default=None, description="The payment's receipt number at the terminal.")

    @model_validator(mode="after")
    def _names_something(self) -> ReversedPayment:
        if self.gateway_transaction_id is None and self.receipt_number is None:
            raise ValueError("reverses needs a gateway_transaction_id or a receipt_number")
        return self


class _PosTransactionFields(BaseModel):
    idempotency_key: IdempotencyKey = Field(
        description="Chosen by the gateway: gateway_id:terminal_id:trace:receipt."
    )
    gateway_transaction_id: Token100
    terminal_id: Token64
    kind: TxKind
    status: TxStatus
    amount: Amount = Field(description="Minor units (øre for NOK).")
    currency: Currency = Field(description="ISO 4217 alphabetic code, e.g. NOK.")
    masked_pan: MaskedPan | None = Field(
        default=None, description="First 6 / last 4 digits at most."
    )
    card_name: CardName | None = None
    receipt_number: SmallNumber | None = None
    trace_number: SmallNumber | None = None
    result_code: SmallNumber | None = None
    reference: Reference | None = Field(
        default=None, description="The EPJ's reference for the payment."
    )
    occurred_at: UtcTime
    reverses: ReversedPayment | None = Field(
        default=None, description="Reversals only: the payment this one reverses."
    )


class PosTransactionIn(_PosTransactionFields, _Input):
    @model_validator(mode="after")
    def _only_reversals_reverse(self) -> PosTransactionIn:
        if self.reverses is not None and self.kind != "reversal":
            raise ValueError(f"only a reversal names a payment it reverses, not a {self.kind}")
        return self


class PosTransactionBatch(_Input):
    transactions: list[PosTransactionIn] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class PosTransactionOut(_PosTransactionFields, _Output):
    id: str
    gateway_id: str
    received_at: datetime
    reversed_by: str | None = Field(
        default=None, description="A payment: the id of the approved reversal that reversed it."
    )


class PosTransactionPage(BaseModel):
    items: list[PosTransactionOut]
    next: str | None = Field(description="Cursor for the next (older) page, or null.")


# --- end of day --------------------------------------------------------------------------


class SchemeTotal(_Input):
    card_name: CardName
    count: Count
    amount: Amount


class _EndOfDayFields(BaseModel):
    idempotency_key: IdempotencyKey
    terminal_id: Token64
    occurred_at: UtcTime
    count: Count
    amount: Amount
    currency: Currency
    per_scheme: list[SchemeTotal] = Field(default_factory=list, max_length=MAX_SCHEMES)
    totals_source: TotalsSource = Field(
        default="terminal",
        description="`reconstructed`: the terminal closed its batch but its answer was lost; "
        "the gateway counted these totals from its journal.",
    )


class EndOfDayIn(_EndOfDayFields, _Input):
    pass


class EndOfDayBatch(_Input):
    totals: list[EndOfDayIn] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class EndOfDayOut(_EndOfDayFields, _Output):
    id: str
    gateway_id: str
    received_at: datetime


class EndOfDayPage(BaseModel):
    items: list[EndOfDayOut]
    next: str | None


# --- intake results ----------------------------------------------------------------------


class IntakeItemResult(BaseModel):
    idempotency_key: str
    id: str
    outcome: Literal["created", "duplicate"]


class IntakeResults(BaseModel):
    results: list[IntakeItemResult]


class Health(BaseModel):
    status: Literal["ok"]
