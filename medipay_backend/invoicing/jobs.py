"""The daily invoicing job: issue new invoices, run dunning, send the dunning SMS, deliver the
new invoices and print the day's letters.

One recurring durable job (`invoicing_daily`, key `invoicing:daily`). Each chunk of claims
is its own transaction, so a crash redoes at most one chunk, and rerunning a day is harmless
(a done step is never done again).

SMS are queued by the run as `sms_pending` events and sent afterwards, each with a payment
link of its own (`claim_checkout.new_link`; only a masked copy of the text is kept). A sent
one becomes `sms` with the SMSC's message id; one for a claim closed meanwhile becomes
`sms_cancelled`. An SMS that fails stays pending and is tried at the next run.

Delivery (when the runtime has `[invoicing]` settings) takes one transaction per document:
every open claim whose invoice has not gone out (EHF, eFaktura, e-mail, paper) and every
letter of an open claim not printed yet, into today's print batch. An e-mail that cannot be
sent now stays undelivered and is tried at the next run. The job then asks to run again at
`RUN_AT` the next Oslo day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import partial

import sqlalchemy as sa
import trio
from sqlalchemy.orm import Session

from medipay.clock import Clock
from medipay.logs import get_logger
from medipay_backend.db import Database
from medipay_backend.domain.dunning import OSLO, oslo_date
from medipay_backend.invoicing.claim_checkout import claim_path, new_link
from medipay_backend.invoicing.delivery import (
    Channels,
    deliver_one,
    print_letter,
    undelivered,
    unprinted_letters,
)
from medipay_backend.invoicing.dunning_runner import LINK_SLOT, RunSummary, run_chunk
from medipay_backend.invoicing.issuing import issue_pending
from medipay_backend.invoicing.settings import FileEfaktura
from medipay_backend.jobs import ClaimedJob, NewJob
from medipay_backend.models_invoicing import Claim, ClaimEvent
from medipay_backend.runtime import Runtime
from medipay_backend.scheduler import Handler
from medipay_backend.sms.sender import SmsError

log = get_logger(__name__)
DAILY_KEY = "invoicing:daily"
RUN_AT = time(6, 0)  # Oslo time
SMS_BATCH = 500
DELIVERY_BATCH = 500


def daily_job(now: datetime) -> NewJob:
    return NewJob("invoicing_daily", DAILY_KEY, now, {}, max_attempts=1_000_000)


def next_run(now: datetime) -> datetime:
    tomorrow = oslo_date(now) + timedelta(days=1)
    return datetime.combine(tomorrow, RUN_AT, tzinfo=OSLO)


def pending_sms(session: Session, limit: int = SMS_BATCH) -> list[int]:
    return list(session.scalars(sa.select(ClaimEvent.seq).where(
        ClaimEvent.kind == "sms_pending").order_by(ClaimEvent.seq).limit(limit)))


@dataclass(frozen=True)
class PreparedSms:
    seq: int
    to: str
    text: str  # with the link
    masked: str  # what is kept: the link's token cut to four characters


def _with_link(text: str, link: str) -> str:
    if LINK_SLOT in text:
        return text.replace(LINK_SLOT, link)
    return f"{text} Betal med kort eller Vipps: {link}"  # queued before links existed


def prepare_sms(session: Session, seq: int, base_url: str, now: datetime) -> PreparedSms | None:
    """A new payment link for the SMS; None if it has no number or its claim was closed
    since the run queued it (then it is marked `sms_cancelled` and never sent)."""
    event = session.get(ClaimEvent, seq, with_for_update=True)
    if event is None or event.kind != "sms_pending":
        return None
    claim = session.get(Claim, event.claim_seq)
    if claim is None or claim.state != "open":
        event.kind = "sms_cancelled"
        event.detail = {**event.detail, "cancelled_because": claim.state if claim else "gone"}
        return None
    to = event.detail.get("to") or ""
    if not to:
        log.warning("dunning sms without a number left pending", event=seq)
        return None
    token = new_link(session, claim.seq, event.step_id, now)
    link = base_url.rstrip("/") + claim_path(token)
    text = event.detail["text"]
    return PreparedSms(seq, to, _with_link(text, link),
                       _with_link(text, link.replace(token, token[:4] + "…")))


def mark_sent(session: Session, *, seq: int, message_id: str, text: str,
              now: datetime) -> None:
    event = session.get(ClaimEvent, seq)
    if event is not None and event.kind == "sms_pending":
        event.kind = "sms"
        event.detail = {**event.detail, "text": text, "message_id": message_id,
                        "sent_at": now.isoformat()}


async def send_pending_sms(db: Database, clock: Clock, runtime: Runtime) -> int:
    sent = 0
    for seq in await db.run(pending_sms):
        prepared = await db.run(partial(prepare_sms, seq=seq, base_url=runtime.base_url,
                                        now=clock.now()))
        if prepared is None:
            continue
        try:
            message_id = await runtime.sms.send(prepared.to, prepared.text)
        except SmsError as exc:
            log.warning("dunning sms failed; retried next run", event=seq, error=str(exc))
            continue
        await db.run(partial(mark_sent, seq=seq, message_id=message_id, text=prepared.masked,
                             now=clock.now()))
        sent += 1
    return sent


async def deliver_documents(db: Database, clock: Clock, runtime: Runtime) -> Counter[str]:
    """Deliver the invoices not sent yet and print the letters not printed yet; counts per
    channel ("deferred": e-mail not possible now, tried again next run; "letters")."""
    counts: Counter[str] = Counter()
    settings = runtime.invoicing
    if settings is None:
        return counts
    now = clock.now()
    today = oslo_date(now)
    efaktura = await trio.to_thread.run_sync(FileEfaktura.load, settings, today)
    channels = Channels(efaktura=efaktura, smtp=runtime.smtp, print_dir=settings.print_dir,
                        ehf_outbox=settings.ehf_outbox)
    after = 0
    while claims := await db.run(partial(undelivered, after_seq=after, limit=DELIVERY_BATCH)):
        for seq in claims:
            counts[await db.run(partial(deliver_one, claim_seq=seq, channels=channels,
                                        now=now))] += 1
        after = claims[-1]
    after = 0
    while letters := await db.run(partial(unprinted_letters, after_seq=after,
                                          limit=DELIVERY_BATCH)):
        for seq in letters:
            counts["letters"] += await db.run(partial(print_letter, event_seq=seq, day=today,
                                                      channels=channels, now=now))
        after = letters[-1]
    if channels.smtp_failed is not None:
        log.warning("e-mail delivery deferred to the next run", deferred=counts["deferred"],
                    error=channels.smtp_failed)
    return counts


async def run_day(db: Database, clock: Clock, runtime: Runtime) -> RunSummary:
    now = clock.now()
    while await db.run(lambda s: issue_pending(s, now)):
        pass
    summary = RunSummary()
    today = oslo_date(now)
    lookup = runtime.bureau.registered_address
    while await db.run(lambda s: run_chunk(s, today, now, summary, lookup=lookup)):
        pass
    await send_pending_sms(db, clock, runtime)
    delivered = await deliver_documents(db, clock, runtime)
    if delivered:
        log.info("invoices and letters delivered", **dict(delivered))
    return summary


def make_invoicing_handlers(db: Database, clock: Clock,
                            runtime: Runtime) -> Mapping[str, Handler]:
    async def invoicing_daily(job: ClaimedJob) -> datetime:
        summary = await run_day(db, clock, runtime)
        log.info("dunning run done", claims=summary.claims, actions=dict(summary.actions),
                 fees=summary.fees)
        return next_run(clock.now())

    return {"invoicing_daily": invoicing_daily}
