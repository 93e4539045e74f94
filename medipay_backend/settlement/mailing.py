"""E-mail a settlement's reports to its clinic: one message per settlement, from a durable job.

When a settlement is made, `enqueue` adds a job (`mail_settlement_reports`, key
`mail-reports:<settlement id>`) in the same transaction, so a settlement that exists always
has its job and a repeated or concurrent run adds none. The job (`deliver`):

1. returns at once if `settlement_mailings` already holds a row for the settlement;
2. writes the settlement's files if a crash left them unwritten;
3. records `skipped` (and sends nothing) when no SMTP server is configured, nothing was
   settled (no lines and nothing carried in), or the clinic has no report address: the
   reports are then only downloadable;
4. sends one message in Norwegian with the Balance Report (PDF, CSV, JSON), the transaction
   list, the OCR file (streams checkout and fakturaservice) and, for POS, the terminal
   transaction list attached, under the Message-ID `<settlement-<id>@<sender's domain>>`;
5. records `sent` with that Message-ID (the settlement id is the primary key).

An SMTP outage (refused connection, timeout, a 4xx answer) raises, and the scheduler retries
the job with back-off (up to `MAX_ATTEMPTS`, about two days); a 5xx answer will not change on
retry, so it is recorded as `failed` at once, as is the last failed attempt.

Delivery is at least once, not exactly once: a crash after the SMTP server accepted the
message and before step 5 committed leaves no row, so the job runs again when its lease runs
out and sends the message again. That window is one database commit wide; the copy carries
the same Message-ID, which lets the clinic's mail system (and any reader) recognise it as the
same message. The alternative, recording before sending, would turn that crash into a
report that is never sent, which is worse for a clinic reconciling its bank account.

Sending again (`queue_resend`: the operator's `POST /v1/settlements/{id}/mail` and
`medipay backend settlement-mail`) queues send n (1, 2, ...) as a new job, key
`mail-reports:<settlement id>:<n>`, optionally to another address once. In the same
transaction it moves the recorded outcome out of `settlement_mailings` into the new job's
payload (`previous`), so the table keeps one row, the latest outcome, and step 1 above works
for the resend unchanged; the job table keeps the earlier outcomes. A resend is refused while
a send of the settlement is queued or running. It is a new message to the clinic, so it has a
Message-ID of its own, `<settlement-<id>.<n>@<domain>>`; a retry of that send keeps it.
"""

from __future__ import annotations

import hashlib
import smtplib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import trio
from sqlalchemy.orm import Session
from stdnum.no import kontonr

from medipay.clock import Clock
from medipay.logs import get_logger
from medipay_backend import jobs
from medipay_backend.db import Database
from medipay_backend.jobs import ClaimedJob, NewJob
from medipay_backend.localtime import kroner
from medipay_backend.mail import Attachment, SmtpSettings, send_mail
from medipay_backend.models_clinics import Clinic
from medipay_backend.models_jobs import Job
from medipay_backend.models_ledger import Settlement
from medipay_backend.models_reports import SettlementMailing
from medipay_backend.reports.csv_out import to_csv
from medipay_backend.reports.pos import FIELDS as POS_FIELDS
from medipay_backend.reports.pos import pos_transactions
from medipay_backend.scheduler import Handler, Scheduler
from medipay_backend.settlement import files

log = get_logger(__name__)
JOB_KIND = "mail_settlement_reports"
# Back-off doubles from 30 s and is capped at an hour (jobs.backoff): 40 attempts ride out
# an SMTP outage of about a day and a half.
MAX_ATTEMPTS = 40
# Attachments above this in all (before base64) are left out and named in the text as
# downloadable: common mail servers refuse messages of 10-25 MB once encoded.
ATTACHMENT_BUDGET = 10 * 1024 * 1024
# The files attached, in this order (the most useful first when the budget runs out).
ATTACHED = (("pdf", "application/pdf"), ("csv", "text/csv"), ("json", "application/json"),
            ("transactions", "text/csv"), ("ocr", "text/plain"))
