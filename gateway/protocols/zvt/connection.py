"""`ZvtConnection`: one end of a ZVT dialog, sans-IO (bytes in, events out, bytes to send).

    conn = ZvtConnection(Role.ECR, framing=Framing.TCP)
    stream.write(conn.send(Authorization(amount=12_50)))
    conn.receive_data(stream.read())          # b"" at end of file
    event = conn.next_event()                 # a message, NEED_DATA or ConnectionClosed()
    stream.write(conn.data_to_send())         # serial ACK/NAK and repeats; always b"" on TCP

Timers: `conn.timers` lists what should be running, each with a serial that changes when the
timer (re)starts; when one expires the I/O layer calls `conn.on_timeout(timer)`. T3/T4 expiry
(and a serial frame that could not be delivered) shows up as a `TimedOut` / `TransmissionError`
event and returns the dialog to IDLE; the spec says to close a TCP socket at that point.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import NoReturn

from .apdu import ApduBuffer
from .charsets import CHARSET_CP437
from .errors import LocalProtocolError, RemoteProtocolError, ZvtError
from .messages import (
    Completion,
    IntermediateStatus,
    LogOff,
    Message,
    Registration,
    StatusEnquiry,
    StatusInformation,
    decode_frame,
    encode_message,
)
from .messages.base import CodecContext
from .serial_link import SerialLink
from .state import ABORT_IN_TRANSACTION, TRANSITIONS, Kind, Role, State, classify
from .sync import SYNC_COMMANDS, with_receipt_sync
from .timers import T1, T2, T3, T4, Timer, TimerRequest
from .tlv import Tlv

TAG_CHARSET = 0x14


class Framing(enum.Enum):
    TCP = "TCP"  # raw APDUs (port 20007)
    SERIAL = "SERIAL"  # DLE STX ... DLE ETX CRC with ACK/NAK


class _Sentinel(enum.Enum):
    NEED_DATA = "NEED_DATA"
    PAUSED = "PAUSED"


NEED_DATA = _Sentinel.NEED_DATA  # next_event(): nothing complete yet, feed more bytes
# next_event(): we owe the peer a response (80/84); send it first. Like h11's PAUSED: the peer
# cannot legally go on before our answer, so anything it sent meanwhile waits in the buffer.
PAUSED = _Sentinel.PAUSED


@dataclass(frozen=True)
class ConnectionClosed:
    """The peer closed the stream between APDUs."""


@dataclass(frozen=True)
class TimedOut:
    """T3 or T4 expired; the dialog is back in IDLE and the command's outcome is unknown."""

    timer: Timer


@dataclass(frozen=True)
class TransmissionError:
    """A serial frame was not acknowledged after the allowed repeats; dialog back in IDLE."""

    reason: str


Event = Message | ConnectionClosed | TimedOut | TransmissionError | _Sentinel


def _proposed_charset(tlv: Tlv | None) -> int | None:
    found = tlv.find_all(TAG_CHARSET) if tlv is not None else []
    if len(found) == 1 and isinstance(found[0], bytes) and len(found[0]) == 1:
        return found[0][0]
    return None


