"""E-mail over SMTP (blocking; call it from a worker thread).

One place that builds and sends messages, for invoices (with their PDF) and for settlement
reports (PDF, CSV, JSON and OCR files). `SmtpSettings` comes from the `[smtp]` section of the
backend's configuration; no host there means no e-mail: callers fall back (paper) or skip.
"""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    timeout: float = 30.0


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    content_type: str = "application/pdf"  # "maintype/subtype"


def build_message(sender: str, to: str, subject: str, body: str,
                  attachments: Sequence[Attachment] = (), *,
                  message_id: str | None = None) -> EmailMessage:
    """`message_id` (`<local@domain>`): a stable id for a message that may be sent again
    after a crash (receivers can drop the copy); default a new random one."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@{sender.split('@')[-1]}>"
    message.set_content(body)
    for attachment in attachments:
        maintype, subtype = attachment.content_type.split("/", 1)
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype,
                               filename=attachment.filename)
    return message


def send_mail(settings: SmtpSettings, to: str, subject: str, body: str,
              attachments: Sequence[Attachment] = (), *, message_id: str | None = None) -> str:
    """Send one message; its Message-ID. SMTP errors propagate (the caller retries)."""
    message = build_message(settings.sender, to, subject, body, attachments,
                            message_id=message_id)
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        smtp.send_message(message)
    return str(message["Message-ID"])
