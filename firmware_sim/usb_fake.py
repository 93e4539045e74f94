"""A card terminal on a simulated USB cable: a pyusb backend with one device behind it.

`FakeUsbBackend` is what the gateway passes to pyusb (`backend=`): it enumerates one device
(vendor/product id configurable) with one vendor-specific interface holding a bulk OUT and a
bulk IN endpoint. What the gateway writes to bulk OUT, the simulator reads from the
`FakeUsbTerminalPort` (a trio stream); what the simulator sends, the gateway's bulk IN reads
return. A read buffer shorter than wMaxPacketSize overflows when more is waiting, as on a
real bus, which catches a gateway that reads less than whole packets.

Errors are the ones libusb gives through pyusb: a read with nothing to return within its
timeout raises `usb.core.USBTimeoutError`; after `unplug()` every call on the device raises
`USBError` with errno ENODEV ("No such device"); a second claim of the interface raises EBUSY.
`plug()` re-enumerates the device at a new address; handles opened before stay dead.

pyusb calls arrive on worker threads, the simulator's on the trio thread: one lock guards the
state, a condition wakes blocked pyusb calls, and trio tasks are woken through their trio token.
"""

from __future__ import annotations

import array
import errno
import functools
import operator
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio
import usb.backend
import usb.core

# libusb error codes (pyusb keeps them in `backend_error_code`) and their errno values.
_NO_DEVICE = (-4, errno.ENODEV, "No such device (it may have been disconnected)")
_BUSY = (-6, errno.EBUSY, "Resource busy")
_TIMEOUT = (-7, errno.ETIMEDOUT, "Operation timed out")
_OVERFLOW = (-8, errno.EOVERFLOW, "Overflow")
_PIPE = (-9, errno.EPIPE, "Pipe error")
_INVALID = (-2, errno.EINVAL, "Invalid parameter")
DEFAULT_RECEIVE_SIZE = 4096

# -- what the device says about itself ---------------------------------------------------------

# pid.codes (vendor 0x1209) reserves products 0x0001-0x0010 for testing: never a real product.
TEST_VENDOR_ID = 0x1209
TEST_PRODUCT_ID = 0x0007
EP_OUT = 0x01  # bulk OUT endpoint 1: ECR -> terminal
EP_IN = 0x81  # bulk IN endpoint 1: terminal -> ECR
_BULK = 0x02
_LANGID_EN_US = 0x0409


@dataclass(frozen=True)
class FakeUsbIdentity:
    vendor_id: int = TEST_VENDOR_ID
    product_id: int = TEST_PRODUCT_ID
    manufacturer: str = "MediPay simulator"
    product: str = "ZVT terminal (simulated)"
    serial_number: str = "SIM-0001"
    max_packet_size: int = 64  # full speed; 512 for a high-speed device
    bus: int = 1
    address: int = 7


