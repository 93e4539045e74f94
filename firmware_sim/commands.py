"""One ECR command, start to finish: check it, answer 80 00 / 84 xx, run its flow.

Card transactions live in `flows.py`; this module dispatches and runs the administrative
commands: Registration, Log-Off, Abort, Status Enquiry, End-of-Day, Diagnosis and Repeat
Receipt. Faults that strike before the terminal answers (busy, unknown command, late answer)
are applied here, once per command.
"""

from __future__ import annotations

import trio

from firmware_sim import codes, display
from firmware_sim.batch import bmp60, find_reversible
from firmware_sim.faults import FaultKind, Step
from firmware_sim.flows import CardFlows
from firmware_sim.port import gone
from firmware_sim.receipts import OSLO, Receipt, diagnosis_receipt, end_of_day_receipt
from gateway.protocols import zvt
from medipay.logs import get_logger

log = get_logger(__name__)

# Between two 84 9C of the busy fault: well inside T3, as a terminal that is busy would do.
BUSY_INTERVAL = 2.0
DEFAULT_DIAGNOSIS = 0x02  # extended diagnosis, the spec's default for tag 1B


class CommandRunner(CardFlows):
    async def handle(self, command: zvt.Message) -> None:
        plan = self.device.faults
        await self.step(Step.COMMAND)
        if plan.take(FaultKind.UNKNOWN_COMMAND) is not None:
            log.info("sim.fault", kind="unknown_command", command=type(command).__name__)
            await self.port.respond(zvt.Nack(zvt.NOT_SUPPORTED))
            return
        if (busy := plan.take(FaultKind.BUSY)) is not None:
            log.info("sim.fault", kind="busy", times=busy.times)
            for _ in range(busy.times):
                await self.port.respond(zvt.Nack(zvt.PLEASE_WAIT))
                await trio.sleep(busy.seconds or BUSY_INTERVAL)
        await self.dispatch(command)

    async def dispatch(self, command: zvt.Message) -> None:
        handlers = {
            zvt.Registration: self.registration,
            zvt.Authorization: self.authorization,
            zvt.Refund: self.refund,
            zvt.Reversal: self.reverse,
            zvt.EndOfDay: self.end_of_day,
            zvt.Diagnosis: self.diagnosis,
            zvt.StatusEnquiry: self.status_enquiry,
            zvt.RepeatReceipt: self.repeat_receipt,
            zvt.LogOff: self.log_off,
            zvt.Abort: self.abort_when_idle,
            zvt.PrintLine: self.print_from_ecr,
            zvt.PrintTextBlock: self.print_from_ecr,
        }
        handler = handlers.get(type(command))
        if handler is None:
            log.info("sim.unsupported_command", command=repr(command)[:80])
            await self.port.respond(zvt.reply_to_unsupported(command))
            return
        await handler(command)  # type: ignore[operator]

    async def ack(self) -> None:
        await self.port.respond(zvt.Ack())
        await self.step(Step.ACK)

    def _password_ok(self, command: zvt.Message) -> bool:
        return self.engine.password_ok(getattr(command, "password", None))

    async def _resync(self, command: zvt.Message) -> bool:
        """Chapter 4: act on the 1F1F the command carries; True if it carries one."""
        mirrored = zvt.requested_sync(command)
        verdict = zvt.classify_receipt_sync(mirrored, self.engine.state.last_sync_receipt)
        if verdict is zvt.ReceiptSync.IMPLICIT_REVERSAL:
            reversal = self.engine.implicit_reversal()
            self.save()
            log.info("sim.implicit_reversal", original=reversal and reversal.original_receipt)
            await self.port.status(codes.STATUS_AUTO_REVERSAL)
        return mirrored is not None

    # -- Registration, Log-Off, Abort -------------------------------------------------------

    async def registration(self, command: zvt.Registration) -> None:
        registered = self.engine.register(command)
        self.save()
        await self.port.respond(registered.response)
        if registered.completion is not None:
            await self.step(Step.COMPLETION)
            await self.port.command(registered.completion)

    async def log_off(self, command: zvt.LogOff) -> None:
        self.engine.log_off()
        self.save()
        await self.port.respond(zvt.Ack())

    async def abort_when_idle(self, command: zvt.Abort) -> None:
        """An Abort while the ECR is master: nothing runs, so there is nothing to stop."""
        await self.port.respond(zvt.Ack())

    async def print_from_ecr(self, command: zvt.Message) -> None:
        """Print Line / Text-Block the other way round: the ECR prints on our printer."""
        if isinstance(command, zvt.PrintLine):
            lines: tuple[str, ...] = (command.text,)
        else:
            assert isinstance(command, zvt.PrintTextBlock)
            lines = tuple(command.lines())
        self.device.print_receipt(Receipt(codes.RECEIPT_ADMIN, lines), "terminal")
        await self.port.respond(zvt.Ack())

    # -- payments -----------------------------------------------------------------------------

    async def _payment_checks(self, command: zvt.Authorization | zvt.Refund) -> bool:
        engine = self.engine
        if engine.settings.require_registration and engine.state.registered_config is None:
            await self.port.respond(zvt.Nack(codes.RESULT_NOT_REGISTERED))
            return False
        if not self._password_ok(command) or command.amount is None or command.amount <= 0:
            # Amount entry on the terminal is not possible while an ECR drives it.
            await self.port.respond(zvt.Nack(codes.RESULT_FUNCTION_NOT_POSSIBLE))
            return False
        return True

    async def _wrong_currency(self, command: zvt.Authorization | zvt.Refund) -> bool:
        if command.currency in (None, zvt.CURRENCY_NOK):
            return False
        await self.ack()
        cc = bytes.fromhex(f"{zvt.CURRENCY_NOK:04d}")  # 06 1E 6F <CC>: our currency (2.2.9)
        self.show("FEIL VALUTA")
        await self.port.command(zvt.AbortFromTerminal(result_code=codes.RESULT_WRONG_CURRENCY,
                                                      unparsed=cc))
        self.show(*display.IDLE)
        return True

    async def authorization(self, command: zvt.Authorization) -> None:
        if not await self._payment_checks(command) or await self._wrong_currency(command):
            return
        await self.ack()
        sync = await self._resync(command)
        assert command.amount is not None
        await self.card_transaction("purchase", command.amount,
                                    currency=command.currency is not None, sync=sync,
                                    max_infos=command.max_status_infos)

    async def refund(self, command: zvt.Refund) -> None:
        if not await self._payment_checks(command) or await self._wrong_currency(command):
            return
        await self.ack()
        sync = await self._resync(command)
        assert command.amount is not None
        await self.card_transaction("refund", command.amount,
                                    currency=command.currency is not None, sync=sync)

    async def reverse(self, command: zvt.Reversal) -> None:
        if not self._password_ok(command):
            await self.port.respond(zvt.Nack(codes.RESULT_FUNCTION_NOT_POSSIBLE))
            return
        await self.ack()
        sync = await self._resync(command)
        target = find_reversible(self.engine.state.batch, command.receipt_number,
                                 command.amount)
        if isinstance(target, int):
            log.info("sim.reversal_refused", receipt=command.receipt_number, code=target)
            await self.abort(target)
            return
        await self.reversal(target, currency=command.currency is not None, sync=sync)

    # -- administration -----------------------------------------------------------------------

    async def status_enquiry(self, command: zvt.StatusEnquiry) -> None:
        if not self._password_ok(command):
            await self.port.respond(zvt.Nack(codes.RESULT_FUNCTION_NOT_POSSIBLE))
            return
        await self.ack()
        await self.step(Step.COMPLETION)
        await self.port.command(self.engine.status_enquiry_completion(command.service_byte))

    async def end_of_day(self, command: zvt.EndOfDay) -> None:
        engine = self.engine
        if not self._password_ok(command):
            await self.port.respond(zvt.Nack(codes.RESULT_FUNCTION_NOT_POSSIBLE))
            return
        await self.ack()
        await self._resync(command)
        self.show("DAGSOPPGJØR", display.PLEASE_WAIT)
        await self.port.status(codes.STATUS_PLEASE_WAIT)
        await trio.sleep(engine.settings.host_delay)
        await self.step(Step.HOST)
        if not engine.settings.host_online:
            await self.abort(codes.RESULT_COMMUNICATION_FAULT)
            return
        summary = engine.totals()
        now = engine.now()
        local = now.astimezone(OSLO)
        trace = engine.state.next_trace()
        status = zvt.StatusInformation(
            amount=summary.amount, trace_number=trace, time=local.strftime("%H%M%S"),
            date=local.strftime("%m%d"), individual_totals=bmp60(summary))
        receipt = end_of_day_receipt(summary, engine.merchant, now, engine.state.batch_number,
                                     trace, width=engine.line_width)
        answer = await self.confirm_status(status, None)
        if not answer.confirmed:
            # The host has the turnover, but the ECR never heard: keep the batch open, so
            # the next End-of-Day reports it again rather than losing it from the ECR's books.
            log.info("sim.end_of_day_unconfirmed", why=answer.kind.value)
            self.save()
            if not gone(answer):
                await self.abort(codes.RESULT_ABORTED)
            return
        engine.close_batch(status, receipt)
        self.save()
        self.show("DAGSOPPGJØR", "OPPGJØR OK")
        await self.step(Step.PRINT)
        await self.port.print_receipts([receipt], admin=True)
        await self.step(Step.COMPLETION)
        await self.port.command(zvt.Completion())
        self.show(*display.IDLE)

    async def diagnosis(self, command: zvt.Diagnosis) -> None:
        engine = self.engine
        await self.ack()
        wanted = command.tlv.find(codes.TAG_DIAGNOSIS_TYPE) if command.tlv else None
        kind = wanted[0] if isinstance(wanted, bytes) and wanted else DEFAULT_DIAGNOSIS
        self.show("DIAGNOSE", display.PLEASE_WAIT)
        await self.port.status(codes.STATUS_PLEASE_WAIT)
        await trio.sleep(engine.settings.host_delay)
        await self.step(Step.HOST)
        online = engine.settings.host_online
        now = engine.now()
        receipt = diagnosis_receipt(engine.merchant, now, kind, online, width=engine.line_width)
        if online:
            local = now.astimezone(OSLO)
            # 2.17.4: the host's date and time go on to the ECR.
            await self.port.command(zvt.SetDateTimeInEcr(date=local.strftime("%y%m%d"),
                                                         time=local.strftime("%H%M%S")))
        await self.step(Step.PRINT)
        await self.port.print_receipts([receipt], admin=True)
        if online:
            await self.step(Step.COMPLETION)
            await self.port.command(zvt.Completion())
            self.show(*display.IDLE)
        else:
            await self.abort(codes.RESULT_COMMUNICATION_FAULT)

    async def repeat_receipt(self, command: zvt.RepeatReceipt) -> None:
        """2.20: the last transaction executed again. Its Status Information (service byte
        bit 0) goes out "as in the original transaction": the same bytes, with the original
        trace number, date and time, 1F1F and, after an End-of-Day, its totals (BMP 04, 60).
        Its receipts (unless bit 1) are printed again, each headed `*** KOPI ***`."""
        engine = self.engine
        if not engine.settings.repeat_receipt:
            log.info("sim.repeat_receipt_not_supported")
            await self.port.respond(zvt.reply_to_unsupported(command))
            return
        if not self._password_ok(command):
            await self.port.respond(zvt.Nack(codes.RESULT_FUNCTION_NOT_POSSIBLE))
            return
        await self.ack()
        status, receipts = engine.last_transaction()
        if status is None and not receipts:
            await self.abort(codes.RESULT_FUNCTION_NOT_POSSIBLE)
            return
        service = command.service_byte or 0
        if service & codes.REPEAT_WITH_STATUS and status is not None:
            # Acknowledged or not, a repeat changes nothing: the transaction was stored.
            answer = await self.port.command(status)
            if gone(answer):
                return
        if not service & codes.REPEAT_NO_PRINT and receipts:
            copies = [Receipt(r.receipt_type, ("*** KOPI ***", *r.lines)) for r in receipts]
            await self.port.print_receipts(copies, admin=copies[0].is_admin)
        await self.step(Step.COMPLETION)
        await self.port.command(zvt.Completion())