class ZvtConnection:
    def __init__(self, role: Role, framing: Framing = Framing.TCP, *, t3: float = T3,
                 t4: float = T4, receipt_sync: bool = False,
                 last_receipt_id: bytes | None = None) -> None:
        self.our_role = role
        self.their_role = role.other
        self.framing = framing
        self.t3_default = t3
        self.t4_default = t4
        self._t4 = t4
        self._state = State.IDLE
        self._abort_pending = False
        self._error: str | None = None
        self._eof = False
        self._tcp = ApduBuffer()
        self._link = SerialLink() if framing is Framing.SERIAL else None
        self._frames: deque[bytes] = deque()
        self._events: deque[TimedOut | TransmissionError] = deque()
        self._last_rx: bytes | None = None
        self._command: Message | None = None  # the ECR command the dialog is about
        self._proposed: int | None = None
        self._charset = CHARSET_CP437
        self._app_timers: dict[Timer, TimerRequest] = {}
        self._serial = 0
        # Receipt-number resync (sync.py): an ECR that opts in mirrors 1F1F automatically.
        self.receipt_sync = receipt_sync
        self._receipt_id = last_receipt_id
        self._receipt_candidate: bytes | None = None
        self.duplicates_dropped = 0
        # States in which the next step is our response to the peer's command.
        self._owing = ({State.AWAIT_ECR_RESPONSE, State.AWAIT_FINAL_RESPONSE}
                       if role is Role.ECR else {State.AWAIT_RESPONSE_TXN,
                                                 State.AWAIT_RESPONSE_SIMPLE,
                                                 State.AWAIT_RESPONSE_RAW})

    # -- what the caller can look at --------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def abort_pending(self) -> bool:
        return self._abort_pending

    @property
    def charset(self) -> int:
        """Character set for print and display texts: CP437 unless a Registration proposed one
        in tag 14 and the terminal echoed it in its Completion."""
        return self._charset

    @property
    def t4(self) -> float:
        """Current T4 length; an Intermediate Status with a timeout changes it until IDLE."""
        return self._t4

    @property
    def receipt_sync_id(self) -> bytes | None:
        """ECR: the 1F1F value of the last Status Information we acknowledged (persist it)."""
        return self._receipt_id

    @property
    def timers(self) -> tuple[TimerRequest, ...]:
        running = []
        if self._link is not None:
            if self._link.t1_serial is not None:
                running.append(TimerRequest(Timer.T1, T1, self._link.t1_serial))
            if self._link.t2_serial is not None:
                running.append(TimerRequest(Timer.T2, T2, self._link.t2_serial))
        for timer in (Timer.T3, Timer.T4):
            # T3 counts from the moment our command is through the link, not while the serial
            # layer still waits for its ACK (a lost ACK costs T2 and must not eat into T3).
            if timer in self._app_timers and not (timer is Timer.T3 and self._link_busy()):
                running.append(self._app_timers[timer])
        return tuple(running)

    def _link_busy(self) -> bool:
        return self._link is not None and self._link.awaiting_ack is not None

    @property
    def pending_timer(self) -> TimerRequest | None:
        """The most urgent running timer (T1, T2, T3, T4 in that order), or None."""
        running = self.timers
        return running[0] if running else None

    # -- sending ----------------------------------------------------------------------------

    def send(self, message: Message) -> bytes:
        """Bytes to write for `message`; LocalProtocolError if invalid or not allowed now."""
        if self._state in (State.ERROR, State.CLOSED):
            raise LocalProtocolError(f"cannot send in state {self._state.value}")
        kind = classify(message, self.our_role) if isinstance(message, Message) else None
        if kind is None:
            raise LocalProtocolError(f"{self.our_role.value} never sends {message!r}")
        nxt = self._next_state(self.our_role, kind)
        if nxt is None:
            raise LocalProtocolError(
                f"{type(message).__name__} not allowed in state {self._state.value}")
        if (self.receipt_sync and self.our_role is Role.ECR
                and isinstance(message, SYNC_COMMANDS)):
            message = with_receipt_sync(message, self._receipt_id)
        apdu = encode_message(message, self._context())
        self._apply(self.our_role, kind, nxt, message)
        if self._link is None:
            return apdu
        return self._link.send(apdu)

    def data_to_send(self) -> bytes:
        return self._link.data_to_send() if self._link is not None else b""

    # -- receiving --------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if self._eof:
            raise LocalProtocolError("receive_data after end of file")
        if not data:
            self._eof = True
        elif self._link is not None:
            busy, naks = self._link_busy(), self._link.naks_sent
            self._frames.extend(self._link.receive(bytes(data)))
            self._events.extend(TransmissionError(r) for r in self._drain_link_failures())
            if busy and not self._link_busy() or self._link.naks_sent != naks:
                self._restart_t3()
        else:
            self._tcp.feed(bytes(data))

    def next_event(self) -> Event:
        if self._state is State.ERROR:
            raise RemoteProtocolError(self._error or "connection is in ERROR state")
        while True:
            if self._events:
                return self._events.popleft()
            while (frame := self._tcp.next_frame()) is not None:
                self._frames.append(frame)
            if self._state in self._owing:
                if self._frames and self._link is not None and self._frames[0] == self._last_rx:
                    # Our link ACK got lost and the peer repeated its frame: already delivered.
                    self._frames.popleft()
                    self.duplicates_dropped += 1
                    continue
                if self._frames or not self._eof:
                    return PAUSED
            if not self._frames:
                if not self._eof:
                    return NEED_DATA
                if len(self._tcp):
                    self._fail("connection closed in the middle of an APDU")
                self._state = State.CLOSED
                return ConnectionClosed()
            event = self._receive_frame(self._frames.popleft())
            if event is not None:
                return event

    def _receive_frame(self, frame: bytes) -> Message | None:
        try:
            message = decode_frame(frame, self._context())
        except ZvtError as exc:
            self._fail(f"undecodable APDU {frame[:3].hex(' ').upper()}: {exc}")
        kind = classify(message, self.their_role)
        nxt = self._next_state(self.their_role, kind) if kind is not None else None
        if kind is None or nxt is None:
            if self._link is not None and frame == self._last_rx:
                # Our link ACK got lost and the peer repeated its frame: already delivered.
                self.duplicates_dropped += 1
                return None
            self._fail(f"{type(message).__name__} from {self.their_role.value} is not allowed "
                       f"in state {self._state.value}")
        self._last_rx = frame
        if self._link is not None and kind in (Kind.ACK, Kind.NACK, Kind.PLEASE_WAIT):
            self._link.peer_answered()
        self._apply(self.their_role, kind, nxt, message)
        return message

    def _fail(self, why: str) -> NoReturn:
        self._state = State.ERROR
        self._error = why
        self._app_timers.clear()
        raise RemoteProtocolError(why)

    # -- timers -----------------------------------------------------------------------------

    def on_timeout(self, timer: Timer) -> None:
        """The I/O layer reports that `timer` expired; stale reports are ignored."""
        if timer is Timer.T1:
            if self._link is not None:
                self._link.on_t1()
                self._restart_t3()
        elif timer is Timer.T2:
            if self._link is not None:
                self._link.on_t2()
                for reason in self._drain_link_failures():
                    self._events.append(TransmissionError(reason))
        elif timer in self._app_timers:
            del self._app_timers[timer]
            self._events.append(TimedOut(timer))
            self._to_idle()

    def _drain_link_failures(self) -> list[str]:
        if self._link is None or not self._link.failures:
            return []
        failures = list(self._link.failures)
        self._link.failures.clear()
        self._to_idle()
        return failures

    def _restart_t3(self) -> None:
        """T3 starts again when our command has just got through the serial link, and when we
        NAK a frame: the peer's answer is then still on its way (repeated after NAK or T2)."""
        if Timer.T3 in self._app_timers:
            self._start(Timer.T3, self.t3_default)

    def _start(self, timer: Timer, seconds: float) -> None:
        self._serial += 1
        self._app_timers[timer] = TimerRequest(timer, seconds, self._serial)

    # -- the state machine ------------------------------------------------------------------

    def _next_state(self, sender: Role, kind: Kind) -> State | None:
        if (self._abort_pending and sender is Role.TERMINAL
                and kind in (Kind.ACK, Kind.NACK, Kind.PLEASE_WAIT)
                and self._state in ABORT_IN_TRANSACTION | {State.AWAIT_FINAL_RESPONSE}):
            return self._state  # the terminal's answer to our Abort
        return TRANSITIONS.get((self._state, sender, kind))

    def _apply(self, sender: Role, kind: Kind, nxt: State, message: Message) -> None:
        old = self._state
        answered_abort = (self._abort_pending and sender is Role.TERMINAL and nxt is old
                          and kind in (Kind.ACK, Kind.NACK, Kind.PLEASE_WAIT)
                          and (old, sender, kind) not in TRANSITIONS)
        if answered_abort:
            self._abort_pending = False
            return
        if kind is Kind.ABORT and old in ABORT_IN_TRANSACTION:
            self._abort_pending = True
            return
        self._state = nxt
        if sender is Role.ECR and kind in (Kind.TXN_COMMAND, Kind.SIMPLE_COMMAND,
                                           Kind.RAW_COMMAND, Kind.ABORT):
            self._command = message
            if isinstance(message, Registration):
                self._proposed = _proposed_charset(message.tlv)
            if isinstance(message, LogOff):
                self._charset = CHARSET_CP437
        self._track_receipt_sync(sender, kind, message)
        if isinstance(message, Completion) and isinstance(self._command, Registration):
            offered = _proposed_charset(message.tlv)
            self._charset = (self._proposed if offered is not None
                             and offered == self._proposed else CHARSET_CP437)
        if isinstance(message, IntermediateStatus) and message.timeout is not None:
            self._t4 = message.timeout * 60.0
        self._update_timers(old, nxt, sender, message)
        if nxt is State.IDLE:
            self._to_idle()

    def _track_receipt_sync(self, sender: Role, kind: Kind, message: Message) -> None:
        if isinstance(message, StatusInformation):
            self._receipt_candidate = message.receipt_sync_id
        elif sender is Role.ECR and self._state is State.PT_MASTER and kind in (
                Kind.ACK, Kind.NACK, Kind.PLEASE_WAIT):
            if kind is Kind.ACK and self._receipt_candidate is not None:
                self._receipt_id = self._receipt_candidate
            self._receipt_candidate = None

    def _update_timers(self, old: State, nxt: State, sender: Role, message: Message) -> None:
        ecr = self.our_role is Role.ECR
        awaiting = ({State.AWAIT_RESPONSE_TXN, State.AWAIT_RESPONSE_SIMPLE,
                     State.AWAIT_RESPONSE_RAW} if ecr
                    else {State.AWAIT_ECR_RESPONSE, State.AWAIT_FINAL_RESPONSE})
        if nxt in awaiting and sender is self.our_role or (nxt in awaiting and nxt is old):
            self._start(Timer.T3, self.t3_default)  # (re)started: new command or 84 9C
        elif nxt not in awaiting:
            self._app_timers.pop(Timer.T3, None)
        in_txn = {State.PT_MASTER, State.AWAIT_ECR_RESPONSE}
        if not ecr or nxt not in in_txn:
            self._app_timers.pop(Timer.T4, None)
        elif old not in in_txn or isinstance(message, IntermediateStatus | StatusInformation):
            self._start(Timer.T4, self._t4)

    def _to_idle(self) -> None:
        if self._state not in (State.ERROR, State.CLOSED):
            self._state = State.IDLE
        self._abort_pending = False
        self._app_timers.clear()
        self._t4 = self.t4_default
        self._receipt_candidate = None

    def _context(self) -> CodecContext:
        return CodecContext(charset=self._charset,
                            status_enquiry_completion=isinstance(self._command, StatusEnquiry))


__all__ = ["NEED_DATA", "PAUSED", "ConnectionClosed", "Event", "Framing", "TimedOut",
           "TransmissionError", "ZvtConnection"]
