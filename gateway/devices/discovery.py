"""What is plugged in: serial ports and USB devices, for `medipay gateway devices`.

Blocking calls (they read sysfs and USB descriptors); from trio code run them in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import usb.core
import usb.util
from rich.table import Table
from serial.tools import list_ports

from medipay.logs import get_logger

log = get_logger(__name__)

NO_LIBUSB_NOTE = (
    "USB devices not listed: no USB library found (install libusb-1.0, e.g. "
    "'apt install libusb-1.0-0')"
)


@dataclass(frozen=True)
class SerialPortInfo:
    device: str  # the path to give `open_serial`, e.g. /dev/ttyUSB0 or a udev symlink
    description: str | None = None
    hwid: str | None = None
    vendor_id: int | None = None  # set for USB-serial adapters
    product_id: int | None = None
    serial_number: str | None = None
    manufacturer: str | None = None
    product: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class UsbDeviceInfo:
    vendor_id: int
    product_id: int
    bus: int | None = None
    address: int | None = None
    manufacturer: str | None = None  # None when unreadable (often: no permission)
    product: str | None = None
    serial_number: str | None = None

    @property
    def id(self) -> str:
        return f"{self.vendor_id:04x}:{self.product_id:04x}"


@dataclass(frozen=True)
class Discovery:
    serial_ports: list[SerialPortInfo]
    usb_devices: list[UsbDeviceInfo]
    notes: list[str] = field(default_factory=list)  # why a list may be incomplete


def _text(value: Any) -> str | None:
    return None if value in (None, "", "n/a") else str(value)


def list_serial_ports() -> list[SerialPortInfo]:
    """The serial ports the OS knows, udev symlinks to them included."""
    return [
        SerialPortInfo(
            device=port.device,
            description=_text(port.description),
            hwid=_text(port.hwid),
            vendor_id=port.vid,
            product_id=port.pid,
            serial_number=_text(port.serial_number),
            manufacturer=_text(port.manufacturer),
            product=_text(port.product),
            location=_text(port.location),
        )
        for port in sorted(list_ports.comports(include_links=True), key=lambda p: p.device)
    ]


def _read_string(device: Any, name: str) -> str | None:
    """A string descriptor, or None: reading one needs the device opened, which a non-root
    user may not be allowed to do; the IDs are listed regardless."""
    try:
        return _text(getattr(device, name))
    except (usb.core.USBError, ValueError, NotImplementedError) as exc:
        log.debug("usb.string_unreadable", device=f"{device.idVendor:04x}:{device.idProduct:04x}",
                  field=name, error=str(exc))
        return None


def _usb_devices(backend: Any) -> list[UsbDeviceInfo]:
    found = []
    for device in usb.core.find(find_all=True, backend=backend):
        found.append(UsbDeviceInfo(
            vendor_id=int(device.idVendor),
            product_id=int(device.idProduct),
            bus=device.bus,
            address=device.address,
            manufacturer=_read_string(device, "manufacturer"),
            product=_read_string(device, "product"),
            serial_number=_read_string(device, "serial_number"),
        ))
        usb.util.dispose_resources(device)  # reading strings opened it
    return found


def list_usb_devices(backend: Any = None) -> list[UsbDeviceInfo]:
    """Connected USB devices; empty (and a warning logged) when libusb is not installed."""
    try:
        return _usb_devices(backend)
    except usb.core.NoBackendError:
        log.warning("device.usb_unavailable", note=NO_LIBUSB_NOTE)
        return []


def discover(backend: Any = None) -> Discovery:
    """Serial ports and USB devices, with notes on anything that could not be listed."""
    notes: list[str] = []
    try:
        usb_devices = _usb_devices(backend)
    except usb.core.NoBackendError:
        usb_devices = []
        notes.append(NO_LIBUSB_NOTE)
    return Discovery(serial_ports=list_serial_ports(), usb_devices=usb_devices, notes=notes)


def format_device_table(discovery: Discovery) -> Table:
    """One row per device; the notes go under the table."""
    table = Table(title="Devices", caption="\n".join(discovery.notes) or None)
    for column in ("kind", "device", "vid:pid", "description", "serial number"):
        table.add_column(column)
    for port in discovery.serial_ports:
        ids = (f"{port.vendor_id:04x}:{port.product_id:04x}"
               if port.vendor_id is not None and port.product_id is not None else "")
        table.add_row("serial", port.device, ids, port.description or "",
                      port.serial_number or "")
    for dev in discovery.usb_devices:
        where = f"bus {dev.bus} address {dev.address}" if dev.bus is not None else ""
        what = " ".join(part for part in (dev.manufacturer, dev.product) if part)
        table.add_row("usb", where, dev.id, what, dev.serial_number or "")
    return table
