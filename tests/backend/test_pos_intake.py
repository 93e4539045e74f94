"""Signed intake of POS transactions: storage, idempotency, validation, atomic batches."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from medipay_backend.pos import fingerprint
from medipay_backend.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE
from medipay_backend.schemas import EndOfDayIn, PosTransactionIn

from .conftest import EnrolGateway
from .payloads import end_of_day, transaction

PATH = "/v1/pos-transactions"


async def _all_transactions(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> list[Any]:
    response = await client.get(PATH, params={"limit": 1000}, headers=admin_headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def test_signed_batch_is_stored_and_listed(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    txs = [transaction("gw-1", 1), transaction("gw-1", 2, status="declined", result_code=5)]

    response = await gateway.post(client, PATH, {"transactions": txs})

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["idempotency_key"] for r in results] == [tx["idempotency_key"] for tx in txs]
    assert [r["outcome"] for r in results] == ["created", "created"]
    stored = await _all_transactions(client, admin_headers)
    assert [item["id"] for item in stored] == [results[1]["id"], results[0]["id"]]
    newest = stored[0]
    assert newest["gateway_id"] == "gw-1"
    assert newest["status"] == "declined"
    assert newest["amount"] == 45002
    assert newest["occurred_at"] == "2026-01-05T08:15:00Z"
    assert newest["received_at"] == "2026-01-05T08:00:00Z"


async def test_exact_repeat_is_a_duplicate_with_the_same_id(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    first = await gateway.post(client, PATH, {"transactions": [transaction("gw-1", 1)]})
    # The same record again, in a batch with a new one; the offset is spelled differently.
    again = transaction("gw-1", 1, occurred_at="2026-01-05T08:15:00Z")
    second = await gateway.post(
        client, PATH, {"transactions": [again, transaction("gw-1", 2)]}
    )

    assert second.status_code == 200, second.text
    (created,) = first.json()["results"]
    duplicate, new = second.json()["results"]
    assert duplicate == {**created, "outcome": "duplicate"}
    assert new["outcome"] == "created"
    assert len(await _all_transactions(client, admin_headers)) == 2


async def test_repeat_within_one_batch_is_a_duplicate(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway
) -> None:
    gateway = await enrol_gateway("gw-1")
    tx = transaction("gw-1", 1)
    response = await gateway.post(client, PATH, {"transactions": [tx, tx]})

    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert (first["outcome"], second["outcome"]) == ("created", "duplicate")
    assert first["id"] == second["id"]


async def test_conflicting_repeat_rejects_the_whole_batch(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    original = transaction("gw-1", 1)
    await gateway.post(client, PATH, {"transactions": [original]})
    changed = {**original, "amount": original["amount"] + 100}

    response = await gateway.post(
        client, PATH, {"transactions": [transaction("gw-1", 2), changed, transaction("gw-1", 3)]}
    )

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = response.json()
    assert problem["type"] == PROBLEM_BASE + "idempotency-conflict"
    assert problem["idempotency_key"] == original["idempotency_key"]
    assert original["idempotency_key"] in problem["detail"]
    stored = await _all_transactions(client, admin_headers)
    assert [item["idempotency_key"] for item in stored] == [original["idempotency_key"]]
    assert stored[0]["amount"] == original["amount"]


async def test_conflict_inside_one_batch_stores_nothing(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    tx = transaction("gw-1", 1)
    response = await gateway.post(
        client, PATH, {"transactions": [tx, {**tx, "status": "declined"}]}
    )

    assert response.status_code == 409
    assert await _all_transactions(client, admin_headers) == []


async def test_full_pan_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    pan = "5471031234561234"
    batch = [transaction("gw-1", 1), transaction("gw-1", 2, masked_pan=pan)]

    response = await gateway.post(client, PATH, {"transactions": batch})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = response.json()
    assert problem["type"] == PROBLEM_BASE + "validation-failed"
    assert problem["errors"][0]["loc"] == ["body", "transactions", "1", "masked_pan"]
    assert pan not in response.text  # the rejected value is never echoed
    assert await _all_transactions(client, admin_headers) == []


async def test_invalid_fields_are_422_problems(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    bad_variants: list[dict[str, Any]] = [
        {"amount": "450.00"},
        {"amount": 450.5},
        {"amount": -1},
        {"currency": "nok"},
        {"kind": "purchase"},
        {"status": "ok"},
        {"occurred_at": "2026-01-05T09:15:00"},  # no offset
        {"unexpected": 1},
        {"masked_pan": "5471 03** **** 1234 5"},
        {"terminal_id": ""},
    ]
    for n, bad in enumerate(bad_variants, start=1):
        payload = {"transactions": [transaction("gw-1", n, **bad)]}
        response = await gateway.post(client, PATH, payload)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["type"] == PROBLEM_BASE + "validation-failed"
    for batch in ([], [transaction("gw-1", n) for n in range(501)]):
        response = await gateway.post(client, PATH, {"transactions": batch})
        assert response.status_code == 422, len(batch)
    assert await _all_transactions(client, admin_headers) == []


async def test_idempotency_keys_must_belong_to_the_signer(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    await enrol_gateway("gw-2")
    batch = [transaction("gw-1", 1), transaction("gw-2", 2)]

    response = await gateway.post(client, PATH, {"transactions": batch})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "transactions", "1", "idempotency_key"]
    assert await _all_transactions(client, admin_headers) == []


async def test_largest_batch_is_accepted(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    batch = [transaction("gw-1", n) for n in range(500)]

    response = await gateway.post(client, PATH, {"transactions": batch})

    assert response.status_code == 200, response.text
    assert {r["outcome"] for r in response.json()["results"]} == {"created"}
    assert len(await _all_transactions(client, admin_headers)) == 500


# -- reversals name their payment ---------------------------------------------------------


def reversal(gateway_id: str, n: int, of: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """An approved reversal (record `n`) of payment `of`, naming it."""
    reverses = {"gateway_transaction_id": of["gateway_transaction_id"],
                "receipt_number": of["receipt_number"]}
    return transaction(gateway_id, n, **{"kind": "reversal", "amount": of["amount"],
                                         "reverses": reverses, **overrides})


def by_key(items: list[Any]) -> dict[str, Any]:
    return {item["idempotency_key"]: item for item in items}


async def test_a_reversal_names_its_payment_which_becomes_reversed(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    payment, other = transaction("gw-1", 1), transaction("gw-1", 2)
    await gateway.post(client, PATH, {"transactions": [payment, other]})
    undo = reversal("gw-1", 3, payment)

    response = await gateway.post(client, PATH, {"transactions": [undo]})

    assert response.status_code == 200, response.text
    stored = by_key(await _all_transactions(client, admin_headers))
    reversal_row = stored[undo["idempotency_key"]]
    assert reversal_row["reverses"] == {"gateway_transaction_id": "gtx-000001",
                                        "receipt_number": 1}
    paid = stored[payment["idempotency_key"]]
    assert (paid["status"], paid["reversed_by"]) == ("reversed", reversal_row["id"])
    assert stored[other["idempotency_key"]]["status"] == "approved"
    # The gateway sending the payment again (after a crash) is still a duplicate, and the
    # listing filters by the new status.
    again = await gateway.post(client, PATH, {"transactions": [payment, undo]})
    assert [r["outcome"] for r in again.json()["results"]] == ["duplicate", "duplicate"]
    listed = await client.get(PATH, params={"status": "reversed"}, headers=admin_headers)
    assert [item["id"] for item in listed.json()["items"]] == [paid["id"]]


async def test_a_reversal_that_arrives_first_is_linked_when_its_payment_comes(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    """E.g. the payment was refused once and set aside, or a standalone list put the
    reversal first: the reversal is stored, and the payment is checked and marked later."""
    gateway = await enrol_gateway("gw-1")
    payment = transaction("gw-1", 1)
    undo = reversal("gw-1", 2, payment)
    first = await gateway.post(client, PATH, {"transactions": [undo]})
    assert first.status_code == 200, first.text
    assert by_key(await _all_transactions(client, admin_headers))[
        undo["idempotency_key"]]["reverses"]["gateway_transaction_id"] == "gtx-000001"

    await gateway.post(client, PATH, {"transactions": [payment]})

    stored = by_key(await _all_transactions(client, admin_headers))
    paid = stored[payment["idempotency_key"]]
    assert (paid["status"], paid["reversed_by"]) == ("reversed",
                                                     stored[undo["idempotency_key"]]["id"])


async def test_payment_and_reversal_in_one_batch_and_by_receipt_number_only(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    payment, second = transaction("gw-1", 1), transaction("gw-1", 2)
    undo = reversal("gw-1", 3, payment)
    # A standalone terminal's reversal of a payment the gateway never journalled names the
    # receipt only; a declined reversal names its payment but changes nothing.
    by_receipt = reversal("gw-1", 4, second, reverses={"receipt_number": 2},
                          occurred_at="2026-01-05T09:20:00+01:00")
    declined = reversal("gw-1", 5, second, status="declined", result_code=0xB4)
    response = await gateway.post(client, PATH,
                                  {"transactions": [payment, undo, declined, second, by_receipt]})

    assert response.status_code == 200, response.text
    stored = by_key(await _all_transactions(client, admin_headers))
    assert stored[payment["idempotency_key"]]["reversed_by"] == \
        stored[undo["idempotency_key"]]["id"]
    assert stored[second["idempotency_key"]]["reversed_by"] == \
        stored[by_receipt["idempotency_key"]]["id"]
    assert stored[by_receipt["idempotency_key"]]["reverses"] == {
        "gateway_transaction_id": None, "receipt_number": 2}


@pytest.mark.parametrize(("change", "reason"), [
    ({"terminal_id": "T0000009"}, "of terminal T0000001, but the reversal is from terminal"),
    ({"amount": 100}, "but reverses 100 NOK"),
    ({"reverses": {"gateway_transaction_id": "gtx-000001", "receipt_number": 7}},
     "by receipt 7, but its receipt is 1"),
])
async def test_a_reversal_that_does_not_fit_its_payment_is_refused(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str],
    change: dict[str, Any], reason: str,
) -> None:
    gateway = await enrol_gateway("gw-1")
    payment = transaction("gw-1", 1)
    await gateway.post(client, PATH, {"transactions": [payment]})
    bad = {**reversal("gw-1", 3, payment), **change}

    response = await gateway.post(client, PATH, {"transactions": [transaction("gw-1", 2), bad]})

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == PROBLEM_BASE + "reversal-mismatch"
    assert problem["idempotency_key"] == bad["idempotency_key"]
    assert reason in problem["detail"] and "nothing in this request was stored" in problem["detail"]
    stored = await _all_transactions(client, admin_headers)
    assert [(item["idempotency_key"], item["status"]) for item in stored] == [
        (payment["idempotency_key"], "approved")]


async def test_reversing_another_gateways_payment_or_one_already_reversed_is_refused(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway, other = await enrol_gateway("gw-1"), await enrol_gateway("gw-2")
    theirs = transaction("gw-2", 1, gateway_transaction_id="gtx-theirs")
    await other.post(client, PATH, {"transactions": [theirs]})
    foreign = await gateway.post(client, PATH, {"transactions": [reversal("gw-1", 2, theirs)]})
    assert foreign.status_code == 422
    assert "belongs to another gateway" in foreign.json()["detail"]

    ours = transaction("gw-1", 3)
    await gateway.post(client, PATH, {"transactions": [ours, reversal("gw-1", 4, ours)]})
    twice = await gateway.post(client, PATH, {"transactions": [reversal("gw-1", 5, ours)]})
    assert twice.status_code == 422
    assert "another approved reversal already reversed" in twice.json()["detail"]
    # A payment that arrives contradicting a reversal stored before it is refused too.
    undo = reversal("gw-1", 6, transaction("gw-1", 7))
    await gateway.post(client, PATH, {"transactions": [undo]})
    late = await gateway.post(client, PATH,
                              {"transactions": [transaction("gw-1", 7, terminal_id="T2")]})
    assert late.status_code == 422 and late.json()["type"] == PROBLEM_BASE + "reversal-mismatch"
    keys = {item["idempotency_key"] for item in await _all_transactions(client, admin_headers)}
    assert keys == {theirs["idempotency_key"], ours["idempotency_key"],
                    reversal("gw-1", 4, ours)["idempotency_key"], undo["idempotency_key"]}


async def test_only_a_reversal_may_name_a_payment(
    client: httpx.AsyncClient, enrol_gateway: EnrolGateway, admin_headers: dict[str, str]
) -> None:
    gateway = await enrol_gateway("gw-1")
    for bad in (transaction("gw-1", 1, reverses={"receipt_number": 1}),
                reversal("gw-1", 2, transaction("gw-1", 1), reverses={})):
        response = await gateway.post(client, PATH, {"transactions": [bad]})
        assert response.status_code == 422, response.text
        assert response.json()["type"] == PROBLEM_BASE + "validation-failed"
    assert await _all_transactions(client, admin_headers) == []


def test_records_stored_before_the_new_fields_keep_their_fingerprint() -> None:
    """A gateway repeating a record the backend stored before `reverses` / `totals_source`
    existed must get `duplicate`, not a conflict."""
    tx = PosTransactionIn.model_validate(transaction("gw-1", 1))
    old_content = {k: v for k, v in tx.model_dump(mode="json").items() if k != "reverses"}
    assert fingerprint(tx.model_dump(mode="json")) == fingerprint(old_content)
    total = EndOfDayIn.model_validate(end_of_day("gw-1", 1))
    old_total = {k: v for k, v in total.model_dump(mode="json").items() if k != "totals_source"}
    assert fingerprint(total.model_dump(mode="json")) == fingerprint(old_total)
    reconstructed = total.model_copy(update={"totals_source": "reconstructed"})
    assert fingerprint(reconstructed.model_dump(mode="json")) != fingerprint(old_total)
