"""The Fakturaservice dunning timeline as data, and what is due on a given day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medipay_backend.domain.dunning import (
    FAKTURASERVICE_SCHEDULE as SCHEDULE,
)
from medipay_backend.domain.dunning import (
    Action,
    ClaimState,
    DunningError,
    DunningSchedule,
    DunningStep,
    InvalidScheduleError,
    InvalidStateError,
    Stage,
    due_steps,
    oslo_date,
    planned_dates,
    stage,
)
from medipay_backend.domain.rates import FeeKind

INVOICED = date(2026, 1, 5)


def day(n: int) -> date:
    return INVOICED + timedelta(days=n)


def run_on_time(until: int) -> ClaimState:
    """The state of a claim whose every step was done on the day it fell due."""
    done: dict[str, date] = {}
    for n in range(until + 1):
        while True:  # until a pass finds nothing new, as the workflow does
            new = [
                due.step.id
                for due in due_steps(SCHEDULE, INVOICED, day(n), ClaimState(done=done))
                if due.step.window_days is None or due.due_on == day(n)
            ]
            if not new:
                break
            done.update(dict.fromkeys(new, day(n)))
    return ClaimState(done=done)


def ids(state: ClaimState, n: int) -> list[str]:
    return [d.step.id for d in due_steps(SCHEDULE, INVOICED, day(n), state)]


def test_published_days_hold_when_everything_is_on_time() -> None:
    state = run_on_time(120)
    published = {step.id: step.day for step in SCHEDULE.steps}
    assert {k: (v - INVOICED).days for k, v in state.done.items()} == published
    assert published == {
        "invoice-due": 14, "friendly-sms": 17, "reminder-notice": 32, "reminder-due": 46,
        "collection-handover": 50, "payment-demand": 50, "call-1": 54, "collection-sms": 57,
        "call-2": 63, "payment-demand-due": 64, "heavy-fee": 93, "call-3": 95, "notice": 97,
        "payment-remark": 111,
    }
    assert stage(SCHEDULE, state) is Stage.PAYMENT_REMARK


def test_what_is_due_on_the_published_days() -> None:
    empty = ClaimState()
    assert ids(empty, 13) == []
    assert ids(empty, 14) == ["invoice-due"]
    assert ids(run_on_time(16), 17) == ["friendly-sms"]
    assert ids(run_on_time(31), 32) == ["reminder-notice"]
    assert ids(run_on_time(49), 50) == ["collection-handover", "payment-demand"]
    assert ids(run_on_time(50), 50) == []  # both day-50 steps were done on day 50
    assert ids(run_on_time(92), 93) == ["heavy-fee"]


def test_steps_carry_their_fees_and_payment_periods() -> None:
    assert SCHEDULE.step("reminder-notice").fee is FeeKind.REMINDER
    assert SCHEDULE.step("reminder-notice").payment_days == 14
    assert SCHEDULE.step("payment-demand").fee is FeeKind.COLLECTION_LIGHT
    assert SCHEDULE.step("heavy-fee").fee is FeeKind.COLLECTION_HEAVY
    assert SCHEDULE.step("friendly-sms").payment_link
    assert [s.id for s in SCHEDULE.steps if s.action is Action.CALL] == [
        "call-1", "call-2", "call-3",
    ]


def test_running_twice_a_day_is_harmless() -> None:
    state = run_on_time(31)
    first = due_steps(SCHEDULE, INVOICED, day(32), state)
    assert first == due_steps(SCHEDULE, INVOICED, day(32), state)
    done = dict(state.done, **{d.step.id: day(32) for d in first})
    assert due_steps(SCHEDULE, INVOICED, day(32), ClaimState(done=done)) == ()


def test_overdue_steps_are_returned_until_done() -> None:
    state = run_on_time(31)
    [late] = due_steps(SCHEDULE, INVOICED, day(35), state)
    assert late.step.id == "reminder-notice"
    assert late.due_on == day(32) and late.days_overdue == 3


def test_windows_lapse() -> None:
    state = run_on_time(53)
    [call] = due_steps(SCHEDULE, INVOICED, day(55), state)
    assert call.step.id == "call-1" and call.window_ends == day(60)
    assert "call-1" in ids(state, 60)
    assert "call-1" not in ids(state, 61)


def test_a_late_step_moves_the_later_ones() -> None:
    state = run_on_time(31)
    # The reminder went out 5 days late: its deadline and the handover move with it, so the
    # debtor still gets the full 14 days.
    done = dict(state.done, **{"reminder-notice": day(37)})
    plan = planned_dates(SCHEDULE, INVOICED, ClaimState(done=done))
    assert plan["reminder-due"] == day(51)
    assert plan["collection-handover"] is None  # waits for the deadline to be recorded


def test_paid_stopped_or_paused_claims_get_nothing() -> None:
    state = run_on_time(31)
    for flags in ({"paid": True}, {"stopped": True}, {"paused": True}):
        assert due_steps(SCHEDULE, INVOICED, day(40), ClaimState(done=state.done, **flags)) == ()


def test_after_a_pause_the_timeline_resumes_from_where_it_stood() -> None:
    # Paused from day 10 to day 40 by a complaint; nothing was done.
    assert ids(ClaimState(), 40) == ["invoice-due"]  # not the SMS, not the reminder at once
    done = {"invoice-due": day(40)}
    plan = planned_dates(SCHEDULE, INVOICED, ClaimState(done=done))
    assert plan["friendly-sms"] == day(43)
    assert plan["reminder-notice"] == day(58)


def test_stage() -> None:
    assert stage(SCHEDULE, ClaimState()) is Stage.INVOICED
    assert stage(SCHEDULE, run_on_time(20)) is Stage.OVERDUE
    assert stage(SCHEDULE, run_on_time(40)) is Stage.REMINDED
    assert stage(SCHEDULE, run_on_time(60)) is Stage.COLLECTION
    assert stage(SCHEDULE, run_on_time(100)) is Stage.HEAVY_COLLECTION


def test_unknown_done_steps_are_an_error() -> None:
    with pytest.raises(InvalidStateError):
        due_steps(SCHEDULE, INVOICED, day(1), ClaimState(done={"nope": day(1)}))
    with pytest.raises(InvalidStateError):
        SCHEDULE.step("nope")


def test_invalid_schedules() -> None:
    a = DunningStep("a", 1, Action.SMS, "a", window_days=2)
    with pytest.raises(InvalidScheduleError):
        DunningSchedule("dup", (a, a))
    with pytest.raises(InvalidScheduleError):
        DunningSchedule("later", (DunningStep("b", 1, Action.SMS, "b", after="a"), a))
    with pytest.raises(InvalidScheduleError):
        DunningSchedule("lapsing", (a, DunningStep("b", 1, Action.SMS, "b", after="a")))
    with pytest.raises(InvalidScheduleError):
        DunningSchedule("negative", (DunningStep("b", -1, Action.SMS, "b"),))


def test_oslo_date() -> None:
    # 23:30 UTC on 31 December is already New Year's Day in Oslo (UTC+1 in winter).
    assert oslo_date(datetime(2025, 12, 31, 23, 30, tzinfo=UTC)) == date(2026, 1, 1)
    assert oslo_date(datetime(2026, 6, 30, 21, 59, tzinfo=UTC)) == date(2026, 6, 30)
    assert oslo_date(datetime(2026, 6, 30, 22, 0, tzinfo=UTC)) == date(2026, 7, 1)
    with pytest.raises(DunningError):
        oslo_date(datetime(2026, 1, 1))


@given(st.dictionaries(st.sampled_from([s.id for s in SCHEDULE.steps]),
                       st.integers(0, 150).map(day)),
       st.integers(0, 200))
def test_due_steps_are_never_done_or_in_the_future(done: dict[str, date], n: int) -> None:
    today = day(n)
    for due in due_steps(SCHEDULE, INVOICED, today, ClaimState(done=done)):
        assert due.step.id not in done
        assert due.due_on <= today and due.days_overdue == (today - due.due_on).days
        assert due.due_on >= INVOICED + timedelta(days=due.step.day)
        if due.step.after is not None:
            assert due.step.after in done
        if due.window_ends is not None:
            assert today <= due.window_ends
