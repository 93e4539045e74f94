"""Faults a tester can inject, per scenario or at run time, and the plan that holds them.

Two kinds of fault:
- on the wire (`wire.py` applies them to the bytes): bad CRC, dropped / lost / duplicated
  ACK, NAK storm, fragmented or coalesced writes, a noisy line;
- at a step of a transaction (the flows ask `FaultPlan.take(kind, step)`): answer late,
  disconnect, power cut, busy (84 9C), an unknown-command reply, an unknown APDU.

A fault fires `count` times (0: until cleared); a step fault fires only at its step, or at the
first step it can if `at` is not given. A wire fault with `at` waits for that step and then
hits the next bytes it applies to: `lose_ack` at `status` loses the ECR's answer to the Status
Information, not an earlier one.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class FaultKind(enum.Enum):
    BAD_CRC = "bad_crc"  # serial: the terminal's next frames carry a wrong CRC
    DROP_ACK = "drop_ack"  # the terminal's ACK (serial 06, TCP 80 00) never leaves
    LOSE_ACK = "lose_ack"  # the ECR's ACK (serial 06, TCP 80 00) never arrives
    DUPLICATE_ACK = "duplicate_ack"  # the terminal sends its ACK twice
    NAK_STORM = "nak_storm"  # serial: the terminal NAKs the ECR's next frames
    DELAY = "delay"  # answer `seconds` late at a step (beyond T3 or T4 if you like)
    FRAGMENT = "fragment"  # the terminal's writes go out in `size`-byte pieces
    COALESCE = "coalesce"  # writes within `seconds` go out together
    DISCONNECT = "disconnect"  # the terminal drops the connection at a step
    POWER_CUT = "power_cut"  # the terminal loses power at a step
    BUSY = "busy"  # the next command is answered with 84 9C before 80 00
    UNKNOWN_COMMAND = "unknown_command"  # the next command is answered 84 83 (not supported)
    UNKNOWN_APDU = "unknown_apdu"  # the terminal sends an APDU the ECR does not know
    NOISE = "noise"  # serial: bits flip at bit error rate `ber`, both ways


class Step(enum.Enum):
    """Points in a transaction where step faults can fire."""

    COMMAND = "command"  # an ECR command arrived, before the terminal answers it
    ACK = "ack"  # the terminal answered 80 00
    CARD = "card"  # the card was read
    PIN = "pin"  # the PIN was entered
    HOST = "host"  # the host request is out, before its answer
    STATUS = "status"  # before the Status Information is sent
    STATUS_SENT = "status_sent"  # the Status Information is sent, its ACK not yet in
    STORED = "stored"  # the ECR confirmed the Status Information: the payment is stored
    PRINT = "print"  # before the receipt print lines
    COMPLETION = "completion"  # before the Completion / Abort


WIRE_FAULTS = frozenset({FaultKind.BAD_CRC, FaultKind.DROP_ACK, FaultKind.LOSE_ACK,
                         FaultKind.DUPLICATE_ACK, FaultKind.NAK_STORM, FaultKind.FRAGMENT,
                         FaultKind.COALESCE, FaultKind.NOISE})
# Faults that stay on until cleared, whatever their count.
STANDING_FAULTS = frozenset({FaultKind.FRAGMENT, FaultKind.COALESCE, FaultKind.NOISE})
# Bit error rates above this make every frame fail; the spec's line would be unusable.
MAX_BER = 0.05


class FaultError(ValueError):
    """A fault description that makes no sense."""


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    at: Step | None = None
    count: int = 1
    seconds: float = 0.0  # DELAY: how late; COALESCE: hold time; FRAGMENT: gap between pieces
    size: int = 1  # FRAGMENT: bytes per piece
    ber: float = 0.0  # NOISE: probability that a bit flips
    restart_after: float | None = None  # POWER_CUT: seconds until power returns; None: stays off
    times: int = 1  # BUSY: how many 84 9C before the 80 00

    def __post_init__(self) -> None:
        if self.count < 0:
            raise FaultError("count must be 0 (until cleared) or more")
        if self.kind is FaultKind.NOISE and not 0 < self.ber <= MAX_BER:
            raise FaultError(f"noise needs 0 < ber <= {MAX_BER}")
        if self.kind is FaultKind.FRAGMENT and self.size < 1:
            raise FaultError("fragment size must be at least 1 byte")
        if self.seconds < 0 or (self.restart_after is not None and self.restart_after < 0):
            raise FaultError("times must not be negative")

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Fault:
        """From a scenario table or a control API body: {"kind": "delay", "at": "ack", ...}."""
        values = dict(data)
        try:
            kind = FaultKind(values.pop("kind"))
            at = values.pop("at", None)
            step = Step(at) if at is not None else None
            return cls(kind=kind, at=step, **values)
        except KeyError as exc:
            raise FaultError("a fault needs a kind") from exc
        except (ValueError, TypeError) as exc:
            raise FaultError(str(exc)) from exc

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["at"] = self.at.value if self.at else None
        return data


@dataclass
class _Armed:
    fault: Fault
    left: int  # firings left; 0 with count 0 = forever
    active: bool = True  # wire faults with a step wait for it


@dataclass
class FaultPlan:
    armed: list[_Armed] = field(default_factory=list)
    fired: list[tuple[str, str | None]] = field(default_factory=list)  # (kind, step), for tests

    def arm(self, fault: Fault) -> None:
        waiting = fault.kind in WIRE_FAULTS and fault.at is not None
        self.armed.append(_Armed(fault, fault.count, active=not waiting))

    def reached(self, step: Step) -> None:
        """The flow is at `step`: wire faults waiting for it go live."""
        for armed in self.armed:
            if armed.fault.kind in WIRE_FAULTS and armed.fault.at is step:
                armed.active = True

    def clear(self, kind: FaultKind | None = None) -> None:
        self.armed = [a for a in self.armed if kind is not None and a.fault.kind is not kind]

    def active(self, kind: FaultKind) -> Fault | None:
        """A standing fault of this kind, without using it up."""
        for armed in self.armed:
            if armed.fault.kind is kind and armed.active:
                return armed.fault
        return None

    def take(self, kind: FaultKind, step: Step | None = None) -> Fault | None:
        """Fire one fault of `kind` (at `step`, for step faults); None if none is armed."""
        for armed in self.armed:
            fault = armed.fault
            if fault.kind is not kind or not armed.active:
                continue
            if fault.kind not in WIRE_FAULTS and fault.at is not None and fault.at is not step:
                continue
            if fault.count:
                armed.left -= 1
                if armed.left <= 0:
                    self.armed.remove(armed)
            self.fired.append((kind.value, step.value if step else None))
            return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        return [{**armed.fault.to_json(), "left": armed.left if armed.fault.count else None}
                for armed in self.armed]
