"""The invoicing API over HTTP: issuing, documents, dunning runs, OCR import, claim actions,
suspense and the outstanding report; errors are problem+json."""

from __future__ import annotations

from datetime import timedelta

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from medipay.clock import SimulatedClock
from medipay_backend.db import Database
from medipay_backend.localtime import oslo_date
from medipay_backend.models_invoicing import ClaimEvent
from medipay_backend.models_orders import Invoice

from .seed import CLINIC, make_claim
from .test_payments_in import ocr_file


def _claim_events(session: Session, claim_seq: int) -> list[dict[str, str]]:
    return [{"kind": e.kind} for e in session.scalars(
        sa.select(ClaimEvent).where(ClaimEvent.claim_seq == claim_seq).order_by(ClaimEvent.seq))]


async def test_issue_documents_dunning_and_payment_over_http(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock,
) -> None:
    claim = database.transaction(lambda s: make_claim(s, clock.now()))
    assert (await client.post("/v1/invoicing/issue")).status_code == 401
    issued = await client.post("/v1/invoicing/issue", headers=admin_headers)
    assert issued.json() == {"issued": []}  # already issued by the seed

    pdf = await client.get(f"/v1/invoicing/claims/{claim.invoice_number}/invoice.pdf",
                           headers=admin_headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and b"Faktura" in pdf.content
    assert claim.kid.encode() in pdf.content and b"Fakturagebyr" in pdf.content

    for _ in range(33):
        run = await client.post("/v1/invoicing/dunning-runs", headers=admin_headers)
        assert run.status_code == 200
        clock.advance(timedelta(days=1))
    letter = await client.get(
        f"/v1/invoicing/claims/{claim.invoice_number}/letters/reminder-notice.pdf",
        headers=admin_headers)
    assert letter.status_code == 200 and b"Purring og inkassovarsel" in letter.content
    missing = await client.get(
        f"/v1/invoicing/claims/{claim.invoice_number}/letters/notice.pdf", headers=admin_headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"

    text = ocr_file(oslo_date(clock.now()), (claim.kid, 20_000), ("12345678903", 500))
    imported = await client.post("/v1/invoicing/ocr-imports", content=text.encode("latin-1"),
                                 headers=admin_headers)
    assert imported.status_code == 200, imported.text
    assert imported.json()["suspense_reasons"] == {"unknown_kid": 1}
    bad = await client.post("/v1/invoicing/ocr-imports", content=b"garbage",
                            headers=admin_headers)
    assert bad.status_code == 422 and bad.json()["type"].endswith("ocr-file-rejected")
    suspense = (await client.get("/v1/invoicing/suspense", headers=admin_headers)).json()
    assert [(i["reason"], i["amount"]) for i in suspense] == [("unknown_kid", 500)]
    resolve = f"/v1/invoicing/suspense/{suspense[0]['id']}/resolve"
    nowhere = await client.post(resolve, json={"note": "refunded"}, headers=admin_headers)
    assert nowhere.status_code == 422  # money must be booked out to where it went
    assert nowhere.json()["type"].endswith("suspense-destination-required")
    done = await client.post(resolve, json={"note": "refunded", "to": "bank",
                                            "reference": "nettbank 2026-01-05"},
                             headers=admin_headers)
    assert done.status_code == 200 and done.json()["booked_out_to"] == "provider:bank"
    twice = await client.post(resolve, json={"note": "again", "to": "bank",
                                             "reference": "another"}, headers=admin_headers)
    assert twice.status_code == 409
    assert (await client.get("/v1/invoicing/suspense", headers=admin_headers)).json() == []

    body = (await client.get(f"/v1/invoicing/claims/{claim.invoice_number}",
                             headers=admin_headers)).json()
    assert body["stage"] == "reminded" and body["paid"] == 20_000
    assert [e["kind"] for e in body["events"]][-1] == "payment"


async def test_claim_actions_and_report_over_http(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock,
) -> None:
    claim = database.transaction(lambda s: make_claim(s, clock.now()))
    base = f"/v1/invoicing/claims/{claim.invoice_number}"
    paused = await client.post(f"{base}/complaint", json={"note": "feil beløp"},
                               headers=admin_headers)
    assert paused.status_code == 200 and paused.json()["paused"] is True
    twice = await client.post(f"{base}/complaint", json={"note": "igjen"},
                              headers=admin_headers)
    assert twice.status_code == 409
    resolved = await client.post(f"{base}/complaint/resolve", json={"note": "ok"},
                                 headers=admin_headers)
    assert resolved.json()["paused"] is False
    note = {"amount": 4_900, "reason": "x"}
    keyed = {**admin_headers, "Idempotency-Key": "kreditnota-1"}
    unkeyed = await client.post(f"{base}/credit-notes", json=note, headers=admin_headers)
    assert unkeyed.status_code == 422, unkeyed.text  # the key is required
    credited = await client.post(f"{base}/credit-notes", json=note, headers=keyed)
    assert credited.status_code == 201 and credited.json()["credited"] == 4_900
    # A retry after a lost answer: the same note, nothing credited twice.
    again = await client.post(f"{base}/credit-notes", json=note, headers=keyed)
    assert again.status_code == 201 and again.json() == credited.json()
    other = await client.post(f"{base}/credit-notes", json={**note, "amount": 5_000},
                              headers=keyed)
    assert other.status_code == 409 and other.json()["type"].endswith("/idempotency-conflict")
    report = await client.get(f"/v1/invoicing/clinics/{CLINIC}/outstanding",
                              headers=admin_headers)
    assert report.json()["receivable"] == 100_000
    stopped = await client.post(f"{base}/stop", json={"delete": True, "reason": "klinikken"},
                                headers=admin_headers)
    assert stopped.json()["state"] == "deleted"
    later = (clock.now() + timedelta(days=1)).date().isoformat()
    report = await client.get(f"/v1/invoicing/clinics/{CLINIC}/outstanding",
                              params={"at": later}, headers=admin_headers)
    assert report.json()["items"] == []
    assert (await client.get("/v1/invoicing/claims/1", headers=admin_headers)).status_code == 404


async def test_issue_picks_up_invoice_records(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock,
) -> None:
    claim = database.transaction(lambda s: make_claim(s, clock.now()))

    def forget(session: sa.orm.Session) -> None:
        from medipay_backend.models_invoicing import Claim

        session.execute(sa.delete(Claim).where(Claim.seq == claim.seq))

    database.transaction(forget)
    issued = (await client.post("/v1/invoicing/issue", headers=admin_headers)).json()
    seq = database.transaction(lambda s: s.scalars(sa.select(Invoice.seq)).one())
    assert issued == {"issued": [100_000 + seq]}


async def test_two_credit_notes_at_once_never_credit_more_than_is_left(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock, database_url: str,
) -> None:
    """Each of two operators credits 60 000 of a 100 000 claim at the same moment: the claim's
    row lock lets one through and answers the other from the claim as the first left it."""
    if database_url.startswith("sqlite"):
        import pytest

        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    import trio

    answers: list[int] = []

    async def credit(path: str, key: str) -> None:
        answer = await client.post(path, json={"amount": 60_000, "reason": "dobbel"},
                                   headers={**admin_headers, "Idempotency-Key": key})
        answers.append(answer.status_code)

    for round_ in range(5):  # the race is not certain in any single round
        claim = database.transaction(lambda s: make_claim(s, clock.now()))
        path = f"/v1/invoicing/claims/{claim.invoice_number}/credit-notes"
        answers.clear()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(credit, path, f"a-{round_}")
            nursery.start_soon(credit, path, f"b-{round_}")
        assert sorted(answers) == [201, 409], answers
        view = (await client.get(f"/v1/invoicing/claims/{claim.invoice_number}",
                                 headers=admin_headers)).json()
        assert view["credited"] == 60_000, view


async def test_claim_actions_repeated_with_their_key_do_nothing_again(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock,
) -> None:
    """An operator's retry after a lost answer gets the claim as its request left it, not a
    409 from the state that request made; the same key for another request is a conflict."""
    claim = database.transaction(lambda s: make_claim(s, clock.now()))
    base = f"/v1/invoicing/claims/{claim.invoice_number}"

    def keyed(key: str) -> dict[str, str]:
        return {**admin_headers, "Idempotency-Key": key}

    def events() -> list[str]:
        return [e["kind"] for e in database.transaction(
            lambda s: _claim_events(s, claim.seq))]

    paused = await client.post(f"{base}/complaint", json={"note": "feil"}, headers=keyed("key-1"))
    assert paused.status_code == 200 and paused.json()["paused"] is True
    again = await client.post(f"{base}/complaint", json={"note": "feil"}, headers=keyed("key-1"))
    assert again.status_code == 200 and again.json() == paused.json()
    assert events().count("complaint") == 1
    other = await client.post(f"{base}/complaint", json={"note": "annet"}, headers=keyed("key-1"))
    assert other.status_code == 409 and other.json()["type"].endswith("/idempotency-conflict")
    # Without a key a repeat is refused by the claim's state, as before.
    assert (await client.post(f"{base}/complaint", json={"note": "feil"},
                              headers=admin_headers)).status_code == 409

    resolved = await client.post(f"{base}/complaint/resolve", json={"note": "ok"},
                                 headers=keyed("key-2"))
    assert resolved.status_code == 200 and resolved.json()["paused"] is False
    assert (await client.post(f"{base}/complaint/resolve", json={"note": "ok"},
                              headers=keyed("key-2"))).json() == resolved.json()

    stopped = await client.post(f"{base}/stop", json={"delete": False, "reason": "klinikken"},
                                headers=keyed("key-3"))
    assert stopped.status_code == 200 and stopped.json()["state"] == "stopped"
    repeat = await client.post(f"{base}/stop", json={"delete": False, "reason": "klinikken"},
                               headers=keyed("key-3"))
    assert repeat.status_code == 200 and repeat.json() == stopped.json()
    # The same key asking to delete instead is another request.
    deleting = await client.post(f"{base}/stop", json={"delete": True, "reason": "klinikken"},
                                 headers=keyed("key-3"))
    assert deleting.status_code == 409
    assert deleting.json()["type"].endswith("/idempotency-conflict")
    # A key used for one action cannot be reused for another.
    reused = await client.post(f"{base}/credit-notes", json={"amount": 100, "reason": "x"},
                               headers=keyed("key-1"))
    assert reused.status_code == 409 and reused.json()["type"].endswith("/idempotency-conflict")
    assert events().count("stopped") == 1 and events().count("complaint_resolved") == 1