STREAM_NAMES = {"checkout": "kort, Vipps og kjøpte fakturaer", "fakturaservice": "Fakturaservice",
                "pos": "betalingsterminal (POS)"}


class ReportFileError(Exception):
    """A settlement file is missing or no longer matches its recorded SHA-256."""


class ResendRefused(Exception):
    """The settlement's e-mail cannot be queued again now; nothing was changed."""


class NoSuchSettlement(ResendRefused):
    pass


class SendPending(ResendRefused):
    """A send of the settlement is queued or running: a second one would mail it twice."""


class NoRecipient(ResendRefused):
    """The clinic has no report address and none was given for this send."""


class ResendKeyConflict(ResendRefused):
    """The idempotency key already queued a send of this settlement with another address."""


@dataclass(frozen=True)
class QueuedResend:
    settlement_id: str
    send: int  # 1 for the first resend
    job_key: str
    to: str | None  # None: the clinic's report address when the job runs


@dataclass(frozen=True)
class Outgoing:
    settlement_id: str
    clinic_id: str
    to: str
    subject: str
    body: str
    message_id: str
    attachments: list[Attachment] = field(default_factory=list)


def job_key(settlement_id: str, send: int = 0) -> str:
    """Send 0 is the one queued with the settlement; 1, 2, ... are resends."""
    base = f"mail-reports:{settlement_id}"
    return f"{base}:{send}" if send else base


def enqueue(session: Session, settlement: Settlement, files_root: Path, now: datetime) -> None:
    """Queue the settlement's e-mail (a no-op if it is queued already)."""
    payload = {"settlement_id": settlement.id, "files_root": str(files_root)}
    jobs.schedule(session, [NewJob(JOB_KIND, job_key(settlement.id), now, payload,
                                   max_attempts=MAX_ATTEMPTS)], now)


def message_id(settlement_id: str, sender: str, send: int = 0) -> str:
    """Stable per send: a retry after a crash keeps it, a resend is a new message."""
    local = f"settlement-{settlement_id}" + (f".{send}" if send else "")
    return f"<{local}@{sender.rsplit('@', 1)[-1]}>"


def _with_files(session: Session, settlement_id: str, root: Path) -> Settlement:
    row = session.scalars(
        sa.select(Settlement).where(Settlement.id == settlement_id).with_for_update()
    ).one()
    if not row.files:  # the run crashed before writing them
        row.files = files.write_all(session, row, root)
    return row


def _record(session: Session, row: Settlement, status: str, now: datetime, *,
            to: str | None = None, message: str | None = None,
            attachments: list[str] | None = None, detail: str | None = None) -> None:
    if session.get(SettlementMailing, row.id) is not None:
        return
    session.add(SettlementMailing(
        settlement_id=row.id, clinic_id=row.clinic_id, status=status, recipient=to,
        message_id=message, attachments=attachments or [],
        detail=detail[:1000] if detail else None, recorded_at=now))
    session.flush()


def prepare(session: Session, settlement_id: str, root: Path, smtp: SmtpSettings | None,
            now: datetime, *, send: int = 0, to: str | None = None) -> Outgoing | str:
    """The message to send; else "recorded already", or "skipped" (then recorded).
    `to` replaces the clinic's address for this send only."""
    if session.get(SettlementMailing, settlement_id) is not None:
        return "recorded already"
    row = _with_files(session, settlement_id, root)
    clinic = session.get(Clinic, row.clinic_id)
    address = to or (clinic.report_email if clinic is not None else None)
    if smtp is None:
        reason = "no SMTP server configured"
    elif row.count == 0 and row.carried_in == 0:
        reason = "nothing was settled"
    elif clinic is None or not address:
        reason = "the clinic has no report e-mail address"
    else:
        return _outgoing(session, row, clinic.name, address, smtp, send)
    _record(session, row, "skipped", now, detail=reason)
    log.info("settlement e-mail skipped", settlement_id=row.id, reason=reason)
    return "skipped"


