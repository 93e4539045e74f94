"""Glue between a stored claim and the pure dunning rules: its `ClaimState`, and the first
day one of its remaining steps can fall due (stored, so the daily run skips the rest)."""

from __future__ import annotations

from datetime import date, timedelta

from medipay_backend.domain.dunning import ClaimState, DunningSchedule, planned_dates
from medipay_backend.models_invoicing import Claim


def claim_state(claim: Claim) -> ClaimState:
    done = {step: date.fromisoformat(day) for step, day in claim.done.items()}
    return ClaimState(done=done, paid=claim.state == "paid", paused=claim.paused,
                      stopped=claim.state in ("stopped", "deleted", "credited"))


def next_action_on(
    schedule: DunningSchedule, invoice_date: date, state: ClaimState, today: date
) -> date | None:
    """The earliest planned day of a step not done and not lapsed by `today`; None if none
    can ever fall due (the schedule ran out, or everything left waits on a lapsed step)."""
    planned = planned_dates(schedule, invoice_date, state)
    candidates: list[date] = []
    for step in schedule.steps:
        on = planned[step.id]
        if step.id in state.done or on is None:
            continue
        if step.window_days is not None and on + timedelta(step.window_days) < today:
            continue
        candidates.append(on)
    return min(candidates) if candidates else None
