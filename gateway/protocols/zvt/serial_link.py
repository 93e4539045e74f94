"""The serial transport (PA00P016 chapter 3): DLE STX <APDU> DLE ETX CRC-lo CRC-hi.

A DLE (10) inside the APDU is sent twice; the CRC covers the APDU and ETX but not the doubled
DLEs. The receiver answers every frame with ACK (06) if it is well formed and the CRC matches,
else NAK (15); the sender repeats a frame after NAK or after T2 without answer, at most twice,
then reports a transmission error. A gap of T1 inside a frame makes the receiver send NAK.

Pure: `receive()` takes bytes and returns whole APDUs, `send()` returns bytes to write, and
ACK/NAK/repeats accumulate in `data_to_send()`. Timers are requested through `t1_serial` and
`t2_serial` and reported back through `on_t1()` / `on_t2()`.
"""

from __future__ import annotations

import enum
from collections import deque

from .apdu import MAX_DATA, complete_length
from .crc import crc16_kermit
from .timers import MAX_REPEATS

DLE, STX, ETX, ACK, NAK = 0x10, 0x02, 0x03, 0x06, 0x15
# Biggest APDU: 5 header bytes (with extended length) plus 65535 data bytes.
MAX_APDU = 5 + MAX_DATA


def stuff(apdu: bytes) -> bytes:
    return apdu.replace(b"\x10", b"\x10\x10")


def build_frame(apdu: bytes) -> bytes:
    crc = crc16_kermit(apdu + bytes([ETX]))
    return bytes([DLE, STX]) + stuff(apdu) + bytes([DLE, ETX]) + crc.to_bytes(2, "little")


class _Rx(enum.Enum):
    HUNT = enum.auto()  # between frames: only DLE STX, ACK and NAK mean something
    DLE = enum.auto()  # saw DLE between frames
    DATA = enum.auto()  # inside a frame
    DATA_DLE = enum.auto()  # saw DLE inside a frame
    CRC_LO = enum.auto()
    CRC_HI = enum.auto()


class SerialLink:
    def __init__(self) -> None:
        self._rx_state = _Rx.HUNT
        self._rx = bytearray()
        self._crc_lo = 0
        self._outbox = bytearray()
        self._pending: bytes | None = None  # APDU of the frame awaiting ACK
        self._attempts = 0
        self._queue: deque[bytes] = deque()
        self._serial = 0
        self.t1_serial: int | None = None
        self.t2_serial: int | None = None
        self.failures: deque[str] = deque()
        # Counters, for logs and tests.
        self.naks_sent = 0
        self.repeats_sent = 0
        self.noise_bytes = 0

    # -- sending ----------------------------------------------------------------------------

    def send(self, apdu: bytes) -> bytes:
        """Bytes to write now (queued link bytes first); a frame sent while another one still
        awaits its ACK is queued and appears in data_to_send() once the first is through."""
        if self._pending is None:
            self._start(apdu)
        else:
            self._queue.append(apdu)
        return self.data_to_send()

    def _start(self, apdu: bytes) -> None:
        self._pending = apdu
        self._attempts = 1
        self._outbox += build_frame(apdu)
        self.t2_serial = self._next_serial()

    def _acked(self) -> None:
        self._pending = None
        self.t2_serial = None
        if self._queue:
            self._start(self._queue.popleft())

    def _repeat_or_fail(self, why: str) -> None:
        if self._pending is None:
            return
        if self._attempts <= MAX_REPEATS:
            self._attempts += 1
            self.repeats_sent += 1
            self._outbox += build_frame(self._pending)
            self.t2_serial = self._next_serial()
            return
        self.failures.append(f"frame {self._pending[:2].hex(' ').upper()} not acknowledged "
                             f"after {self._attempts} attempts ({why})")
        self._pending = None
        self.t2_serial = None
        self._queue.clear()  # later frames belonged to the conversation that just failed

    @property
    def awaiting_ack(self) -> bytes | None:
        return self._pending

    def peer_answered(self) -> None:
        """The peer sent an application response (80/84) while we still wait for the link ACK
        of a command: the response proves the command arrived, so stop repeating it."""
        if self._pending is not None and self._pending[0] not in (0x80, 0x84):
            self._acked()

    def on_t2(self) -> None:
        if self.t2_serial is not None:
            self._repeat_or_fail("T2")

    def data_to_send(self) -> bytes:
        data = bytes(self._outbox)
        self._outbox.clear()
        return data

    # -- receiving --------------------------------------------------------------------------

    def receive(self, data: bytes) -> list[bytes]:
        apdus: list[bytes] = []
        for byte in data:
            apdu = self._byte(byte)
            if apdu is not None:
                apdus.append(apdu)
        in_frame = self._rx_state not in (_Rx.HUNT,)
        if in_frame and data:
            self.t1_serial = self._next_serial()
        elif not in_frame:
            self.t1_serial = None
        return apdus

    def on_t1(self) -> None:
        if self._rx_state is not _Rx.HUNT:
            self._reject()
        self.t1_serial = None

    def _reject(self) -> None:
        self._outbox.append(NAK)
        self.naks_sent += 1
        self._rx_state = _Rx.HUNT
        self._rx.clear()

    def _byte(self, byte: int) -> bytes | None:
        state = self._rx_state
        if state is _Rx.HUNT or state is _Rx.DLE:
            if byte == DLE:
                self._rx_state = _Rx.DLE
            elif byte == STX and state is _Rx.DLE:
                self._rx_state = _Rx.DATA
                self._rx.clear()
            elif byte == ACK:
                self._rx_state = _Rx.HUNT
                if self._pending is not None:
                    self._acked()
            elif byte == NAK:
                self._rx_state = _Rx.HUNT
                self._repeat_or_fail("NAK")
            else:
                self._rx_state = _Rx.HUNT
                self.noise_bytes += 1
        elif state is _Rx.DATA:
            if byte == DLE:
                self._rx_state = _Rx.DATA_DLE
            elif len(self._rx) >= MAX_APDU:
                self._reject()
            else:
                self._rx.append(byte)
        elif state is _Rx.DATA_DLE:
            if byte == DLE:
                self._rx.append(DLE)
                self._rx_state = _Rx.DATA
            elif byte == ETX:
                self._rx_state = _Rx.CRC_LO
            elif byte == STX:  # the sender started over: drop what we had
                self._rx.clear()
                self._rx_state = _Rx.DATA
            else:
                self._reject()
        elif state is _Rx.CRC_LO:
            self._crc_lo = byte
            self._rx_state = _Rx.CRC_HI
        else:
            return self._finish(self._crc_lo | byte << 8)
        return None

    def _finish(self, crc: int) -> bytes | None:
        apdu = bytes(self._rx)
        self._rx.clear()
        self._rx_state = _Rx.HUNT
        if crc != crc16_kermit(apdu + bytes([ETX])) or complete_length(apdu) != len(apdu):
            self._outbox.append(NAK)
            self.naks_sent += 1
            return None
        self._outbox.append(ACK)
        return apdu

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial
