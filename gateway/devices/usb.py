"""A terminal on USB with a vendor-specific bulk interface, as a trio stream (pyusb).

pyusb's calls block, so each runs in a worker thread under a `trio.CapacityLimiter`, and each
is short: reads and writes move one packet (wMaxPacketSize) with a 100 ms timeout and are
repeated until they succeed. Short calls keep cancellation prompt (a cancelled task waits at
most one timeout for its thread). One packet per transfer also means a timed-out transfer
moved nothing: pyusb drops the byte count of a transfer that times out part-way.

The pyusb backend is a parameter everywhere (None = libusb as installed), so the tests and the
simulator can plug in `firmware_sim.usb_fake`.
"""

from __future__ import annotations

import errno
import operator
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import usb.core
import usb.util

from gateway.devices._guard import ConflictGuard
from gateway.devices.errors import DeviceGone, DeviceUnavailable
from medipay.logs import get_logger

log = get_logger(__name__)

# Longest a worker thread blocks in one transfer: the bound on cancellation latency.
READ_TIMEOUT_MS = 100
WRITE_TIMEOUT_MS = 100
DEFAULT_RECEIVE_SIZE = 4096
# libusb's error code for a vanished device (LIBUSB_ERROR_NO_DEVICE); pyusb maps it to ENODEV.
_LIBUSB_ERROR_NO_DEVICE = -4


def _label(vendor_id: int, product_id: int) -> str:
    return f"usb:{vendor_id:04x}:{product_id:04x}"


def _is_gone(exc: usb.core.USBError) -> bool:
    return exc.errno == errno.ENODEV or exc.backend_error_code == _LIBUSB_ERROR_NO_DEVICE


