"""Paying a dunned invoice by card or Vipps from the link in its SMS (blocking, per session).

Each dunning SMS carries a link of its own: a fresh token of 192 random bits bound to the
claim, of which only the SHA-256 is stored (`ClaimLink`). The page behind it shows what is
owed on the day it is opened: principal, invoice fee, dunning fees and the interest accrued
up to and including that day.

An attempt (`ClaimPayment`) is for the amount owed on the day it starts. When the patient
comes back from the acquirer or Vipps, the claim's row is locked and the amount owed is
computed again; only if the claim is still open and owes exactly the amount that was
authorized is the payment captured, under the lock, and recorded with `pay_claim` (allocated
costs, interest, invoice fee, principal; posted to the ledger). Otherwise nothing is captured
and the caller cancels the authorization, so a second tab, a repeated return or a claim
closed meanwhile never takes money twice. A captured attempt is never recorded again: its
payment has the unique source reference `<method>:<attempt id>`.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.domain.allocation import Outstanding
from medipay_backend.invoicing.balance import outstanding
from medipay_backend.invoicing.dunning_runner import principal_changes
from medipay_backend.invoicing.issuing import PROVIDER, issuer_of
from medipay_backend.invoicing.payments_in import pay_claim
from medipay_backend.localtime import oslo_date
from medipay_backend.models_invoicing import Claim, ClaimLink, ClaimPayment
from medipay_backend.models_orders import Invoice, Order
from medipay_backend.sms_flow import token_hash

# 24 bytes = 192 bits, 32 URL-safe characters: as the order checkout's links.
TOKEN_BYTES = 24
LinkKind = Literal["unknown", "open", "paid", "closed"]
# "repeat": this attempt was captured before (a repeated return); "already_paid": the claim
# was paid another way, so this attempt's authorization must be released.
Settled = Literal["paid", "repeat", "already_paid", "closed", "amount_changed", "declined"]


def claim_path(token: str) -> str:
    return f"/f/{token}"


def new_link(session: Session, claim_seq: int, step_id: str | None, now: datetime) -> str:
    """A new token for the claim (stored as its hash); the token itself is returned once."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(ClaimLink(token_sha256=token_hash(token), claim_seq=claim_seq,
                          step_id=step_id, created_at=now))
    session.flush()
    return token


@dataclass(frozen=True)
class ClaimSummary:
    claim_seq: int
    invoice_number: int
    issuer: str
    description: str
    kid: str
    account: str
    due_date: date
    state: str  # open, paid, stopped, deleted, credited
    today: date
    owed: Outstanding  # on `today`; nothing when the claim is closed
    mobile: str | None

    @property
    def total(self) -> int:
        return self.owed.total


@dataclass(frozen=True)
class LinkState:
    kind: LinkKind
    claim: ClaimSummary | None = None


def owed_on(session: Session, claim: Claim, day: date) -> Outstanding:
    if claim.state != "open":
        return Outstanding()
    return outstanding(claim, principal_changes(session, claim.seq), day)


def _summary(session: Session, claim: Claim, today: date) -> ClaimSummary:
    invoice = session.scalars(sa.select(Invoice).where(Invoice.id == claim.invoice_id)).one()
    order = session.scalars(sa.select(Order).where(Order.id == invoice.order_id)).one()
    return ClaimSummary(
        claim_seq=claim.seq, invoice_number=claim.invoice_number,
        issuer=str(issuer_of(session, claim)["name"]), description=order.description,
        kid=claim.kid, account=str(PROVIDER["bank_account"]), due_date=claim.due_date,
        state=claim.state, today=today, owed=owed_on(session, claim, today),
        mobile=order.sms_to,
    )


def resolve_link(session: Session, token: str, now: datetime) -> LinkState:
    link = session.get(ClaimLink, token_hash(token))
    claim = None if link is None else session.get(Claim, link.claim_seq)
    if claim is None:
        return LinkState("unknown")
    summary = _summary(session, claim, oslo_date(now))
    if claim.state == "paid" or (claim.state == "open" and summary.total <= 0):
        return LinkState("paid", summary)
    if claim.state != "open":
        return LinkState("closed", summary)
    return LinkState("open", summary)


def lock_claim(session: Session, claim_seq: int) -> Claim:
    claim = session.scalars(
        sa.select(Claim).where(Claim.seq == claim_seq).with_for_update()).one_or_none()
    if claim is None:
        raise LookupError(f"no claim {claim_seq}")
    return claim


def start_payment(session: Session, claim_seq: int, method: str,
                  now: datetime) -> tuple[str, int] | None:
    """A new attempt for today's amount: (attempt id, amount); None if nothing is owed."""
    claim = lock_claim(session, claim_seq)
    today = oslo_date(now)
    owed = owed_on(session, claim, today)
    if owed.total <= 0:
        return None
    attempt = ClaimPayment(
        id=str(uuid.uuid4()), claim_seq=claim.seq, method=method, status="pending",
        amount=owed.total, quoted_on=today, provider_reference=None, masked_pan=None,
        card_name=None, created_at=now, updated_at=now,
    )
    session.add(attempt)
    session.flush()
    return attempt.id, attempt.amount


def set_reference(session: Session, attempt_id: str, reference: str) -> None:
    attempt = session.get(ClaimPayment, attempt_id)
    if attempt is None:  # pragma: no cover - created just before
        raise LookupError(f"no claim payment {attempt_id}")
    attempt.provider_reference = reference


def find_attempt(session: Session, claim_seq: int, attempt_id: str) -> ClaimPayment | None:
    attempt = session.get(ClaimPayment, attempt_id)
    return attempt if attempt is not None and attempt.claim_seq == claim_seq else None


def _cancel(attempt: ClaimPayment, now: datetime) -> None:
    if attempt.status != "captured":
        attempt.status, attempt.updated_at = "cancelled", now


def settle_payment(
    session: Session, attempt_id: str, authorized: bool, now: datetime,
    capture: Callable[[], dict[str, Any]],
) -> Settled:
    """Record the outcome of an attempt; capture an authorized one if the claim still owes
    exactly its amount. `capture` runs under the claim's lock and returns card details."""
    attempt = session.get(ClaimPayment, attempt_id, with_for_update=True)
    if attempt is None:  # pragma: no cover - the caller found it
        raise LookupError(f"no claim payment {attempt_id}")
    claim = lock_claim(session, attempt.claim_seq)
    if attempt.status == "captured":
        return "repeat"
    if not authorized:
        if attempt.status == "pending":
            attempt.status, attempt.updated_at = "declined", now
        return "declined"
    if claim.state != "open":
        _cancel(attempt, now)
        return "already_paid" if claim.state == "paid" else "closed"
    today = oslo_date(now)
    if attempt.status != "pending" or owed_on(session, claim, today).total != attempt.amount:
        _cancel(attempt, now)
        return "amount_changed"
    details = capture()
    attempt.status, attempt.updated_at = "captured", now
    attempt.masked_pan = details.get("masked_pan")
    attempt.card_name = details.get("card_name")
    pay_claim(session, claim, source=attempt.method, source_ref=f"{attempt.method}:{attempt.id}",
              amount=attempt.amount, paid_on=today, now=now)
    return "paid"
