"""PDF documents in Norwegian: the invoice, and each dunning letter (reminder, payment demand,
notice). Built with reportlab on A4; text only in the standard Helvetica font, so every PDF
reader can show and print it. Compression is off so the text can be checked in tests.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from medipay_backend.localtime import kroner

LETTER_TITLES = {
    "reminder-notice": "Purring og inkassovarsel",
    "payment-demand": "Betalingsoppfordring",
    "notice": "Varsel om rettslig inndriving",
}
LETTER_TEXT = {
    "reminder-notice": (
        "Vi kan ikke se å ha mottatt betaling for fakturaen nedenfor. Betal innen fristen for "
        "å unngå at kravet sendes til inkasso med ytterligere kostnader."
    ),
    "payment-demand": (
        "Kravet er overført til inkasso. Betal innen fristen for å unngå ytterligere "
        "salær og renter."
    ),
    "notice": (
        "Kravet er fortsatt ikke betalt. Uten betaling innen fristen kan kravet bli "
        "inndrevet rettslig og gi betalingsanmerkning."
    ),
}


@dataclass(frozen=True)
class Party:
    name: str
    lines: tuple[str, ...]  # address lines, org number etc.


def party(name: str | None, address: dict[str, Any] | None, *extra: str) -> Party:
    address = address or {}
    lines = [address.get("street") or "",
             f"{address.get('postal_code') or ''} {address.get('city') or ''}".strip(), *extra]
    return Party(name or "", tuple(line for line in lines if line))


@dataclass(frozen=True)
class Document:
    title: str
    number: int
    kid: str
    account: str
    issuer: Party
    recipient: Party
    issue_date: date
    pay_by: date
    lines: Sequence[tuple[str, int]]  # (text, øre)
    intro: str = ""
    administered_by: str | None = None

    @property
    def total(self) -> int:
        return sum(amount for _, amount in self.lines)


def _date(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def render(doc: Document) -> bytes:
    buffer = io.BytesIO()
    pdf = Canvas(buffer, pagesize=A4, pageCompression=0)
    pdf.setTitle(f"{doc.title} {doc.number}")
    width, height = A4
    left, y = 20 * mm, height - 25 * mm
    pdf.setFont("Helvetica-Bold", 14)
    pdf.drawString(left, y, doc.issuer.name)
    pdf.setFont("Helvetica", 9)
    for line in doc.issuer.lines:
        y -= 4.5 * mm
        pdf.drawString(left, y, line)
    if doc.administered_by:
        y -= 4.5 * mm
        pdf.drawString(left, y, f"Fakturaen administreres av {doc.administered_by}")
    y = height - 60 * mm
    pdf.setFont("Helvetica", 11)
    for line in (doc.recipient.name, *doc.recipient.lines):
        pdf.drawString(left, y, line)
        y -= 5 * mm
    pdf.setFont("Helvetica-Bold", 18)
    pdf.drawRightString(width - 20 * mm, height - 60 * mm, doc.title)
    pdf.setFont("Helvetica", 10)
    facts = [("Fakturanummer", str(doc.number)), ("Dato", _date(doc.issue_date)),
             ("Forfallsdato", _date(doc.pay_by)), ("KID", doc.kid),
             ("Kontonummer", doc.account)]
    fy = height - 68 * mm
    for label, value in facts:
        pdf.drawString(width - 85 * mm, fy, f"{label}:")
        pdf.drawRightString(width - 20 * mm, fy, value)
        fy -= 5 * mm
    y = min(y, fy) - 10 * mm
    if doc.intro:
        text = pdf.beginText(left, y)
        text.setFont("Helvetica", 10)
        for row in _wrap(doc.intro, 95):
            text.textLine(row)
        pdf.drawText(text)
        y -= 5 * mm * (len(_wrap(doc.intro, 95)) + 1)
    pdf.setFont("Helvetica-Bold", 10)
    pdf.drawString(left, y, "Beskrivelse")
    pdf.drawRightString(width - 20 * mm, y, "Beløp (kr)")
    pdf.setFont("Helvetica", 10)
    for text_, amount in doc.lines:
        y -= 6 * mm
        pdf.drawString(left, y, text_)
        pdf.drawRightString(width - 20 * mm, y, kroner(amount, " "))
    y -= 8 * mm
    pdf.setFont("Helvetica-Bold", 11)
    pdf.drawString(left, y, "Å betale")
    pdf.drawRightString(width - 20 * mm, y, kroner(doc.total, " "))
    pdf.setFont("Helvetica", 9)
    pdf.drawString(left, 20 * mm, f"Betal til konto {doc.account} med KID {doc.kid} "
                                  f"innen {_date(doc.pay_by)}.")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _wrap(text: str, width: int) -> list[str]:
    rows: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            rows.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return [*rows, current] if current else rows
