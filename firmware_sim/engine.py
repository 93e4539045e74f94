"""The terminal's decisions, without I/O: for each ECR command, the messages it answers with.

After acknowledging a command the terminal sends each message of the returned `Reply` in turn
and waits for the ECR's acknowledgement before the next; the transport layer does that.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from firmware_sim.cards import DEFAULT_DECK, Card
from firmware_sim.state import TerminalState
from gateway.protocols import zvt
from medipay.clock import Clock

# Intermediate status codes (spec: intermediate status table).
STATUS_INSERT_CARD = 0x0A
STATUS_PLEASE_WAIT = 0x0E
# Result codes (spec: Error-Messages). 0x33 = host response 51, insufficient funds.
RESULT_OK = 0x00
RESULT_INSUFFICIENT_FUNDS = 0x33
RESULT_FUNCTION_NOT_POSSIBLE = 0x83
RESULT_NOT_REGISTERED = 0x6B
RESULT_CURRENCY = 0x6F
# TLV tag 14: the character set the ECR proposes at Registration and the terminal confirms.
TAG_CHARSET = 0x14
# CP437 has Æ, æ, Å and å but no Ø/ø; a terminal left on CP437 prints them as O/o.
_CP437_FALLBACK = str.maketrans({"Ø": "O", "ø": "o"})


@dataclass(frozen=True)
class Reply:
    """`ack` is the immediate answer (Ack or Nack); `messages` follow, each acknowledged."""

    ack: zvt.Message
    messages: tuple[zvt.Message, ...] = ()


@dataclass
class TerminalEngine:
    state: TerminalState
    clock: Clock
    deck: tuple[Card, ...] = DEFAULT_DECK
    presented: deque[Card] = field(default_factory=deque)
    charset: int = zvt.CHARSET_CP437

    def present(self, cards: Iterable[Card]) -> None:
        """Queue the cards the next customers will present; the deck's first card otherwise."""
        self.presented.extend(cards)

    def handle(self, command: object) -> Reply:
        if isinstance(command, zvt.Registration):
            return self._register(command)
        if isinstance(command, zvt.Authorization):
            return self._authorize(command)
        return Reply(zvt.Nack(RESULT_FUNCTION_NOT_POSSIBLE))

    def _register(self, command: zvt.Registration) -> Reply:
        self.state.registered_config = command.config_byte
        proposed = command.tlv.find(TAG_CHARSET) if command.tlv is not None else None
        if isinstance(proposed, bytes) and proposed in (
            bytes([zvt.CHARSET_ISO_8859_1]), bytes([zvt.CHARSET_ISO_8859_15])
        ):
            # Confirm the proposed character set by echoing tag 14 in the Completion.
            self.charset = proposed[0]
            tlv: zvt.Tlv | None = zvt.Tlv.of((TAG_CHARSET, proposed))
        else:
            self.charset, tlv = zvt.CHARSET_CP437, None
        return Reply(zvt.Ack(), (zvt.Completion(terminal_id=self.state.terminal_id, tlv=tlv),))

    def _printable(self, text: str) -> str:
        return text.translate(_CP437_FALLBACK) if self.charset == zvt.CHARSET_CP437 else text

    def _authorize(self, command: zvt.Authorization) -> Reply:
        if self.state.registered_config is None:
            return Reply(zvt.Nack(RESULT_NOT_REGISTERED))
        if command.amount is None:
            # Amount entry on the terminal itself is not simulated: the ECR must send one.
            return Reply(zvt.Nack(RESULT_FUNCTION_NOT_POSSIBLE))
        amount = command.amount
        if command.currency not in (None, zvt.CURRENCY_NOK):
            return Reply(zvt.Ack(), (zvt.AbortFromTerminal(result_code=RESULT_CURRENCY),))
        card = self.presented.popleft() if self.presented else self.deck[0]
        now = self.clock.now()
        code = RESULT_OK if amount <= card.balance else RESULT_INSUFFICIENT_FUNDS
        trace = self.state.next_trace()
        receipt = self.state.next_receipt() if code == RESULT_OK else None
        status = zvt.StatusInformation(
            result_code=code,
            amount=amount,
            currency=zvt.CURRENCY_NOK,
            trace_number=trace,
            receipt_number=receipt,
            masked_pan=card.masked_pan,
            card_type=card.card_type,
            card_name=card.scheme,
            terminal_id=self.state.terminal_id,
            vu_number=self.state.vu_number,
            date=now.strftime("%m%d"),
            time=now.strftime("%H%M%S"),
            expiry=card.expiry,
        )
        lead = (
            zvt.IntermediateStatus(code=STATUS_INSERT_CARD),
            zvt.IntermediateStatus(code=STATUS_PLEASE_WAIT),
            status,
        )
        if code != RESULT_OK:
            return Reply(zvt.Ack(), (*lead, zvt.AbortFromTerminal(result_code=code)))
        receipt_lines = self._receipt(amount, card, trace, receipt or 0, now.strftime(
            "%d.%m.%Y %H:%M"))
        prints = tuple(
            zvt.PrintLine(attribute=0, text=self._printable(line)) for line in receipt_lines
        )
        return Reply(zvt.Ack(), (*lead, *prints, zvt.Completion()))

    def _receipt(self, amount: int, card: Card, trace: int, receipt: int, when: str) -> list[str]:
        kroner, ore = divmod(amount, 100)
        return [
            "KVITTERING",
            f"Terminal {self.state.terminal_id}",
            when,
            f"{card.scheme} {card.masked_pan}",
            "KJØP",
            f"BELØP NOK {kroner},{ore:02d}",
            f"Ref {trace:06d}  Kvitt. {receipt:04d}",
            "GODKJENT",
            "Behold kvitteringen",
        ]
