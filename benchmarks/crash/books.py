"""The books check at the end of a crash campaign: the terminal's batch, what the EPJ was told,
the gateway's journal and the backend must agree on every approved payment, refund and
reversal."""

from __future__ import annotations

from typing import Any

import httpx

from benchmarks.crash.model import FINAL, CampaignConfig, CampaignFailure, Counts, Request
from firmware_sim.batch import reversed_receipts
from firmware_sim.device import SimTerminal
from gateway.journal import Journal
from medipay.clock import Clock


def fail(seed: int, what: str, expected: Any, actual: Any) -> None:
    if expected != actual:
        raise CampaignFailure(f"seed {seed}: {what}:\n"
                              f"  expected {expected}\n  actual   {actual}")


async def backend_items(backend_url: str, admin_token: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    async with httpx.AsyncClient(base_url=backend_url, timeout=30.0) as client:
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if cursor:
                params["cursor"] = cursor
            response = await client.get("/v1/pos-transactions", params=params, headers={
                "Authorization": f"Bearer {admin_token}"})
            page = response.json()
            items.extend(page["items"])
            cursor = page["next"]
            if not cursor or not page["items"]:
                return items


async def check_books(seed: int, requests: list[Request], device: SimTerminal, backend_url: str,
                      admin_token: str, counts: Counts) -> None:
    """Every request final; the terminal, the EPJ and the backend agree."""
    for request in requests:
        if request.outcome is None or request.outcome["status"] not in FINAL:
            raise CampaignFailure(f"seed {seed}: request {request.key} has no final "
                                  f"status: {request.outcome}")
    # The terminal: what was charged, by kind, receipt number -> amount.
    batch = device.engine.state.batch
    undone = reversed_receipts(batch)
    terminal = {kind: {b.receipt: b.amount for b in batch if b.kind == kind}
                for kind in ("purchase", "refund", "reversal")}
    terminal_kept = {r: a for r, a in terminal["purchase"].items() if r not in undone}
    # The EPJ: what it was told.
    told: dict[str, dict[int, int]] = {"purchase": {}, "refund": {}, "reversal": {}}
    kinds = {"payment": "purchase", "refund": "refund", "reversal": "reversal"}
    for request in requests:
        outcome = request.outcome
        assert outcome is not None
        if outcome["status"] != "approved":
            continue
        slot = told[kinds[request.kind]]
        if outcome["receipt_number"] in slot:
            raise CampaignFailure(f"seed {seed}: receipt {outcome['receipt_number']} "
                                  f"approved twice at the EPJ")
        slot[outcome["receipt_number"]] = outcome["amount"]
    reversed_told = {r.original["receipt_number"] for r in requests  # type: ignore[index]
                     if r.kind == "reversal" and r.outcome
                     and r.outcome["status"] == "approved"}
    told_kept = {r: a for r, a in told["purchase"].items() if r not in reversed_told}
    fail(seed, "approved payments not reversed: terminal vs EPJ", terminal_kept, told_kept)
    for kind in ("purchase", "refund", "reversal"):
        fail(seed, f"approved {kind}s: terminal vs EPJ", terminal[kind], told[kind])
    # The backend: every approved transaction exactly once.
    items = await backend_items(backend_url, admin_token)
    keys = [item["idempotency_key"] for item in items]
    if len(keys) != len(set(keys)):
        raise CampaignFailure(f"seed {seed}: the backend holds an entry twice")
    ids = [item["gateway_transaction_id"] for item in items]
    if len(ids) != len(set(ids)):
        raise CampaignFailure(f"seed {seed}: a gateway transaction reached the backend "
                              f"twice")
    backend: dict[str, dict[int, int]] = {"purchase": {}, "refund": {}, "reversal": {}}
    # A payment is `reversed` in the backend once the reversal naming it arrived.
    reversed_backend: set[int] = set()
    for item in items:
        if item["status"] in ("approved", "reversed"):
            backend[kinds[item["kind"]]][item["receipt_number"]] = item["amount"]
        if item["status"] == "reversed":
            reversed_backend.add(item["receipt_number"])
    for kind in ("purchase", "refund", "reversal"):
        fail(seed, f"approved {kind}s: terminal vs backend", terminal[kind], backend[kind])
    fail(seed, "reversed payments: EPJ vs backend", reversed_told, reversed_backend)
    counts.delivered = len(items)
    # Every final answer the EPJ got is what the journal and the backend hold.
    by_id = {item["gateway_transaction_id"]: item for item in items}
    for request in requests:
        outcome = request.outcome
        assert outcome is not None
        if outcome["status"] in ("approved", "declined", "aborted"):
            item = by_id.get(outcome["id"])
            status = outcome["status"]
            if request.kind == "payment" and outcome["receipt_number"] in reversed_told:
                status = "reversed"  # approved, then reversed by a later request
            if item is None or item["status"] != status:
                raise CampaignFailure(f"seed {seed}: {request.key} answered "
                                      f"{outcome['status']}, backend has {item}")


async def count_from_journal(config: CampaignConfig, requests: list[Request], journal_url: str,
                             clock: Clock, device: SimTerminal, counts: Counts) -> None:
    """The outcomes by status, and what the journal and the terminal resolved by themselves."""
    for request in requests[:config.transactions]:
        assert request.outcome is not None
        status = request.outcome["status"]
        if status == "failed":
            counts.failed_not_charged += 1
        elif status in ("approved", "declined", "aborted"):
            setattr(counts, status, getattr(counts, status) + 1)
    journal = Journal.open(journal_url, clock)
    try:
        records = await journal.recent(limit=10 * config.transactions + 100)
        status = await journal.outbox_status()
    finally:
        journal.close()
    counts.recovered_from_terminal = sum(
        1 for r in records if (r.result_text or "").startswith("approved (recovered"))
    counts.resolved_not_charged = sum(
        1 for r in records if (r.result_text or "").startswith("not charged:"))
    if status["backlog"] or status["rejected"]:
        raise CampaignFailure(f"seed {config.seed}: uplink not drained: {status}")
    counts.reversed_by_terminal = sum(
        1 for b in device.engine.state.journal
        if b.status == "auto_reversed" or (b.kind == "reversal" and b.source == "terminal"))
