"""The terminal's flows over real TCP against the gateway's ECR driver and the scripted ECR:
registration, payments with the customers' behaviours, refund, reversal, End-of-Day,
diagnosis, status enquiry, log-off, repeat receipt, abort."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from firmware_sim import codes
from firmware_sim.batch import totals
from firmware_sim.cards import find_card
from firmware_sim.clocks import TrioClock
from firmware_sim.customers import Customer, Moment
from firmware_sim.ecr import Ecr
from firmware_sim.engine import TerminalEngine
from firmware_sim.state import load_state
from firmware_sim.tcp_server import TcpTerminal
from gateway.operations import classify
from gateway.protocols import zvt
from gateway.terminal import TerminalRejected, ZvtTerminal

from .conftest import SimOnTcp, make_device, pay, start_tcp


def card(sim: SimOnTcp, name: str):  # type: ignore[no-untyped-def]
    return find_card(sim.engine.deck, name)


async def test_gateway_registers_and_pays_contactless(sim: SimOnTcp, autojump_clock):
    gateway = sim.gateway()
    outcome = classify(await gateway.run(pay(12345)))
    assert outcome.status == "approved" and outcome.result_code == 0
    assert outcome.receipt_number == 1 and outcome.trace_number == 1
    assert outcome.masked_pan == "411111******1111"
    assert "BELØP NOK 123,45" in outcome.receipt_lines  # ISO 8859-15 was negotiated
    assert "KUNDENS KVITTERING" in " ".join(outcome.receipt_lines)
    state = sim.engine.state
    assert state.registered_config == 0xBE and state.charset == zvt.CHARSET_ISO_8859_15
    assert [b.receipt for b in state.batch] == [1]
    shown = sim.device.display.texts()
    assert shown.index("HOLD KORTET INNTIL") < shown.index("KOBLER TIL ...") \
        < shown.index("GODKJENT")


async def test_status_information_carries_the_transaction(sim: SimOnTcp, autojump_clock):
    ecr = await sim.ecr()
    result = await ecr.pay(5000)
    status = result.status_info
    assert result.status == "approved" and status is not None
    assert status.amount == 5000 and status.currency == zvt.CURRENCY_NOK
    assert status.terminal_id == "52500001" and status.vu_number == "NO0123456789012"
    assert status.card_type == 10 and status.card_name == "VISA"
    assert status.expiry == "2812" and status.payment_type == codes.PAYMENT_TYPE_ONLINE
    assert len(status.aid or "") == 6  # the authorisation code
    assert (status.date, status.time) == ("0105", "090000")  # Oslo time, virtual clock
    # Intermediate status because the config byte asked for it (0x08).
    assert result.intermediate == [codes.STATUS_INSERT_CARD, codes.STATUS_WAITING_FOR_HOST]


async def test_wrong_pin_twice_then_right_takes_the_customers_time(sim, autojump_clock):
    ecr = await sim.ecr()
    sim.engine.desk.add(Customer(card=card(sim, "bankaxept"), present_after=4.0,
                                 pins=("1111", "2222", "4321"), pin_seconds=5.0))
    start = trio.current_time()
    result = await ecr.pay(20000)
    assert result.status == "approved"
    assert trio.current_time() - start == pytest.approx(4.0 + 3 * 5.0)
    assert result.intermediate.count(codes.STATUS_PIN_WRONG) == 2
    assert result.status_info.payment_type == codes.PAYMENT_TYPE_PIN
    assert "Brikke" in result.receipt_lines


@pytest.mark.parametrize(("customer", "code", "status", "shown"), [
    ({"pins": ("0000", "0000", "0000")}, codes.RESULT_PIN_TRIES_EXCEEDED,
     codes.STATUS_PIN_TRIES_EXCEEDED, "FOR MANGE FEIL PIN"),
    ({"cancel": Moment.CARD}, codes.RESULT_ABORTED, None, "AVBRUTT"),
    ({"cancel": Moment.PIN}, codes.RESULT_ABORTED, None, "AVBRUTT"),
    ({"walk_away": Moment.CARD}, codes.RESULT_ABORTED, None, "AVBRUTT"),
    ({"walk_away": Moment.PIN}, codes.RESULT_ABORTED, None, "AVBRUTT"),
])
async def test_customer_behaviours_end_with_the_spec_codes(sim, autojump_clock, customer, code,
                                                           status, shown):
    ecr = await sim.ecr()
    sim.engine.desk.add(Customer(card=card(sim, "bankaxept"), **customer))
    result = await ecr.pay(20000)
    assert result.result_code == code
    assert result.status == ("aborted" if code == codes.RESULT_ABORTED else "declined")
    assert result.aborted is not None and result.aborted.result_code == code
    if status is not None:
        assert status in result.intermediate
    assert shown in sim.device.display.texts()
    assert sim.engine.state.batch == []
    assert sim.engine.state.journal[-1].result_code == code


async def test_walking_away_costs_the_card_timeout(sim, autojump_clock):
    ecr = await sim.ecr()
    sim.engine.desk.add(Customer(walk_away=Moment.CARD))
    start = trio.current_time()
    result = await ecr.pay(1000)
    assert result.result_code == codes.RESULT_ABORTED
    assert trio.current_time() - start == pytest.approx(sim.engine.settings.card_timeout)


@pytest.mark.parametrize(("name", "amount", "code", "text"), [
    ("visa-low", 12345, codes.RESULT_INSUFFICIENT_FUNDS, "IKKE DEKNING"),
    ("visa-declined", 1000, codes.RESULT_DECLINED, "AVVIST AV KORTUTSTEDER"),
    ("mastercard-blocked", 1000, codes.RESULT_CARD_BLOCKED, "KORTET ER SPERRET"),
    ("maestro-expired", 1000, codes.RESULT_CARD_EXPIRED, "KORTET ER UTLØPT"),
    ("mastercard-limit", 150_000, codes.RESULT_LIMIT_EXCEEDED, "OVER GRENSEN FOR KORTET"),
])
async def test_issuer_refusals(sim, autojump_clock, name, amount, code, text):
    gateway = sim.gateway()
    sim.engine.present([card(sim, name)])
    outcome = classify(await gateway.run(pay(amount)))
    assert outcome.status == "declined" and outcome.result_code == code
    assert outcome.receipt_number is None
    assert text in outcome.receipt_lines and "IKKE BELASTET" in outcome.receipt_lines
    assert sim.engine.state.batch == []


async def test_ecr_abort_while_waiting_for_the_card(sim, autojump_clock):
    ecr = await sim.ecr()
    sim.engine.desk.add(Customer(present_after=30.0))
    start = trio.current_time()
    result = await ecr.pay(1000, abort_after=3.0)
    assert result.status == "aborted" and result.result_code == codes.RESULT_ABORTED
    assert ecr.conn.state is zvt.State.IDLE
    assert trio.current_time() - start == pytest.approx(3.0)
    assert (await ecr.pay(1000)).status == "approved"  # the abort is not remembered


async def test_refund_and_reversal_and_end_of_day(sim, autojump_clock):
    gateway = sim.gateway()
    first = classify(await gateway.run(pay(10000)))
    sim.engine.present([card(sim, "mastercard")])
    second = classify(await gateway.run(pay(2500)))
    refund = classify(await gateway.run(zvt.Refund(amount=700)))
    assert (first.status, second.status, refund.status) == ("approved",) * 3
    assert "RETUR" in refund.receipt_lines

    undo = await gateway.run(zvt.Reversal(receipt_number=first.receipt_number))
    reversal = classify(undo)
    assert reversal.status == "approved" and reversal.receipt_number == 4
    assert "ANNULLERING" in reversal.receipt_lines
    assert undo.status is not None and undo.status.original_trace == first.trace_number
    again = classify(await gateway.run(zvt.Reversal(receipt_number=first.receipt_number)))
    assert again.status == "declined" and again.result_code == codes.RESULT_ALREADY_REVERSED
    missing = classify(await gateway.run(zvt.Reversal(receipt_number=99)))
    assert missing.result_code == codes.RESULT_REVERSAL_NOT_POSSIBLE

    summary = totals(sim.engine.state.batch)
    assert (summary.count, summary.amount) == (1, 2500)
    conversation = await gateway.run(zvt.EndOfDay())
    status = conversation.status
    assert status is not None and status.result_code == 0 and status.amount == 2500
    turnover = status.turnover_totals()
    assert turnover is not None
    assert (turnover.first_receipt, turnover.last_receipt) == (1, 4)
    assert turnover.eurocard == (1, 2500) and turnover.visa == (0, 0)
    assert "DAGSOPPGJØR" in conversation.receipt_lines
    assert sim.engine.state.batch == [] and sim.engine.state.batch_number == 2
    # After End-of-Day nothing of the old batch can be reversed.
    late = classify(await gateway.run(zvt.Reversal(receipt_number=second.receipt_number)))
    assert late.result_code == codes.RESULT_REVERSAL_NOT_POSSIBLE


async def test_reversal_with_the_wrong_amount_is_refused(sim, autojump_clock):
    ecr = await sim.ecr()
    paid = await ecr.pay(4000)
    result = await ecr.reverse(paid.receipt_number, amount=3999)
    assert result.result_code == codes.RESULT_AMOUNT_WRONG
    assert (await ecr.reverse(paid.receipt_number, amount=4000)).status == "approved"


async def test_diagnosis_sends_date_time_and_a_receipt(sim, autojump_clock):
    ecr = await sim.ecr()
    result = await ecr.diagnosis()
    assert result.status == "done"
    assert [type(m) for m in result.others] == [zvt.SetDateTimeInEcr]
    assert result.others[0].date == "260105"
    assert "DIAGNOSE OK" in result.receipt_lines


async def test_status_enquiry_answers_with_version_and_status(sim, autojump_clock):
    ecr = await sim.ecr(register=False)
    result = await ecr.status_enquiry()
    assert result.status == "done" and result.completion is not None
    assert result.completion.terminal_status == codes.TERMINAL_READY
    assert result.completion.sw_version == "MEDIPAY-SIM 1.0"


async def test_log_off_resets_the_config_byte(sim, autojump_clock):
    ecr = await sim.ecr()
    assert (await ecr.log_off()).status == "done"
    assert sim.engine.state.registered_config == codes.CONFIG_AFTER_LOG_OFF
    result = await ecr.pay(1000)
    assert result.status == "approved"
    assert result.intermediate == []  # 86 has no intermediate-status bit
    assert result.status_info.tlv is None  # no TLV after Log-Off


async def test_repeat_receipt_sends_the_last_status_again(sim, autojump_clock):
    ecr = await sim.ecr()
    paid = await ecr.pay(3000)
    again = await ecr.repeat_receipt()
    assert again.status == "approved"
    assert again.status_info.receipt_number == paid.receipt_number
    assert again.status_info.amount == 3000
    assert "*** KOPI ***" in again.receipt_lines
    quiet = await ecr.repeat_receipt(service_byte=0x02)  # no status, no print
    assert quiet.status == "done" and quiet.receipt_lines == []


async def test_payment_before_registration_is_refused(sim, autojump_clock):
    ecr = await sim.ecr(register=False)
    result = await ecr.pay(1000)
    assert result.status == "refused" and result.result_code == codes.RESULT_NOT_REGISTERED


async def test_wrong_currency(sim, autojump_clock):
    ecr = await sim.ecr()
    result = await ecr.run(zvt.Authorization(amount=1000, currency=zvt.CURRENCY_EUR))
    assert result.result_code == codes.RESULT_WRONG_CURRENCY
    refused = await ecr.run(zvt.Registration(currency=zvt.CURRENCY_EUR))
    assert refused.status == "refused" and refused.result_code == codes.NACK_REGISTRATION_ERROR


async def test_wrong_password_is_refused(sim, autojump_clock):
    ecr = await sim.ecr()
    for command in (zvt.EndOfDay(password="999999"), zvt.Refund(amount=100, password="111111"),
                    zvt.Registration(password="123456")):
        result = await ecr.run(command)
        assert result.status == "refused", command
        assert result.result_code == codes.RESULT_FUNCTION_NOT_POSSIBLE
    await ecr.close()
    with pytest.raises(TerminalRejected):
        await sim.gateway().run(zvt.Reversal(receipt_number=1, password="999999"))


@pytest.mark.parametrize(("config", "to_ecr", "on_terminal"), [
    (0xBE, True, False),  # print lines to the ECR
    (0x38, False, True),  # terminal prints
    (0x3E, False, False),  # the ECR compiles its receipt from the Status Information
])
async def test_config_byte_decides_who_prints(sim, autojump_clock, config, to_ecr,
                                              on_terminal):
    ecr = await sim.ecr(register=False)
    await ecr.register(config_byte=config)
    result = await ecr.pay(1000)
    assert result.status == "approved"
    assert bool(result.receipt_lines) is to_ecr
    printed = [p for p in sim.device.printed if p.printer == "terminal"]
    assert bool(printed) is on_terminal


async def test_text_blocks_when_the_ecr_permits_them(sim, autojump_clock):
    ecr = await sim.ecr(register=False)
    await ecr.register(textblock=True)
    result = await ecr.pay(1000)
    assert "BELØP NOK 10,00" in result.receipt_lines
    assert not any(isinstance(m, zvt.PrintLine) for m in result.others)


async def test_cp437_has_no_oe(sim, autojump_clock):
    ecr = await sim.ecr(register=False)
    await ecr.register(charset=None)
    result = await ecr.pay(1000)
    assert "BELOP NOK 10,00" in result.receipt_lines


async def test_receipt_resync_reverses_a_payment_the_ecr_never_saw(nursery, autojump_clock):
    sim = await start_tcp(nursery, make_device())
    ecr = await sim.ecr(receipt_sync=True)
    first = await ecr.pay(1000)
    assert first.status_info.receipt_sync_id == b"\x01"
    ecr.conn._receipt_id = None  # forget it: as if the ECR had lost that answer
    second = await ecr.pay(2000)
    assert second.status == "approved"
    # Empty 1F1F: nothing to resync. Now mirror receipt 1 while the terminal's last is 2.
    ecr.conn._receipt_id = b"\x01"
    third = await ecr.pay(3000)
    assert third.status == "approved"
    assert third.receipt_number == 2  # the reversed payment's number is reused
    batch = sim.engine.state.batch
    assert [(b.receipt, b.amount) for b in batch] == [(1, 1000), (2, 3000)]
    reversal = sim.engine.state.journal[-2]
    assert reversal.kind == "reversal" and reversal.original_receipt == 2
    assert reversal.source == "terminal"


async def test_in_memory_against_the_gateway(nursery, autojump_clock):
    device = make_device()
    ecr_side, terminal_side = trio.testing.memory_stream_pair()
    nursery.start_soon(device.serve_ecr, terminal_side, zvt.Framing.TCP)

    async def open_stream() -> trio.abc.Stream:
        return ecr_side

    gateway = ZvtTerminal("T1", open_stream)
    outcome = classify(await gateway.run(pay(777)))
    assert outcome.status == "approved" and "BELØP NOK 7,77" in outcome.receipt_lines


async def test_state_file_survives_a_restart(nursery, tmp_path, autojump_clock):
    path = tmp_path / "terminal" / "state.json"
    with trio.CancelScope() as first_life:
        first = TcpTerminal(TerminalEngine(load_state(path), TrioClock()), state_file=path)
        port = await nursery.start(first.serve, "127.0.0.1", 0)
        ecr = Ecr(await trio.open_tcp_stream("127.0.0.1", port))
        await ecr.register()
        assert (await ecr.pay(1000)).receipt_number == 1
        assert (await ecr.pay(2000)).receipt_number == 2
        await ecr.close()
        first_life.cancel()
    second = TcpTerminal(TerminalEngine(load_state(path), TrioClock()), state_file=path)
    port = await nursery.start(second.serve, "127.0.0.1", 0)
    ecr = Ecr(await trio.open_tcp_stream("127.0.0.1", port))
    third = await ecr.pay(3000)  # no new Registration: the terminal remembers the ECR's
    assert third.status == "approved" and third.receipt_number == 3
    assert third.intermediate  # still with the registered config byte 0xBE
    assert [b.amount for b in second.engine.state.batch] == [1000, 2000, 3000]
