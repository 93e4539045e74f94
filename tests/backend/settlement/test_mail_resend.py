"""Sending a settlement's report e-mail again, over a real local SMTP server: after the clinic
got an address, after a failure, to another address once; never two sends queued at once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from typer.testing import CliRunner

from medipay.clock import SimulatedClock
from medipay_backend.cli import backend_app
from medipay_backend.clinics import set_report_email
from medipay_backend.db import Database
from medipay_backend.models_jobs import Job
from medipay_backend.models_reports import SettlementMailing
from medipay_backend.problems import PROBLEM_BASE
from medipay_backend.settlement.mailing import deliver, mailing_status, send_due_reports
from medipay_backend.settlement.service import settle_day

from ..conftest import MakeEpj
from ..reports.seed import DAY_1, seed_clinics, seed_items
from ..reports.smtp import SmtpServer, smtp_server

__all__ = ["smtp_server"]  # the fixture
ADDRESS = "regnskap@alfa.example"
OTHER = "kasse@alfa.example"
cli = CliRunner()


async def _alfa_checkout(database: Database, clock: SimulatedClock, root: Path,
                         email: str | None) -> str:
    """alfa's DAY_1 settlements (beta's too); the id of alfa's checkout settlement."""
    now = clock.now()

    def seed(session: Any) -> None:
        seed_clinics(session, now)
        seed_items(session, now)
        set_report_email(session, "alfa", email)

    await database.run(seed)
    clock.advance(timedelta(days=1))
    rows = await settle_day(database, clock, DAY_1, root, clinic_id="alfa", force=True)
    return next(r.id for r in rows if r.stream == "checkout")


def _mail_jobs(session: Any) -> list[tuple[str, str]]:
    return [(j.key, j.state) for j in session.scalars(
        sa.select(Job).where(Job.kind == "mail_settlement_reports").order_by(Job.id))]


def _problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM_BASE + slug, body
    return body


async def test_skipped_then_address_set_then_resent(
    database: Database, clock: SimulatedClock, tmp_path: Path, smtp_server: SmtpServer,
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_epj: MakeEpj,
) -> None:
    settlement = await _alfa_checkout(database, clock, tmp_path, email=None)
    smtp_server.start()
    await send_due_reports(database, clock, smtp_server.settings)
    assert smtp_server.inbox.messages == []
    path = f"/v1/settlements/{settlement}/mail"
    skipped = (await client.get(path, headers=admin_headers)).json()
    assert skipped["status"] == "skipped" and "address" in skipped["detail"]
    assert (skipped["send"], skipped["sends"], skipped["earlier"]) == (0, 1, [])
    jobs_before = await database.run(_mail_jobs)

    # Refused, changing nothing: no address yet, a bad address, an EPJ, an unknown id.
    no_address = _problem(await client.post(path, headers=admin_headers), 409,
                          "settlement-mail-no-recipient")
    assert "report-email" in no_address["detail"]
    bad = await client.post(path, json={"to": "not an address"}, headers=admin_headers)
    _problem(bad, 422, "validation-failed")
    _problem(await client.post(path, json={"to": OTHER, "cc": OTHER}, headers=admin_headers),
             422, "validation-failed")
    epj = await make_epj("gamma")
    for kwargs in ({"auth": epj.auth}, {}):
        refused = await client.post(path, json={"to": OTHER}, **kwargs)
        assert refused.status_code == 401, refused.text
    _problem(await client.get(path, auth=epj.auth), 401, "admin-auth-required")
    _problem(await client.post("/v1/settlements/nope/mail", headers=admin_headers), 404,
             "not-found")
    assert await database.run(_mail_jobs) == jobs_before
    assert (await client.get(path, headers=admin_headers)).json() == skipped

    # The operator sets the address and sends again: one new job, the old outcome kept in it.
    put = await client.put("/v1/clinics/alfa/report-email", json={"report_email": ADDRESS},
                           headers=admin_headers)
    assert put.status_code == 200, put.text
    queued = await client.post(path, headers=admin_headers)
    assert queued.status_code == 202, queued.text
    body = queued.json()
    assert (body["status"], body["send"], body["sends"]) == ("queued", 1, 2)
    assert body["job_key"] == f"mail-reports:{settlement}:1" and body["to"] is None
    assert [e["status"] for e in body["earlier"]] == ["skipped"]
    assert body["earlier"][0]["send"] == 0 and "address" in body["earlier"][0]["detail"]
    # A second resend while this one is queued would mail the clinic twice.
    _problem(await client.post(path, headers=admin_headers), 409, "settlement-mail-pending")
    assert len(await database.run(_mail_jobs)) == len(jobs_before) + 1

    assert await send_due_reports(database, clock, smtp_server.settings) == 1
    [(to, message)] = smtp_server.inbox.messages
    assert to == [ADDRESS]
    assert message["Message-ID"] == f"<settlement-{settlement}.1@medipay.test>"
    sent = (await client.get(path, headers=admin_headers)).json()
    assert (sent["status"], sent["recipient"], sent["send"], sent["sends"]) == (
        "sent", ADDRESS, 1, 2)
    assert sent["message_id"] == message["Message-ID"]
    assert [e["status"] for e in sent["earlier"]] == ["skipped"]
    # The job is done; running again sends nothing more.
    clock.advance(timedelta(hours=1))
    assert await send_due_reports(database, clock, smtp_server.settings) == 0
    assert len(smtp_server.inbox.messages) == 1


