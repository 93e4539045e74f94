"""Stream 2 end to end: an order becomes a Fakturaservice invoice, the patient pays part of it
after a reminder, the clinic's part (principal and invoice fee) is settled in stream
fakturaservice with a Balance Report and an OCR file; fees and interest stay the provider's.
A bought claim's payment reaches no clinic."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from medipay_backend.db import Database
from medipay_backend.domain.kid import make_kid
from medipay_backend.domain.ocr import parse_ocr
from medipay_backend.domain.settlement import SettlementStream
from medipay_backend.invoicing.dunning_runner import run_all
from medipay_backend.invoicing.issuing import issue_pending
from medipay_backend.ledger_store import replay
from medipay_backend.localtime import oslo_date
from medipay_backend.models_invoicing import Claim, IncomingPayment
from medipay_backend.models_ledger import LedgerAccount, LedgerTransfer
from medipay_backend.settlement.service import settle_day

from ..conftest import ADMIN_TOKEN
from ..flow import Flow
from ..people import order
from ..settlement.helpers import check_ocr
from .seed import make_claim
from .test_payments_in import ocr_file

STREAM_2 = (SettlementStream.FAKTURASERVICE,)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _claim_after_reminder(flow: Flow, database: Database) -> Claim:
    """An order sent straight to Fakturaservice, issued and dunned past the reminder
    (day 32: NOK 35 fee, interest running)."""
    posted = await flow.post(order(1, direct_to_invoice=True, always_fakturaservice=True))
    await flow.tick()  # the deadline sweep makes the invoice record
    now = flow.clock.now()
    (claim,) = database.transaction(lambda s: issue_pending(s, now))
    assert claim.route == "fakturaservice" and claim.principal == posted["amount"]
    for _ in range(33):
        flow.clock.advance(timedelta(days=1))
        now = flow.clock.now()
        database.transaction(lambda s, now=now: run_all(s, oslo_date(now), now))
    return claim


def _balance(database: Database, account: str) -> int:
    row = database.transaction(lambda s: s.get(LedgerAccount, account))
    return 0 if row is None else row.credits_posted - row.debits_posted


async def _settle(flow: Flow, database: Database, tmp_path: Path) -> Any:
    (row,) = await settle_day(database, flow.clock, oslo_date(flow.clock.now()), tmp_path,
                              clinic_id=flow.epj.clinic_id, streams=STREAM_2, force=True)
    return row


async def test_a_partial_payment_is_settled_to_the_clinic_in_stream_2(
    flow: Flow, database: Database, tmp_path: Path,
) -> None:
    claim = await _claim_after_reminder(flow, database)
    payment_day = oslo_date(flow.clock.now())
    imported = await flow.client.post("/v1/invoicing/ocr-imports", headers=ADMIN,
                                      content=ocr_file(payment_day, (claim.kid, 30_000)))
    assert imported.status_code == 200, imported.text
    payment = database.transaction(lambda s: s.scalars(sa.select(IncomingPayment)).one())
    assert payment.fees == 3_500 and payment.interest > 0  # costs first, then interest
    clinic_part = payment.invoice_fee + payment.principal
    assert clinic_part == payment.to_clinic == 30_000 - 3_500 - payment.interest
    clinic = flow.epj.clinic_id
    assert _balance(database, f"clinic:{clinic}:fakturaservice:payable") == clinic_part
    assert _balance(database, "provider:revenue:dunning-fees") == 3_500
    assert _balance(database, "provider:revenue:interest") == payment.interest

    flow.clock.advance(timedelta(days=1))
    row = await _settle(flow, database, tmp_path)
    # The agreement has no settlement fees (the default), so the payout is the clinic's part.
    assert (row.count, row.gross, row.fees, row.total) == (1, clinic_part, 0, clinic_part)
    report = json.loads(Path(row.files["json"]["path"]).read_text())
    assert report["total"] == report["payout"] == clinic_part
    check_ocr(row)
    parsed = parse_ocr(Path(row.files["ocr"]["path"]).read_text(encoding="ascii"))
    assert [(p.kid, p.amount) for p in parsed.payments] == [(claim.kid, clinic_part)]
    assert _balance(database, f"clinic:{clinic}:fakturaservice:payable") == 0

    # Nothing new paid: the next settlement pays nothing; the rest is paid later.
    flow.clock.advance(timedelta(days=1))
    assert (await _settle(flow, database, tmp_path)).total == 0
    database.transaction(replay)


async def test_a_bought_claim_pays_the_provider_only(
    flow: Flow, database: Database, tmp_path: Path,
) -> None:
    clinic = flow.epj.clinic_id
    claim = database.transaction(lambda s: make_claim(
        s, flow.clock.now(), route="bought", clinic_id=clinic, account_id=flow.epj.account_id))
    text = ocr_file(oslo_date(flow.clock.now()), (claim.kid, 104_900))
    imported = await flow.client.post("/v1/invoicing/ocr-imports", headers=ADMIN, content=text)
    assert imported.json()["matched"] == 1
    transfers = database.transaction(lambda s: list(s.scalars(sa.select(LedgerTransfer))))
    assert not [t for t in transfers if t.stream == "fakturaservice"]
    assert not [t for t in transfers if t.credit_account_id.startswith(f"clinic:{clinic}:")
                and not t.id.endswith(":purchase")]
    assert _balance(database, "provider:claims:purchased") == 0  # bought, then paid down
    flow.clock.advance(timedelta(days=1))
    assert (await _settle(flow, database, tmp_path)).total == 0
    database.transaction(replay)


async def test_unknown_kid_waits_in_the_suspense_account(flow: Flow, database: Database) -> None:
    text = ocr_file(oslo_date(flow.clock.now()), (make_kid(424242, "mod10"), 12_300))
    imported = await flow.client.post("/v1/invoicing/ocr-imports", headers=ADMIN, content=text)
    assert imported.json()["suspense_reasons"] == {"unknown_kid": 1}
    assert _balance(database, "provider:suspense") == 12_300
    again = await flow.client.post("/v1/invoicing/ocr-imports", headers=ADMIN, content=text)
    assert again.json()["duplicates"] == 1 and _balance(database, "provider:suspense") == 12_300