class _Descriptor:
    """Descriptor fields as plain attributes, which is all pyusb reads."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


def _device_descriptor(identity: FakeUsbIdentity, address: int) -> _Descriptor:
    return _Descriptor(
        bLength=18, bDescriptorType=0x01, bcdUSB=0x0200, bDeviceClass=0x00,
        bDeviceSubClass=0x00, bDeviceProtocol=0x00, bMaxPacketSize0=64,
        idVendor=identity.vendor_id, idProduct=identity.product_id, bcdDevice=0x0100,
        iManufacturer=1, iProduct=2, iSerialNumber=3, bNumConfigurations=1,
        bus=identity.bus, address=address, port_number=1, port_numbers=(1,), speed=2,
    )


def _config_descriptor() -> _Descriptor:
    return _Descriptor(
        bLength=9, bDescriptorType=0x02, wTotalLength=9 + 9 + 7 + 7, bNumInterfaces=1,
        bConfigurationValue=1, iConfiguration=0, bmAttributes=0x80, bMaxPower=50,
        extra_descriptors=[],
    )


def _interface_descriptor() -> _Descriptor:
    return _Descriptor(
        bLength=9, bDescriptorType=0x04, bInterfaceNumber=0, bAlternateSetting=0,
        bNumEndpoints=2, bInterfaceClass=0xFF, bInterfaceSubClass=0x00,
        bInterfaceProtocol=0x00, iInterface=0, extra_descriptors=[],
    )


def _endpoint_descriptor(address: int, max_packet_size: int) -> _Descriptor:
    return _Descriptor(
        bLength=7, bDescriptorType=0x05, bEndpointAddress=address, bmAttributes=_BULK,
        wMaxPacketSize=max_packet_size, bInterval=0, bRefresh=0, bSynchAddress=0,
        extra_descriptors=[],
    )


def _string_descriptor(identity: FakeUsbIdentity, index: int) -> bytes | None:
    """String descriptor `index` (0: the language list), or None if there is none."""
    if index == 0:
        body = _LANGID_EN_US.to_bytes(2, "little")
    else:
        texts = {1: identity.manufacturer, 2: identity.product, 3: identity.serial_number}
        if index not in texts:
            return None
        body = texts[index].encode("utf-16-le")
    return bytes([2 + len(body), 0x03]) + body



def _error(kind: tuple[int, int, str]) -> usb.core.USBError:
    code, err, text = kind
    if kind is _TIMEOUT:
        return usb.core.USBTimeoutError(text, code, err)
    return usb.core.USBError(text, code, err)


@dataclass(frozen=True)
class _DeviceRef:
    generation: int  # which plug-in this enumeration saw


@dataclass
class _Handle:
    generation: int
    claimed: set[int] = field(default_factory=set)


class FakeUsbBackend(usb.backend.IBackend):
    """The pyusb backend; create one, pass it as `backend=`, drive it through `terminal`."""

    def __init__(
        self,
        identity: FakeUsbIdentity | None = None,
        *,
        buffer_limit: int = 65536,
        plugged: bool = True,
    ) -> None:
        self.identity = identity or FakeUsbIdentity()
        # Bytes in flight each way; beyond this a writer waits (bounded, like real buffers).
        self.buffer_limit = buffer_limit
        self._cond = threading.Condition()
        self._plugged = plugged
        self._generation = 1
        self._address = self.identity.address
        self._to_terminal = bytearray()
        self._from_terminal = bytearray()
        self._claims: dict[int, _Handle] = {}
        self._trio_wakers: list[Callable[[], None]] = []
        self.terminal = FakeUsbTerminalPort(self)

    # -- plugging -----------------------------------------------------------------------------

    def unplug(self) -> None:
        with self._cond:
            self._plugged = False
            self._to_terminal.clear()
            self._from_terminal.clear()
            self._claims.clear()
            self._wake_all()

    def plug(self) -> None:
        with self._cond:
            if self._plugged:
                return
            self._plugged = True
            self._generation += 1
            self._address += 1
            self._wake_all()

    @property
    def plugged(self) -> bool:
        return self._plugged

    def _wake_all(self) -> None:
        """Caller holds the lock."""
        self._cond.notify_all()
        wakers, self._trio_wakers = self._trio_wakers, []
        for wake in wakers:
            wake()

    def _wake_trio_waiters(self) -> None:
        with self._cond:
            self._wake_all()

    def _alive(self, generation: int) -> None:
        """Caller holds the lock; raise ENODEV unless this plug-in is still connected."""
        if not self._plugged or generation != self._generation:
            raise _error(_NO_DEVICE)

    # -- enumeration and descriptors ----------------------------------------------------------

    def enumerate_devices(self) -> list[_DeviceRef]:
        with self._cond:
            return [_DeviceRef(self._generation)] if self._plugged else []

    def get_parent(self, dev: _DeviceRef) -> None:
        return None

    def get_device_descriptor(self, dev: _DeviceRef) -> Any:
        return _device_descriptor(self.identity, self._address)

    def get_configuration_descriptor(self, dev: _DeviceRef, config: int) -> Any:
        if config != 0:
            raise IndexError(config)
        return _config_descriptor()

    def get_interface_descriptor(self, dev: _DeviceRef, intf: int, alt: int, config: int) -> Any:
        if (config, intf, alt) != (0, 0, 0):
            raise IndexError((config, intf, alt))
        return _interface_descriptor()

    def get_endpoint_descriptor(
        self, dev: _DeviceRef, ep: int, intf: int, alt: int, config: int
    ) -> Any:
        if (config, intf, alt) != (0, 0, 0) or ep not in (0, 1):
            raise IndexError((config, intf, alt, ep))
        return _endpoint_descriptor(EP_OUT if ep == 0 else EP_IN, self.identity.max_packet_size)

    # -- handles ------------------------------------------------------------------------------

    def open_device(self, dev: _DeviceRef) -> _Handle:
        with self._cond:
            self._alive(dev.generation)
            return _Handle(dev.generation)

    def close_device(self, dev_handle: _Handle) -> None:
        with self._cond:
            for number in dev_handle.claimed:
                if self._claims.get(number) is dev_handle:
                    del self._claims[number]
            dev_handle.claimed.clear()
            self._cond.notify_all()

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        with self._cond:
            self._alive(dev_handle.generation)
            if config_value not in (0, 1):
                raise _error(_INVALID)

    def get_configuration(self, dev_handle: _Handle) -> int:
        with self._cond:
            self._alive(dev_handle.generation)
            return 1

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        with self._cond:
            self._alive(dev_handle.generation)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        with self._cond:
            self._alive(dev_handle.generation)
            if intf != 0:
                raise _error(_INVALID)
            holder = self._claims.get(intf)
            if holder is not None and holder is not dev_handle:
                raise _error(_BUSY)
            self._claims[intf] = dev_handle
            dev_handle.claimed.add(intf)

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        with self._cond:
            self._alive(dev_handle.generation)
            if self._claims.get(intf) is dev_handle:
                del self._claims[intf]
            dev_handle.claimed.discard(intf)

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        return False

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        with self._cond:
            self._alive(dev_handle.generation)

    def reset_device(self, dev_handle: _Handle) -> None:
        with self._cond:
            self._alive(dev_handle.generation)

    # -- transfers (pyusb's worker threads) ---------------------------------------------------

    def _wait(self, ready: Callable[[], bool], handle: _Handle, timeout_ms: int) -> None:
        """Caller holds the lock. Block until `ready()`; libusb's timeout 0 means forever."""
        waited = self._cond.wait_for(
            lambda: ready() or not self._plugged or handle.generation != self._generation,
            timeout=None if timeout_ms == 0 else timeout_ms / 1000,
        )
        self._alive(handle.generation)
        if not waited:
            raise _error(_TIMEOUT)

    def bulk_write(
        self, dev_handle: _Handle, ep: int, intf: int, data: array.array[int], timeout: int
    ) -> int:
        with self._cond:
            self._alive(dev_handle.generation)
            if ep != EP_OUT:
                raise _error(_PIPE)
            self._wait(lambda: len(self._to_terminal) < self.buffer_limit, dev_handle, timeout)
            self._to_terminal += data.tobytes()
            self._wake_all()
            return len(data)

    def bulk_read(
        self, dev_handle: _Handle, ep: int, intf: int, buff: array.array[int], timeout: int
    ) -> int:
        with self._cond:
            self._alive(dev_handle.generation)
            if ep != EP_IN:
                raise _error(_PIPE)
            self._wait(lambda: bool(self._from_terminal), dev_handle, timeout)
            packet = self.identity.max_packet_size
            if len(buff) < packet and len(self._from_terminal) > len(buff):
                # The device sends whole packets; a buffer shorter than one overflows.
                raise _error(_OVERFLOW)
            count = min(len(buff), len(self._from_terminal))
            buff[:count] = array.array("B", self._from_terminal[:count])
            del self._from_terminal[:count]
            self._wake_all()
            return count

    def ctrl_transfer(
        self,
        dev_handle: _Handle,
        bmRequestType: int,  # pyusb's parameter names
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array[int],
        timeout: int,
    ) -> int:
        """Only GET_DESCRIPTOR for strings (what `Device.manufacturer` and friends read)."""
        with self._cond:
            self._alive(dev_handle.generation)
        if bmRequestType != 0x80 or bRequest != 0x06 or wValue >> 8 != 0x03:
            raise _error(_PIPE)  # a real device stalls requests it does not support
        answer = _string_descriptor(self.identity, wValue & 0xFF)
        if answer is None:
            raise _error(_PIPE)
        count = min(len(data), len(answer))
        data[:count] = array.array("B", answer[:count])
        return count

    # -- the terminal's side (trio thread) ----------------------------------------------------

    def _terminal_take(self, size: int) -> bytes | None:
        with self._cond:
            if not self._plugged:
                raise trio.BrokenResourceError("the USB cable is unplugged")
            if not self._to_terminal:
                return None
            data = bytes(self._to_terminal[:size])
            del self._to_terminal[:size]
            self._wake_all()
            return data

    def _terminal_put(self, data: bytes) -> bool:
        with self._cond:
            if not self._plugged:
                raise trio.BrokenResourceError("the USB cable is unplugged")
            if len(self._from_terminal) >= self.buffer_limit:
                return False
            self._from_terminal += data
            self._wake_all()
            return True

    async def _terminal_wait(self, attempt: Callable[[], Any]) -> Any:
        """Run `attempt` until it gives something other than None/False, sleeping in between
        until a pyusb thread (or unplug/plug) changes the state."""
        while True:
            event = trio.Event()
            token = trio.lowlevel.current_trio_token()
            with self._cond:
                result = attempt()
                if result is not None and result is not False:
                    return result

                def wake(
                    event: trio.Event = event, token: trio.lowlevel.TrioToken = token
                ) -> None:
                    token.run_sync_soon(event.set)

                self._trio_wakers.append(wake)
            try:
                await event.wait()
            finally:
                with self._cond:
                    if wake in self._trio_wakers:
                        self._trio_wakers.remove(wake)


