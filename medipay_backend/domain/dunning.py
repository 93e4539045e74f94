"""The Fakturaservice dunning timeline as data, and which of its steps are due on a given day.

A schedule is a list of steps with stable ids. Each step has its published day (counted in
calendar days from the invoice date) and, usually, a predecessor: it never comes earlier than
`gap_days` after the predecessor was actually done. So the published timeline holds when
everything runs on time, and when something is late (a complaint paused the claim, a letter
went out a day late) the later steps move with it instead of piling up on one day; in
particular the debtor always gets the full payment period a letter promised.

`due_steps` is a pure function of (schedule, invoice date, today, claim state). Steps that are
done are never returned again, so running it twice on the same day is harmless. Dates are
calendar dates in Europe/Oslo; `oslo_date` turns an instant into one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

from .rates import FeeKind

OSLO = ZoneInfo("Europe/Oslo")


class DunningError(Exception):
    """Base of the errors of this module."""


class InvalidScheduleError(DunningError):
    """A schedule's steps are inconsistent (duplicate ids, unknown or later predecessors)."""


class InvalidStateError(DunningError):
    """A claim state names steps the schedule does not have."""


class Action(Enum):
    DEADLINE = "deadline"  # a payment deadline passes; the workflow records it
    SMS = "sms"
    LETTER = "letter"  # reminders and collection letters: paper, registered address
    HANDOVER = "handover"  # the claim moves to the collection system
    FEE = "fee"  # a fee is registered without a letter
    CALL = "call"  # a task for the call centre
    PAYMENT_REMARK = "payment_remark"  # registered with the credit bureau


class Stage(Enum):
    """How far dunning has come; each stage is entered by a step (see `DunningStep.stage`)."""

    INVOICED = "invoiced"
    OVERDUE = "overdue"
    REMINDED = "reminded"
    COLLECTION = "collection"
    HEAVY_COLLECTION = "heavy_collection"
    PAYMENT_REMARK = "payment_remark"


@dataclass(frozen=True, slots=True)
class DunningStep:
    id: str
    day: int  # published day, counted from the invoice date
    action: Action
    title: str
    after: str | None = None  # the step that must be done first ...
    gap_days: int = 0  # ... at least this many days earlier
    # Calls and SMS only make sense for a while: a window of N days means due on day d,
    # still due up to d + N, then lapsed (never returned again). None: due until done.
    window_days: int | None = None
    fee: FeeKind | None = None
    payment_days: int | None = None  # the payment period a letter gives the debtor
    payment_link: bool = False
    stage: Stage | None = None  # the stage the claim enters once this step is done


@dataclass(frozen=True, slots=True)
class DunningSchedule:
    name: str
    steps: tuple[DunningStep, ...]

    def __post_init__(self) -> None:
        seen: dict[str, DunningStep] = {}
        for step in self.steps:
            if step.id in seen:
                raise InvalidScheduleError(f"{self.name}: duplicate step id {step.id!r}")
            if step.day < 0 or step.gap_days < 0 or (step.window_days or 0) < 0:
                raise InvalidScheduleError(f"{self.name}: {step.id!r} has a negative day count")
            if step.after is not None:
                before = seen.get(step.after)
                if before is None:
                    raise InvalidScheduleError(
                        f"{self.name}: {step.id!r} follows {step.after!r}, not an earlier step"
                    )
                # A windowed step may lapse without ever being done; a step waiting for it
                # would then wait for ever.
                if before.window_days is not None:
                    raise InvalidScheduleError(
                        f"{self.name}: {step.id!r} follows {step.after!r}, which may lapse"
                    )
            seen[step.id] = step

    def step(self, step_id: str) -> DunningStep:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise InvalidStateError(f"{self.name} has no step {step_id!r}")


@dataclass(frozen=True, slots=True)
class ClaimState:
    """What the workflow knows about a claim: the steps done (with their Oslo dates) and flags."""

    done: Mapping[str, date] = field(default_factory=dict)
    paid: bool = False
    paused: bool = False  # a complaint is being handled: nothing goes out meanwhile
    stopped: bool = False  # the clinic stopped or deleted the claim, or it was credited


@dataclass(frozen=True, slots=True)
class DueStep:
    step: DunningStep
    due_on: date
    window_ends: date | None  # last day a windowed step is still due
    days_overdue: int  # 0 when due today


def oslo_date(instant: datetime) -> date:
    """The calendar date in Norway at `instant` (which must be timezone-aware)."""
    if instant.utcoffset() is None:
        raise DunningError("a naive datetime has no defined Oslo date")
    return instant.astimezone(OSLO).date()


def planned_dates(
    schedule: DunningSchedule, invoice_date: date, state: ClaimState
) -> dict[str, date | None]:
    """When each step is (or was) due; None while its predecessor is not done."""
    _check_state(schedule, state)
    planned: dict[str, date | None] = {}
    for step in schedule.steps:
        nominal = invoice_date + timedelta(days=step.day)
        if step.after is None:
            planned[step.id] = nominal
            continue
        before = state.done.get(step.after)
        planned[step.id] = (
            None if before is None else max(nominal, before + timedelta(days=step.gap_days))
        )
    return planned