def _outgoing(session: Session, row: Settlement, clinic_name: str, to: str,
              smtp: SmtpSettings, send: int) -> Outgoing:
    attachments, left_out = _attachments(session, row)
    return Outgoing(
        settlement_id=row.id, clinic_id=row.clinic_id, to=to,
        subject=(f"MediPay oppgjør {row.settlement_date:%d.%m.%Y}: "
                 f"{STREAM_NAMES[row.stream]} ({clinic_name})"),
        body=_body(row, clinic_name, [a.filename for a in attachments], left_out),
        message_id=message_id(row.id, smtp.sender, send), attachments=attachments,
    )


def _read(entry: Mapping[str, Any]) -> bytes:
    path = Path(entry["path"])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReportFileError(f"{path}: {exc.strerror}") from exc
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ReportFileError(f"{path} does not match its recorded SHA-256")
    return data


def _attachments(session: Session, row: Settlement) -> tuple[list[Attachment], list[str]]:
    attached: list[Attachment] = []
    left_out: list[str] = []
    budget = ATTACHMENT_BUDGET
    candidates: list[tuple[str, Mapping[str, Any] | None, str]] = [
        (str(row.files[kind]["name"]), row.files[kind], media)
        for kind, media in ATTACHED if kind in row.files]
    if row.stream == "pos":
        candidates.append((f"terminaltransaksjoner-pos-{row.settlement_date}.csv", None,
                           "text/csv"))
    for name, entry, media in candidates:
        size = Path(entry["path"]).stat().st_size if entry is not None else 0
        if size > budget:
            left_out.append(name)
            continue
        data = (_read(entry) if entry is not None else
                to_csv(POS_FIELDS, pos_transactions(session, row.id)).encode())
        if len(data) > budget:
            left_out.append(name)
            continue
        budget -= len(data)
        attached.append(Attachment(name, data, media))
    return attached, left_out


def _body(row: Settlement, clinic_name: str, attached: list[str], left_out: list[str]) -> str:
    def line(label: str, amount: int) -> str:
        return f"{label:<32}{kroner(amount, ' '):>18}"

    text = [
        f"Hei {clinic_name},",
        "",
        f"Her er oppgjøret fra MediPay for {STREAM_NAMES[row.stream]}, oppgjørsdato "
        f"{row.settlement_date:%d.%m.%Y}.",
        "",
        f"{'Antall transaksjoner':<32}{row.count:>18}",
        line("Innbetalt", row.gross),
        line("Gebyrer", -row.fees),
        line("Krediteringer", -row.credits),
        line("Overført fra forrige oppgjør", row.carried_in),
        line("Utbetalt", row.total),
        line("Overføres til neste oppgjør", row.carried_forward),
        "",
        f"Utbetalingen går til konto {_account(row.bank_account)}.",
        "",
        "Vedlagt:",
        *(f"  - {name}" for name in attached),
    ]
    if left_out:
        text += ["", "For store til e-post, kan lastes ned fra MediPay:",
                 *(f"  - {name}" for name in left_out)]
    if row.stream == "pos":
        text += ["", "Betalinger i terminal er ikke med i OCR-filer."]
    text += ["", f"Oppgjørs-id: {row.id}. Alle filene kan også lastes ned fra MediPay.",
             "", "Vennlig hilsen", "MediPay", ""]
    return "\n".join(text)


def _account(number: str | None) -> str:
    return kontonr.format(number) if number else "(ikke registrert)"