async def test_failed_then_resent_to_another_address_then_to_the_clinic(
    database: Database, clock: SimulatedClock, tmp_path: Path, smtp_server: SmtpServer,
    client: httpx.AsyncClient, admin_headers: dict[str, str],
) -> None:
    settlement = await _alfa_checkout(database, clock, tmp_path, email=ADDRESS)
    path = f"/v1/settlements/{settlement}/mail"
    smtp_server.inbox.refuse = "550 5.1.1 No such mailbox"
    smtp_server.start()
    await send_due_reports(database, clock, smtp_server.settings)
    failed = (await client.get(path, headers=admin_headers)).json()
    assert failed["status"] == "failed" and "550" in failed["detail"]

    # To another address, once; the server is busy (4xx) at first: the send is retried
    # under the same Message-ID, and stays "queued or running" meanwhile.
    smtp_server.inbox.refuse = "451 4.3.0 Try again later"
    queued = await client.post(path, json={"to": OTHER}, headers=admin_headers)
    assert queued.status_code == 202, queued.text
    assert (queued.json()["to"], queued.json()["send"]) == (OTHER, 1)
    assert await send_due_reports(database, clock, smtp_server.settings) == 1
    retrying = (await client.get(path, headers=admin_headers)).json()
    assert retrying["status"] == "queued" and retrying["attempts"] == 1
    assert "451" in retrying["last_error"]
    _problem(await client.post(path, headers=admin_headers), 409, "settlement-mail-pending")
    smtp_server.inbox.refuse = None
    clock.advance(timedelta(minutes=1))
    assert await send_due_reports(database, clock, smtp_server.settings) == 1
    [(to, message)] = smtp_server.inbox.messages
    assert to == [OTHER] and message["Message-ID"] == f"<settlement-{settlement}.1@medipay.test>"

    # The clinic's address was not changed: the next resend goes there, as a new message.
    again = await client.post(path, headers=admin_headers)
    assert again.status_code == 202, again.text
    assert (again.json()["send"], again.json()["to"]) == (2, None)
    await send_due_reports(database, clock, smtp_server.settings)
    (to, message) = smtp_server.inbox.messages[-1]
    assert to == [ADDRESS] and message["Message-ID"] == f"<settlement-{settlement}.2@medipay.test>"
    final = (await client.get(path, headers=admin_headers)).json()
    assert (final["status"], final["recipient"], final["send"], final["sends"]) == (
        "sent", ADDRESS, 2, 3)
    assert [(e["send"], e["status"], e["recipient"]) for e in final["earlier"]] == [
        (0, "failed", ADDRESS), (1, "sent", OTHER)]

    def rows(session: Any) -> int:
        return int(session.scalar(sa.select(sa.func.count()).select_from(SettlementMailing)
                                  .where(SettlementMailing.settlement_id == settlement)) or 0)

    assert await database.run(rows) == 1  # one row: the latest outcome


async def test_a_resend_without_smtp_is_recorded_skipped(
    database: Database, clock: SimulatedClock, tmp_path: Path, client: httpx.AsyncClient,
    admin_headers: dict[str, str],
) -> None:
    settlement = await _alfa_checkout(database, clock, tmp_path, email=ADDRESS)
    await send_due_reports(database, clock, None)
    path = f"/v1/settlements/{settlement}/mail"
    assert (await client.post(path, headers=admin_headers)).status_code == 202
    assert await deliver(database, clock, None, settlement, tmp_path, send=1) == "skipped"
    status = await database.run(lambda s: mailing_status(s, settlement))
    assert (status["status"], status["detail"]) == ("skipped", "no SMTP server configured")
    assert [e["detail"] for e in status["earlier"]] == ["no SMTP server configured"]


