"""The terminal's decisions, without I/O: registration, what to print where, what to store.

`TerminalEngine` owns the persistent `TerminalState`, the card deck, the customers queued at
the terminal (`desk`) and the issuers behind the host. The async flows in `flows.py` ask it
what to do at each step and tell it what happened; everything here is synchronous and reads
time only from the `Clock` it was given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from firmware_sim import codes
from firmware_sim.batch import Totals, totals
from firmware_sim.cards import DEFAULT_DECK, Card
from firmware_sim.customers import Customer, CustomerDesk
from firmware_sim.issuer import Issuer
from firmware_sim.receipts import DEFAULT_WIDTH, OSLO, SOFTWARE_VERSION, Merchant, Receipt
from firmware_sim.state import Booking, TerminalState, restored_status, stored_status
from gateway.protocols import zvt
from medipay.clock import Clock

_ACCEPTED_CHARSETS = (zvt.CHARSET_ISO_8859_1, zvt.CHARSET_ISO_8859_15)
# CP437 has Æ, æ, Å and å but no Ø/ø; a terminal left on CP437 prints them as O/o.
_CP437_FALLBACK = str.maketrans({"Ø": "O", "ø": "o"})


@dataclass(frozen=True)
class TerminalSettings:
    """How this terminal behaves; scenario files and `medipay sim run` options set these."""

    card_timeout: float = 60.0  # seconds a terminal waits for a card before giving up
    pin_timeout: float = 30.0  # seconds per PIN entry
    pin_tries: int = 3  # wrong PINs before the card's PIN try limit is reached
    host_delay: float = 0.0  # seconds the host takes to answer (0: instant, for tests)
    # Above this amount (øre) a contactless card must be inserted and the PIN entered;
    # NOK 500 is the Norwegian contactless limit.
    contactless_limit: int = 50_000
    print_mode: str = "lines"  # "lines" (06 D1) or "textblock" (06 D3) for ECR receipts
    require_registration: bool = True  # refuse payments (84 6B) before the first Registration
    max_status_infos: int | None = None  # default when the Authorization sets none (infinite)
    host_online: bool = True  # False: every host request fails (communication fault)
    # What to do when the ECR never confirms a Status Information: "reverse" it at once
    # (spec 2.2.8), "keep" it for the 1F1F resync of the next command (chapter 4), or "auto":
    # keep it when the command carried 1F1F, else reverse.
    unconfirmed_status: str = "auto"
    # False: a terminal without Repeat Receipt, which answers 06 20 with 84 83 (not
    # supported), as some real terminals do; the ECR then has only the 1F1F resync.
    repeat_receipt: bool = True

    def __post_init__(self) -> None:
        if self.print_mode not in ("lines", "textblock"):
            raise ValueError(f"print_mode is 'lines' or 'textblock', not {self.print_mode!r}")
        if self.unconfirmed_status not in ("auto", "reverse", "keep"):
            raise ValueError("unconfirmed_status is 'auto', 'reverse' or 'keep', not "
                             f"{self.unconfirmed_status!r}")

    def keep_unconfirmed(self, sync: bool) -> bool:
        if self.unconfirmed_status == "auto":
            return sync
        return self.unconfirmed_status == "keep"


@dataclass(frozen=True)
class Registered:
    """The answer to a Registration: `response` (80 00 or 84 xx), then `completion` if any."""

    response: zvt.Message
    completion: zvt.Completion | None


@dataclass
class TerminalEngine:
    state: TerminalState
    clock: Clock
    deck: tuple[Card, ...] = DEFAULT_DECK
    desk: CustomerDesk = field(default_factory=CustomerDesk)
    issuer: Issuer = field(default_factory=Issuer)
    settings: TerminalSettings = field(default_factory=TerminalSettings)

    # -- customers ----------------------------------------------------------------------------

    def present(self, cards: Iterable[Card]) -> None:
        """Queue the cards the next customers will present; the deck's first card otherwise."""
        for card in cards:
            self.desk.add(Customer(card=card))

    @property
    def default_card(self) -> Card:
        return self.deck[0]

    @property
    def charset(self) -> int:
        return self.state.charset

    # -- configuration ------------------------------------------------------------------------

    @property
    def config(self) -> int:
        return codes.CONFIG_AFTER_LOG_OFF if self.state.registered_config is None \
            else self.state.registered_config

    @property
    def intermediate_status(self) -> bool:
        """The spec: 04 FF only if the config byte asks for it and the ECR is logged on."""
        return (self.state.registered_config is not None and self.state.tlv_allowed
                and bool(self.config & codes.CONFIG_INTERMEDIATE_STATUS))

    def receipts_to_ecr(self, admin: bool) -> bool | None:
        """True: send print lines to the ECR; None: the ECR compiles the receipt itself from
        the Status Information (the terminal prints nothing); False: the terminal prints."""
        bit = codes.CONFIG_ECR_PRINTS_ADMIN if admin else codes.CONFIG_ECR_PRINTS_PAYMENT
        if not self.config & bit:
            return False
        return True if self.config & codes.CONFIG_PRINT_LINES else None

    @property
    def amount_entry_allowed(self) -> bool:
        """Amounts keyed in on the terminal (standalone) unless the ECR controls payments."""
        return (self.state.registered_config is None
                or not self.config & codes.CONFIG_ECR_CONTROLS_PAYMENT)

    def password_ok(self, password: str | None) -> bool:
        return password is None or password == self.state.password

    @property
    def merchant(self) -> Merchant:
        return Merchant(self.state.merchant_name, self.state.merchant_address,
                        self.state.terminal_id, self.state.vu_number)

    @property
    def line_width(self) -> int:
        width = self.state.line_width
        return DEFAULT_WIDTH if width is None else max(20, min(width, 48))

    def printable(self, text: str, charset: int) -> str:
        return text.translate(_CP437_FALLBACK) if charset == zvt.CHARSET_CP437 else text

    # -- Registration (spec 2.1) --------------------------------------------------------------

    def register(self, command: zvt.Registration) -> Registered:
        if not self.password_ok(command.password):
            return Registered(zvt.Nack(codes.RESULT_FUNCTION_NOT_POSSIBLE), None)
        if command.currency is not None and command.currency != zvt.CURRENCY_NOK:
            cc = bytes.fromhex(f"{command.currency:04d}")
            return Registered(zvt.Nack(codes.NACK_REGISTRATION_ERROR,
                                       unparsed=bytes([codes.RESULT_WRONG_CURRENCY]) + cc), None)
        state = self.state
        state.registered_config = command.config_byte
        state.tlv_allowed = True
        tlv = command.tlv
        echoed: list[tuple[int, bytes]] = []
        proposed = tlv.find(codes.TAG_CHARSET) if tlv is not None else None
        if isinstance(proposed, bytes) and len(proposed) == 1 and proposed[0] in \
                _ACCEPTED_CHARSETS:
            # Confirm the proposed character set by echoing tag 14 in the Completion.
            state.charset = proposed[0]
            echoed.append((codes.TAG_CHARSET, proposed))
        else:
            state.charset = zvt.CHARSET_CP437
        width = tlv.find(codes.TAG_LINE_WIDTH) if tlv is not None else None
        state.line_width = None
        if isinstance(width, bytes) and len(width) == 1:
            digits = f"{width[0]:02X}"
            if digits.isdigit():
                state.line_width = int(digits)
                echoed.append((codes.TAG_LINE_WIDTH, bytes.fromhex(f"{self.line_width:02d}")))
        state.print_textblock = (self.settings.print_mode == "textblock"
                                 or _permits(tlv, (0x06, 0xD3)))
        completion = zvt.Completion(terminal_id=state.terminal_id,
                                    tlv=zvt.Tlv.of(*echoed) if echoed else None)
        return Registered(zvt.Ack(), completion)

    def log_off(self) -> None:
        self.state.log_off()

    # -- transactions -------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def booking(self, kind: str, amount: int, *, result_code: int, card: Card | None,
                entry: str = "", auth_code: str = "", receipt: int | None = None,
                trace: int, source: str = "ecr", status: str | None = None,
                original: Booking | None = None) -> Booking:
        if status is None:
            status = "approved" if result_code == codes.RESULT_OK else (
                "aborted" if result_code == codes.RESULT_ABORTED else "declined")
        return Booking(
            seq=self.state.next_seq(), kind=kind, status=status, amount=amount,
            result_code=result_code, trace=trace, receipt=receipt,
            at=self.now().isoformat(timespec="seconds"), batch=self.state.batch_number,
            source=source,
            scheme=card.product_name if card else (original.scheme if original else ""),
            card_type=card.card_type if card else (original.card_type if original else None),
            masked_pan=card.masked_pan if card else (original.masked_pan if original else ""),
            expiry=card.expiry if card else (original.expiry if original else ""),
            entry=entry or (original.entry if original else ""),
            auth_code=auth_code,
            original_receipt=original.receipt if original else None,
            original_trace=original.trace if original else None,
        )

    def status_information(self, booking: Booking, *, currency: bool, sync: bool,
                           pin: bool = False) -> zvt.StatusInformation:
        """The 04 0F for a finished payment, refund or reversal (spec 3.1.1)."""
        when = datetime.fromisoformat(booking.at).astimezone(OSLO)
        tlv = None
        if sync and booking.receipt is not None and self.state.tlv_allowed:
            tlv = zvt.Tlv.of((codes.TAG_RECEIPT_SYNC, zvt.receipt_id_bytes(booking.receipt)))
        return zvt.StatusInformation(
            result_code=booking.result_code,
            amount=booking.amount,
            currency=zvt.CURRENCY_NOK if currency else None,
            trace_number=booking.trace,
            receipt_number=booking.receipt,
            original_trace=booking.original_trace,
            masked_pan=booking.masked_pan or None,
            card_type=booking.card_type,
            card_name=booking.scheme or None,
            terminal_id=self.state.terminal_id,
            vu_number=self.state.vu_number,
            date=when.strftime("%m%d"),
            time=when.strftime("%H%M%S"),
            expiry=booking.expiry or None,
            payment_type=(codes.PAYMENT_TYPE_PIN if pin else codes.PAYMENT_TYPE_ONLINE)
            if booking.masked_pan else None,
            aid=booking.auth_code or None,
            tlv=tlv,
        )

    def store(self, booking: Booking, status: zvt.StatusInformation,
              receipts: list[Receipt]) -> None:
        """The ECR confirmed the Status Information: the transaction is final (spec 2.2.8)."""
        state = self.state
        state.batch.append(booking)
        state.record(booking)
        state.in_flight = None
        if booking.receipt is not None:
            state.last_sync_receipt = booking.receipt
        self._remember(status, receipts)

    def _remember(self, status: zvt.StatusInformation, receipts: list[Receipt]) -> None:
        """The last transaction executed, for Repeat Receipt (spec 2.20)."""
        state = self.state
        state.last_status = stored_status(status)
        state.last_receipt = [list(receipt.lines) for receipt in receipts]
        state.last_receipt_types = [receipt.receipt_type for receipt in receipts]

    def last_transaction(self) -> tuple[zvt.StatusInformation | None, list[Receipt]]:
        """What Repeat Receipt repeats: the last stored Status Information, exactly as it was
        sent, and that transaction's receipts (payment copies, or the End-of-Day receipt)."""
        state = self.state
        status = restored_status(state.last_status) if state.last_status is not None else None
        lines = state.last_receipt or []
        types = state.last_receipt_types or []
        return status, [Receipt(kind, tuple(text)) for kind, text in zip(types, lines,
                                                                           strict=True)]

    def undo(self, booking: Booking, status: str) -> Booking:
        """Record a payment that will never be stored (auto-reversal): money back, receipt
        number free again."""
        state = self.state
        undone = replace(booking, status=status)
        state.record(undone)
        state.in_flight = None
        self._release(booking)
        if booking.receipt is not None and state.receipt_number == booking.receipt:
            state.receipt_number = booking.receipt - 1
        return undone

    def implicit_reversal(self) -> Booking | None:
        """Spec chapter 4: the ECR never saw the last transaction; take it out of the batch,
        record its reversal and reuse its receipt number."""
        state = self.state
        last = state.last_sync_receipt
        target = next((b for b in reversed(state.batch) if b.receipt == last), None)
        if target is None:
            return None
        state.batch.remove(target)
        self._release(target)
        reversal = self.booking("reversal", target.amount, result_code=codes.RESULT_OK,
                                card=None, trace=state.next_trace(), original=target,
                                source="terminal")
        state.record(reversal)
        state.receipt_number = target.receipt - 1 if target.receipt else state.receipt_number
        state.last_sync_receipt = target.receipt - 1 if target.receipt else None
        return reversal

    def _release(self, booking: Booking) -> None:
        if booking.status != "approved":
            return
        if booking.kind == "purchase":
            self.issuer.release(booking.masked_pan, booking.amount)
        elif booking.kind == "refund" or booking.kind == "reversal":
            self.issuer.release(booking.masked_pan, -booking.amount)

    def recover_after_power_cut(self) -> Booking | None:
        """Power is back: a payment that was in flight was never confirmed; reverse it."""
        booking = self.state.in_flight
        if booking is None:
            return None
        return self.undo(booking, "auto_reversed")

    def totals(self) -> Totals:
        return totals(self.state.batch)

    def close_batch(self, status: zvt.StatusInformation, receipt: Receipt) -> None:
        """The ECR confirmed the End-of-Day's Status Information: the turnover went to the
        host, a new batch begins, and the End-of-Day is the last transaction executed."""
        self.state.batch.clear()
        self.state.batch_number += 1
        self._remember(status, [receipt])

    def status_enquiry_completion(self, service_byte: int | None) -> zvt.Completion:
        with_version = not (service_byte or 0) & codes.ENQUIRY_NO_SW_VERSION
        return zvt.Completion(sw_version=SOFTWARE_VERSION if with_version else None,
                              terminal_status=codes.TERMINAL_READY)


def _permits(tlv: zvt.Tlv | None, command: tuple[int, int]) -> bool:
    """Whether the ECR's list of permitted commands (tag 26 with 0A entries) holds `command`."""
    if tlv is None:
        return False
    wanted = bytes(command)
    for container in tlv.find_all(codes.TAG_PERMITTED_COMMANDS):
        if isinstance(container, zvt.Tlv) and wanted in container.find_all(codes.TAG_ZVT_COMMAND):
            return True
    return False
