"""The spec's four timers as named constants, and how the connection asks for them.

The connection never reads a clock. It says which timers should be running (`ZvtConnection.timers`)
and the I/O layer calls `ZvtConnection.on_timeout(timer)` when one expires.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# T1: the serial spec allows at most 200 ms between two bytes of one frame; a longer gap means
# the frame is broken, so the receiver sends NAK and the sender repeats it.
T1 = 0.2
# T2: a serial frame must be answered with ACK/NAK within 5 s, otherwise the sender repeats it.
T2 = 5.0
# T3: a command must be answered with 80-00 / 84-xx within 5 s (the spec's default; it suggests
# making it adjustable for slow TCP networks, hence a parameter of ZvtConnection).
T3 = 5.0
# T4: after 80-00 the terminal has 180 s to finish with Completion/Abort; every Intermediate
# Status (04 FF) and Status Information (04 0F) restarts it, and 04 FF may change its length.
T4 = 180.0
# How often the link layer repeats a frame after NAK or T2 before giving up ("up to two times").
MAX_REPEATS = 2


class Timer(enum.Enum):
    T1 = "T1"  # serial: gap between two bytes of a frame being received
    T2 = "T2"  # serial: waiting for ACK/NAK of a frame we sent
    T3 = "T3"  # application: waiting for 80-00 / 84-xx to a command we sent
    T4 = "T4"  # application (ECR): waiting for the terminal to finish the transaction


@dataclass(frozen=True)
class TimerRequest:
    """One timer that should be running.

    `serial` changes whenever the timer is (re)started: an I/O layer that sees a new serial sets
    the deadline to now + `seconds`; the same serial means "keep the deadline you have".
    """

    timer: Timer
    seconds: float
    serial: int
