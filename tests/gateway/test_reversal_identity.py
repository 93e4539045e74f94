"""A reversal's uplink payload names the payment it reverses (gateway id + receipt number),
also for a standalone terminal's list that has the reversal before its payment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from gateway.journal import MIGRATIONS_DIR, PaymentRequest, create_journal_engine, migrate
from gateway.journal_schema import outbox
from gateway.standalone import ImportedTransaction
from gateway.transactions import make_relay

AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def item(n: int, kind: str, receipt: int | None, original: int | None = None,
         amount: int = 4500) -> ImportedTransaction:
    return ImportedTransaction(
        import_id=f"52500001-{n:08d}", terminal_id="52500001", kind=kind, status="approved",
        amount=amount, currency="NOK", result_code=0, result_text="no error", trace_number=n,
        receipt_number=receipt, original_receipt_number=original, card_name="VISA",
        masked_pan="411111******1111", at=AT + timedelta(minutes=n))


async def payloads(journal) -> dict[str, dict]:
    def work(conn):
        return {row.payload["gateway_transaction_id"]: row.payload
                for row in conn.execute(sa.select(outbox.c.payload))}
    return await journal._run(work)


async def test_an_imported_reversal_before_its_payment_names_it(journal):
    relay = make_relay("gw-1")
    # The list has the reversal first, and one of a payment the gateway never saw.
    items = [item(2, "reversal", None, original=1), item(1, "payment", 1),
             item(3, "reversal", None, original=99, amount=700)]
    assert await journal.import_standalone("T1", items, relay) == (3, 0)
    records = {r.trace_number: r for r in await journal.recent()}
    payment, linked, unknown = records[1], records[2], records[3]
    assert payment.status == "reversed"
    assert (linked.original_transaction_id, linked.original_receipt_number) == (payment.id, 1)
    sent = await payloads(journal)
    assert sent[linked.id]["reverses"] == {"gateway_transaction_id": payment.id,
                                           "receipt_number": 1}
    assert sent[unknown.id]["reverses"] == {"gateway_transaction_id": None,
                                            "receipt_number": 99}
    assert "reverses" not in sent[payment.id]
    # Payments go out first, so the backend sees the payment before its reversal.
    order = await journal._run(lambda conn: [r.payload["gateway_transaction_id"] for r in
                                             conn.execute(sa.select(outbox.c.payload)
                                                          .order_by(outbox.c.seq))])
    assert order[0] == payment.id


async def test_an_epj_reversal_keeps_the_payments_receipt_number(journal):
    request = PaymentRequest("rev-1", "T1", "reversal", 100, "NOK", None,
                             original_transaction_id="p-1", original_receipt_number=7)
    record, _ = await journal.begin(request)
    assert record.original_receipt_number == 7
    # Not part of the request's content: the same request without it is the same request.
    assert request.content_hash() == PaymentRequest(
        "rev-1", "T1", "reversal", 100, "NOK", None, original_transaction_id="p-1").content_hash()


def test_the_migration_gives_journalled_reversals_their_payments_receipt(tmp_path):
    engine = create_journal_engine(f"sqlite:///{tmp_path / 'journal.sqlite3'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        row = {"request_hash": "x", "terminal_id": "T1", "amount": 100, "currency": "NOK",
               "status": "approved", "receipt_lines": "[]", "created_at": AT, "updated_at": AT}
        tx = sa.table("transactions", *(sa.column(c) for c in (
            "id", "idempotency_key", "kind", "receipt_number", "original_transaction_id",
            *row)))
        conn.execute(tx.insert(), [
            {**row, "id": "p", "idempotency_key": "a", "kind": "payment", "receipt_number": 7,
             "original_transaction_id": None},
            {**row, "id": "r", "idempotency_key": "b", "kind": "reversal", "receipt_number": 8,
             "original_transaction_id": "p"}])
    migrate(engine)
    with engine.connect() as conn:
        got = dict(conn.execute(sa.text(
            "SELECT id, original_receipt_number FROM transactions")).all())
    engine.dispose()
    assert got == {"p": None, "r": 7}

