"""The simulated terminal on a serial line: a pseudo-terminal pair, ZVT's serial framing.

`PtyTerminal.serve` creates the pair and reports the device path a gateway opens with
pyserial (9600 or 115200 baud, 8N2). The line stays up while the gateway closes and reopens
the port. A power cut silences the terminal but not the cable; the disconnect fault pulls the
cable and plugs a new one in a second later (at the same path if `link_path` is given).
"""

from __future__ import annotations

import os
from pathlib import Path

import trio

from firmware_sim.device import SimTerminal
from firmware_sim.pty_link import PtyLink, open_pty_pair
from gateway.protocols import zvt
from medipay.logs import get_logger

log = get_logger(__name__)

# On serial lines T2 (link ACK) and T3 are both 5 s: an answer whose frame needed a repeat
# arrives just as T3 runs out. A second of slack avoids that race, as the gateway does.
SERIAL_T3 = zvt.T3 + 1.0
REPLUG_AFTER = 1.0  # seconds between pulling the cable (disconnect fault) and plugging it in


class _Cable(trio.abc.Stream):
    """The pty link as the session sees it; closing it is pulling the cable."""

    def __init__(self, link: PtyLink) -> None:
        self.link = link
        self.pulled = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.link.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.link.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return await self.link.receive_some(max_bytes)

    async def aclose(self) -> None:
        self.pulled = True
        await self.link.aclose()


class PtyTerminal:
    def __init__(self, device: SimTerminal, *, baudrate: int = 9600,
                 link_path: str | os.PathLike[str] | None = None) -> None:
        self.device = device
        self.baudrate = baudrate
        self.link_path = Path(link_path) if link_path is not None else None
        self.device_path: str | None = None
        self.plugs = 0

    async def serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
                    ) -> None:
        """Serve until cancelled; `task_status.started(device_path)`."""
        started = False
        while True:
            cable = _Cable(open_pty_pair(self.baudrate, link=self.link_path))
            self.plugs += 1
            self.device_path = cable.link.device_path
            log.info("sim.serial_line", device=self.device_path, baudrate=self.baudrate)
            if not started:
                task_status.started(self.device_path)
                started = True
            try:
                await self._serve_cable(cable)
            finally:
                if not cable.pulled:
                    with trio.CancelScope(shield=True):
                        await cable.link.aclose()
            await trio.sleep(REPLUG_AFTER)

    async def _serve_cable(self, cable: _Cable) -> None:
        while not cable.pulled:
            await self.device.wait_powered()
            with self.device.power_scope():
                # One session per dialog: after a protocol error the terminal starts afresh
                # on the same line, with a new codec.
                await self.device.serve_ecr(cable, zvt.Framing.SERIAL, t3=SERIAL_T3)
                if not cable.pulled:
                    await trio.sleep(0)
