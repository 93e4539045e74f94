"""One card terminal as the gateway sees it: a ZVT conversation over a byte stream.

The ZVT codec (`gateway.protocols.zvt`) decides what bytes mean and which timer runs; this
module owns the stream, sleeps until the codec's timers expire, and hands a finished
conversation to `gateway.operations` for classification. One command at a time (a ZVT
terminal runs one); `ZvtTerminal` serialises them with a lock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from gateway.protocols import zvt
from medipay.logs import get_logger

log = get_logger(__name__)

# Receipts go to the ECR as print lines (0x80|0x02|0x04), the ECR wants intermediate status
# (0x08) and controls payment and administration functions (0x10|0x20): see the spec's Table 1.
REGISTRATION_CONFIG_BYTE = 0xBE
# TLV tag 14 proposes the character set of print texts; ISO 8859-15 has all Norwegian letters
# (the CP437 default lacks Ø and ø).
TAG_CHARSET = 0x14

SERIAL_T3 = zvt.T3 + 1.0
# Repeat Receipt (06 20) service byte bit 0: the terminal repeats its last Status Information,
# which is how an ECR learns the outcome of an inconclusive transaction (spec 2.20).
REPEAT_WITH_STATUS = 0x01

OpenStream = Callable[[], Awaitable[trio.abc.Stream]]
# Called with each display text or print line as the terminal sends it (for the event stream).
DisplayListener = Callable[[str, dict[str, object]], None]
ReceiptIdLoader = Callable[[], Awaitable[bytes | None]]


class TerminalError(Exception):
    """Base of what can go wrong talking to a terminal."""


class TerminalUnavailable(TerminalError):
    """The terminal could not be reached; nothing was sent, so nothing happened."""


class TerminalRejected(TerminalError):
    """The terminal refused the command outright (84 xx), so no transaction started."""

    def __init__(self, code: int) -> None:
        super().__init__(f"terminal refused the command: {zvt.result_text(code)} (0x{code:02X})")
        self.code = code


class TerminalLost(TerminalError):
    """The conversation broke off after the command was sent: the outcome is unknown."""


@dataclass
class Conversation:
    """Everything the terminal said between our command and its Completion or Abort."""

    status: zvt.StatusInformation | None = None
    aborted: zvt.AbortFromTerminal | None = None
    completion: zvt.Completion | None = None
    receipt_lines: list[str] = field(default_factory=list)
    display: list[str] = field(default_factory=list)
    receipt_sync_id: bytes | None = None


class ZvtTerminal:
    """Drives one terminal in the ECR role over a stream opened by `open_stream`."""

    def __init__(
        self,
        terminal_id: str,
        open_stream: OpenStream,
        *,
        password: str = "000000",
        framing: zvt.Framing = zvt.Framing.TCP,
        on_display: DisplayListener | None = None,
        load_receipt_id: ReceiptIdLoader | None = None,
    ) -> None:
        self.terminal_id = terminal_id
        self.password = password
        self._open_stream = open_stream
        self._framing = framing
        self.on_display = on_display
        self._load_receipt_id = load_receipt_id
        self._stream: trio.abc.Stream | None = None
        self._conn: zvt.ZvtConnection | None = None
        # Per timer (T1 ... T4): the serial of the request we saw last, and when it started.
        self._timer_started: dict[zvt.Timer, tuple[int, float]] = {}
        self._lock = trio.Lock()
        self._send_lock = trio.Lock()
        self.registered = False
        # The terminal's own id (ZVT BMP 29), learnt at registration if it sends it.
        self.zvt_terminal_id: str | None = None

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def receipt_sync_id(self) -> bytes | None:
        """The 1F1F value the next transaction command mirrors (None when not connected)."""
        return self._conn.receipt_sync_id if self._conn is not None else None

    # -- connection -------------------------------------------------------------------------

    async def _connect(self) -> None:
        try:
            self._stream = await self._open_stream()
        except OSError as exc:
            raise TerminalUnavailable(f"cannot reach terminal {self.terminal_id}: {exc}") from exc
        last_id = await self._load_receipt_id() if self._load_receipt_id else None
        # receipt_sync: every transaction carries tag 1F1F, so a payment whose result we lost
        # is reversed by the terminal itself on our next command (spec chapter 4).
        self._conn = zvt.ZvtConnection(
            zvt.Role.ECR, self._framing, receipt_sync=True, last_receipt_id=last_id,
            # On serial lines T2 and T3 are both 5 s: a reply whose link ACK was lost is
            # repeated just as T3 runs out. A second of slack avoids that race.
            t3=SERIAL_T3 if self._framing is zvt.Framing.SERIAL else zvt.T3,
        )
        self._timer_started.clear()
        self.registered = False

    async def close(self) -> None:
        stream, self._stream, self._conn = self._stream, None, None
        self.registered = False
        if stream is not None:
            await stream.aclose()

    async def _drop_connection(self) -> None:
        with trio.CancelScope(shield=True):
            await self.close()

    async def _write(self, data: bytes) -> None:
        assert self._stream is not None
        if not data:
            return
        try:
            async with self._send_lock:
                await self._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise TerminalLost(f"connection to terminal broke while sending: {exc}") from exc

    async def _send(self, message: zvt.Message) -> None:
        assert self._conn is not None
        try:
            data = self._conn.send(message)
        except zvt.LocalProtocolError as exc:
            raise TerminalLost(f"cannot send {type(message).__name__} now: {exc}") from exc
        await self._write(data + self._conn.data_to_send())

    def _deadline(self, timer: zvt.TimerRequest) -> float:
        # A TimerRequest is identified by its timer and serial (the serial link and the
        # dialog number their timers separately); it runs from when we first saw it.
        known = self._timer_started.get(timer.timer)
        if known is None or known[0] != timer.serial:
            known = (timer.serial, trio.current_time())
            self._timer_started[timer.timer] = known
        return known[1] + timer.seconds

    async def _next_event(self) -> object:
        """The next ZVT event, reading as needed; TerminalLost on EOF, garbage or a timeout."""
        assert self._conn is not None and self._stream is not None
        conn = self._conn
        while True:
            try:
                event = conn.next_event()
            except zvt.ZvtError as exc:
                raise TerminalLost(f"terminal sent invalid data: {exc}") from exc
            if isinstance(event, zvt.ConnectionClosed):
                raise TerminalLost("terminal closed the connection")
            if isinstance(event, zvt.TimedOut):
                raise TerminalLost(f"no answer from the terminal ({event.timer.value} expired)")
            if isinstance(event, zvt.TransmissionError):
                raise TerminalLost(f"serial line failed: {event.reason}")
            if event is not zvt.NEED_DATA:
                return event
            timer = conn.pending_timer
            deadline = self._deadline(timer) if timer is not None else float("inf")
            with trio.move_on_at(deadline):
                try:
                    data = await self._stream.receive_some(4096)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                    raise TerminalLost(f"connection to terminal broke: {exc}") from exc
                conn.receive_data(bytes(data))
                await self._write(conn.data_to_send())
                continue
            assert timer is not None
            conn.on_timeout(timer.timer)
            await self._write(conn.data_to_send())

    # -- one command --------------------------------------------------------------------------

    async def _command(self, message: zvt.Message) -> Conversation:
        """Send a command and follow the terminal until Completion or Abort."""
        assert self._conn is not None
        await self._send(message)
        while True:
            event = await self._next_event()
            if isinstance(event, zvt.Ack):
                break
            if isinstance(event, zvt.Nack):
                if event.code == zvt.PLEASE_WAIT:
                    continue  # the terminal is busy and asks us to keep waiting (T3 restarts)
                raise TerminalRejected(event.code)
            raise TerminalLost(f"expected an acknowledgement, got {type(event).__name__}")
        conversation = Conversation()
        while True:
            event = await self._next_event()
            if isinstance(event, zvt.IntermediateStatus):
                text = zvt.intermediate_text(event.code)
                conversation.display.append(text)
                self._emit(text, {"type": "display", "code": event.code})
            elif isinstance(event, zvt.StatusInformation):
                conversation.status = event
            elif isinstance(event, zvt.PrintLine):
                self._receipt_line(conversation, event.text)
            elif isinstance(event, zvt.PrintTextBlock):
                for line in event.lines(self._conn.charset):
                    self._receipt_line(conversation, line)
            elif isinstance(event, zvt.Completion | zvt.AbortFromTerminal):
                if isinstance(event, zvt.Completion):
                    conversation.completion = event
                else:
                    conversation.aborted = event
                await self._send(zvt.Ack())
                conversation.receipt_sync_id = self._conn.receipt_sync_id
                return conversation
            elif isinstance(event, zvt.Ack | zvt.Nack):
                # The terminal's answer to our Abort (06 B0): 80 00 and an Abort (06 1E) will
                # follow, or 84 xx and the transaction goes on. Neither is acknowledged.
                log.info("terminal.abort_answered", terminal=self.terminal_id,
                         accepted=isinstance(event, zvt.Ack))
                continue
            elif isinstance(event, zvt.RawApdu):
                log.warning("zvt.unknown_apdu", terminal=self.terminal_id,
                            apdu=f"{event.cls:02X} {event.instr:02X}")
                await self._send(zvt.reply_to_unsupported(event))
                continue
            await self._send(zvt.Ack())

    def _receipt_line(self, conversation: Conversation, line: str) -> None:
        conversation.receipt_lines.append(line)
        self._emit(line, {"type": "print"})

    def _emit(self, text: str, extra: dict[str, object]) -> None:
        if self.on_display is not None:
            self.on_display(text, extra)

    # -- what the gateway asks for ----------------------------------------------------------

    async def _register(self) -> None:
        conversation = await self._command(
            zvt.Registration(
                password=self.password,
                config_byte=REGISTRATION_CONFIG_BYTE,
                currency=zvt.CURRENCY_NOK,
                tlv=zvt.Tlv.of((TAG_CHARSET, bytes([zvt.CHARSET_ISO_8859_15]))),
            )
        )
        self.registered = True
        if conversation.completion is not None and conversation.completion.terminal_id:
            self.zvt_terminal_id = conversation.completion.terminal_id
        log.info("terminal.registered", terminal=self.terminal_id, tid=self.zvt_terminal_id)

    async def ensure_ready(self) -> None:
        """Connect and register if needed; TerminalUnavailable if that fails."""
        if self._conn is not None and self.registered:
            return
        try:
            if self._conn is None:
                await self._connect()
            await self._register()
        except (TerminalLost, TerminalRejected) as exc:
            await self._drop_connection()
            raise TerminalUnavailable(f"terminal {self.terminal_id} did not register: {exc}") \
                from exc

    async def run(self, message: zvt.Message) -> Conversation:
        """Run one command to its end. TerminalUnavailable: nothing was sent.
        TerminalRejected: refused, nothing happened. TerminalLost: outcome unknown."""
        async with self._lock:
            await self.ensure_ready()
            try:
                return await self._command(message)
            except TerminalLost:
                await self._drop_connection()
                raise

    async def repeat_last(self) -> Conversation:
        """The terminal's last receipt with its Status Information (Repeat Receipt, 06 20).
        TerminalRejected if the terminal cannot repeat it."""
        return await self.run(zvt.RepeatReceipt(password=self.password,
                                                service_byte=REPEAT_WITH_STATUS))

    async def abort(self) -> None:
        """Ask the terminal to abort what it is doing (06 B0); its answer ends the command."""
        if self._conn is None:
            raise TerminalUnavailable(f"terminal {self.terminal_id} is not connected")
        try:
            await self._send(zvt.Abort())
        except TerminalLost as exc:
            # Not sent (not allowed in this state of the dialog, e.g. before the terminal's
            # 80 00) or the line broke; the running command finds out the latter itself.
            raise TerminalUnavailable(
                f"terminal {self.terminal_id} cannot take an abort now: {exc}") from exc

    @property
    def busy(self) -> bool:
        return self._lock.locked()
