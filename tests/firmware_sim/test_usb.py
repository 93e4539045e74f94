"""The terminal as a USB device: the gateway's real pyusb code (UsbStream) against the fake
backend. Real time here: pyusb runs in worker threads, which a virtual clock cannot see."""

from __future__ import annotations

import pytest
import trio

from firmware_sim.faults import Fault, FaultKind, Step
from firmware_sim.usb_fake import TEST_PRODUCT_ID, TEST_VENDOR_ID
from firmware_sim.usb_server import UsbTerminal
from gateway.devices import DeviceUnavailable, open_usb, usb_opener
from gateway.protocols import zvt
from gateway.terminal import ZvtTerminal

from .books import Books, stored_payments
from .conftest import idle, make_device, pay


async def start_usb(nursery: trio.Nursery, framing: zvt.Framing = zvt.Framing.SERIAL):  # type: ignore[no-untyped-def]
    device = make_device()
    terminal = UsbTerminal(device, framing=framing)
    backend = await nursery.start(terminal.serve)
    return device, terminal, backend


@pytest.mark.parametrize("framing", [zvt.Framing.SERIAL, zvt.Framing.TCP])
async def test_gateway_pays_over_usb(nursery, framing):
    device, _terminal, backend = await start_usb(nursery, framing)
    books = Books()
    gateway = ZvtTerminal("T1", usb_opener(TEST_VENDOR_ID, TEST_PRODUCT_ID, backend=backend),
                          framing=framing, load_receipt_id=books.load)
    with trio.fail_after(20):
        assert await books.run(gateway, pay(12345)) == "approved"
        assert await books.run(gateway, zvt.EndOfDay()) == "approved"
    assert device.engine.state.batch == [] and device.engine.state.batch_number == 2
    await gateway.close()


async def test_power_cut_unplugs_the_device(nursery):
    device, terminal, backend = await start_usb(nursery)
    books = Books()
    gateway = ZvtTerminal("T1", usb_opener(TEST_VENDOR_ID, TEST_PRODUCT_ID, backend=backend),
                          framing=zvt.Framing.SERIAL, load_receipt_id=books.load)
    with trio.fail_after(30):
        assert await books.run(gateway, pay(1000)) == "approved"
        await idle(device)
        device.faults.arm(Fault(FaultKind.POWER_CUT, at=Step.HOST, restart_after=0.5))
        lost = await books.run(gateway, pay(2000))
        assert lost.startswith("TerminalLost"), lost
        with pytest.raises(DeviceUnavailable):  # gone from the bus while the power is off
            await open_usb(TEST_VENDOR_ID, TEST_PRODUCT_ID, backend=backend)
        while not backend.plugged:
            await trio.sleep(0.1)
        assert terminal.plugs == 2
        assert await books.run(gateway, pay(3000)) == "approved"
    assert stored_payments(device) == books.approved == [1, 2]
    await gateway.close()