def due_steps(
    schedule: DunningSchedule, invoice_date: date, today: date, state: ClaimState
) -> tuple[DueStep, ...]:
    """The steps due today or overdue and not yet done, earliest first.

    Nothing is due for a paid, stopped or paused claim. A lapsed window is left out. A step
    that follows one done today may itself fall due today, so a caller that records steps as
    done calls again until nothing new is returned.
    """
    planned = planned_dates(schedule, invoice_date, state)
    if state.paid or state.stopped or state.paused:
        return ()
    due: list[DueStep] = []
    for step in schedule.steps:
        on = planned[step.id]
        if step.id in state.done or on is None or on > today:
            continue
        window_ends = None if step.window_days is None else on + timedelta(step.window_days)
        if window_ends is not None and today > window_ends:
            continue
        due.append(DueStep(step, on, window_ends, (today - on).days))
    due.sort(key=lambda d: d.due_on)  # stable: schedule order within a day
    return tuple(due)


def stage(schedule: DunningSchedule, state: ClaimState) -> Stage:
    """The furthest stage entered by a done step (schedule order), INVOICED if none."""
    _check_state(schedule, state)
    reached = Stage.INVOICED
    for step in schedule.steps:
        if step.stage is not None and step.id in state.done:
            reached = step.stage
    return reached


def _check_state(schedule: DunningSchedule, state: ClaimState) -> None:
    known = {step.id for step in schedule.steps}
    unknown = sorted(set(state.done) - known)
    if unknown:
        raise InvalidStateError(f"{schedule.name} has no steps {unknown}")


# The Fakturaservice timeline (seed section 2.3). Days are the published ones; `after` and
# `gap_days` restate the same timeline relative to the step before, which is what the rules
# behind it measure from (e.g. collection 4 days after the reminder's deadline).
FAKTURASERVICE_SCHEDULE = DunningSchedule(
    "fakturaservice",
    (
        DunningStep("invoice-due", 14, Action.DEADLINE, "Invoice due", stage=Stage.OVERDUE),
        DunningStep(
            "friendly-sms", 17, Action.SMS, "Friendly reminder SMS with a payment link",
            after="invoice-due", gap_days=3, window_days=14, payment_link=True,
        ),
        DunningStep(
            "reminder-notice", 32, Action.LETTER, "Reminder and collection notice",
            after="invoice-due", gap_days=18, fee=FeeKind.REMINDER, payment_days=14,
            stage=Stage.REMINDED,
        ),
        DunningStep(
            "reminder-due", 46, Action.DEADLINE, "Reminder due",
            after="reminder-notice", gap_days=14,
        ),
        DunningStep(
            "collection-handover", 50, Action.HANDOVER, "Hand over to collection",
            after="reminder-due", gap_days=4, stage=Stage.COLLECTION,
        ),
        DunningStep(
            "payment-demand", 50, Action.LETTER, "Payment demand with collection fee",
            after="reminder-due", gap_days=4, fee=FeeKind.COLLECTION_LIGHT, payment_days=14,
        ),
        DunningStep(
            "call-1", 54, Action.CALL, "Call the debtor",
            after="payment-demand", gap_days=4, window_days=6,
        ),
        DunningStep(
            "collection-sms", 57, Action.SMS, "SMS with a payment link",
            after="payment-demand", gap_days=7, window_days=6, payment_link=True,
        ),
        DunningStep(
            "call-2", 63, Action.CALL, "Call the debtor",
            after="payment-demand", gap_days=13, window_days=7,
        ),
        DunningStep(
            "payment-demand-due", 64, Action.DEADLINE, "Payment demand due",
            after="payment-demand", gap_days=14,
        ),
        # The heavy fee may be charged 43 days after the payment demand at the earliest.
        DunningStep(
            "heavy-fee", 93, Action.FEE, "Register the heavy collection fee",
            after="payment-demand", gap_days=43, fee=FeeKind.COLLECTION_HEAVY,
            stage=Stage.HEAVY_COLLECTION,
        ),
        DunningStep(
            "call-3", 95, Action.CALL, "Call the debtor",
            after="heavy-fee", gap_days=2, window_days=5,
        ),
        DunningStep(
            "notice", 97, Action.LETTER, "Notice before legal steps",
            after="heavy-fee", gap_days=4, payment_days=14,
        ),
        # The seed names the payment remark without a day. It follows legal steps, which the
        # notice announces with 14 days to pay, so it is planned when that period has run out.
        DunningStep(
            "payment-remark", 111, Action.PAYMENT_REMARK, "Payment remark registered",
            after="notice", gap_days=14, stage=Stage.PAYMENT_REMARK,
        ),
    ),
)