class FakeUsbTerminalPort(trio.abc.Stream):
    """The terminal's end of the fake cable: a trio stream for the simulator's ZVT code.

    While the cable is unplugged, sending and receiving raise `trio.BrokenResourceError`;
    after `plug()` they work again, for the new connection.
    """

    def __init__(self, backend: FakeUsbBackend) -> None:
        self.backend = backend
        self._closed = False
        self._sending = False
        self._receiving = False

    def unplug(self) -> None:
        self.backend.unplug()

    def plug(self) -> None:
        self.backend.plug()

    def _check_open(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the fake USB terminal port was closed")

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is already sending on this port")
        self._sending = True
        try:
            self._check_open()
            await trio.lowlevel.checkpoint()
            payload = bytes(data)
            step = self.backend.buffer_limit
            for start in range(0, len(payload), step):
                chunk = payload[start:start + step]
                await self.backend._terminal_wait(functools.partial(self._put, chunk))
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        self._check_open()
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._receiving:
            raise trio.BusyResourceError("another task is already receiving on this port")
        self._receiving = True
        try:
            self._check_open()
            size = DEFAULT_RECEIVE_SIZE if max_bytes is None else operator.index(max_bytes)
            if size < 1:
                raise ValueError("max_bytes must be at least 1")
            await trio.lowlevel.checkpoint()
            data: bytes = await self.backend._terminal_wait(lambda: self._take(size))
            return data
        finally:
            self._receiving = False

    def _take(self, size: int) -> bytes | None:
        self._check_open()
        return self.backend._terminal_take(size)

    def _put(self, data: bytes) -> bool:
        self._check_open()
        return self.backend._terminal_put(data)

    async def aclose(self) -> None:
        """Close this stream (the simulator is done); the cable stays as it is."""
        if not self._closed:
            self._closed = True
            self.backend._wake_trio_waiters()
        await trio.lowlevel.checkpoint()


def fake_usb_terminal(
    vendor_id: int = TEST_VENDOR_ID, product_id: int = TEST_PRODUCT_ID, **identity: Any
) -> FakeUsbTerminalPort:
    """A fake device; `.backend` goes to the gateway, the port itself to the simulator."""
    return FakeUsbBackend(
        FakeUsbIdentity(vendor_id=vendor_id, product_id=product_id, **identity)
    ).terminal
