"""Card transactions as the terminal runs them: payment, refund and reversal (spec 2.2, 2.9,
2.15), with the customer at the card reader and the PIN pad, and the ECR on the line.

The order follows the spec's authorisation sequence: 80 00, read card, PIN, host, Status
Information, receipt, Completion (or Abort). A transaction is stored only once the ECR
acknowledged its Status Information (2.2.8). If it does not, the terminal reverses the payment
itself, unless the ECR uses the 1F1F receipt-number resync (chapter 4): then the terminal
keeps it and lets the ECR's next transaction command decide.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import trio

from firmware_sim import codes, display
from firmware_sim.cards import Card
from firmware_sim.customers import Customer, PinResult
from firmware_sim.faults import FaultKind, Step
from firmware_sim.link import Answer, AnswerKind
from firmware_sim.port import EcrPort, gone
from firmware_sim.receipts import OSLO, REFUSAL_TEXTS, Receipt, transaction_receipts
from firmware_sim.state import Booking
from gateway.protocols import zvt
from medipay.logs import get_logger

if TYPE_CHECKING:
    from firmware_sim.device import SimTerminal

log = get_logger(__name__)
T = TypeVar("T")

# 2.2.6: after 84 9C the terminal repeats its Status Information after 2 seconds.
STATUS_REPEAT_DELAY = 2.0
# An APDU no ECR is required to know (class 04, an unassigned instruction), for the
# unknown-APDU fault; the spec's answer to it is 84 83, some ECRs just acknowledge.
UNKNOWN_APDU = zvt.RawApdu(0x04, 0xEE, b"\x01")
_REFUSAL_STATUS = {
    codes.RESULT_INSUFFICIENT_FUNDS: codes.STATUS_CREDIT_NOT_SUFFICIENT,
    codes.RESULT_LIMIT_EXCEEDED: codes.STATUS_LIMIT_NOT_SUFFICIENT,
    codes.RESULT_CARD_EXPIRED: codes.STATUS_EXPIRED_CARD,
    codes.RESULT_PIN_TRIES_EXCEEDED: codes.STATUS_PIN_TRIES_EXCEEDED,
}


@dataclass(frozen=True)
class CardRead:
    card: Card | None
    entry: str  # contactless, chip, or "" without a card
    customer: Customer | None
    result: int  # RESULT_OK, or why the transaction cannot go on


class CardFlows:
    def __init__(self, device: SimTerminal, port: EcrPort) -> None:
        self.device = device
        self.engine = device.engine
        self.port = port
        self.show = device.display.show

    # -- shared helpers -----------------------------------------------------------------------

    async def step(self, step: Step) -> None:
        """Where step faults strike (faults.py)."""
        plan = self.device.faults
        plan.reached(step)
        if (fault := plan.take(FaultKind.DELAY, step)) is not None:
            log.info("sim.fault", kind="delay", step=step.value, seconds=fault.seconds)
            await trio.sleep(fault.seconds)
        if plan.take(FaultKind.UNKNOWN_APDU, step) is not None and not self.port.standalone:
            log.info("sim.fault", kind="unknown_apdu", step=step.value)
            await self.port.command(UNKNOWN_APDU)
        if plan.take(FaultKind.DISCONNECT, step) is not None and not self.port.standalone:
            log.info("sim.fault", kind="disconnect", step=step.value)
            await self.port.close(f"fault: disconnect at {step.value}")
        if (fault := plan.take(FaultKind.POWER_CUT, step)) is not None:
            log.info("sim.fault", kind="power_cut", step=step.value)
            self.device.cut_power(fault.restart_after)
            await trio.sleep_forever()  # the power scope cancels us

    def save(self) -> None:
        self.device.persist()

    async def until_abort(self, work: Callable[[], Awaitable[T]]) -> T | None:
        """Run `work` while the ECR may abort it (06 B0); None if it did."""
        result: T | None = None
        self.port.set_abortable(True)
        try:
            async with trio.open_nursery() as nursery:
                async def run() -> None:
                    nonlocal result
                    result = await work()
                    nursery.cancel_scope.cancel()

                async def watch() -> None:
                    await self.port.abort_requested.wait()
                    nursery.cancel_scope.cancel()

                nursery.start_soon(run)
                nursery.start_soon(watch)
        finally:
            self.port.set_abortable(False)
        return result

    async def abort(self, code: int) -> None:
        """End the command with Abort (06 1E)."""
        self.show(display.CANCELLED if code == codes.RESULT_ABORTED else
                  codes_text(code))
        await self.step(Step.COMPLETION)
        await self.port.command(zvt.AbortFromTerminal(result_code=code))
        self.show(*display.IDLE)

    async def confirm_status(self, status: zvt.StatusInformation,
                             max_infos: int | None) -> Answer:
        """Send the Status Information until the ECR answers something other than 84 9C
        (or more 84 9C than the Authorization's <max. status-infos> allows)."""
        waits = 0
        while True:
            await self.step(Step.STATUS)
            answer = await self.port.command(status, after_send=lambda: self.step(
                Step.STATUS_SENT))
            if answer.kind is not AnswerKind.PLEASE_WAIT:
                return answer
            waits += 1
            if max_infos is not None and waits > max_infos:
                return answer
            await trio.sleep(STATUS_REPEAT_DELAY)

    # -- the card -----------------------------------------------------------------------------

    async def read_card(self, amount: int, kind: str) -> CardRead:
        """Wait for the customer's card and look at it."""
        self.show(display.amount_line(amount, kind), display.PRESENT_CARD)
        await self.port.status(codes.STATUS_INSERT_CARD)
        settings = self.engine.settings
        event = await self.until_abort(
            lambda: self.engine.desk.next_card(settings.card_timeout))
        if event is None or event.customer is None:
            return CardRead(None, "", None, codes.RESULT_ABORTED)
        customer = event.customer
        card = customer.card or self.engine.default_card
        over_limit = amount > settings.contactless_limit
        entry = "contactless" if card.contactless and not customer.insert and not over_limit \
            else "chip"
        if card.contactless and over_limit and not customer.insert:
            self.show(display.amount_line(amount, kind), display.INSERT_CARD)
        await self.step(Step.CARD)
        if _expired(card.expiry, self.engine.now()):
            return CardRead(card, entry, customer, codes.RESULT_CARD_EXPIRED)
        return CardRead(card, entry, customer, codes.RESULT_OK)

    async def verify_pin(self, card: Card, customer: Customer) -> int:
        """PIN entry with retries; RESULT_OK or why not."""
        settings = self.engine.settings
        for attempt in range(settings.pin_tries):
            self.show(display.ENTER_PIN)
            await self.port.status(codes.STATUS_WATCH_PIN_PAD)
            entered = await self.until_abort(functools.partial(
                self.engine.desk.read_pin, customer, card, attempt, settings.pin_timeout))
            if entered is None or entered[0] is not PinResult.ENTERED:
                return codes.RESULT_ABORTED
            if entered[1] == card.pin:
                await self.step(Step.PIN)
                return codes.RESULT_OK
            self.show(display.WRONG_PIN)
            await self.port.status(codes.STATUS_PIN_WRONG)
        return codes.RESULT_PIN_TRIES_EXCEEDED

    async def release_card(self, entry: str) -> None:
        """2.2.5: an inserted card comes out before the Status Information."""
        if entry == "chip":
            self.show(display.REMOVE_CARD)
            await self.port.status(codes.STATUS_REMOVE_CARD)

    # -- payment and refund -------------------------------------------------------------------

    async def card_transaction(self, kind: str, amount: int, *, currency: bool = True,
                               sync: bool = False, max_infos: int | None = None,
                               source: str = "ecr") -> Booking:
        """Payment ("purchase") or refund after the 80 00: the customer's side, the host,
        then the result to the ECR. Returns what the terminal recorded."""
        state = self.engine.state
        trace = state.next_trace()
        self.save()
        read = await self.read_card(amount, kind)
        card, entry = read.card, read.entry
        verdict = read.result
        pin = entry == "chip" and kind == "purchase"
        if verdict == codes.RESULT_OK and pin:
            assert card is not None and read.customer is not None
            verdict = await self.verify_pin(card, read.customer)
        if verdict == codes.RESULT_ABORTED:
            booking = self.engine.booking(kind, amount, result_code=verdict, card=card,
                                          entry=entry, trace=trace, source=source)
            state.record(booking)
            self.save()
            await self.abort(verdict)
            return booking
        if verdict != codes.RESULT_OK or card is None:
            return await self.refuse(kind, amount, verdict, card, entry, trace, currency,
                                     source)
        self.show(display.amount_line(amount, kind), display.CONNECTING)
        await self.port.status(codes.STATUS_WAITING_FOR_HOST)
        await trio.sleep(self.engine.settings.host_delay)
        await self.step(Step.HOST)
        if not self.engine.settings.host_online:
            return await self.refuse(kind, amount, codes.RESULT_COMMUNICATION_FAULT, card,
                                     entry, trace, currency, source)
        issuer = self.engine.issuer
        decision = issuer.authorize(card, amount) if kind == "purchase" else \
            issuer.refund(card, amount)
        if not decision.approved:
            return await self.refuse(kind, amount, decision.result_code, card, entry, trace,
                                     currency, source)
        booking = self.engine.booking(kind, amount, result_code=codes.RESULT_OK, card=card,
                                      entry=entry, auth_code=decision.auth_code,
                                      receipt=state.next_receipt(), trace=trace, source=source)
        state.in_flight = booking  # written before the ECR hears of it: see state.py
        self.save()
        await self.release_card(entry)
        return await self.finish(booking, currency=currency, sync=sync, pin=pin,
                                 max_infos=max_infos)

    async def refuse(self, kind: str, amount: int, code: int, card: Card | None, entry: str,
                     trace: int, currency: bool, source: str) -> Booking:
        """A declined transaction: Status Information with the reason, receipt, Abort."""
        status_code = _REFUSAL_STATUS.get(code, codes.STATUS_DECLINED)
        self.show(codes_text(code))
        await self.port.status(status_code)
        await self.release_card(entry)
        booking = self.engine.booking(kind, amount, result_code=code, card=card, entry=entry,
                                      trace=trace, source=source)
        self.engine.state.record(booking)
        self.save()
        status = self.engine.status_information(booking, currency=currency, sync=False)
        await self.step(Step.STATUS)
        answer = await self.port.command(status, after_send=lambda: self.step(Step.STATUS_SENT))
        if not gone(answer):
            await self.step(Step.PRINT)
            await self.port.print_receipts(self.receipts(booking), admin=False)
            await self.abort(code)
        return booking

    def receipts(self, booking: Booking, copy: bool = False) -> list[Receipt]:
        return transaction_receipts(booking, self.engine.merchant,
                                    datetime.fromisoformat(booking.at),
                                    card_name=booking.scheme or "KORT",
                                    width=self.engine.line_width, copy=copy)

    async def finish(self, booking: Booking, *, currency: bool, sync: bool, pin: bool,
                     max_infos: int | None) -> Booking:
        """An approved transaction: the ECR must confirm its Status Information."""
        engine = self.engine
        status = engine.status_information(booking, currency=currency, sync=sync, pin=pin)
        if max_infos is None:
            max_infos = engine.settings.max_status_infos
        answer = await self.confirm_status(status, max_infos)
        receipts = self.receipts(booking)
        if answer.confirmed:
            engine.store(booking, status, receipts)
            self.save()
            self.show(display.APPROVED)
            await self.step(Step.STORED)
            await self.step(Step.PRINT)
            await self.port.print_receipts(receipts, admin=False)
            await self.step(Step.COMPLETION)
            await self.port.command(zvt.Completion())
            self.show(*display.IDLE)
            return booking
        if gone(answer) and engine.settings.keep_unconfirmed(sync):
            # Chapter 4: with 1F1F the terminal does not reverse on a communication problem;
            # the ECR's next transaction command says whether it saw this one.
            log.info("sim.status_unconfirmed_kept", receipt=booking.receipt, why=answer.detail)
            engine.store(booking, status, receipts)
            self.save()
            await self._end_after(answer)
            return booking
        log.info("sim.auto_reversal", receipt=booking.receipt, why=answer.kind.value,
                 detail=answer.detail)
        undone = engine.undo(booking, "auto_reversed")
        self.save()
        self.show(display.REVERSED)
        if not gone(answer):
            if answer.kind is AnswerKind.PLEASE_WAIT:  # 84 9C more often than allowed
                aborted = zvt.StatusInformation(result_code=codes.RESULT_ABORTED)
                await self.port.command(aborted)
            await self.port.status(codes.STATUS_AUTO_REVERSAL)
            await self.abort(codes.RESULT_ABORTED)
        else:
            await self._end_after(answer)
        return undone

    async def _end_after(self, answer: Answer) -> None:
        """The dialog broke off: on TCP the spec says close the socket after T3."""
        if answer.kind is AnswerKind.TIMEOUT:
            await self.port.close("no answer within T3")
        self.show(*display.IDLE)

    # -- reversal (06 30) ---------------------------------------------------------------------

    async def reversal(self, target: Booking, *, currency: bool, sync: bool) -> Booking:
        engine = self.engine
        state = engine.state
        self.show(display.amount_line(target.amount, "reversal"), display.PLEASE_WAIT)
        await self.port.status(codes.STATUS_PLEASE_WAIT)
        trace = state.next_trace()
        await self.port.status(codes.STATUS_WAITING_FOR_HOST)
        await trio.sleep(engine.settings.host_delay)
        await self.step(Step.HOST)
        if not engine.settings.host_online:
            booking = engine.booking("reversal", target.amount,
                                     result_code=codes.RESULT_COMMUNICATION_FAULT, card=None,
                                     trace=trace, original=target)
            state.record(booking)
            self.save()
            await self.abort(codes.RESULT_COMMUNICATION_FAULT)
            return booking
        engine.issuer.release(target.masked_pan, target.amount)
        booking = engine.booking("reversal", target.amount, result_code=codes.RESULT_OK,
                                 card=None, trace=trace, receipt=state.next_receipt(),
                                 original=target)
        state.in_flight = booking
        self.save()
        return await self.finish(booking, currency=currency, sync=sync, pin=False,
                                 max_infos=None)


def codes_text(code: int) -> str:
    return REFUSAL_TEXTS.get(code, f"AVVIST ({code:02X})")


def _expired(expiry: str, now: datetime) -> bool:
    """Cards are valid to the end of their expiry month (YYMM)."""
    local = now.astimezone(OSLO)
    return expiry < local.strftime("%y%m")


__all__ = ["CardFlows", "CardRead"]
