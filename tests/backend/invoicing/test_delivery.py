"""Delivery channels: EHF for companies that asked for it, eFaktura when accepted, e-mail
over a real local SMTP server (aiosmtpd), else the paper batch; letters on paper."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from pathlib import Path
from xml.etree import ElementTree as ET

from medipay.clock import SimulatedClock
from medipay_backend.db import Database
from medipay_backend.invoicing.delivery import (
    Channels,
    SimulatedEfaktura,
    SmtpSettings,
    deliver_invoice,
    print_letters,
)
from medipay_backend.invoicing.ehf import CBC, CUSTOMIZATION
from medipay_backend.localtime import oslo_date

from ..people import ADDRESS, ADULT, ORG_NUMBER
from .conftest import Inbox
from .seed import make_claim
from .test_dunning_walk import registry, walk


def channels(tmp_path: Path, smtp: SmtpSettings | None = None,
             efaktura: SimulatedEfaktura | None = None) -> Channels:
    return Channels(efaktura=efaktura or SimulatedEfaktura(), smtp=smtp,
                    print_dir=tmp_path / "print", ehf_outbox=tmp_path / "ehf")


PERSON = {"kind": "patient", "name": "Kari Nordmann", "address": ADDRESS,
          "email": "kari@example.test", "address_source": "epj"}


def test_efaktura_when_accepted(database: Database, clock: SimulatedClock,
                                tmp_path: Path) -> None:
    directory = SimulatedEfaktura(accepted={(ADULT, "*")})
    claim = database.transaction(lambda s: make_claim(s, clock.now(), recipient=PERSON))
    delivery = database.transaction(lambda s: deliver_invoice(
        s, s.merge(claim), channels(tmp_path, efaktura=directory), clock.now()))
    assert delivery.channel == "efaktura"
    assert directory.delivered[0]["amount"] == 104_900
    assert directory.delivered[0]["pdf"].startswith(b"%PDF")
    again = database.transaction(lambda s: deliver_invoice(
        s, s.merge(claim), channels(tmp_path, efaktura=directory), clock.now()))
    assert again.seq == delivery.seq and len(directory.delivered) == 1


def test_email_over_smtp_with_the_pdf(database: Database, clock: SimulatedClock,
                                      tmp_path: Path,
                                      smtp: tuple[Inbox, SmtpSettings]) -> None:
    inbox, settings = smtp
    claim = database.transaction(lambda s: make_claim(s, clock.now(), recipient=PERSON))
    delivery = database.transaction(lambda s: deliver_invoice(
        s, s.merge(claim), channels(tmp_path, settings), clock.now()))
    assert delivery.channel == "email"
    (sender, recipients, content), = inbox.messages
    assert recipients == ["kari@example.test"] and sender == "faktura@medipay.test"
    message = message_from_bytes(content)
    assert str(claim.invoice_number) in message["Subject"]
    parts = [p for p in message.walk() if p.get_content_type() == "application/pdf"]
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes) and payload.startswith(b"%PDF")


def test_paper_when_no_other_channel(database: Database, clock: SimulatedClock,
                                     tmp_path: Path) -> None:
    claim = database.transaction(lambda s: make_claim(s, clock.now()))
    delivery = database.transaction(lambda s: deliver_invoice(
        s, s.merge(claim), channels(tmp_path), clock.now()))
    assert delivery.channel == "paper"
    assert Path(delivery.detail["path"]).read_bytes().startswith(b"%PDF")
    assert delivery.detail["address"] == ADDRESS


def test_ehf_for_a_company_that_asked(database: Database, clock: SimulatedClock,
                                      tmp_path: Path) -> None:
    company = {"kind": "company", "name": "Bedrift AS", "org_number": ORG_NUMBER,
               "ehf": True, "address": ADDRESS, "email": None, "address_source": "epj"}
    claim = database.transaction(lambda s: make_claim(s, clock.now(), recipient=company))
    delivery = database.transaction(lambda s: deliver_invoice(
        s, s.merge(claim), channels(tmp_path), clock.now()))
    assert delivery.channel == "ehf"
    root = ET.parse(delivery.detail["path"]).getroot()
    assert root.findtext(f"{{{CBC}}}CustomizationID") == CUSTOMIZATION
    assert root.findtext(f"{{{CBC}}}ID") == str(claim.invoice_number)
    payable = root.find(f".//{{{CBC}}}PayableAmount")
    assert payable is not None and payable.text == "1049.00"
    assert root.findtext(f".//{{{CBC}}}PaymentID") == claim.kid


def test_letters_go_to_the_print_batch_at_the_registered_address(
    database: Database, clock: SimulatedClock, tmp_path: Path
) -> None:
    claim = database.transaction(lambda s: make_claim(s, clock.now()))
    walk(database, clock, 32)
    day = oslo_date(clock.now()) - timedelta(days=1)
    assert registry(ADULT).city == "Bergen"
    printed = database.transaction(
        lambda s: print_letters(s, day, channels(tmp_path), clock.now()))
    assert printed == 1
    pdf = tmp_path / "print" / day.isoformat() / f"{claim.invoice_number}-reminder-notice.pdf"
    content = pdf.read_bytes()
    assert b"Purring og inkassovarsel" in content and b"Registervegen 9" in content
    assert database.transaction(
        lambda s: print_letters(s, day, channels(tmp_path), clock.now())) == 0
