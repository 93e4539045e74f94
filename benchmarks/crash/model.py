"""The crash campaign's vocabulary: its settings, what it counts, one EPJ request, and the
failure it raises when the books disagree."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from firmware_sim.cards import DEFAULT_DECK
from firmware_sim.faults import Step

GATEWAY_ID = "gw-campaign"
TERMINAL = "T1"
EPJ_TOKEN = "campaign-epj-token"
FINAL = frozenset({"approved", "declined", "aborted", "failed", "reversed"})
CARDS = {card.name: card for card in DEFAULT_DECK}
# Cards a customer may present; the default (nobody queued) is the approving VISA card.
DECLINING = ("visa-declined", "mastercard-blocked", "maestro-expired")
APPROVING = ("mastercard", "amex")
# Where a terminal fault strikes (the steps of a payment, refund or reversal).
FAULT_STEPS = (Step.ACK, Step.CARD, Step.HOST, Step.STATUS, Step.STATUS_SENT, Step.STORED,
               Step.PRINT, Step.COMPLETION)
# How long one EPJ request may take to reach a final status, kills and outages included.
REQUEST_DEADLINE = 300.0
# Pause between two attempts of the same request.
RETRY_PAUSE = 0.1


class CampaignFailure(AssertionError):
    """The books disagree, or a request never got a final status."""


@dataclass(frozen=True)
class CampaignConfig:
    transactions: int = 1000
    seed: int = 1
    # Per request: chance that the gateway is killed while it runs, and the delay window
    # after sending it in which the kill lands (seconds).
    kill_chance: float = 0.12
    kill_window: float = 0.6
    # Seconds the gateway stays down after a kill (uniform in [0, this]).
    max_downtime: float = 0.5
    # Per request: chance that the backend goes down (if up), for 1..outage_requests requests.
    outage_chance: float = 0.05
    outage_requests: int = 6
    # Seconds the terminal's host takes: the window in which kills hit the conversation.
    host_delay: float = 0.15
    # Shares of refunds and reversals among the requests (the rest are payments).
    refund_share: float = 0.08
    reversal_share: float = 0.08
    # Per payment: chance of a declining card, and of a customer pressing STOP.
    decline_chance: float = 0.08
    cancel_chance: float = 0.04
    # Per request: chance that the terminal drops the connection at a random step, and that
    # it loses power at a random step (back 0.2-1.5 s later).
    disconnect_chance: float = 0.03
    power_cut_chance: float = 0.01


@dataclass
class Counts:
    transactions: int = 0
    payments: int = 0
    refunds: int = 0
    reversals: int = 0
    kills: int = 0
    gateway_starts: int = 0
    backend_outages: int = 0
    terminal_disconnects: int = 0
    terminal_power_cuts: int = 0
    approved: int = 0
    declined: int = 0
    aborted: int = 0
    failed_not_charged: int = 0
    recovered_from_terminal: int = 0
    resolved_not_charged: int = 0
    reversed_by_terminal: int = 0
    delivered: int = 0
    duplicates_refused_by_backend: int = 0
    retries: int = 0
    connection_errors: int = 0
    unknown_answers: int = 0
    in_progress_answers: int = 0
    busy_answers: int = 0
    not_ready_answers: int = 0
    elapsed_s: float = 0.0

    def render(self) -> str:
        width = max(len(f.name) for f in fields(self))
        lines = []
        for f in fields(self):
            value = getattr(self, f.name)
            shown = f"{value:.1f}" if isinstance(value, float) else str(value)
            lines.append(f"{f.name.replace('_', ' '):<{width}}  {shown}")
        return "\n".join(lines)


@dataclass
class Request:
    number: int
    kind: str  # payment, refund, reversal
    key: str
    amount: int
    original: dict[str, Any] | None = None  # for a reversal: the payment as the EPJ knows it
    outcome: dict[str, Any] | None = None
