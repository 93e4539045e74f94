"""One card terminal as the gateway sees it: a ZVT conversation over a byte stream.

The ZVT codec (`gateway.protocols.zvt`) decides what bytes mean; this module owns the stream,
applies the spec's timers as trio cancel scopes, and turns a finished conversation into an
`Outcome` for the journal. One transaction at a time per terminal (a ZVT terminal cannot run
two); a second caller gets `TerminalBusy` naming the transaction that holds it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from gateway.journal import Outcome
from gateway.protocols import zvt
from medipay.logs import get_logger

log = get_logger(__name__)

# Receipts go to the ECR as print lines (0x80|0x02|0x04), the ECR wants intermediate status
# (0x08) and controls payment and administration functions (0x10|0x20): see the spec's Table 1.
REGISTRATION_CONFIG_BYTE = 0xBE
# TLV tag 14 proposes the character set of print texts; ISO 8859-15 has all Norwegian letters
# (the CP437 default lacks Ø and ø).
TAG_CHARSET = 0x14
# 84 9C: the terminal is busy with something else and asks the ECR to keep waiting.
NACK_PLEASE_WAIT = 0x9C
CURRENCY_CODES = {"NOK": 578, "EUR": 978}
# Result codes the spec uses when the customer or the terminal broke the transaction off.
RESULT_ABORTED = frozenset({0x6C, 0x9C})

OpenStream = Callable[[], Awaitable[trio.abc.Stream]]
DisplayListener = Callable[[str, dict[str, object]], None]


class TerminalError(Exception):
    """Base of what can go wrong talking to a terminal."""


class TerminalBusy(TerminalError):
    def __init__(self, terminal_id: str, busy_with: str | None) -> None:
        super().__init__(f"terminal {terminal_id} is busy with transaction {busy_with}")
        self.terminal_id = terminal_id
        self.busy_with = busy_with


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
class _Conversation:
    status: zvt.StatusInformation | None = None
    aborted: zvt.AbortFromTerminal | None = None
    receipt_lines: list[str] = field(default_factory=list)


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
    ) -> None:
        self.terminal_id = terminal_id
        self._open_stream = open_stream
        self._password = password
        self._framing = framing
        self._on_display = on_display
        self._stream: trio.abc.Stream | None = None
        self._conn: zvt.ZvtConnection | None = None
        self._lock = trio.Lock()
        self.busy_with: str | None = None
        self.registered = False

    # -- connection -------------------------------------------------------------------------

    async def _connect(self) -> None:
        try:
            self._stream = await self._open_stream()
        except OSError as exc:
            raise TerminalUnavailable(f"cannot reach terminal {self.terminal_id}: {exc}") from exc
        self._conn = zvt.ZvtConnection(zvt.Role.ECR, framing=self._framing)
        self.registered = False

    async def close(self) -> None:
        if self._stream is not None:
            stream, self._stream, self._conn = self._stream, None, None
            await stream.aclose()

    async def _send(self, message: zvt.Message) -> None:
        assert self._conn is not None and self._stream is not None
        data = self._conn.send(message)
        try:
            await self._stream.send_all(data + self._conn.data_to_send())
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise TerminalLost(f"connection to terminal broke while sending: {exc}") from exc

    async def _next_event(self, timeout: float) -> object:
        """The next ZVT event, reading as needed; TerminalLost on EOF, garbage or timeout."""
        assert self._conn is not None and self._stream is not None
        with trio.move_on_after(timeout) as scope:
            while True:
                try:
                    event = self._conn.next_event()
                except zvt.ZvtError as exc:
                    raise TerminalLost(f"terminal sent invalid data: {exc}") from exc
                if event is not zvt.NEED_DATA:
                    if isinstance(event, zvt.ConnectionClosed):
                        raise TerminalLost("terminal closed the connection")
                    return event
                try:
                    data = await self._stream.receive_some(4096)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                    raise TerminalLost(f"connection to terminal broke: {exc}") from exc
                self._conn.receive_data(bytes(data))
                pending = self._conn.data_to_send()
                if pending:
                    await self._stream.send_all(pending)
        assert scope.cancelled_caught
        raise TerminalLost(f"no answer from terminal within {timeout:g} s")

    # -- one command --------------------------------------------------------------------------

    async def _command(self, message: zvt.Message) -> _Conversation:
        """Send a command and follow the terminal until Completion or Abort."""
        await self._send(message)
        while True:  # T3: the terminal must acknowledge (or ask us to wait) promptly.
            event = await self._next_event(zvt.T3)
            if isinstance(event, zvt.Ack):
                break
            if isinstance(event, zvt.Nack):
                if event.code == NACK_PLEASE_WAIT:
                    continue
                raise TerminalRejected(event.code)
            raise TerminalLost(f"expected an acknowledgement, got {type(event).__name__}")
        conversation = _Conversation()
        while True:  # T4, restarted by every message the terminal sends.
            event = await self._next_event(zvt.T4)
            if isinstance(event, zvt.IntermediateStatus):
                self._display(zvt.intermediate_text(event.code), {"code": event.code})
            elif isinstance(event, zvt.StatusInformation):
                conversation.status = event
            elif isinstance(event, zvt.PrintLine):
                conversation.receipt_lines.append(event.text)
                self._display_print(event.text)
            elif isinstance(event, zvt.PrintTextBlock):
                for line in event.lines():
                    conversation.receipt_lines.append(line)
                    self._display_print(line)
            elif isinstance(event, zvt.Completion):
                await self._send(zvt.Ack())
                return conversation
            elif isinstance(event, zvt.AbortFromTerminal):
                conversation.aborted = event
                await self._send(zvt.Ack())
                return conversation
            elif isinstance(event, zvt.RawApdu):
                log.warning("zvt.unknown_apdu", terminal=self.terminal_id,
                            apdu=f"{event.cls:02X} {event.instr:02X}")
            await self._send(zvt.Ack())

    def _display(self, text: str, extra: dict[str, object]) -> None:
        if self._on_display is not None:
            self._on_display(text, extra)

    def _display_print(self, line: str) -> None:
        self._display(line, {"print": True})

    # -- what the gateway asks for ----------------------------------------------------------

    async def register(self) -> None:
        if self._conn is None:
            await self._connect()
        await self._command(
            zvt.Registration(
                password=self._password,
                config_byte=REGISTRATION_CONFIG_BYTE,
                currency=zvt.CURRENCY_NOK,
                tlv=zvt.Tlv.of((TAG_CHARSET, bytes([zvt.CHARSET_ISO_8859_15]))),
            )
        )
        self.registered = True
        log.info("terminal.registered", terminal=self.terminal_id)

    def claim(self, tx_id: str) -> None:
        """Reserve the terminal for `tx_id` or raise TerminalBusy; release with `release`."""
        if self.busy_with is not None:
            raise TerminalBusy(self.terminal_id, self.busy_with)
        self.busy_with = tx_id

    def release(self, tx_id: str) -> None:
        if self.busy_with == tx_id:
            self.busy_with = None

    async def authorize(self, amount: int, currency: str) -> Outcome:
        """Run a payment; the caller has claimed the terminal and journalled the request."""
        async with self._lock:
            try:
                if self._conn is None or not self.registered:
                    await self.register()
            except TerminalLost as exc:
                await self.close()
                raise TerminalUnavailable(str(exc)) from exc
            try:
                conversation = await self._command(
                    zvt.Authorization(amount=amount, currency=CURRENCY_CODES[currency])
                )
            except TerminalLost:
                await self.close()
                raise
        return outcome_of(conversation)


def outcome_of(conversation: _Conversation) -> Outcome:
    """Classify a finished conversation.

    The spec: a payment is done once the terminal's Status Information with result 00 was
    acknowledged; a failed one ends in Abort (06 1E), usually after a Status Information that
    carries the same result code (as in the real captures).
    """
    status, aborted = conversation.status, conversation.aborted
    if status is not None:
        code: int | None = status.result_code
    elif aborted is not None:
        code = aborted.result_code
    else:
        code = None
    if code is None:
        # A Completion with no Status Information: the terminal reports no payment result.
        return Outcome(status="failed", result_text="terminal sent no status information",
                       receipt_lines=conversation.receipt_lines)
    if code == 0 and aborted is None:
        verdict = "approved"
    elif code in RESULT_ABORTED:
        verdict = "aborted"
    else:
        verdict = "declined"
    return Outcome(
        status=verdict,
        result_code=code,
        result_text=zvt.result_text(code),
        masked_pan=status.masked_pan if status else None,
        card_name=status.card_name if status else None,
        receipt_number=status.receipt_number if status else None,
        trace_number=status.trace_number if status else None,
        receipt_lines=conversation.receipt_lines,
    )
