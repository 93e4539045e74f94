from datetime import timedelta

import pytest
import trio

from gateway.journal import IN_FLIGHT, IdempotencyConflict, Outcome, PaymentRequest


def request(key: str = "k1", amount: int = 12345) -> PaymentRequest:
    return PaymentRequest(key, "T1", "payment", amount, "NOK", "bill-1")


async def test_begin_journals_in_flight_and_repeat_returns_it(journal):
    record, created = await journal.begin(request())
    assert created and record.status == IN_FLIGHT
    again, created_again = await journal.begin(request())
    assert not created_again and again == record


async def test_reused_key_with_other_content_is_refused_and_changes_nothing(journal):
    record, _ = await journal.begin(request())
    with pytest.raises(IdempotencyConflict) as info:
        await journal.begin(request(amount=1))
    assert info.value.existing_id == record.id
    assert await journal.recent() == [record]


async def test_concurrent_identical_requests_make_one_record(journal):
    results = []

    async def begin():
        results.append(await journal.begin(request("race")))

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(begin)
    assert len({record.id for record, _ in results}) == 1
    assert sum(created for _, created in results) == 1


async def test_outcome_and_outbox_entry_commit_together(journal, clock):
    record, _ = await journal.begin(request())
    outcome = Outcome("approved", result_code=0, masked_pan="411111******1111",
                      receipt_number=7, trace_number=9, receipt_lines=["KVITTERING", "BELØP"])
    final = await journal.complete(
        record.id, outcome, lambda r: ("pos-transaction", {"idempotency_key": f"x:{r.id}"}))
    assert final.status == "approved" and final.receipt_lines == ["KVITTERING", "BELØP"]
    due = await journal.due_outbox(10, "pos-transaction")
    assert [entry.idempotency_key for entry in due] == [f"x:{record.id}"]

    await journal.mark_failed([due[0].seq], clock.now() + timedelta(seconds=30), "down")
    assert await journal.due_outbox(10, "pos-transaction") == []
    clock.advance(31)
    (retry,) = await journal.due_outbox(10, "pos-transaction")
    assert retry.attempts == 1
    await journal.mark_delivered([retry.seq])
    assert await journal.outbox_backlog() == 0


async def test_failing_outbox_write_rolls_back_the_outcome(journal):
    record, _ = await journal.begin(request())

    def broken_relay(_record):
        raise RuntimeError("payload builder failed")

    with pytest.raises(RuntimeError):
        await journal.complete(record.id, Outcome("approved"), broken_relay)
    assert (await journal.get(record.id)).status == IN_FLIGHT
    assert await journal.outbox_backlog() == 0
