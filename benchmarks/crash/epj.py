"""The EPJ side of the campaign: which request comes next (fixed by the seed), and asking the
gateway until the answer is final, the way a careful EPJ does."""

from __future__ import annotations

import random
from typing import Any

import httpx
import trio

from benchmarks.crash.model import (
    APPROVING,
    CARDS,
    DECLINING,
    FINAL,
    REQUEST_DEADLINE,
    RETRY_PAUSE,
    TERMINAL,
    CampaignConfig,
    CampaignFailure,
    Counts,
    Request,
)
from firmware_sim.customers import Customer, CustomerDesk, Moment


def next_request(config: CampaignConfig, rng: random.Random, requests: list[Request],
                 desk: CustomerDesk, number: int) -> Request:
    key = f"campaign-{config.seed}-{number}"
    # The same draws every time, whatever earlier outcomes were: the seed fixes the
    # script (which request, which customer, and below: kills and outages).
    draw, pick, who, card, delay = (rng.random() for _ in range(5))
    amount = rng.randrange(100, 50_000)
    reversible = [r for r in requests if r.kind == "payment" and r.outcome
                  and r.outcome["status"] == "approved" and not is_reversed(r, requests)]
    if draw < config.reversal_share and reversible:
        original = reversible[int(pick * len(reversible))].outcome
        assert original is not None
        return Request(number, "reversal", key, original["amount"], original=original)
    if draw < config.reversal_share + config.refund_share:
        return Request(number, "refund", key, amount)
    if who < config.decline_chance:
        desk.add(Customer(card=CARDS[DECLINING[int(card * len(DECLINING))]]))
    elif who < config.decline_chance + config.cancel_chance:
        desk.add(Customer(card=CARDS["bankaxept"], cancel=Moment.PIN))
    elif who < 0.5:
        desk.add(Customer(card=CARDS[APPROVING[int(card * len(APPROVING))]],
                          present_after=0.2 * delay))
    return Request(number, "payment", key, amount)


def is_reversed(payment: Request, requests: list[Request]) -> bool:
    assert payment.outcome is not None
    return any(r.kind == "reversal" and r.outcome and r.outcome["status"] == "approved"
               and r.original and r.original["id"] == payment.outcome["id"]
               for r in requests)


async def post(epj: httpx.AsyncClient, request: Request) -> httpx.Response:
    headers = {"Idempotency-Key": request.key}
    if request.kind == "reversal":
        assert request.original is not None
        path = f"/v1/transactions/{request.original['id']}/reversal"
        return await epj.post(path, headers=headers)
    body = {"amount": request.amount, "currency": "NOK", "reference": request.key}
    path = f"/v1/terminals/{TERMINAL}/{'payments' if request.kind == 'payment' else 'refunds'}"
    return await epj.post(path, json=body, headers=headers)


async def submit(epj: httpx.AsyncClient, request: Request, seed: int,
                 counts: Counts) -> dict[str, Any]:
    """Ask until the answer is final, the way a careful EPJ does."""
    first = True
    with trio.move_on_after(REQUEST_DEADLINE) as deadline:
        while True:
            if not first:
                counts.retries += 1
                await trio.sleep(RETRY_PAUSE)
            first = False
            try:
                response = await post(epj, request)
            except httpx.TransportError:
                counts.connection_errors += 1  # the gateway is down or was killed
                continue
            body = response.json() if response.content else {}
            if response.status_code == 201:
                if body["status"] in FINAL:
                    return dict(body)
                counts.unknown_answers += 1
                continue
            slug = str(body.get("type", "")).rsplit("/", 1)[-1]
            if response.status_code == 409 and slug == "request-in-progress":
                counts.in_progress_answers += 1
                continue
            if response.status_code == 409 and slug == "terminal-busy":
                counts.busy_answers += 1  # e.g. the supervisor's health check
                continue
            if response.status_code == 503 and slug == "terminal-not-ready":
                counts.not_ready_answers += 1
                continue
            raise CampaignFailure(
                f"seed {seed}: request {request.number} ({request.kind}, key "
                f"{request.key}) got {response.status_code}: {response.text}")
    assert deadline.cancelled_caught
    raise CampaignFailure(f"seed {seed}: request {request.number} "
                          f"({request.key}) had no final status after {REQUEST_DEADLINE} s")