def _is_bulk(direction: int) -> Callable[[Any], bool]:
    def match(endpoint: Any) -> bool:
        return bool(
            usb.util.endpoint_direction(endpoint.bEndpointAddress) == direction
            and usb.util.endpoint_type(endpoint.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
        )

    return match


class UsbStream(trio.abc.Stream):
    """Bytes to a terminal's bulk OUT endpoint and from its bulk IN endpoint; see `open_usb`."""

    def __init__(
        self,
        device: Any,
        *,
        name: str,
        interface: int,
        endpoint_in: Any,
        endpoint_out: Any,
        limiter: trio.CapacityLimiter,
        read_timeout_ms: int = READ_TIMEOUT_MS,
        write_timeout_ms: int = WRITE_TIMEOUT_MS,
    ) -> None:
        self.name = name
        self._device = device
        self._interface = interface
        self._in = int(endpoint_in.bEndpointAddress)
        self._out = int(endpoint_out.bEndpointAddress)
        self.in_packet_size = int(endpoint_in.wMaxPacketSize)
        self.out_packet_size = int(endpoint_out.wMaxPacketSize)
        self._limiter = limiter
        self._read_timeout_ms = read_timeout_ms
        self._write_timeout_ms = write_timeout_ms
        self._pending = bytearray()  # the rest of a packet larger than the caller asked for
        self._closed = False
        self._vanish_logged = False
        self._threads = 0
        self._threads_done: trio.Event | None = None
        self._send_guard = ConflictGuard("sending on this USB device")
        self._receive_guard = ConflictGuard("receiving from this USB device")

    def _check_open(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError(f"USB stream for {self.name} was closed")

    def _translate(self, exc: usb.core.USBError) -> trio.BrokenResourceError:
        if _is_gone(exc):
            if not self._vanish_logged:
                self._vanish_logged = True
                log.warning("device.vanished", device=self.name, detail=str(exc))
            return DeviceGone(f"USB device {self.name} is gone: {exc}", device=self.name)
        return trio.BrokenResourceError(f"USB transfer with {self.name} failed: {exc}")

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        self._check_open()
        self._threads += 1
        try:
            return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter)
        except usb.core.USBError as exc:
            raise self._translate(exc) from exc
        finally:
            self._threads -= 1
            if self._threads == 0 and self._threads_done is not None:
                self._threads_done.set()

    def _read_packet(self) -> bytes | None:
        try:
            data = self._device.read(self._in, self.in_packet_size, self._read_timeout_ms)
        except usb.core.USBTimeoutError:
            return None
        return bytes(data)

    def _write_packet(self, packet: bytes) -> int:
        try:
            return int(self._device.write(self._out, packet, self._write_timeout_ms))
        except usb.core.USBTimeoutError:
            return 0

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        with self._send_guard:
            self._check_open()
            payload = bytes(data)
            if not payload:
                await trio.lowlevel.checkpoint()
                return
            sent = 0
            while sent < len(payload):
                # Each call checks for cancellation before it starts a transfer.
                sent += await self._in_thread(
                    self._write_packet, payload[sent:sent + self.out_packet_size]
                )

    async def wait_send_all_might_not_block(self) -> None:
        with self._send_guard:
            self._check_open()
            await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        with self._receive_guard:
            self._check_open()
            size = DEFAULT_RECEIVE_SIZE if max_bytes is None else operator.index(max_bytes)
            if size < 1:
                raise ValueError("max_bytes must be at least 1")
            if not self._pending:
                while True:
                    packet = await self._in_thread(self._read_packet)
                    if packet:  # None: timed out, b"": a zero-length packet; read on
                        self._pending += packet
                        break
            else:
                await trio.lowlevel.checkpoint()
            data = bytes(self._pending[:size])
            del self._pending[:size]
            return data

    def _dispose(self) -> None:
        try:
            usb.util.release_interface(self._device, self._interface)
        except usb.core.USBError as exc:  # normal when the device is already gone
            log.debug("usb.release_failed", device=self.name, error=str(exc))
        usb.util.dispose_resources(self._device)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            with trio.CancelScope(shield=True):
                # A transfer still running in a thread ends within its timeout; wait for it,
                # so the handle is not closed under it.
                while self._threads:
                    self._threads_done = trio.Event()
                    await self._threads_done.wait()
                await trio.to_thread.run_sync(self._dispose, limiter=self._limiter)
            log.debug("device.closed", device=self.name)
        await trio.lowlevel.checkpoint()


def find_usb_device(
    vendor_id: int, product_id: int, *, serial_number: str | None = None, backend: Any = None
) -> Any:
    """The first matching `usb.core.Device`, or None. Blocking; raises NoBackendError."""

    def has_serial(device: Any) -> bool:
        try:
            return bool(device.serial_number == serial_number)
        except (usb.core.USBError, ValueError) as exc:
            log.debug("usb.serial_unreadable", vid=vendor_id, pid=product_id, error=str(exc))
            return False

    return usb.core.find(
        idVendor=vendor_id,
        idProduct=product_id,
        backend=backend,
        custom_match=None if serial_number is None else has_serial,
    )


def _no_backend(label: str) -> DeviceUnavailable:
    return DeviceUnavailable(
        f"cannot look for {label}: no USB library found (install libusb-1.0)", device=label
    )


def _claim(device: Any, label: str, interface: int, configuration: int | None) -> tuple[Any, Any]:
    """Set the configuration, claim `interface`, return its (bulk IN, bulk OUT) endpoints."""
    try:
        driver_active = bool(device.is_kernel_driver_active(interface))
    except (NotImplementedError, usb.core.USBError) as exc:
        # Only Linux can tell (and detach); elsewhere there is nothing to detach.
        log.debug("usb.kernel_driver_unknown", device=label, error=str(exc))
        driver_active = False
    if driver_active:
        device.detach_kernel_driver(interface)
    device.set_configuration(configuration)
    usb.util.claim_interface(device, interface)
    setting = usb.util.find_descriptor(
        device.get_active_configuration(), bInterfaceNumber=interface
    )
    if setting is None:
        raise DeviceUnavailable(f"{label} has no interface {interface}", device=label)
    endpoint_in = usb.util.find_descriptor(setting, custom_match=_is_bulk(usb.util.ENDPOINT_IN))
    endpoint_out = usb.util.find_descriptor(setting, custom_match=_is_bulk(usb.util.ENDPOINT_OUT))
    if endpoint_in is None or endpoint_out is None:
        raise DeviceUnavailable(
            f"{label} interface {interface} lacks a bulk IN and a bulk OUT endpoint", device=label
        )
    return endpoint_in, endpoint_out


async def open_usb(
    vendor_id: int,
    product_id: int,
    *,
    serial_number: str | None = None,
    backend: Any = None,
    interface: int = 0,
    configuration: int | None = None,
    limiter: trio.CapacityLimiter | None = None,
    read_timeout_ms: int = READ_TIMEOUT_MS,
    write_timeout_ms: int = WRITE_TIMEOUT_MS,
) -> UsbStream:
    """Find the device, claim `interface`, and return a stream over its bulk endpoints.

    `DeviceUnavailable` if no such device, no USB library, no permission, or the interface is
    claimed elsewhere. `limiter` bounds this stream's worker threads (default: 2, one reader
    and one writer).
    """
    label = _label(vendor_id, product_id)
    limiter = limiter or trio.CapacityLimiter(2)

    def setup() -> UsbStream:
        try:
            device = find_usb_device(
                vendor_id, product_id, serial_number=serial_number, backend=backend
            )
        except usb.core.NoBackendError as exc:
            raise _no_backend(label) from exc
        if device is None:
            wanted = label if serial_number is None else f"{label} serial {serial_number}"
            raise DeviceUnavailable(f"no USB device {wanted} is connected", device=label,
                                    errno=errno.ENODEV)
        try:
            endpoint_in, endpoint_out = _claim(device, label, interface, configuration)
        except usb.core.USBError as exc:
            usb.util.dispose_resources(device)
            if exc.errno in (errno.EACCES, errno.EPERM):
                text = (f"no permission to use {label}: install the udev rule from "
                        "docs/devices.md")
            elif exc.errno == errno.EBUSY:
                text = f"{label} interface {interface} is claimed by another process or driver"
            else:
                text = f"cannot open {label}: {exc}"
            raise DeviceUnavailable(text, device=label, errno=exc.errno) from exc
        except DeviceUnavailable:
            usb.util.dispose_resources(device)
            raise
        return UsbStream(
            device, name=label, interface=interface, endpoint_in=endpoint_in,
            endpoint_out=endpoint_out, limiter=limiter, read_timeout_ms=read_timeout_ms,
            write_timeout_ms=write_timeout_ms,
        )

    stream: UsbStream = await trio.to_thread.run_sync(setup, limiter=limiter)
    log.info("device.opened", device=label, packet_size=stream.in_packet_size)
    return stream


async def wait_for_usb_device(
    vendor_id: int,
    product_id: int,
    *,
    serial_number: str | None = None,
    backend: Any = None,
    poll_interval: float = 1.0,
) -> Any:
    """Poll until the device is connected and return its `usb.core.Device` (hot-plug).

    `DeviceUnavailable` at once when there is no USB library: waiting would not help.
    """
    label = _label(vendor_id, product_id)
    polls = 0
    while True:
        polls += 1
        try:
            device = await trio.to_thread.run_sync(
                lambda: find_usb_device(
                    vendor_id, product_id, serial_number=serial_number, backend=backend
                )
            )
        except usb.core.NoBackendError as exc:
            raise _no_backend(label) from exc
        if device is not None:
            log.info("device.appeared", device=label, polls=polls)
            return device
        await trio.sleep(poll_interval)


def usb_opener(
    vendor_id: int, product_id: int, *, serial_number: str | None = None, backend: Any = None
) -> Callable[[], Awaitable[UsbStream]]:
    """An `open_stream` callable for `ZvtTerminal`."""

    async def open_stream() -> UsbStream:
        return await open_usb(
            vendor_id, product_id, serial_number=serial_number, backend=backend
        )

    return open_stream
