"""What an ECR was told, to compare with what the terminal stored.

The gateway's driver mirrors the receipt number of the last Status Information it confirmed
in every transaction command (tag 1F1F); across reconnects it reloads it from its journal.
`Books` plays that journal: it keeps the id of the last *completed* conversation, so every
payment whose conversation broke off is unknown to the ECR, and the terminal must reverse it
on the next command. After that, the terminal's batch holds exactly the approved payments the
ECR completed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware_sim.batch import reversed_receipts
from firmware_sim.device import SimTerminal
from gateway.operations import classify
from gateway.protocols import zvt
from gateway.terminal import Conversation, TerminalError, ZvtTerminal

from .conftest import SimOnTcp


@dataclass
class Books:
    approved: list[int] = field(default_factory=list)
    receipt_id: bytes | None = None
    errors: list[str] = field(default_factory=list)

    async def load(self) -> bytes | None:
        return self.receipt_id

    def gateway(self, sim: SimOnTcp) -> ZvtTerminal:
        terminal = ZvtTerminal("T1", sim.open, load_receipt_id=self.load)
        sim.gateways.append(terminal)
        return terminal

    async def run(self, terminal: ZvtTerminal, message: zvt.Message) -> str:
        """Run a command; its outcome as the ECR saw it ("lost: ..." if it broke off)."""
        try:
            conversation = await terminal.run(message)
        except TerminalError as exc:
            self.errors.append(str(exc))
            return f"{type(exc).__name__}: {exc}"
        self.completed(conversation)
        return classify(conversation).status

    def completed(self, conversation: Conversation) -> None:
        outcome = classify(conversation)
        if outcome.status == "approved" and outcome.receipt_number is not None:
            self.approved.append(outcome.receipt_number)
        if conversation.receipt_sync_id is not None:
            self.receipt_id = conversation.receipt_sync_id


def stored_payments(device: SimTerminal) -> list[int]:
    batch = device.engine.state.batch
    undone = reversed_receipts(batch)
    return [b.receipt for b in batch
            if b.kind == "purchase" and b.receipt is not None and b.receipt not in undone]
