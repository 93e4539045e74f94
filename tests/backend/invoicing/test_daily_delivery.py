"""The daily job delivers what it issued and prints the day's letters: e-mail over a real local
SMTP server, eFaktura to the patients in the acceptance file, EHF to companies, paper for the
rest. With the SMTP server down nothing is lost: the invoice waits for the next run."""

from __future__ import annotations

from datetime import date, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from medipay.clock import SimulatedClock
from medipay_backend.adapters.bureau import SimulatedBureau
from medipay_backend.db import Database
from medipay_backend.invoicing.dunning_runner import run_all
from medipay_backend.invoicing.jobs import run_day
from medipay_backend.invoicing.settings import (
    EfakturaFileError,
    InvoicingSettings,
    read_acceptances,
)
from medipay_backend.localtime import oslo_date
from medipay_backend.mail import SmtpSettings
from medipay_backend.models_invoicing import Claim, Delivery
from medipay_backend.runtime import Runtime

from ..people import ADDRESS, ADULT, ADULT_2, ORG_NUMBER
from .conftest import Inbox, free_port, start_smtp
from .seed import make_claim
from .test_dunning_walk import registry

PERSON = {"kind": "patient", "name": "Kari Nordmann", "address": ADDRESS,
          "email": "kari@example.test", "address_source": "epj"}
COMPANY = {"kind": "company", "name": "Bedrift AS", "org_number": ORG_NUMBER, "ehf": True,
           "address": ADDRESS, "email": None, "address_source": "epj"}
PROVIDER_ORG = "999999999"  # the issuer of bought claims


def _runtime(clock: SimulatedClock, tmp_path: Path, smtp: SmtpSettings | None,
             accepted: str = "") -> Runtime:
    runtime = Runtime.simulated(clock, bureau=SimulatedBureau(addresses={ADULT: registry(ADULT)}))
    accepted_file = tmp_path / "efaktura-accepted.txt"
    accepted_file.write_text(accepted)
    runtime.invoicing = InvoicingSettings(
        print_dir=tmp_path / "print", ehf_outbox=tmp_path / "ehf",
        efaktura_outbox=tmp_path / "efaktura", efaktura_accepted_file=accepted_file)
    runtime.smtp = smtp
    return runtime


def _deliveries(database: Database) -> dict[tuple[int, str], Delivery]:
    rows = database.transaction(lambda s: list(s.scalars(sa.select(Delivery))))
    return {(row.claim_seq, row.document): row for row in rows}


async def test_the_daily_job_delivers_by_every_channel_and_prints_letters(
    database: Database, clock: SimulatedClock, tmp_path: Path,
    smtp: tuple[Inbox, SmtpSettings],
) -> None:
    inbox, settings = smtp
    issued = clock.now() - timedelta(days=32)
    overdue = database.transaction(lambda s: make_claim(s, issued))  # paper, and a letter
    for day in range(32):  # its past dunning runs
        at = issued + timedelta(days=day)
        database.transaction(lambda s, at=at: run_all(s, oslo_date(at), at, lookup=registry))
    now = clock.now()
    by_mail = database.transaction(lambda s: make_claim(s, now, recipient=PERSON))
    company = database.transaction(lambda s: make_claim(s, now, recipient=COMPANY))
    bought = database.transaction(lambda s: make_claim(s, now, route="bought",
                                                       recipient=PERSON))
    runtime = _runtime(clock, tmp_path, settings, accepted=f"# test\n{ADULT} {PROVIDER_ORG}\n")

    await run_day(database, clock, runtime)
    today = oslo_date(clock.now()).isoformat()
    sent = _deliveries(database)
    assert {seq: row.channel for (seq, document), row in sent.items()
            if document == "invoice"} == {overdue.seq: "paper", by_mail.seq: "email",
                                          company.seq: "ehf", bought.seq: "efaktura"}
    (_, recipients, content), = inbox.messages
    assert recipients == ["kari@example.test"]
    assert str(by_mail.invoice_number) in message_from_bytes(content)["Subject"]
    assert (tmp_path / "efaktura" / f"{bought.invoice_number}.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "ehf" / f"{company.invoice_number}.xml").exists()
    letter = tmp_path / "print" / today / f"{overdue.invoice_number}-reminder-notice.pdf"
    assert b"Purring og inkassovarsel" in letter.read_bytes()
    assert b"Registervegen 9" in letter.read_bytes()  # letters: the registered address
    assert sent[(overdue.seq, "reminder-notice")].channel == "paper"

    clock.advance(timedelta(days=1))
    await run_day(database, clock, runtime)  # nothing is delivered twice
    assert len(_deliveries(database)) == len(sent) and len(inbox.messages) == 1


async def test_with_smtp_down_the_invoice_waits_for_the_next_run(
    database: Database, clock: SimulatedClock, tmp_path: Path,
) -> None:
    port = free_port()  # nothing listens here yet
    settings = SmtpSettings("127.0.0.1", port, "faktura@medipay.test", timeout=5)
    claims = [database.transaction(lambda s: make_claim(s, clock.now(), recipient=PERSON))
              for _ in range(2)]
    paper = database.transaction(lambda s: make_claim(s, clock.now()))
    runtime = _runtime(clock, tmp_path, settings)

    await run_day(database, clock, runtime)
    sent = _deliveries(database)
    assert list(sent) == [(paper.seq, "invoice")]  # the rest is not lost, nor on paper
    assert not list((tmp_path / "print").rglob(f"{claims[0].invoice_number}-*"))

    inbox, controller = start_smtp(port)
    try:
        clock.advance(timedelta(days=1))
        await run_day(database, clock, runtime)
    finally:
        controller.stop()
    sent = _deliveries(database)
    assert {sent[(c.seq, "invoice")].channel for c in claims} == {"email"}
    assert sorted(to for _, (to,), _ in inbox.messages) == ["kari@example.test"] * 2


async def test_a_closed_claim_gets_no_invoice(
    database: Database, clock: SimulatedClock, tmp_path: Path,
) -> None:
    claim = database.transaction(lambda s: make_claim(s, clock.now()))

    def close(session: Any) -> None:
        row = session.get(Claim, claim.seq)
        row.state, row.closed_on = "credited", oslo_date(clock.now())

    database.transaction(close)
    await run_day(database, clock, _runtime(clock, tmp_path, None))
    assert _deliveries(database) == {}


def test_the_acceptance_file_is_checked_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "accepted.txt"
    path.write_text(f"{ADULT}\n\n# only the provider\n{ADULT_2} {PROVIDER_ORG}  # ok\n")
    today = date(2026, 1, 5)
    assert read_acceptances(path, today) == {(ADULT, "*"), (ADULT_2, PROVIDER_ORG)}
    for bad in ("12345678901", f"{ADULT} not-an-org", f"{ADULT} {PROVIDER_ORG} extra"):
        path.write_text(f"{ADULT}\n{bad}\n")
        with pytest.raises(EfakturaFileError, match=":2:"):
            read_acceptances(path, today)
