"""The wire between terminal and ECR, with the faults of `faults.py` applied to its bytes.

`FaultyStream` wraps the transport stream the terminal talks over. It cuts what passes into
tokens (a serial frame, a single ACK/NAK byte, or one TCP APDU) so a fault can hit exactly one
ACK or one frame; without faults armed, bytes pass through untouched.
"""

from __future__ import annotations

import random

import trio

from firmware_sim.faults import FaultKind, FaultPlan
from gateway.protocols import zvt
from gateway.protocols.zvt.apdu import complete_length

DLE, STX, ETX, ACK = 0x10, 0x02, 0x03, 0x06


class SerialTokens:
    """Cuts a serial byte stream into frames (DLE STX ... DLE ETX crc crc) and single bytes."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._state = "hunt"
        self._crc_left = 0

    def feed(self, data: bytes) -> list[bytes]:
        tokens: list[bytes] = []
        for byte in data:
            self._buf.append(byte)
            state = self._state
            if state == "hunt":
                if byte == DLE:
                    self._state = "dle"
                else:
                    tokens.append(bytes(self._buf))
                    self._buf.clear()
            elif state == "dle":
                if byte == STX:
                    self._state = "frame"
                else:
                    tokens.append(bytes(self._buf))
                    self._buf.clear()
                    self._state = "hunt"
            elif state == "frame":
                if byte == DLE:
                    self._state = "frame_dle"
            elif state == "frame_dle":
                if byte == ETX:
                    self._state, self._crc_left = "crc", 2
                else:
                    self._state = "frame"
            else:  # crc
                self._crc_left -= 1
                if self._crc_left == 0:
                    tokens.append(bytes(self._buf))
                    self._buf.clear()
                    self._state = "hunt"
        return tokens

    def rest(self) -> bytes:
        data = bytes(self._buf)
        self._buf.clear()
        self._state = "hunt"
        return data


class TcpTokens:
    """Cuts a TCP byte stream into APDUs."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        tokens = []
        while (total := complete_length(self._buf)) is not None and len(self._buf) >= total:
            tokens.append(bytes(self._buf[:total]))
            del self._buf[:total]
        return tokens

    def rest(self) -> bytes:
        data = bytes(self._buf)
        self._buf.clear()
        return data


def is_frame(token: bytes) -> bool:
    return token[:2] == bytes([DLE, STX])


def flip_bits(data: bytes, ber: float, rng: random.Random) -> bytes:
    """Each bit flips with probability `ber` (a noisy line)."""
    out = bytearray(data)
    for index in range(len(out)):
        for bit in range(8):
            if rng.random() < ber:
                out[index] ^= 1 << bit
    return bytes(out)


class FaultyStream(trio.abc.Stream):
    def __init__(self, inner: trio.abc.Stream, plan: FaultPlan, framing: zvt.Framing,
                 rng: random.Random, nursery: trio.Nursery) -> None:
        self.inner = inner
        self._plan = plan
        self._serial = framing is zvt.Framing.SERIAL
        self._rng = rng
        self._nursery = nursery
        self._out_tokens = SerialTokens() if self._serial else TcpTokens()
        self._in_tokens = SerialTokens() if self._serial else TcpTokens()
        self._held = bytearray()  # coalesced writes waiting to go out
        self._flushing = False
        self._send_lock = trio.StrictFIFOLock()

    def _is_ack(self, token: bytes) -> bool:
        return token == bytes([ACK]) if self._serial else token[:1] == b"\x80"

    # -- terminal -> ECR ----------------------------------------------------------------------

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        out = bytearray()
        for token in self._out_tokens.feed(bytes(data)):
            if self._is_ack(token):
                if self._plan.take(FaultKind.DROP_ACK):
                    continue
                if self._plan.take(FaultKind.DUPLICATE_ACK):
                    out += token
            elif self._serial and is_frame(token) and self._plan.take(FaultKind.BAD_CRC):
                token = token[:-1] + bytes([token[-1] ^ 0x01])
            out += token
        out += self._out_tokens.rest()  # never hold back bytes we could not classify
        noise = self._plan.active(FaultKind.NOISE) if self._serial else None
        if noise is not None:
            out = bytearray(flip_bits(bytes(out), noise.ber, self._rng))
        coalesce = self._plan.active(FaultKind.COALESCE)
        if coalesce is not None:
            self._held += out
            if not self._flushing:
                self._flushing = True
                self._nursery.start_soon(self._flush_later, max(coalesce.seconds, 0.01))
            return
        await self._write(bytes(self._held + out))
        self._held.clear()

    async def _flush_later(self, delay: float) -> None:
        await trio.sleep(delay)
        self._flushing = False
        data, self._held = bytes(self._held), bytearray()
        try:
            await self._write(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return  # the connection went away while the bytes were held back

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        async with self._send_lock:
            fragment = self._plan.active(FaultKind.FRAGMENT)
            if fragment is None:
                await self.inner.send_all(data)
                return
            for start in range(0, len(data), fragment.size):
                await self.inner.send_all(data[start:start + fragment.size])
                await trio.sleep(fragment.seconds)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    # -- ECR -> terminal ----------------------------------------------------------------------

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        while True:
            data = bytes(await self.inner.receive_some(max_bytes))
            if not data:
                return data
            noise = self._plan.active(FaultKind.NOISE) if self._serial else None
            if noise is not None:
                data = flip_bits(data, noise.ber, self._rng)
            if not self._incoming_faults():
                pending = self._in_tokens.rest()
                return pending + data
            out = bytearray()
            for token in self._in_tokens.feed(data):
                if self._is_ack(token) and self._plan.take(FaultKind.LOSE_ACK):
                    continue
                if self._serial and is_frame(token) and self._plan.take(FaultKind.NAK_STORM):
                    token = token[:-1] + bytes([token[-1] ^ 0x01])  # the codec will NAK it
                out += token
            if out:
                return bytes(out)

    def _incoming_faults(self) -> bool:
        return any(a.fault.kind in (FaultKind.LOSE_ACK, FaultKind.NAK_STORM) and a.active
                   for a in self._plan.armed)

    async def aclose(self) -> None:
        await self.inner.aclose()
