"""The SMS an order's patient gets: the payment link, and the reminder before the deadline.

Each SMS carries a link of its own: a fresh token of 192 random bits, of which only the
SHA-256 is stored (`CheckoutLink`), so the reminder cannot reuse the first link's token and
does not need to. Sending is three steps so that the SMSC call holds no database transaction:
prepare (store link and message as `sending`), submit, then mark the outcome. A crash between
submit and mark re-sends the SMS on retry: a patient may get a message twice, never none.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend import order_events
from medipay_backend.localtime import kroner, oslo_text
from medipay_backend.models_clinics import Clinic
from medipay_backend.models_orders import OPEN_STATUSES, CheckoutLink, Order, SmsMessage

# 24 bytes = 192 bits: far past the 128 the issue asks for, and 32 URL-safe characters.
TOKEN_BYTES = 24
# Clinic names are cut in SMS so the message stays one part (160 GSM characters).
SMS_CLINIC_NAME = 30


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def checkout_path(token: str) -> str:
    return f"/c/{token}"


@dataclass(frozen=True)
class PreparedSms:
    sms_id: str
    to: str
    text: str


def sms_text(kind: str, clinic: str, amount: int, deadline: datetime, link: str) -> str:
    clinic = clinic[:SMS_CLINIC_NAME]
    total = kroner(amount, " ")
    when = oslo_text(deadline)
    if kind == "reminder":
        return (f"Påminnelse fra {clinic}: regningen på {total} må betales innen {when}, "
                f"ellers kommer den som faktura. {link}")
    return f"Regning fra {clinic} på {total}. Betal innen {when}: {link}"


def prepare_sms(
    session: Session, order_id: str, kind: str, base_url: str, now: datetime
) -> PreparedSms | None:
    """Store a new link and the message; None if this SMS is not (or no longer) needed.

    The order is read without a lock: an SMS for an order paid a moment ago is harmless,
    and a lock here would make the deadline sweep skip the order until its next run."""
    order = session.get(Order, _seq_of(session, order_id))
    if order is None or order.status not in OPEN_STATUSES or order.sms_to is None:
        return None
    if order.deadline_at is None or order.deadline_at <= now:
        return None
    already = session.scalar(sa.select(sa.func.count()).select_from(SmsMessage).where(
        SmsMessage.order_id == order_id, SmsMessage.kind == kind,
        SmsMessage.status == "submitted"))
    if already:
        return None
    clinic = session.get(Clinic, order.clinic_id)
    assert clinic is not None
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(CheckoutLink(token_sha256=token_hash(token), order_id=order.id, created_at=now))
    link = base_url.rstrip("/") + checkout_path(token)
    text = sms_text(kind, clinic.name, order.amount, order.deadline_at, link)
    masked = text.replace(token, token[:4] + "…")
    sms = SmsMessage(
        id=str(uuid.uuid4()), order_id=order.id, kind=kind, to_number=order.sms_to, text=masked,
        status="sending", smsc_message_id=None, error=None, receipt_status=None,
        receipt_at=None, created_at=now, submitted_at=None,
    )
    session.add(sms)
    session.flush()
    return PreparedSms(sms.id, order.sms_to, text)


def _seq_of(session: Session, order_id: str) -> int | None:
    return session.scalar(sa.select(Order.seq).where(Order.id == order_id))


def mark_submitted(session: Session, sms_id: str, message_id: str, now: datetime) -> None:
    sms = session.get(SmsMessage, sms_id, with_for_update=True)
    assert sms is not None
    sms.status = "submitted"
    sms.smsc_message_id = message_id
    sms.submitted_at = now
    order = session.get(Order, _seq_of(session, sms.order_id), with_for_update=True)
    assert order is not None
    event = "reminder_sent" if sms.kind == "reminder" else "sms_sent"
    moved = "awaiting_payment" if order.status == "accepted" else None
    order_events.record(session, order, event, now, status=moved, to=_masked_number(sms))


def mark_failed(session: Session, sms_id: str, error: str, final: bool, now: datetime) -> None:
    sms = session.get(SmsMessage, sms_id, with_for_update=True)
    assert sms is not None
    sms.status = "failed"
    sms.error = error[:500]
    if final:
        order = session.get(Order, _seq_of(session, sms.order_id))
        assert order is not None
        order_events.record(session, order, "sms_failed", now, kind=sms.kind)


def record_receipt(session: Session, message_id: str, stat: str, now: datetime) -> bool:
    """Note a delivery receipt on the message and in the order's history (once)."""
    sms = session.scalars(
        sa.select(SmsMessage).where(SmsMessage.smsc_message_id == message_id)
        .with_for_update()
    ).first()
    if sms is None:
        return False
    first = sms.receipt_status is None
    sms.receipt_status = stat[:16]
    sms.receipt_at = now
    order = session.get(Order, _seq_of(session, sms.order_id))
    if first and order is not None:
        event = "sms_delivered" if stat == "DELIVRD" else "sms_undelivered"
        order_events.record(session, order, event, now, kind=sms.kind, stat=stat)
    return True


def _masked_number(sms: SmsMessage) -> str:
    """The phone number as an EPJ may show it: the last three digits."""
    return "*" * (len(sms.to_number) - 3) + sms.to_number[-3:]
