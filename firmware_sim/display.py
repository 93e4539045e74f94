"""The terminal's own display (Norwegian texts) and a human-readable log of what it showed.

The log is for testers: one line per change, local time first, the lines separated by " | ",
e.g. `2026-01-05 09:00:01  BELØP NOK 123,45 | HOLD KORTET INNTIL`. It is kept in memory (the
control API serves it) and, if given a file, appended there as well.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from firmware_sim.receipts import OSLO, kroner
from medipay.clock import Clock
from medipay.logs import get_logger

log = get_logger(__name__)

# How many display changes the in-memory log keeps.
LOG_LIMIT = 2000

IDLE = ("VELKOMMEN",)
BOOTING = ("STARTER ...",)
PLEASE_WAIT = "VENNLIGST VENT"
PRESENT_CARD = "HOLD KORTET INNTIL"  # tap, insert or swipe
INSERT_CARD = "SETT INN KORTET"
ENTER_PIN = "TAST PIN OG OK"
WRONG_PIN = "FEIL PIN - PRØV IGJEN"
CONNECTING = "KOBLER TIL ..."
APPROVED = "GODKJENT"
REMOVE_CARD = "TA UT KORTET"
CANCELLED = "AVBRUTT"
REVERSED = "TRANSAKSJONEN ER ANNULLERT"


def amount_line(amount: int, kind: str = "purchase") -> str:
    word = {"refund": "RETUR", "reversal": "ANNULLER"}.get(kind, "BELØP")
    return f"{word} NOK {kroner(amount)}"


@dataclass(frozen=True)
class DisplayEntry:
    at: str  # ISO 8601 UTC
    lines: tuple[str, ...]

    def render(self) -> str:
        return " | ".join(self.lines)

    def logged(self) -> str:
        """The display-log line: Oslo local time, then the texts."""
        stamp = datetime.fromisoformat(self.at).astimezone(OSLO).strftime("%Y-%m-%d %H:%M:%S")
        return f"{stamp}  {self.render()}"


class Display:
    def __init__(self, clock: Clock, log_file: Path | None = None) -> None:
        self._clock = clock
        self.lines: tuple[str, ...] = IDLE
        self.history: deque[DisplayEntry] = deque(maxlen=LOG_LIMIT)
        self._file: TextIO | None = None
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            self._file = log_file.open("a", encoding="utf-8")

    def show(self, *lines: str) -> None:
        self.lines = tuple(lines)
        now = self._clock.now()
        entry = DisplayEntry(now.isoformat(timespec="milliseconds"), self.lines)
        self.history.append(entry)
        log.info("sim.display", text=entry.render())
        if self._file is not None:
            self._file.write(entry.logged() + "\n")
            self._file.flush()

    def blank(self) -> None:
        """Power off: the screen goes dark (logged, so the log shows the outage)."""
        self.show()

    def texts(self) -> list[str]:
        """Every display line shown so far, in order (for tests and scenario checks)."""
        return [line for entry in self.history for line in entry.lines]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
