"""Sending SMS: the `SmsSender` protocol, a recording sender, and an SMPP sender (smpplib).

Configured by URL:
- `record:` keeps messages in memory (the newest `RECORDING_LIMIT`) and logs that one was
  sent; `medipay up` and the demo read them from the operator's SMS outbox endpoint.
- `smpp://SYSTEM_ID:PASSWORD@HOST:PORT?source=MediPay` binds as a transceiver to an SMSC,
  asks for delivery receipts and hands them to `on_receipt`.

smpplib is a blocking library, so one dedicated thread owns the SMPP connection: it binds,
sends what trio tasks queue, reads responses and receipts, keeps the link alive with
enquire_link, and reconnects with back-off when the connection drops.
"""

from __future__ import annotations

import collections
import itertools
import queue
import re
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import trio

from medipay.clock import Clock
from medipay.logs import get_logger

log = get_logger(__name__)
RECORDING_LIMIT = 1000
# How long a send waits for the SMSC's submit_sm_resp before it counts as failed.
SUBMIT_TIMEOUT_SECONDS = 15.0
# An idle link is probed this often; SMSCs drop sessions that stay silent for minutes.
ENQUIRE_LINK_SECONDS = 30.0
_RECONNECT_SECONDS = (0.5, 1, 2, 5, 10, 30)
RECEIPT_RETRY_SECONDS = 0.5
RECEIPT_KEEP_SECONDS = 300.0
_RECEIPT_RE = re.compile(r"id:(?P<id>\S+).*?stat:(?P<stat>[A-Z]+)", re.IGNORECASE | re.DOTALL)


class SmsError(Exception):
    """The message was not accepted by the SMSC (or none could be reached)."""


@dataclass(frozen=True)
class Receipt:
    message_id: str
    stat: str  # DELIVRD, UNDELIV, EXPIRED, REJECTD, ...


class SmsSender(Protocol):
    async def __aenter__(self) -> SmsSender: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def send(self, to: str, text: str) -> str:
        """Submit; the SMSC's message id. Raises SmsError."""
        ...


@dataclass(frozen=True)
class RecordedSms:
    message_id: str
    to: str
    text: str
    sent_at: datetime


