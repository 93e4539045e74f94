"""One ECR connection, terminal side: the ZVT codec (terminal role) over a byte stream.

A reader task feeds received bytes to the codec, runs the codec's timers (T1/T2 on serial
lines, T3 while the terminal waits for the ECR's answer) and hands decoded messages to the
flows through a channel. The flows send with `respond` (answers to ECR commands) and
`send_command` (the terminal's own commands, which return the ECR's `Answer`).

An ECR Abort (06 B0) that arrives while the terminal is master is answered right here: 80 00
while the flow says it can stop (waiting for a card or PIN), 84 83 otherwise; the flow sees
`abort_requested`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from firmware_sim.codes import RESULT_FUNCTION_NOT_POSSIBLE
from gateway.protocols import zvt
from gateway.protocols.zvt.apdu import complete_length
from medipay.logs import get_logger

log = get_logger(__name__)

# Messages waiting for the flow; the protocol never has more than a couple in flight.
EVENT_BUFFER = 16


class EcrGone(Exception):
    """The ECR closed the connection, the line broke, or the dialog hit a protocol error."""


class AnswerKind(enum.Enum):
    ACK = "ack"  # 80 00 or 84 00
    NACK = "nack"  # 84 xx (xx not 00 or 9C)
    PLEASE_WAIT = "please_wait"  # 84 9C: repeat in 2 s (answer to a Status Information)
    TIMEOUT = "timeout"  # no answer within T3
    TRANSMISSION_ERROR = "transmission_error"  # serial: frame not acknowledged after repeats
    GONE = "gone"  # connection closed / line broken


@dataclass(frozen=True)
class Answer:
    kind: AnswerKind
    code: int | None = None
    detail: str = ""

    @property
    def confirmed(self) -> bool:
        return self.kind is AnswerKind.ACK


@dataclass(frozen=True)
class _Gone:
    reason: str


class EcrLink:
    def __init__(self, stream: trio.abc.Stream, framing: zvt.Framing = zvt.Framing.TCP,
                 *, t3: float = zvt.T3) -> None:
        self.stream = stream
        self.framing = framing
        self.conn = zvt.ZvtConnection(zvt.Role.TERMINAL, framing, t3=t3)
        self._send_events, self._events = trio.open_memory_channel[object](EVENT_BUFFER)
        self._send_lock = trio.StrictFIFOLock()
        self._deadlines: dict[zvt.Timer, tuple[int, float]] = {}
        self._pump_scope: trio.CancelScope | None = None
        self._shadow = bytearray()  # TCP: bytes of an APDU not yet complete
        self._partial_since: float | None = None
        self.gone: str | None = None
        self.abortable = False
        self.abort_requested = trio.Event()

    # -- the reader task ----------------------------------------------------------------------

    async def run_reader(self) -> None:
        try:
            await self._read_loop()
        except EcrGone as exc:
            self._mark_gone(str(exc))
        except zvt.ZvtError as exc:
            log.warning("sim.protocol_error", error=str(exc))
            self._mark_gone(f"protocol error: {exc}")
        finally:
            self._send_events.close()

    def new_command(self) -> None:
        """A new command begins: an Abort of the previous one no longer counts."""
        self.abort_requested = trio.Event()
        self.abortable = False

    def _mark_gone(self, reason: str) -> None:
        if self.gone is None:
            self.gone = reason
        try:
            self._send_events.send_nowait(_Gone(reason))
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            log.debug("sim.gone_not_queued", reason=reason)

    async def _read_loop(self) -> None:
        while True:
            event = self.conn.next_event()
            if event is zvt.NEED_DATA or event is zvt.PAUSED:
                await self._pump()
                continue
            if isinstance(event, zvt.ConnectionClosed):
                raise EcrGone("the ECR closed the connection")
            if isinstance(event, zvt.Abort) and self.conn.abort_pending:
                await self._answer_abort()
                continue
            await self._send_events.send(event)

    async def _answer_abort(self) -> None:
        if self.abortable:
            self.abort_requested.set()
            await self._send(zvt.Ack())
        else:
            await self._send(zvt.Nack(RESULT_FUNCTION_NOT_POSSIBLE))

    async def _pump(self) -> None:
        """Receive once, or run a timer that expired, or return when kicked."""
        self._sync_timers()
        deadline = min([at for _serial, at in self._deadlines.values()]
                       + ([self._partial_since + self.conn.t3_default]
                          if self._partial_since is not None else []), default=math.inf)
        data: bytes | None = None
        with trio.CancelScope(deadline=deadline) as scope:
            self._pump_scope = scope
            try:
                data = bytes(await self.stream.receive_some(4096))
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise EcrGone(f"the line to the ECR broke: {exc}") from exc
        self._pump_scope = None
        if data is not None:
            self._track_partial(data)
            self.conn.receive_data(data)
            await self._flush()
            return
        now = trio.current_time()
        if self._partial_since is not None and now >= self._partial_since + self.conn.t3_default:
            # PA00P016 5.2.5 case b: the rest of an APDU did not come within T3.
            raise EcrGone("the ECR sent part of an APDU and nothing more within T3")
        for timer, (_serial, at) in list(self._deadlines.items()):
            if now >= at:
                del self._deadlines[timer]
                self.conn.on_timeout(timer)
        await self._flush()

    def _track_partial(self, data: bytes) -> None:
        if self.framing is not zvt.Framing.TCP or not data:
            return
        self._shadow += data
        while (total := complete_length(self._shadow)) is not None and \
                len(self._shadow) >= total:
            del self._shadow[:total]
        if not self._shadow:
            self._partial_since = None
        elif self._partial_since is None:
            self._partial_since = trio.current_time()

    def _sync_timers(self) -> None:
        now = trio.current_time()
        wanted = {request.timer: request for request in self.conn.timers}
        for timer in list(self._deadlines):
            if timer not in wanted:
                del self._deadlines[timer]
        for timer, request in wanted.items():
            known = self._deadlines.get(timer)
            if known is None or known[0] != request.serial:
                self._deadlines[timer] = (request.serial, now + request.seconds)

    def _kick(self) -> None:
        """Our send changed the codec's state or timers: let the reader look again."""
        if self._pump_scope is not None:
            self._pump_scope.cancel()

    # -- sending ------------------------------------------------------------------------------

    async def _send(self, message: zvt.Message) -> None:
        async with self._send_lock:
            if self.gone is not None:
                raise EcrGone(self.gone)
            data = self.conn.send(message) + self.conn.data_to_send()
            await self._write(data)
        self._kick()

    async def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            async with self._send_lock:
                await self._write(data)

    async def _write(self, data: bytes) -> None:
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self.gone = self.gone or f"the line to the ECR broke: {exc}"
            raise EcrGone(self.gone) from exc

    async def respond(self, message: zvt.Message) -> None:
        """Answer the ECR's command (80 00, 84 xx)."""
        await self._send(message)

    async def send_command(self, message: zvt.Message,
                           after_send: Callable[[], Awaitable[None]] | None = None) -> Answer:
        """Send a terminal command (04 FF, 04 0F, 06 D1, 06 0F, 06 1E ...) and wait for the
        ECR's answer; T3 (and on serial lines T2 with repeats) run inside the codec.
        `after_send` runs between sending and waiting (where step faults strike)."""
        try:
            await self._send(message)
        except EcrGone as exc:
            return Answer(AnswerKind.GONE, detail=str(exc))
        except zvt.LocalProtocolError as exc:
            return Answer(AnswerKind.GONE, detail=f"cannot send now: {exc}")
        if after_send is not None:
            await after_send()
        while True:
            event = await self._next()
            if isinstance(event, _Gone):
                return Answer(AnswerKind.GONE, detail=event.reason)
            if isinstance(event, zvt.Ack):
                return Answer(AnswerKind.ACK)
            if isinstance(event, zvt.Nack):
                kind = AnswerKind.PLEASE_WAIT if event.please_wait else AnswerKind.NACK
                return Answer(kind, event.code)
            if isinstance(event, zvt.RawApdu) and event.cls == 0x80:
                return Answer(AnswerKind.ACK)  # 80 xx: positive, odd APRC
            if isinstance(event, zvt.TimedOut):
                if self.framing is zvt.Framing.TCP:
                    # PA00P016 5.2.5 case a: no answer within T3, close the socket.
                    await self.close(f"no answer within {event.timer.value}")
                return Answer(AnswerKind.TIMEOUT, detail=f"no answer within {event.timer.value}")
            if isinstance(event, zvt.TransmissionError):
                return Answer(AnswerKind.TRANSMISSION_ERROR, detail=event.reason)
            log.warning("sim.unexpected_message", got=type(event).__name__)

    async def _next(self) -> object:
        try:
            return await self._events.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return _Gone(self.gone or "the connection ended")

    async def next_command(self) -> zvt.Message:
        """The next command from the ECR; EcrGone when there will be none."""
        while True:
            event = await self._next()
            if isinstance(event, _Gone):
                raise EcrGone(event.reason)
            if isinstance(event, zvt.Message) and not isinstance(event, zvt.Ack | zvt.Nack):
                return event
            if isinstance(event, zvt.TimedOut | zvt.TransmissionError):
                log.info("sim.stale_link_event", event=repr(event))
                continue
            log.warning("sim.unexpected_message", got=type(event).__name__)

    @property
    def charset(self) -> int:
        return self.conn.charset

    async def close(self, reason: str = "closed by the terminal") -> None:
        self.gone = self.gone or reason
        self._kick()
        with trio.CancelScope(shield=True):
            await self.stream.aclose()
