"""A `medipay.clock.Clock` that follows trio's clock, for repeatable scenario runs.

Under `trio.testing.MockClock` every timestamp of a run (receipts, display log, journal) is
then the same on every run; under trio's real clock it advances in real time from `start`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import trio

DEFAULT_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # a Monday, 09:00 in Oslo


class TrioClock:
    def __init__(self, start: datetime = DEFAULT_START) -> None:
        if start.tzinfo is None:
            raise ValueError("TrioClock needs a timezone-aware start time")
        self._start = start.astimezone(UTC)
        self._origin: float | None = None

    def now(self) -> datetime:
        try:
            current = trio.current_time()
        except RuntimeError:
            # Outside trio.run (building a scenario, printing a report) time stands still.
            return self._start
        if self._origin is None:
            self._origin = current
        return self._start + timedelta(seconds=current - self._origin)
