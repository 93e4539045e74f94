"""Settlement reports e-mailed to the clinic over a real local SMTP server: once per
settlement, retried through an outage, skipped without SMTP or address, never twice."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from medipay.clock import SimulatedClock
from medipay_backend import jobs
from medipay_backend.clinics import set_report_email
from medipay_backend.db import Database
from medipay_backend.handlers import make_handlers
from medipay_backend.jobs import NewJob
from medipay_backend.localtime import kroner
from medipay_backend.models_jobs import Job
from medipay_backend.models_reports import SettlementMailing
from medipay_backend.scheduler import Scheduler
from medipay_backend.settlement import mailing
from medipay_backend.settlement.mailing import (
    ReportFileError,
    deliver,
    mailing_status,
    send_due_reports,
)
from medipay_backend.settlement.service import settle_day

from .seed import DAY_1, seed_clinics, seed_items
from .smtp import SmtpServer, attachments, body_text, smtp_server

__all__ = ["smtp_server"]  # the fixture
ADDRESS = "regnskap@alfa.example"


async def _settled(database: Database, clock: SimulatedClock, root: Path,
                   email: str | None = ADDRESS) -> dict[str, Any]:
    """alfa's and beta's DAY_1 settlements (alfa with a report address); by clinic/stream."""
    now = clock.now()

    def seed(session: Any) -> None:
        seed_clinics(session, now)
        seed_items(session, now)
        set_report_email(session, "alfa", email)

    await database.run(seed)
    clock.advance(timedelta(days=1))
    rows = {}
    for clinic in ("alfa", "beta"):
        for row in await settle_day(database, clock, DAY_1, root, clinic_id=clinic,
                                    force=True):
            rows[f"{clinic}/{row.stream}"] = row
    return rows


async def _status(database: Database, settlement_id: str) -> dict[str, Any]:
    return await database.run(lambda s: mailing_status(s, settlement_id))


async def test_one_message_per_settlement_with_every_report(
    database: Database, clock: SimulatedClock, tmp_path: Path, runtime: Any,
    smtp_server: SmtpServer, client: httpx.AsyncClient, admin_headers: dict[str, str],
) -> None:
    rows = await _settled(database, clock, tmp_path)
    smtp_server.start()
    runtime.smtp = smtp_server.settings
    scheduler = Scheduler(database, clock, make_handlers(database, clock, runtime))
    await scheduler.run_due()

    messages = {m["Message-ID"]: (to, m) for to, m in smtp_server.inbox.messages}
    alfa = [rows[f"alfa/{stream}"] for stream in ("checkout", "fakturaservice", "pos")]
    assert sorted(messages) == sorted(f"<settlement-{r.id}@medipay.test>" for r in alfa)
    for row in alfa:
        to, message = messages[f"<settlement-{row.id}@medipay.test>"]
        assert to == [ADDRESS] and message["From"] == "oppgjor@medipay.test"
        assert "MediPay oppgjør 06.01.2026" in str(message["Subject"])
        files = attachments(message)
        stem = f"{row.stream}-{DAY_1.isoformat()}"
        assert files[f"balance-report-{stem}.pdf"][0] == "application/pdf"
        assert files[f"balance-report-{stem}.pdf"][1].startswith(b"%PDF")
        assert json.loads(files[f"balance-report-{stem}.json"][1])["payout"] == row.total
        assert files[f"balance-report-{stem}.csv"][0] == "text/csv"
        for kind in ("csv", "json", "pdf", "transactions"):
            entry = row.files[kind]
            assert files[entry["name"]][1] == Path(entry["path"]).read_bytes()
        has_ocr = f"ocr-{stem}.txt" in files
        assert has_ocr == (row.stream != "pos")
        if has_ocr:
            assert files[f"ocr-{stem}.txt"][1] == Path(row.files["ocr"]["path"]).read_bytes()
        text = body_text(message)
        assert "Hei Klinikk Alfa" in text and kroner(row.total, " ") in text
        assert f"-{row.fees // 100},{row.fees % 100:02d} kr" in text  # less than 1000 kr
        assert ("ikke med i OCR-filer" in text) == (row.stream == "pos")
    pos_list = attachments(messages[f"<settlement-{alfa[2].id}@medipay.test>"][1])
    terminal_csv = pos_list[f"terminaltransaksjoner-pos-{DAY_1.isoformat()}.csv"][1].decode()
    assert terminal_csv.count("\n") == 1 + alfa[2].count

    # beta has no address: skipped, and its reports stay downloadable only.
    skipped = await _status(database, rows["beta/checkout"].id)
    assert skipped["status"] == "skipped" and "address" in skipped["detail"]
    assert (await _status(database, rows["beta/pos"].id))["detail"] == "nothing was settled"

    # Running again, or settling the day again, sends nothing more.
    clock.advance(timedelta(hours=2))
    await settle_day(database, clock, DAY_1, tmp_path, clinic_id="alfa", force=True)
    await scheduler.run_due()
    assert len(smtp_server.inbox.messages) == 3
    response = await client.get(f"/v1/settlements/{alfa[0].id}/mail", headers=admin_headers)
    body = response.json()
    assert body["status"] == "sent" and body["recipient"] == ADDRESS
    assert body["message_id"] == f"<settlement-{alfa[0].id}@medipay.test>"
    assert f"ocr-checkout-{DAY_1.isoformat()}.txt" in body["attachments"]
    missing = await client.get("/v1/settlements/nope/mail", headers=admin_headers)
    assert missing.status_code == 404


async def test_an_smtp_outage_is_ridden_out(
    database: Database, clock: SimulatedClock, tmp_path: Path, smtp_server: SmtpServer,
) -> None:
    rows = await _settled(database, clock, tmp_path)
    checkout = rows["alfa/checkout"].id
    other = NewJob("send_sms", "sms:other", clock.now(), {"order_id": "x", "kind": "checkout"})
    await database.run(lambda s: jobs.schedule(s, [other], clock.now()))
    assert await send_due_reports(database, clock, smtp_server.settings) == 6  # server down
    assert smtp_server.inbox.messages == []
    queued = await _status(database, checkout)
    assert queued["status"] == "queued" and queued["attempts"] == 1
    assert "ConnectionRefusedError" in queued["last_error"]
    assert await send_due_reports(database, clock, smtp_server.settings) == 0  # backing off

    smtp_server.start()
    clock.advance(timedelta(minutes=1))
    assert await send_due_reports(database, clock, smtp_server.settings) == 3
    assert len(smtp_server.inbox.messages) == 3
    assert (await _status(database, checkout))["status"] == "sent"
    clock.advance(timedelta(hours=1))
    assert await send_due_reports(database, clock, smtp_server.settings) == 0
    assert len(smtp_server.inbox.messages) == 3
    # The command runs only report e-mails: another kind of job is left to the service.
    left = await database.run(lambda s: s.scalar(sa.select(Job).where(Job.key == "sms:other")))
    assert left is not None and (left.state, left.attempts) == ("pending", 0)


async def test_a_crash_before_recording_resends_with_the_same_message_id(
    database: Database, clock: SimulatedClock, tmp_path: Path, smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = await _settled(database, clock, tmp_path)
    smtp_server.start()
    record = mailing._record
    crashed: list[str] = []

    def crash_once(session: Any, row: Any, status: str, now: Any, **kw: Any) -> None:
        if status == "sent" and row.id not in crashed:
            crashed.append(row.id)
            raise RuntimeError("the process died before the record was committed")
        record(session, row, status, now, **kw)

    monkeypatch.setattr(mailing, "_record", crash_once)
    await send_due_reports(database, clock, smtp_server.settings)
    assert len(smtp_server.inbox.messages) == 3
    assert (await _status(database, rows["alfa/pos"].id))["status"] == "queued"
    clock.advance(timedelta(minutes=1))
    await send_due_reports(database, clock, smtp_server.settings)
    ids = [m["Message-ID"] for _, m in smtp_server.inbox.messages]
    assert len(ids) == 6 and len(set(ids)) == 3  # each sent twice, under one Message-ID

    def recorded(session: Any) -> int:
        return int(session.scalar(sa.select(sa.func.count()).select_from(SettlementMailing)
                                  .where(SettlementMailing.status == "sent")) or 0)

    assert await database.run(recorded) == 3


async def test_refused_last_attempt_damaged_file_and_no_smtp(
    database: Database, clock: SimulatedClock, tmp_path: Path, smtp_server: SmtpServer,
) -> None:
    rows = await _settled(database, clock, tmp_path)
    smtp = smtp_server.settings
    # Down, and no attempt left: recorded as failed, not left to retry.
    assert await deliver(database, clock, smtp, rows["alfa/pos"].id, tmp_path,
                         last_attempt=True) == "failed"
    assert "Connection" in (await _status(database, rows["alfa/pos"].id))["detail"]
    # A 5xx answer will not change on retry: failed at once.
    smtp_server.inbox.refuse = "550 5.1.1 No such mailbox"
    smtp_server.start()
    assert await deliver(database, clock, smtp, rows["alfa/fakturaservice"].id,
                         tmp_path) == "failed"
    refused = await _status(database, rows["alfa/fakturaservice"].id)
    assert refused["status"] == "failed" and "550" in refused["detail"]
    # A report file that no longer matches its digest is never sent.
    smtp_server.inbox.refuse = None
    pdf = Path(rows["alfa/checkout"].files["pdf"]["path"])
    pdf.write_bytes(pdf.read_bytes() + b"%tampered")
    with pytest.raises(ReportFileError, match="SHA-256"):
        await deliver(database, clock, smtp, rows["alfa/checkout"].id, tmp_path)
    assert (await _status(database, rows["alfa/checkout"].id))["status"] == "queued"
    # No SMTP server configured: skipped, download only.
    assert await deliver(database, clock, None, rows["beta/checkout"].id,
                         tmp_path) == "skipped"
    assert (await _status(database, rows["beta/checkout"].id))["detail"] == (
        "no SMTP server configured")
    # The jobs of all of these send nothing more (the damaged one keeps failing).
    await send_due_reports(database, clock, smtp)
    assert smtp_server.inbox.messages == []
