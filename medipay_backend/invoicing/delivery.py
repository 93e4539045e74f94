"""How an invoice reaches its payer, in order of preference:

1. EHF (Peppol BIS Billing 3.0) to a company when the EPJ asked for it;
2. eFaktura 2.0 when the patient has accepted eFaktura (the eFaktura directory says so);
3. e-mail over SMTP with the PDF attached, when an address is known;
4. paper: the PDF joins the day's print batch, to the recipient's postal address (the
   registered one for bought claims, the EPJ's for Fakturaservice, as the invoice record
   holds it). Dunning letters always go on paper, to the registered address.

A delivery is recorded once per claim and document (unique), so a retried run sends nothing
twice. The eFaktura directory and network are simulated (`SimulatedEfaktura` in memory,
`settings.FileEfaktura` from a file).

An SMTP server that cannot be reached, or that answers with a temporary error, does not lose
the invoice: `deliver_invoice` raises `DeliveryDeferred`, nothing is recorded, and the next
run tries again (the rest of the run does not try SMTP again). Only a permanent refusal of the
address (5xx) sends the invoice on paper instead. A message is given a Message-ID derived from
the claim, so a copy sent again after a crash can be recognised by the receiver.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay_backend.invoicing.ehf import ubl_invoice
from medipay_backend.invoicing.issuing import issuer_of, lines_of
from medipay_backend.invoicing.render import invoice_pdf, letter_pdf
from medipay_backend.mail import Attachment, SmtpSettings, send_mail
from medipay_backend.models_invoicing import Claim, ClaimEvent, Delivery
from medipay_backend.models_orders import Invoice, Order


class EfakturaDirectory(Protocol):
    def accepts(self, national_id: str, issuer_org: str) -> bool: ...

    def deliver(self, national_id: str, number: int, amount: int, kid: str,
                pdf: bytes) -> str: ...


@dataclass
class SimulatedEfaktura:
    """Who has said yes to eFaktura from which issuer, and what was delivered."""

    accepted: set[tuple[str, str]] = field(default_factory=set)
    delivered: list[dict[str, Any]] = field(default_factory=list)

    def accepts(self, national_id: str, issuer_org: str) -> bool:
        return (national_id, issuer_org) in self.accepted or (national_id, "*") in self.accepted

    def deliver(self, national_id: str, number: int, amount: int, kid: str,
                pdf: bytes) -> str:
        reference = f"efaktura-{len(self.delivered) + 1:06d}"
        self.delivered.append({"national_id": national_id, "number": number,
                               "amount": amount, "kid": kid, "pdf": pdf,
                               "reference": reference})
        return reference


class DeliveryDeferred(Exception):
    """The document could not go out now (SMTP unreachable or busy); retried next run."""


@dataclass
class Channels:
    efaktura: EfakturaDirectory
    smtp: SmtpSettings | None
    print_dir: Path
    ehf_outbox: Path
    # Set by the first temporary SMTP failure: later e-mails of the run are deferred at once
    # rather than each waiting for the same timeout.
    smtp_failed: str | None = None


def _paper(channels: Channels, day: date, name: str, pdf: bytes) -> str:
    batch = channels.print_dir / day.isoformat()
    batch.mkdir(parents=True, exist_ok=True)
    path = batch / name
    path.write_bytes(pdf)
    return str(path)


def _record(session: Session, claim: Claim, document: str, channel: str, now: datetime,
            **detail: Any) -> Delivery:
    delivery = Delivery(claim_seq=claim.seq, document=document, channel=channel,
                        status="sent", detail=detail, created_at=now)
    session.add(delivery)
    session.flush()
    return delivery


def _done(session: Session, claim: Claim, document: str) -> Delivery | None:
    return session.scalar(sa.select(Delivery).where(Delivery.claim_seq == claim.seq,
                                                    Delivery.document == document))


def deliver_invoice(session: Session, claim: Claim, channels: Channels,
                    now: datetime) -> Delivery:
    existing = _done(session, claim, "invoice")
    if existing is not None:
        return existing
    invoice = session.scalars(sa.select(Invoice).where(Invoice.id == claim.invoice_id)).one()
    order = session.scalars(sa.select(Order).where(Order.id == invoice.order_id)).one()
    recipient = invoice.recipient
    issuer = issuer_of(session, claim)
    total = invoice.amount + invoice.invoice_fee
    if recipient.get("kind") == "company" and recipient.get("ehf"):
        xml = ubl_invoice(
            number=claim.invoice_number, issue_date=claim.issue_date, due_date=claim.due_date,
            kid=claim.kid, account=issuer["bank_account"],
            seller=(issuer["name"], issuer["org_number"]),
            buyer=(recipient.get("name") or "", recipient.get("org_number") or ""),
            lines=[(line.text, line.amount) for line in lines_of(invoice, order)],
            buyer_reference=order.external_reference or str(claim.invoice_number),
        )
        channels.ehf_outbox.mkdir(parents=True, exist_ok=True)
        path = channels.ehf_outbox / f"{claim.invoice_number}.xml"
        path.write_bytes(xml)
        return _record(session, claim, "invoice", "ehf", now, path=str(path))
    pdf = invoice_pdf(session, claim)
    national_id = order.patient_national_id
    if national_id and channels.efaktura.accepts(national_id, issuer["org_number"]):
        reference = channels.efaktura.deliver(national_id, claim.invoice_number, total,
                                              claim.kid, pdf)
        return _record(session, claim, "invoice", "efaktura", now, reference=reference)
    email = recipient.get("email")
    refused: str | None = None
    if email and channels.smtp is not None:
        try:
            message_id = _email(channels, channels.smtp, claim, issuer, email, pdf)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = str(exc.recipients)[:200]
        else:
            return _record(session, claim, "invoice", "email", now, to=email,
                           message_id=message_id)
    printed = _paper(channels, claim.issue_date, f"{claim.invoice_number}-faktura.pdf", pdf)
    return _record(session, claim, "invoice", "paper", now, path=printed,
                   address=recipient.get("address"),
                   **({"email_refused": refused} if refused else {}))


def _email(channels: Channels, smtp: SmtpSettings, claim: Claim, issuer: dict[str, Any],
           to: str, pdf: bytes) -> str:
    """Send the invoice; its Message-ID. A permanent refusal of the address raises
    `SMTPRecipientsRefused`; anything else that fails raises `DeliveryDeferred`."""
    if channels.smtp_failed is not None:
        raise DeliveryDeferred(f"SMTP failed earlier in this run: {channels.smtp_failed}")
    domain = smtp.sender.rsplit("@", 1)[-1]
    try:
        return send_mail(
            smtp, to, f"Faktura {claim.invoice_number} fra {issuer['name']}",
            f"Vedlagt er faktura {claim.invoice_number}. Betal med KID {claim.kid} til "
            f"konto {issuer['bank_account']} innen {claim.due_date:%d.%m.%Y}.",
            [Attachment(f"faktura-{claim.invoice_number}.pdf", pdf)],
            message_id=f"<faktura-{claim.invoice_number}@{domain}>",
        )
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if codes and all(code >= 500 for code in codes):
            raise  # the address does not exist: paper instead
        channels.smtp_failed = str(exc)[:200]
        raise DeliveryDeferred(channels.smtp_failed) from exc
    except (smtplib.SMTPException, OSError) as exc:
        channels.smtp_failed = str(exc)[:200] or type(exc).__name__
        raise DeliveryDeferred(channels.smtp_failed) from exc


def print_letters(session: Session, day: date, channels: Channels, now: datetime,
                  on_each: Callable[[Delivery], None] | None = None) -> int:
    """Put every letter of `day` not yet printed into that day's paper batch."""
    letters = session.execute(
        sa.select(ClaimEvent, Claim).join(Claim, Claim.seq == ClaimEvent.claim_seq)
        .where(ClaimEvent.kind == "letter", ClaimEvent.on_date == day)
        .order_by(ClaimEvent.seq)
    ).all()
    printed = 0
    for event, claim in letters:
        document = event.step_id or f"letter-{event.seq}"
        if _done(session, claim, document) is not None:
            continue
        path = _paper(channels, day, f"{claim.invoice_number}-{document}.pdf",
                      letter_pdf(session, claim, event))
        delivery = _record(session, claim, document, "paper", now, path=path,
                           address=event.detail.get("address"))
        printed += 1
        if on_each is not None:
            on_each(delivery)
    return printed


