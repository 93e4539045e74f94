"""Shared helpers: real pseudo-terminals and the fake USB backend from firmware_sim."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from firmware_sim.pty_link import PtyLink, open_pty_pair
from firmware_sim.usb_fake import FakeUsbTerminalPort, fake_usb_terminal

# Every byte value first, then 64 KiB of noise: escapes, framing bytes, XON/XOFF, CR/LF, NUL.
BLOB = bytes(range(256)) + random.Random(20007).randbytes(64 * 1024)


async def pump(
    sender: trio.abc.SendStream,
    receiver: trio.abc.ReceiveStream,
    payload: bytes,
    *,
    send_chunk: int = 1000,
    receive_size: int = 997,
) -> bytes:
    """Send `payload` in chunks while reading it back in differently sized pieces."""
    received = bytearray()

    async def send() -> None:
        for start in range(0, len(payload), send_chunk):
            await sender.send_all(payload[start:start + send_chunk])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        while len(received) < len(payload):
            received += await receiver.receive_some(receive_size)
    return bytes(received)


@pytest.fixture
async def link() -> AsyncIterator[PtyLink]:
    pty = open_pty_pair(9600)
    yield pty
    await pty.aclose()


@pytest.fixture
def usb_port() -> FakeUsbTerminalPort:
    return fake_usb_terminal()
