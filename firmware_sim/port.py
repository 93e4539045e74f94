"""What a flow sees of the ECR: `EcrPort` over a live link, or nobody (standalone mode).

The port applies the registration's choices: Intermediate Status only if the ECR asked for it,
receipts to the ECR as Print Lines or Text-Blocks (in the negotiated character set) or on the
terminal's own printer. Without an ECR every command "succeeds" and receipts are printed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from firmware_sim.codes import RESULT_PRINTER_NOT_READY
from firmware_sim.link import Answer, AnswerKind, EcrLink
from firmware_sim.receipts import Receipt
from gateway.protocols import zvt

if TYPE_CHECKING:
    from firmware_sim.device import SimTerminal

ATTRIBUTE_NORMAL = 0x00
# Table 16: 1xxx xxxx (not 80) marks the last line of a receipt (cut / switch copy here).
ATTRIBUTE_LAST_LINE = 0x81

AfterSend = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class PrintedReceipt:
    at: str
    printer: str  # "terminal" or "ecr"
    receipt_type: int
    lines: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"at": self.at, "printer": self.printer, "receipt_type": self.receipt_type,
                "lines": list(self.lines)}


class EcrPort:
    def __init__(self, device: SimTerminal, link: EcrLink | None) -> None:
        self.device = device
        self.link = link
        self._no_abort = trio.Event()  # standalone: no ECR to abort anything

    @property
    def abort_requested(self) -> trio.Event:
        return self.link.abort_requested if self.link is not None else self._no_abort

    @property
    def standalone(self) -> bool:
        return self.link is None

    async def respond(self, message: zvt.Message) -> None:
        if self.link is not None:
            await self.link.respond(message)

    async def command(self, message: zvt.Message, after_send: AfterSend | None = None) -> Answer:
        if self.link is None:
            if after_send is not None:
                await after_send()
            return Answer(AnswerKind.ACK)
        return await self.link.send_command(message, after_send)

    async def status(self, code: int) -> None:
        """Intermediate Status, if the ECR registered for it; its answer changes nothing."""
        if self.link is not None and self.device.engine.intermediate_status \
                and self.link.gone is None:
            await self.link.send_command(zvt.IntermediateStatus(code=code))

    def set_abortable(self, abortable: bool) -> None:
        if self.link is not None:
            self.link.abortable = abortable

    async def close(self, reason: str) -> None:
        if self.link is not None:
            await self.link.close(reason)

    @property
    def alive(self) -> bool:
        return self.link is None or self.link.gone is None

    # -- receipts -----------------------------------------------------------------------------

    async def print_receipts(self, receipts: list[Receipt], admin: bool) -> None:
        """Print where the registration says; an ECR that cannot print (84 CC) hands the rest
        to the terminal's printer, a broken line ends the printing."""
        route = self.device.engine.receipts_to_ecr(admin)
        if self.link is None or route is False:
            for receipt in receipts:
                self.device.print_receipt(receipt, "terminal")
            return
        if route is None:
            return  # the ECR compiles its own receipt from the Status Information
        for index, receipt in enumerate(receipts):
            answer = await self._send_receipt(receipt)
            if answer.kind is AnswerKind.NACK and answer.code == RESULT_PRINTER_NOT_READY:
                for rest in receipts[index:]:
                    self.device.print_receipt(rest, "terminal")
                return
            if not answer.confirmed:
                return
            self.device.print_receipt(receipt, "ecr")

    async def _send_receipt(self, receipt: Receipt) -> Answer:
        assert self.link is not None
        charset = self.link.charset
        engine = self.device.engine
        lines = [engine.printable(line, charset) for line in receipt.lines]
        if engine.state.print_textblock:
            block = zvt.PrintTextBlock.from_lines(lines, charset=charset,
                                                  receipt_type=receipt.receipt_type)
            return await self.link.send_command(block)
        for number, line in enumerate(lines):
            last = number == len(lines) - 1
            answer = await self.link.send_command(zvt.PrintLine(
                attribute=ATTRIBUTE_LAST_LINE if last else ATTRIBUTE_NORMAL, text=line))
            if not answer.confirmed:
                return answer
        return Answer(AnswerKind.ACK)


def gone(answer: Answer) -> bool:
    return answer.kind in (AnswerKind.GONE, AnswerKind.TIMEOUT, AnswerKind.TRANSMISSION_ERROR)


__all__ = ["EcrPort", "PrintedReceipt", "gone"]