def undelivered(session: Session, after_seq: int = 0, limit: int = 1000) -> list[int]:
    """Open claims (seq, ascending, above `after_seq`) whose invoice has not gone out yet; a
    claim paid, stopped or credited before that gets no invoice."""
    return list(session.scalars(
        sa.select(Claim.seq).where(Claim.seq > after_seq, Claim.state == "open")
        .where(~sa.exists().where(Delivery.claim_seq == Claim.seq,
                                  Delivery.document == "invoice"))
        .order_by(Claim.seq).limit(limit)
    ))


def deliver_one(session: Session, claim_seq: int, channels: Channels, now: datetime) -> str:
    """Deliver one claim's invoice in the caller's transaction; the channel, or "deferred"."""
    claim = session.get(Claim, claim_seq)
    if claim is None:  # pragma: no cover - taken from `undelivered`
        raise LookupError(f"no claim {claim_seq}")
    try:
        return deliver_invoice(session, claim, channels, now).channel
    except DeliveryDeferred:
        return "deferred"


def deliver_pending(session: Session, channels: Channels, now: datetime,
                    limit: int = 1000) -> dict[str, int]:
    """Deliver up to `limit` issued invoices that have no delivery yet; count per channel
    ("deferred": the e-mail could not be sent now; it is tried again next time)."""
    counts: dict[str, int] = {}
    for seq in undelivered(session, limit=limit):
        channel = deliver_one(session, seq, channels, now)
        counts[channel] = counts.get(channel, 0) + 1
    return counts


def unprinted_letters(session: Session, after_seq: int = 0, limit: int = 1000) -> list[int]:
    """Letters (event seq, ascending, above `after_seq`) of open claims not printed yet."""
    return list(session.scalars(
        sa.select(ClaimEvent.seq).join(Claim, Claim.seq == ClaimEvent.claim_seq)
        .where(ClaimEvent.kind == "letter", ClaimEvent.seq > after_seq, Claim.state == "open")
        .where(~sa.exists().where(Delivery.claim_seq == ClaimEvent.claim_seq,
                                  Delivery.document == ClaimEvent.step_id))
        .order_by(ClaimEvent.seq).limit(limit)
    ))


def print_letter(session: Session, event_seq: int, day: date, channels: Channels,
                 now: datetime) -> bool:
    """Put one letter into `day`'s print batch (False if it was printed already)."""
    event = session.get(ClaimEvent, event_seq)
    claim = None if event is None else session.get(Claim, event.claim_seq)
    if event is None or claim is None:  # pragma: no cover - taken from `unprinted_letters`
        raise LookupError(f"no letter {event_seq}")
    document = event.step_id or f"letter-{event.seq}"
    if _done(session, claim, document) is not None:
        return False
    path = _paper(channels, day, f"{claim.invoice_number}-{document}.pdf",
                  letter_pdf(session, claim, event))
    _record(session, claim, document, "paper", now, path=path,
            address=event.detail.get("address"), letter_date=event.on_date.isoformat())
    return True