class RecordingSender:
    """Keeps messages in memory instead of sending them (the default for local use)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.messages: collections.deque[RecordedSms] = collections.deque(maxlen=RECORDING_LIMIT)
        self._ids = itertools.count(1)

    async def __aenter__(self) -> RecordingSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def send(self, to: str, text: str) -> str:
        message = RecordedSms(f"rec-{next(self._ids):08d}", to, text, self.clock.now())
        self.messages.append(message)
        log.info("sms recorded (not sent)", message_id=message.message_id, to=to)
        return message.message_id


@dataclass(frozen=True)
class SmppUrl:
    host: str
    port: int
    system_id: str
    password: str
    source: str = "MediPay"
    system_type: str = ""


def parse_smpp_url(url: str) -> SmppUrl:
    parts = urlsplit(url)
    if parts.scheme != "smpp" or not parts.hostname:
        raise ValueError("an SMPP URL looks like smpp://system_id:password@host:2775")
    query = parse_qs(parts.query)
    return SmppUrl(
        host=parts.hostname, port=parts.port or 2775,
        system_id=unquote(parts.username or ""), password=unquote(parts.password or ""),
        source=query.get("source", ["MediPay"])[0],
        system_type=query.get("system_type", [""])[0],
    )


@dataclass
class _Request:
    to: str
    text: str
    token: trio.lowlevel.TrioToken
    done: trio.Event = field(default_factory=trio.Event)
    parts_left: int = 0
    message_id: str | None = None
    error: str | None = None


class SmppSender:
    """Sends over SMPP from a thread of its own (see the module docstring).

    `on_receipt` returns whether it knew the message. A receipt can overtake the answer to
    our own submit (the SMSC sends both at once, and the message id is stored only after the
    submit returns), so an unknown id is kept and offered again every
    `RECEIPT_RETRY_SECONDS` for up to `RECEIPT_KEEP_SECONDS`.
    """

    def __init__(
        self, url: SmppUrl, on_receipt: Callable[[Receipt], bool] | None = None, *,
        submit_timeout: float = SUBMIT_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self.submit_timeout = submit_timeout
        self.on_receipt = on_receipt
        self._queue: queue.Queue[_Request] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending: dict[int, _Request] = {}
        self.connected = threading.Event()
        self._deferred: list[tuple[Receipt, float]] = []  # (receipt, monotonic time first seen)

    async def __aenter__(self) -> SmppSender:
        self._thread = threading.Thread(target=self._run, name="smpp-sender", daemon=True)
        self._thread.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            await trio.to_thread.run_sync(self._thread.join)

    async def send(self, to: str, text: str) -> str:
        request = _Request(to.lstrip("+"), text, trio.lowlevel.current_trio_token())
        self._queue.put(request)
        self._wake.set()
        with trio.move_on_after(self.submit_timeout):
            await request.done.wait()
        if not request.done.is_set():
            raise SmsError("the SMSC did not answer in time")
        if request.error is not None or request.message_id is None:
            raise SmsError(request.error or "no message id from the SMSC")
        return request.message_id

    # --- the SMPP thread -------------------------------------------------------------

    def _run(self) -> None:
        for attempt in itertools.count():
            if self._stop.is_set():
                return
            try:
                self._session()
                return
            except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError,
                    OSError) as exc:
                self.connected.clear()
                if self._stop.is_set():
                    self._fail_pending("the SMS sender stopped")
                    return
                self._fail_pending(f"SMPP connection lost: {exc}")
                delay = _RECONNECT_SECONDS[min(attempt, len(_RECONNECT_SECONDS) - 1)]
                log.warning("smpp connection failed; reconnecting", host=self.url.host,
                            port=self.url.port, error=repr(exc), retry_in=delay)
                self._stop.wait(delay)

    def _session(self) -> None:
        client = smpplib.client.Client(self.url.host, self.url.port, timeout=5,
                                       allow_unknown_opt_params=True)
        client.set_message_sent_handler(self._on_submit_resp)
        client.set_message_received_handler(self._on_deliver)
        client.set_error_pdu_handler(self._on_error_pdu)
        client.connect()
        try:
            client.bind_transceiver(system_id=self.url.system_id, password=self.url.password,
                                    system_type=self.url.system_type)
            self.connected.set()
            log.info("smpp bound", host=self.url.host, port=self.url.port)
            idle = 0.0
            next_retry = time.monotonic() + RECEIPT_RETRY_SECONDS
            while not self._stop.is_set():
                self._submit_queued(client)
                if self._deferred and time.monotonic() >= next_retry:
                    self._retry_receipts()
                    next_retry = time.monotonic() + RECEIPT_RETRY_SECONDS
                readable, _, _ = select.select([client._socket], [], [], 0)
                if readable:
                    client.read_once(auto_send_enquire_link=False)
                    idle = 0.0
                    continue
                if self._wake.wait(0.05):
                    self._wake.clear()
                idle += 0.05
                if idle >= ENQUIRE_LINK_SECONDS:
                    client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=client))
                    idle = 0.0
            client.unbind()
        finally:
            self.connected.clear()
            client.disconnect()

    def _submit_queued(self, client: smpplib.client.Client) -> None:
        while True:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                return
            parts, coding, esm_class = smpplib.gsm.make_parts(request.text)
            request.parts_left = len(parts)
            for part in parts:
                sent = client.send_message(
                    source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                    source_addr_npi=smpplib.consts.SMPP_NPI_UNK,
                    source_addr=self.url.source,
                    dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                    dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                    destination_addr=request.to,
                    short_message=part, data_coding=coding, esm_class=esm_class,
                    registered_delivery=True,
                )
                self._pending[sent.sequence] = request

    def _on_submit_resp(self, pdu: Any, **_: Any) -> None:
        request = self._pending.pop(pdu.sequence, None)
        if request is None:
            return
        if request.message_id is None:
            message_id = pdu.message_id
            request.message_id = (message_id.decode("ascii", "replace")
                                  if isinstance(message_id, bytes) else str(message_id))
        request.parts_left -= 1
        if request.parts_left <= 0:
            self._resolve(request)

    def _on_error_pdu(self, pdu: Any) -> None:
        request = self._pending.pop(pdu.sequence, None)
        if request is not None:
            request.error = f"SMSC refused the message (status 0x{int(pdu.status):02x})"
            self._resolve(request)

    def _on_deliver(self, pdu: Any, **_: Any) -> int:
        if not int(pdu.esm_class) & 0x04:
            return 0  # a message from a phone: not ours to handle yet
        raw = pdu.short_message
        text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
        found = _RECEIPT_RE.search(text)
        if found and self.on_receipt is not None:
            receipt = Receipt(found["id"], found["stat"].upper())
            try:
                if not self.on_receipt(receipt):
                    self._deferred.append((receipt, time.monotonic()))
            except Exception as exc:  # keep the link up; the SMSC retries the receipt
                log.error("could not record a delivery receipt", exc_info=exc)
                return 0x08  # ESME_RSYSERR: ask the SMSC to deliver the receipt again
        return 0

    def _retry_receipts(self) -> None:
        assert self.on_receipt is not None
        keep: list[tuple[Receipt, float]] = []
        now = time.monotonic()
        for receipt, seen in self._deferred:
            try:
                known = self.on_receipt(receipt)
            except Exception as exc:
                log.error("could not record a delivery receipt", exc_info=exc)
                known = False
            if known:
                continue
            if now - seen < RECEIPT_KEEP_SECONDS:
                keep.append((receipt, seen))
            else:
                log.warning("delivery receipt for an unknown message dropped",
                            message_id=receipt.message_id)
        self._deferred = keep

    def _fail_pending(self, error: str) -> None:
        """Fail what waits for an answer and what is queued: while the link is down a send
        fails at once, and the job that asked retries later."""
        pending = {id(r): r for r in self._pending.values()}
        self._pending.clear()
        while True:
            try:
                queued = self._queue.get_nowait()
            except queue.Empty:
                break
            pending[id(queued)] = queued
        for request in pending.values():
            request.error = error
            self._resolve(request)

    @staticmethod
    def _resolve(request: _Request) -> None:
        try:
            trio.from_thread.run_sync(request.done.set, trio_token=request.token)
        except trio.RunFinishedError:
            log.info("sms answer arrived after the service stopped")


def make_sender(url: str, clock: Clock, on_receipt: Callable[[Receipt], bool] | None
                ) -> RecordingSender | SmppSender:
    if url in ("", "record:"):
        return RecordingSender(clock)
    return SmppSender(parse_smpp_url(url), on_receipt)