def is_permanent(exc: Exception) -> bool:
    """An SMTP answer that a retry will not change (5xx)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False


async def deliver(db: Database, clock: Clock, smtp: SmtpSettings | None, settlement_id: str,
                  root: Path, *, last_attempt: bool = False, send: int = 0,
                  to: str | None = None) -> str:
    """Send the settlement's e-mail unless recorded: "sent", "skipped", "recorded already"
    or "failed". A transient SMTP error propagates, for the job to be retried, unless this
    is the `last_attempt`: then, as for a permanent error, "failed" is recorded. `send` and
    `to`: a resend's number and its address for this send only (see `queue_resend`)."""
    outgoing = await db.run_check_then_insert(
        lambda s: prepare(s, settlement_id, root, smtp, clock.now(), send=send, to=to))
    if isinstance(outgoing, str):
        return outgoing
    assert smtp is not None  # prepare skips without one
    transmit = partial(send_mail, smtp, outgoing.to, outgoing.subject, outgoing.body,
                   outgoing.attachments, message_id=outgoing.message_id)
    try:
        sent_id = await trio.to_thread.run_sync(transmit)
    except (OSError, smtplib.SMTPException) as exc:
        error = f"{type(exc).__name__}: {exc}"
        if not (last_attempt or is_permanent(exc)):
            log.warning("settlement e-mail not sent; retried later",
                        settlement_id=settlement_id, error=error)
            raise
        await db.run_check_then_insert(lambda s: _record(
            s, _settlement(s, settlement_id), "failed", clock.now(), to=outgoing.to,
            detail=error))
        log.error("settlement e-mail failed for good", settlement_id=settlement_id,
                  error=error)
        return "failed"
    names = [a.filename for a in outgoing.attachments]
    await db.run_check_then_insert(lambda s: _record(
        s, _settlement(s, settlement_id), "sent", clock.now(), to=outgoing.to,
        message=sent_id, attachments=names))
    log.info("settlement e-mail sent", settlement_id=settlement_id,
             clinic_id=outgoing.clinic_id, attachments=len(names))
    return "sent"


def _settlement(session: Session, settlement_id: str) -> Settlement:
    return session.scalars(sa.select(Settlement).where(Settlement.id == settlement_id)).one()


def make_mail_handlers(db: Database, clock: Clock,
                       smtp: Callable[[], SmtpSettings | None]) -> Mapping[str, Handler]:
    """The job handler; `smtp` is read at each run (the runtime's setting)."""

    async def mail_settlement_reports(job: ClaimedJob) -> None:
        await deliver(db, clock, smtp(), job.payload["settlement_id"],
                      Path(job.payload["files_root"]),
                      last_attempt=job.attempts >= job.max_attempts,
                      send=_send_number(job), to=job.payload.get("to"))

    return {JOB_KIND: mail_settlement_reports}


def _outcome(row: SettlementMailing) -> dict[str, Any]:
    return {"status": row.status, "recipient": row.recipient, "message_id": row.message_id,
            "attachments": row.attachments, "detail": row.detail,
            "recorded_at": row.recorded_at.isoformat()}


def _mail_jobs(session: Session, settlement_id: str) -> list[Job]:
    """The settlement's sends, oldest first (the first has the plain key)."""
    base = job_key(settlement_id)
    return list(session.scalars(
        sa.select(Job).where(Job.kind == JOB_KIND, sa.or_(
            Job.key == base, Job.key.startswith(f"{base}:", autoescape=True)))
        .order_by(Job.id)))


def _send_number(job: ClaimedJob | Job) -> int:
    return int(job.payload.get("send", 0))


def mailing_status(session: Session, settlement_id: str) -> dict[str, Any]:
    """The latest send's outcome (sent, skipped, failed), or its job's state while it is
    still queued; `sends`: how many were queued, and `earlier`: the outcomes before."""
    sends = _mail_jobs(session, settlement_id)
    earlier = [job.payload["previous"] for job in sends if job.payload.get("previous")]
    counts = {"send": _send_number(sends[-1]) if sends else None, "sends": len(sends),
              "earlier": earlier}
    row = session.get(SettlementMailing, settlement_id)
    if row is not None:
        return {**_outcome(row), **counts}
    if not sends:
        return {"status": "not_queued", **counts}
    job = sends[-1]
    return {"status": "queued" if job.state == "pending" else job.state,
            "attempts": job.attempts, "next_attempt_at": job.due_at.isoformat(),
            "last_error": job.last_error, "to": job.payload.get("to"), **counts}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _files_root(row: Settlement, sends: list[Job]) -> Path:
    """Where the settlement's files live: as its last send had it, else from the files (a
    settlement made before report e-mail existed has no send)."""
    if sends:
        return Path(sends[-1].payload["files_root"])
    if row.files:  # <root>/<clinic>/<settlement id>/<file>
        return Path(next(iter(row.files.values()))["path"]).parents[2]
    raise ResendRefused(f"settlement {row.id} has no report files to send")


