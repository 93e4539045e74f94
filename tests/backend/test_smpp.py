"""SMS over real SMPP 3.4: smpplib (in the sender's thread) against the local SMSC on trio."""

from __future__ import annotations

import trio

from medipay.clock import SimulatedClock
from medipay_backend.sms import pdu as p
from medipay_backend.sms.sender import Receipt, SmppSender, SmppUrl, SmsError
from medipay_backend.sms.smsc import LocalSmsc

NORWEGIAN = "Hei! Betal regningen på 450,00 kr her: https://pay.example/c/Ab_9-z. Frist 07.01."


async def test_messages_and_receipts_round_trip(clock: SimulatedClock) -> None:
    smsc = LocalSmsc(clock, undeliverable={"4799999999"})
    receipts: list[Receipt] = []
    async with trio.open_nursery() as nursery:
        port = await nursery.start(smsc.serve)
        url = SmppUrl("127.0.0.1", port, "medipay", "secret", source="MediPay")
        def note(receipt: Receipt) -> bool:
            receipts.append(receipt)
            return True

        async with SmppSender(url, note) as sender:
            first = await sender.send("+4791234567", NORWEGIAN)
            second = await sender.send("+4799999999", "Kort melding")
            long_id = await sender.send("+4791234567", "Lang tekst. " * 30)
            with trio.fail_after(5):
                messages = await smsc.wait_for(3)
                while len(receipts) < 3:
                    await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert [m.destination for m in messages] == ["4791234567", "4799999999", "4791234567"]
    assert messages[0].text == NORWEGIAN  # æøå survive the GSM 03.38 alphabet
    assert messages[2].text == "Lang tekst. " * 30  # concatenated parts reassembled
    assert messages[0].source == "MediPay"
    assert (first, second) == (messages[0].message_id, messages[1].message_id)
    assert long_id
    assert {(r.message_id, r.stat) for r in receipts} == {
        (first, "DELIVRD"), (second, "UNDELIV"), (messages[2].message_id, "DELIVRD")}


async def test_wrong_password_fails_sends_and_keeps_retrying(clock: SimulatedClock) -> None:
    smsc = LocalSmsc(clock)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(smsc.serve)
        url = SmppUrl("127.0.0.1", port, "medipay", "wrong")
        async with SmppSender(url) as sender:
            with trio.fail_after(20):
                try:
                    await sender.send("+4791234567", "x")
                except SmsError as exc:
                    assert "connection lost" in str(exc) or "in time" in str(exc)
                else:
                    raise AssertionError("a send without a bind must fail")
        nursery.cancel_scope.cancel()
    assert smsc.messages == []


async def test_smsc_restart_is_survived(clock: SimulatedClock) -> None:
    smsc = LocalSmsc(clock)
    async with trio.open_nursery() as outer:
        listener_scope = trio.CancelScope()

        async def serve_once(task_status: trio.TaskStatus[int]) -> None:
            with listener_scope:
                await smsc.serve(task_status=task_status)

        port = await outer.start(serve_once)
        async with SmppSender(SmppUrl("127.0.0.1", port, "medipay", "secret")) as sender:
            await sender.send("+4791234567", "før")
            listener_scope.cancel()  # the SMSC goes away (listener and sessions)
            await trio.sleep(0.2)
            await outer.start(smsc.serve, "127.0.0.1", port)
            with trio.fail_after(10):
                while True:
                    try:
                        await sender.send("+4791234567", "etter")
                        break
                    except SmsError:
                        await trio.sleep(0.2)
        outer.cancel_scope.cancel()
    assert [m.text for m in smsc.messages] == ["før", "etter"]


def test_pdu_codec_round_trip() -> None:
    pdu = p.Pdu(p.SUBMIT_SM, 7, fields={"source_addr": "MediPay", "destination_addr": "4791",
                                        "esm_class": 0, "data_coding": 0,
                                        "registered_delivery": 1},
                short_message=b"hei", tlvs={p.TAG_MESSAGE_PAYLOAD: b"x"})
    buffer = p.PduBuffer()
    data = p.encode(pdu)
    buffer.feed(data[:5])
    assert buffer.next_pdu() is None
    buffer.feed(data[5:])
    decoded = buffer.next_pdu()
    assert decoded is not None
    assert (decoded.sequence, decoded.short_message, decoded.tlvs) == (7, b"hei",
                                                                        {0x0424: b"x"})
    assert decoded.fields["destination_addr"] == "4791"
