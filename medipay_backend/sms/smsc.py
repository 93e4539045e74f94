"""A small SMSC speaking SMPP 3.4 over TCP (trio), for tests, the simulation and demos.

It accepts binds with one system id and password, answers submit_sm with a message id,
reassembles concatenated messages (UDH), records every message, and, when asked for a
delivery receipt, sends one back as deliver_sm on a receiver or transceiver session:
`DELIVRD`, or `UNDELIV` for numbers listed in `undeliverable`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import trio

from medipay.clock import Clock
from medipay.logs import get_logger
from medipay_backend.sms import pdu as p
from medipay_backend.sms.gsm7 import decode_text

log = get_logger(__name__)
_RECEIVE_BYTES = 4096


@dataclass(frozen=True)
class SmscMessage:
    message_id: str
    source: str
    destination: str
    text: str
    received_at: datetime
    system_id: str


class LocalSmsc:
    def __init__(
        self,
        clock: Clock,
        *,
        system_id: str = "medipay",
        password: str = "secret",
        undeliverable: Iterable[str] = (),
        receipts: bool = True,
    ) -> None:
        self.clock = clock
        self.system_id = system_id
        self.password = password
        self.undeliverable = set(undeliverable)
        self.receipts = receipts
        self.messages: list[SmscMessage] = []
        self.receipts_sent = 0
        self._ids = itertools.count(1)
        self._changed = trio.Condition()
        self._parts: dict[tuple[str, int], dict[int, str]] = {}

    async def serve(
        self, host: str = "127.0.0.1", port: int = 0, *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = listeners[0].socket.getsockname()[1]
        log.info("smsc listening", host=host, port=bound)
        task_status.started(bound)
        await trio.serve_listeners(self._session, listeners)

    async def wait_for(self, count: int) -> list[SmscMessage]:
        """Wait until at least `count` messages have arrived (use with a timeout)."""
        async with self._changed:
            while len(self.messages) < count:
                await self._changed.wait()
        return list(self.messages)

    async def _session(self, stream: trio.SocketStream) -> None:
        session = _Session(self, stream)
        try:
            await session.run()
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            log.info("smsc session closed", reason=type(exc).__name__)
        except p.PduError as exc:
            log.warning("smsc dropped a session sending garbage", error=str(exc))
            await stream.aclose()

    async def _record(self, pdu: p.Pdu, system_id: str) -> SmscMessage | None:
        fields = pdu.fields
        text: str | None = decode_text(pdu.short_message, fields.get("data_coding", 0))
        if fields["esm_class"] & p.ESM_CLASS_UDHI and pdu.short_message:
            text = self._reassemble(pdu, fields["destination_addr"])
        if text is None:
            return None
        message = SmscMessage(
            message_id=f"{next(self._ids):08x}", source=fields["source_addr"],
            destination=fields["destination_addr"], text=text,
            received_at=self.clock.now(), system_id=system_id,
        )
        async with self._changed:
            self.messages.append(message)
            self._changed.notify_all()
        return message

    def _reassemble(self, pdu: p.Pdu, destination: str) -> str | None:
        data = pdu.short_message
        header_length = data[0]
        header, body = data[1:1 + header_length], data[1 + header_length:]
        # IE 0x00: concatenation with an 8-bit reference: ref, total parts, this part.
        if len(header) < 5 or header[0] != 0x00:
            return decode_text(body, pdu.fields["data_coding"])
        reference, total, number = header[2], header[3], header[4]
        parts = self._parts.setdefault((destination, reference), {})
        parts[number] = decode_text(body, pdu.fields["data_coding"])
        if len(parts) < total:
            return None
        del self._parts[(destination, reference)]
        return "".join(parts[n] for n in sorted(parts))

    def receipt_for(self, message: SmscMessage) -> p.Pdu:
        delivered = message.destination not in self.undeliverable
        stat = "DELIVRD" if delivered else "UNDELIV"
        stamp = self.clock.now().strftime("%y%m%d%H%M")
        submitted = message.received_at.strftime("%y%m%d%H%M")
        text = (f"id:{message.message_id} sub:001 dlvrd:{'001' if delivered else '000'} "
                f"submit date:{submitted} done date:{stamp} stat:{stat} err:000 text:")
        return p.Pdu(
            p.DELIVER_SM, 0,
            fields={"source_addr": message.destination, "destination_addr": message.source,
                    "esm_class": p.ESM_CLASS_RECEIPT, "data_coding": 0},
            short_message=text.encode("ascii"),
            tlvs={p.TAG_RECEIPTED_MESSAGE_ID: message.message_id.encode("ascii") + b"\0",
                  p.TAG_MESSAGE_STATE: bytes([2 if delivered else 5])},
        )


class _Session:
    def __init__(self, smsc: LocalSmsc, stream: trio.SocketStream) -> None:
        self.smsc = smsc
        self.stream = stream
        self.buffer = p.PduBuffer()
        self.bound: int | None = None
        self.system_id = ""
        self.sequence = itertools.count(1)
        self.send_lock = trio.Lock()

    async def send(self, pdu: p.Pdu) -> None:
        async with self.send_lock:
            await self.stream.send_all(p.encode(pdu))

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            while True:
                data = await self.stream.receive_some(_RECEIVE_BYTES)
                if not data:
                    nursery.cancel_scope.cancel()
                    return
                self.buffer.feed(data)
                while (pdu := self.buffer.next_pdu()) is not None:
                    if not await self.handle(pdu, nursery):
                        nursery.cancel_scope.cancel()
                        await self.stream.aclose()
                        return

    async def handle(self, pdu: p.Pdu, nursery: trio.Nursery) -> bool:
        command = pdu.command_id
        if command in p.BINDS:
            await self.bind(pdu)
        elif command == p.ENQUIRE_LINK:
            await self.send(p.response_to(pdu))
        elif command == p.UNBIND:
            await self.send(p.response_to(pdu))
            return False
        elif command == p.SUBMIT_SM:
            await self.submit(pdu, nursery)
        elif command & p.RESPONSE_BIT:
            pass  # deliver_sm_resp / enquire_link_resp: nothing to do
        else:
            await self.send(p.Pdu(p.GENERIC_NACK, pdu.sequence, p.ESME_RINVCMDID))
        return True

    async def bind(self, pdu: p.Pdu) -> None:
        fields = pdu.fields
        if self.bound is not None:
            status = p.ESME_RINVBNDSTS
        elif fields["system_id"] != self.smsc.system_id:
            status = p.ESME_RINVSYSID
        elif fields["password"] != self.smsc.password:
            status = p.ESME_RINVPASWD
        else:
            status = p.ESME_ROK
            self.bound = pdu.command_id
            self.system_id = fields["system_id"]
        await self.send(p.response_to(pdu, status, message_id="MediPaySMSC"))

    async def submit(self, pdu: p.Pdu, nursery: trio.Nursery) -> None:
        if self.bound not in (p.BIND_TRANSMITTER, p.BIND_TRANSCEIVER):
            await self.send(p.response_to(pdu, p.ESME_RINVBNDSTS, message_id=""))
            return
        if not pdu.fields["destination_addr"]:
            await self.send(p.response_to(pdu, p.ESME_RINVDSTADR, message_id=""))
            return
        message = await self.smsc._record(pdu, self.system_id)
        message_id = message.message_id if message else f"part-{pdu.sequence}"
        await self.send(p.response_to(pdu, message_id=message_id))
        wants_receipt = pdu.fields["registered_delivery"] & 0x01
        if message and wants_receipt and self.smsc.receipts and self.bound == p.BIND_TRANSCEIVER:
            receipt = self.smsc.receipt_for(message)
            receipt.sequence = next(self.sequence)
            nursery.start_soon(self._send_receipt, receipt)

    async def _send_receipt(self, receipt: p.Pdu) -> None:
        await self.send(receipt)
        self.smsc.receipts_sent += 1
