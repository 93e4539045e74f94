"""A small cash register (ECR role) for scenarios and tests: the other end of the simulator.

It sends one command, follows the terminal until Completion or Abort, acknowledges what the
terminal sends, and runs the codec's timers (T1/T2 on serial lines, T3, T4). It is not the
gateway (which the simulator may not import); it is deliberately plain, so a scenario can run
both ends in one process on a virtual clock and repeat exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from gateway.protocols import zvt

REGISTRATION_CONFIG = zvt.DEFAULT_CONFIG_BYTE
# 84 83, the spec's answer to a command the receiver does not know.
NOT_SUPPORTED = zvt.NOT_SUPPORTED

StatusAnswer = Callable[[zvt.StatusInformation, int], zvt.Message | None]


@dataclass
class EcrResult:
    """How one command ended, as the ECR saw it."""

    status: str  # approved, declined, aborted, refused, done, error
    result_code: int | None = None
    status_info: zvt.StatusInformation | None = None
    completion: zvt.Completion | None = None
    aborted: zvt.AbortFromTerminal | None = None
    receipt_lines: list[str] = field(default_factory=list)
    intermediate: list[int] = field(default_factory=list)
    others: list[zvt.Message] = field(default_factory=list)
    error: str | None = None

    @property
    def receipt_number(self) -> int | None:
        return self.status_info.receipt_number if self.status_info else None

    @property
    def ok(self) -> bool:
        return self.status in ("approved", "done")


class Ecr:
    def __init__(self, stream: trio.abc.Stream, framing: zvt.Framing = zvt.Framing.TCP, *,
                 receipt_sync: bool = False, t3: float = zvt.T3, t4: float = zvt.T4,
                 password: str = "000000", last_receipt_id: bytes | None = None) -> None:
        self.stream = stream
        self.framing = framing
        self.password = password
        self.conn = zvt.ZvtConnection(zvt.Role.ECR, framing, t3=t3, t4=t4,
                                      receipt_sync=receipt_sync,
                                      last_receipt_id=last_receipt_id)
        self._deadlines: dict[zvt.Timer, tuple[int, float]] = {}
        self._send_lock = trio.StrictFIFOLock()
        # How to answer a Status Information (for tests of 84 9C, 84 xx); None: 80 00.
        self.answer_status: StatusAnswer | None = None
        self.closed = False

    # -- I/O ----------------------------------------------------------------------------------

    async def _write(self, data: bytes) -> None:
        if data:
            async with self._send_lock:
                await self.stream.send_all(data)

    async def send(self, message: zvt.Message) -> None:
        await self._write(self.conn.send(message) + self.conn.data_to_send())

    def _sync_timers(self) -> float:
        now = trio.current_time()
        wanted = {request.timer: request for request in self.conn.timers}
        self._deadlines = {timer: known for timer, known in self._deadlines.items()
                           if timer in wanted}
        for timer, request in wanted.items():
            known = self._deadlines.get(timer)
            if known is None or known[0] != request.serial:
                self._deadlines[timer] = (request.serial, now + request.seconds)
        return min((at for _serial, at in self._deadlines.values()), default=math.inf)

    async def next_event(self) -> object:
        while True:
            event = self.conn.next_event()
            if event is not zvt.NEED_DATA:
                return event
            with trio.move_on_at(self._sync_timers()):
                data = await self.stream.receive_some(4096)
                self.conn.receive_data(bytes(data))
                await self._write(self.conn.data_to_send())
                continue
            now = trio.current_time()
            for timer, (_serial, at) in list(self._deadlines.items()):
                if now >= at:
                    del self._deadlines[timer]
                    self.conn.on_timeout(timer)
            await self._write(self.conn.data_to_send())

    async def close(self) -> None:
        self.closed = True
        await self.stream.aclose()

    # -- one command --------------------------------------------------------------------------

    async def run(self, message: zvt.Message, *, abort_after: float | None = None) -> EcrResult:
        """Send `message` and follow the terminal to the end. Errors (time-outs, a broken
        line, protocol errors) come back as status "error" with the reason."""
        async with trio.open_nursery() as nursery:
            if abort_after is not None:
                nursery.start_soon(self._abort_later, abort_after)
            try:
                result = await self._run(message)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                result = EcrResult("error", error=f"line broke: {exc}")
            except zvt.ZvtError as exc:
                result = EcrResult("error", error=f"protocol error: {exc}")
            nursery.cancel_scope.cancel()
        return result

    async def _abort_later(self, delay: float) -> None:
        await trio.sleep(delay)
        try:
            await self.send(zvt.Abort())
        except zvt.LocalProtocolError:
            return  # the command ended first: nothing left to abort

    async def _run(self, message: zvt.Message) -> EcrResult:
        await self.send(message)
        while True:
            event = await self.next_event()
            if isinstance(event, zvt.Ack):
                break
            if isinstance(event, zvt.Nack):
                if event.please_wait:
                    continue
                return EcrResult("refused", result_code=event.code)
            return self._broken(event)
        if isinstance(message, zvt.LogOff | zvt.Abort | zvt.PrintLine | zvt.PrintTextBlock):
            return EcrResult("done")
        result = EcrResult("error")
        status_infos = 0
        while True:
            event = await self.next_event()
            if isinstance(event, zvt.IntermediateStatus):
                result.intermediate.append(event.code)
            elif isinstance(event, zvt.StatusInformation):
                result.status_info = event
                status_infos += 1
                answer = self.answer_status(event, status_infos) if self.answer_status else None
                if answer is not None:
                    await self.send(answer)
                    continue
            elif isinstance(event, zvt.PrintLine):
                result.receipt_lines.append(event.text)
            elif isinstance(event, zvt.PrintTextBlock):
                result.receipt_lines += event.lines(self.conn.charset)
            elif isinstance(event, zvt.Completion | zvt.AbortFromTerminal):
                await self.send(zvt.Ack())
                return self._finish(result, event)
            elif isinstance(event, zvt.Ack | zvt.Nack):
                result.others.append(event)  # the terminal's answer to our Abort
                continue
            elif isinstance(event, zvt.RawApdu):
                result.others.append(event)
                await self.send(zvt.Nack(NOT_SUPPORTED))
                continue
            elif isinstance(event, zvt.Message):
                result.others.append(event)
            else:
                broken = self._broken(event)
                broken.status_info = result.status_info
                broken.receipt_lines = result.receipt_lines
                broken.intermediate = result.intermediate
                return broken
            await self.send(zvt.Ack())

    def _finish(self, result: EcrResult, final: zvt.Message) -> EcrResult:
        status = result.status_info
        if isinstance(final, zvt.AbortFromTerminal):
            result.aborted = final
            code = final.result_code
            result.result_code = code
            result.status = "aborted" if code == 0x6C else "declined"
            return result
        assert isinstance(final, zvt.Completion)
        result.completion = final
        if status is None:
            result.status = "done"
        else:
            result.result_code = status.result_code
            result.status = "approved" if status.result_code == 0 else "declined"
        return result

    def _broken(self, event: object) -> EcrResult:
        if isinstance(event, zvt.TimedOut):
            return EcrResult("error", error=f"{event.timer.value} expired")
        if isinstance(event, zvt.TransmissionError):
            return EcrResult("error", error=f"transmission error: {event.reason}")
        if isinstance(event, zvt.ConnectionClosed):
            return EcrResult("error", error="the terminal closed the connection")
        return EcrResult("error", error=f"unexpected {event!r}")

    # -- the commands, with an ECR's usual parameters -----------------------------------------

    async def register(self, *, config_byte: int = REGISTRATION_CONFIG,
                       charset: int | None = zvt.CHARSET_ISO_8859_15,
                       textblock: bool = False) -> EcrResult:
        objects: list[tuple[int, bytes | zvt.Tlv]] = []
        if charset is not None:
            objects.append((0x14, bytes([charset])))
        if textblock:
            objects.append((0x26, zvt.Tlv.of((0x0A, b"\x06\xd3"), (0x0A, b"\x06\xd1"))))
        return await self.run(zvt.Registration(
            password=self.password, config_byte=config_byte, currency=zvt.CURRENCY_NOK,
            tlv=zvt.Tlv.of(*objects) if objects else None))

    async def pay(self, amount: int, **kwargs: object) -> EcrResult:
        return await self.run(zvt.Authorization(amount=amount, currency=zvt.CURRENCY_NOK),
                              **kwargs)  # type: ignore[arg-type]

    async def refund(self, amount: int) -> EcrResult:
        return await self.run(zvt.Refund(amount=amount, password=self.password))

    async def reverse(self, receipt_number: int, amount: int | None = None) -> EcrResult:
        return await self.run(zvt.Reversal(receipt_number=receipt_number, amount=amount,
                                           password=self.password))

    async def end_of_day(self) -> EcrResult:
        return await self.run(zvt.EndOfDay(password=self.password))

    async def diagnosis(self) -> EcrResult:
        return await self.run(zvt.Diagnosis())

    async def status_enquiry(self) -> EcrResult:
        return await self.run(zvt.StatusEnquiry(password=self.password))

    async def repeat_receipt(self, service_byte: int = 0x01) -> EcrResult:
        return await self.run(zvt.RepeatReceipt(password=self.password,
                                                service_byte=service_byte))

    async def log_off(self) -> EcrResult:
        return await self.run(zvt.LogOff())