def queue_resend(session: Session, settlement_id: str, now: datetime,
                 to: str | None = None, idempotency_key: str | None = None) -> QueuedResend:
    """Queue the settlement's e-mail again (`to`: a validated address for this send only).
    Refused, changing nothing, while a send is queued or running, or without a recipient.

    With `idempotency_key`, a repeat of a request that already queued a send returns that
    send (whatever its state now) instead of queueing another: an operator's retry after a
    lost answer never mails the clinic twice. The key is kept in the send's job payload."""
    row = session.scalars(
        sa.select(Settlement).where(Settlement.id == settlement_id).with_for_update()
    ).one_or_none()  # the lock makes concurrent resends of one settlement wait in turn
    if row is None:
        raise NoSuchSettlement(f"no settlement {settlement_id!r}")
    sends = _mail_jobs(session, settlement_id)
    if idempotency_key is not None:
        for job in sends:
            if job.payload.get("idempotency_key") != idempotency_key:
                continue
            if job.payload.get("to") != to:
                raise ResendKeyConflict(
                    f"idempotency key {idempotency_key!r} already queued send "
                    f"{_send_number(job)} of settlement {settlement_id} with another address")
            return QueuedResend(settlement_id, _send_number(job), job.key, to)
    if any(job.state == "pending" for job in sends):
        raise SendPending(f"the e-mail of settlement {settlement_id} is already queued or "
                          f"being sent; see GET /v1/settlements/{settlement_id}/mail")
    clinic = session.get(Clinic, row.clinic_id)
    if to is None and (clinic is None or not clinic.report_email):
        raise NoRecipient(f"clinic {row.clinic_id} has no report e-mail address: set it "
                          f"(PUT /v1/clinics/{row.clinic_id}/report-email) or give an "
                          "address to send to")
    last = max((_send_number(job) for job in sends), default=0)
    send = last + 1  # the settlement's own job is send 0
    payload: dict[str, Any] = {"settlement_id": settlement_id,
                               "files_root": str(_files_root(row, sends)), "send": send}
    if to is not None:
        payload["to"] = to
    if idempotency_key is not None:
        payload["idempotency_key"] = idempotency_key
    recorded = session.get(SettlementMailing, settlement_id)
    if recorded is not None:
        payload["previous"] = {"send": last, **_outcome(recorded)}
        session.delete(recorded)  # the new send records its own outcome
    elif sends and sends[-1].state == "failed":  # gave up without an outcome (a bad file)
        payload["previous"] = {"send": last, "status": "failed",
                               "detail": sends[-1].last_error,
                               "recorded_at": _iso(sends[-1].finished_at)}
    key = job_key(settlement_id, send)
    jobs.schedule(session, [NewJob(JOB_KIND, key, now, payload, max_attempts=MAX_ATTEMPTS)],
                  now)
    session.flush()
    log.info("settlement e-mail queued again", settlement_id=settlement_id, send=send,
             other_address=to is not None)
    return QueuedResend(settlement_id, send, key, to)


async def send_due_reports(db: Database, clock: Clock, smtp: SmtpSettings | None) -> int:
    """Run the report e-mail jobs that are due now, and only those (for a command that runs
    beside the service: the service's own scheduler runs them too; leases keep the two from
    sending the same one at once). The number of jobs run."""
    handlers = make_mail_handlers(db, clock, lambda: smtp)
    return await Scheduler(db, clock, handlers, only_kinds=True).run_due()