async def test_settlement_mail_command(
    database: Database, clock: SimulatedClock, database_url: str, tmp_path: Path,
) -> None:
    settlement = await _alfa_checkout(database, clock, tmp_path / "files", email=None)
    config_path = tmp_path / "backend.toml"
    config_path.write_text(f'database_url = "{database_url}"\n'
                           f'admin_token = "cli-operator-token-1"\ndata_dir = "{tmp_path}"\n')
    config = ["--config", str(config_path)]
    # The settlement's own send is still queued (no service ran it): refused.
    pending = cli.invoke(backend_app, ["settlement-mail", settlement, *config])
    assert pending.exit_code == 1 and "already queued" in pending.output
    await send_due_reports(database, clock, None)  # recorded skipped
    before = await database.run(_mail_jobs)  # one per stream, all done
    bad = cli.invoke(backend_app, ["settlement-mail", settlement, "--to", "nope", *config])
    assert bad.exit_code == 1 and "not a valid e-mail address" in bad.output
    unknown = cli.invoke(backend_app, ["settlement-mail", "no-such-id", *config])
    assert unknown.exit_code == 1 and "no settlement 'no-such-id'" in unknown.output
    assert await database.run(_mail_jobs) == before

    done = cli.invoke(backend_app, ["settlement-mail", settlement, "--to", OTHER, *config])
    assert done.exit_code == 0, done.output
    assert f"mail-reports:{settlement}:1" in done.output and OTHER in done.output
    assert await database.run(_mail_jobs) == [*before,
                                             (f"mail-reports:{settlement}:1", "pending")]
    status = await database.run(lambda s: mailing_status(s, settlement))
    assert (status["status"], status["to"], status["sends"]) == ("queued", OTHER, 2)


async def test_a_repeated_idempotency_key_queues_no_second_send(
    database: Database, clock: SimulatedClock, tmp_path: Path, smtp_server: SmtpServer,
    client: httpx.AsyncClient, admin_headers: dict[str, str],
) -> None:
    settlement = await _alfa_checkout(database, clock, tmp_path, email=ADDRESS)
    smtp_server.start()
    await send_due_reports(database, clock, smtp_server.settings)  # the first mails
    mailed_first = len(smtp_server.inbox.messages)
    path = f"/v1/settlements/{settlement}/mail"
    keyed = {**admin_headers, "Idempotency-Key": "resend-1"}

    first = await client.post(path, json={"to": OTHER}, headers=keyed)
    assert first.status_code == 202, first.text
    assert first.json()["job_key"] == f"mail-reports:{settlement}:1"
    # The operator's retry after a lost answer: the same send, not a pending-send refusal.
    again = await client.post(path, json={"to": OTHER}, headers=keyed)
    assert again.status_code == 202, again.text
    assert again.json()["job_key"] == first.json()["job_key"]
    # The same key for another address is a conflict and changes nothing.
    jobs_before = await database.run(_mail_jobs)
    _problem(await client.post(path, json={"to": ADDRESS}, headers=keyed), 409,
             "idempotency-conflict")
    _problem(await client.post(path, headers=keyed), 409, "idempotency-conflict")
    assert await database.run(_mail_jobs) == jobs_before

    assert await send_due_reports(database, clock, smtp_server.settings) == 1
    # After the send went out, the same key still names it: nothing is mailed a third time.
    after = await client.post(path, json={"to": OTHER}, headers=keyed)
    assert after.status_code == 202, after.text
    assert after.json()["job_key"] == first.json()["job_key"]
    assert [key for key, _ in await database.run(_mail_jobs)] == [k for k, _ in jobs_before]
    resent = smtp_server.inbox.messages[mailed_first:]
    assert [(to, m["Message-ID"]) for to, m in resent] == [
        ([OTHER], f"<settlement-{settlement}.1@medipay.test>")]
    # A new key is a new send.
    other = await client.post(path, headers={**admin_headers, "Idempotency-Key": "resend-2"})
    assert other.status_code == 202, other.text
    assert other.json()["job_key"] == f"mail-reports:{settlement}:2"
