"""The simulated terminal as a USB device, through the fake pyusb backend of `usb_fake`.

The gateway's real pyusb code opens the device with `backend=terminal.backend` (in the same
process: the fake bus exists only there). A power cut unplugs the device, as a terminal that
loses power vanishes from the bus; power-on plugs it in again, at a new address. The
disconnect fault unplugs it for a second. ZVT over USB uses either framing (PA00P016 2.3);
the serial one with ACK/NAK is the default here.
"""

from __future__ import annotations

import trio

from firmware_sim.device import SimTerminal
from firmware_sim.serial_server import REPLUG_AFTER, SERIAL_T3
from firmware_sim.usb_fake import FakeUsbBackend, FakeUsbIdentity, FakeUsbTerminalPort
from gateway.protocols import zvt
from medipay.logs import get_logger

log = get_logger(__name__)


class _Plug(trio.abc.Stream):
    """The USB port as the session sees it; closing it pulls the plug."""

    def __init__(self, port: FakeUsbTerminalPort) -> None:
        self.port = port
        self.pulled = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.port.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.port.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return await self.port.receive_some(max_bytes)

    async def aclose(self) -> None:
        self.pulled = True
        self.port.unplug()
        await trio.lowlevel.checkpoint()


class UsbTerminal:
    def __init__(self, device: SimTerminal, *, identity: FakeUsbIdentity | None = None,
                 framing: zvt.Framing = zvt.Framing.SERIAL) -> None:
        self.device = device
        self.framing = framing
        self.backend = FakeUsbBackend(identity)
        self.port = self.backend.terminal
        self.plugs = 1

    async def serve(self, *, task_status: trio.TaskStatus[FakeUsbBackend] =
                    trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; `task_status.started(backend)` for the gateway's pyusb."""
        identity = self.backend.identity
        log.info("sim.usb_device", vendor_id=f"{identity.vendor_id:04x}",
                 product_id=f"{identity.product_id:04x}")
        task_status.started(self.backend)
        t3 = SERIAL_T3 if self.framing is zvt.Framing.SERIAL else zvt.T3
        while True:
            await self.device.wait_powered()
            if not self.backend.plugged:
                self.backend.plug()
                self.plugs += 1
            plug = _Plug(self.port)
            with self.device.power_scope() as scope:
                await self.device.serve_ecr(plug, self.framing, t3=t3)
            if scope.cancelled_caught:
                self.backend.unplug()  # no power, no device on the bus
            elif plug.pulled:
                await trio.sleep(REPLUG_AFTER)
            else:
                await trio.sleep(0)
