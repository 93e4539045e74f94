"""UsbStream through pyusb and firmware_sim's fake backend."""

from __future__ import annotations

import array
import errno

import pytest
import trio
import trio.testing
import usb.core
import usb.util
from structlog.testing import capture_logs

from firmware_sim.usb_fake import (
    TEST_PRODUCT_ID,
    TEST_VENDOR_ID,
    FakeUsbBackend,
    FakeUsbIdentity,
    FakeUsbTerminalPort,
)
from gateway.devices import (
    DeviceGone,
    DeviceUnavailable,
    UsbStream,
    find_usb_device,
    open_usb,
    wait_for_usb_device,
)
from tests.gateway.devices.conftest import BLOB, pump

VID, PID = TEST_VENDOR_ID, TEST_PRODUCT_ID


class RecordingBackend(FakeUsbBackend):
    """Remembers the size of every bulk transfer the gateway asks for."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.writes: list[int] = []
        self.reads: list[int] = []

    def bulk_write(self, dev_handle, ep, intf, data, timeout):
        self.writes.append(len(data))
        return super().bulk_write(dev_handle, ep, intf, data, timeout)

    def bulk_read(self, dev_handle, ep, intf, buff, timeout):
        self.reads.append(len(buff))
        return super().bulk_read(dev_handle, ep, intf, buff, timeout)


async def test_finds_the_device_by_ids_and_serial_number(usb_port: FakeUsbTerminalPort) -> None:
    backend = usb_port.backend
    device = find_usb_device(VID, PID, backend=backend)
    assert (device.idVendor, device.idProduct) == (VID, PID)
    assert find_usb_device(VID, PID, serial_number="SIM-0001", backend=backend) is not None
    assert find_usb_device(VID, PID, serial_number="OTHER", backend=backend) is None
    assert find_usb_device(VID, PID + 1, backend=backend) is None
    async with await open_usb(VID, PID, backend=backend) as stream:
        assert stream.in_packet_size == stream.out_packet_size == 64


async def test_a_wrong_id_is_unavailable(usb_port: FakeUsbTerminalPort) -> None:
    with pytest.raises(DeviceUnavailable, match="no USB device usb:1209:0999") as caught:
        await open_usb(VID, 0x0999, backend=usb_port.backend)
    assert isinstance(caught.value, OSError)
    with pytest.raises(DeviceUnavailable, match="serial NOPE"):
        await open_usb(VID, PID, serial_number="NOPE", backend=usb_port.backend)


async def test_no_usb_library_is_unavailable_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_backend(**kwargs: object) -> None:
        raise usb.core.NoBackendError("No backend available")

    monkeypatch.setattr(usb.core, "find", no_backend)
    with pytest.raises(DeviceUnavailable, match="libusb"):
        await open_usb(VID, PID)
    with pytest.raises(DeviceUnavailable, match="libusb"):
        await wait_for_usb_device(VID, PID)


async def test_the_interface_is_exclusive(usb_port: FakeUsbTerminalPort) -> None:
    async with await open_usb(VID, PID, backend=usb_port.backend):
        with pytest.raises(DeviceUnavailable, match="claimed by another") as caught:
            await open_usb(VID, PID, backend=usb_port.backend)
        assert caught.value.errno == errno.EBUSY
    async with await open_usb(VID, PID, backend=usb_port.backend):
        pass  # free again once the first stream closed


async def test_large_transfers_both_ways_in_packets() -> None:
    backend = RecordingBackend(FakeUsbIdentity(max_packet_size=64), buffer_limit=4096)
    port = backend.terminal
    payload = BLOB
    async with await open_usb(VID, PID, backend=backend) as gateway:
        results: dict[str, bytes] = {}

        async def one_way(name: str, sender, receiver, size: int) -> None:
            results[name] = await pump(sender, receiver, payload, receive_size=size)

        with trio.fail_after(15):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(one_way, "to_terminal", gateway, port, 1500)
                nursery.start_soon(one_way, "to_gateway", port, gateway, 100)
    assert results["to_terminal"] == payload
    assert results["to_gateway"] == payload
    assert max(backend.writes) == 64 and set(backend.reads) == {64}


async def test_unplugging_under_a_pending_read_is_device_gone(
    usb_port: FakeUsbTerminalPort,
) -> None:
    gateway = await open_usb(VID, PID, backend=usb_port.backend)
    caught: list[BaseException] = []

    async def read() -> None:
        try:
            await gateway.receive_some()
        except trio.BrokenResourceError as exc:
            caught.append(exc)

    with capture_logs() as logs, trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            await trio.sleep(0.05)
            usb_port.unplug()
    assert isinstance(caught[0], DeviceGone)
    assert "usb:1209:0007" in str(caught[0])
    with pytest.raises(DeviceGone):
        await gateway.send_all(b"\x06")
    with pytest.raises(trio.BrokenResourceError):
        await usb_port.receive_some()  # the terminal's side of the cable is down too
    assert [e["event"] for e in logs].count("device.vanished") == 1
    await gateway.aclose()

    usb_port.plug()  # re-enumerated: a new open works, the old stream stays closed
    async with await open_usb(VID, PID, backend=usb_port.backend) as again:
        await usb_port.send_all(b"\x80\x00\x00")
        assert await again.receive_some() == b"\x80\x00\x00"


async def test_hot_plug_wait_sees_the_device_once_plugged(
    autojump_clock: trio.testing.MockClock,
) -> None:
    backend = FakeUsbBackend(plugged=False)

    async def plug_in_at_5s() -> None:
        await trio.sleep(5)
        backend.plug()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(plug_in_at_5s)
        device = await wait_for_usb_device(VID, PID, backend=backend, poll_interval=1.0)
    # polls at whole seconds; the first after the plug-in finds it (threads may let the
    # virtual clock run ahead by at most one poll interval)
    assert 5 <= trio.current_time() <= 6
    assert device.idProduct == PID
    async with await open_usb(VID, PID, backend=backend) as stream:
        assert isinstance(stream, UsbStream)


async def test_cancelling_a_pending_read_is_prompt_and_loses_nothing(
    usb_port: FakeUsbTerminalPort,
) -> None:
    async with await open_usb(VID, PID, backend=usb_port.backend, read_timeout_ms=100) as gateway:
        start = trio.current_time()
        with trio.move_on_after(0.05):
            await gateway.receive_some()
        # at most one read timeout (100 ms) after the cancel; allow for a slow machine
        assert trio.current_time() - start < 0.5
        await usb_port.send_all(b"\x06\x0f\x00")
        with trio.fail_after(5):
            assert await gateway.receive_some() == b"\x06\x0f\x00"


async def test_closing_wakes_a_pending_reader(usb_port: FakeUsbTerminalPort) -> None:
    gateway = await open_usb(VID, PID, backend=usb_port.backend)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:

            async def read() -> None:
                with pytest.raises(trio.ClosedResourceError):
                    await gateway.receive_some()

            nursery.start_soon(read)
            await trio.sleep(0.02)
            await gateway.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await gateway.send_all(b"x")


async def test_leftovers_of_a_packet_come_with_the_next_read(
    usb_port: FakeUsbTerminalPort,
) -> None:
    async with await open_usb(VID, PID, backend=usb_port.backend) as gateway:
        await usb_port.send_all(bytes(range(10)))
        with trio.fail_after(5):
            assert await gateway.receive_some(4) == bytes(range(4))
            assert await gateway.receive_some() == bytes(range(4, 10))
        with pytest.RaisesGroup(trio.BusyResourceError):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(gateway.receive_some)
                nursery.start_soon(gateway.receive_some)


def test_the_fake_behaves_like_libusb_through_plain_pyusb(usb_port: FakeUsbTerminalPort) -> None:
    device = find_usb_device(VID, PID, backend=usb_port.backend)
    device.set_configuration()
    with pytest.raises(usb.core.USBTimeoutError):
        device.read(0x81, 64, 10)
    usb_port.backend._terminal_put(bytes(100))
    with pytest.raises(usb.core.USBError) as overflow:  # a buffer shorter than a packet
        device.read(0x81, 8, 10)
    assert overflow.value.errno == errno.EOVERFLOW
    assert len(device.read(0x81, 64, 10)) == 64
    assert device.manufacturer == "MediPay simulator"
    assert device.write(0x01, array.array("B", b"abc"), 10) == 3
    usb_port.unplug()
    with pytest.raises(usb.core.USBError) as gone:
        device.write(0x01, b"abc", 10)
    assert gone.value.errno == errno.ENODEV
    usb.util.dispose_resources(device)
