"""Listing serial ports and USB devices."""

from __future__ import annotations

import pytest
import usb.core
from rich.console import Console

from firmware_sim.usb_fake import FakeUsbTerminalPort
from gateway.devices.discovery import (
    NO_LIBUSB_NOTE,
    Discovery,
    SerialPortInfo,
    UsbDeviceInfo,
    discover,
    format_device_table,
    list_serial_ports,
    list_usb_devices,
)


def test_lists_the_fake_usb_terminal_with_its_strings(usb_port: FakeUsbTerminalPort) -> None:
    [device] = list_usb_devices(usb_port.backend)
    assert device == UsbDeviceInfo(
        vendor_id=0x1209, product_id=0x0007, bus=1, address=7,
        manufacturer="MediPay simulator", product="ZVT terminal (simulated)",
        serial_number="SIM-0001",
    )
    assert device.id == "1209:0007"
    usb_port.unplug()
    assert list_usb_devices(usb_port.backend) == []
    usb_port.plug()
    assert [d.address for d in list_usb_devices(usb_port.backend)] == [8]  # re-enumerated


def test_serial_ports_are_a_list_whatever_the_machine_has() -> None:
    ports = list_serial_ports()
    assert isinstance(ports, list)
    assert all(isinstance(port, SerialPortInfo) and port.device for port in ports)


def test_no_usb_library_gives_an_empty_list_and_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_backend(**kwargs: object) -> None:
        raise usb.core.NoBackendError("No backend available")

    monkeypatch.setattr(usb.core, "find", no_backend)
    assert list_usb_devices() == []
    found = discover()
    assert found.usb_devices == [] and found.notes == [NO_LIBUSB_NOTE]


def test_the_table_shows_every_device_and_the_notes() -> None:
    found = Discovery(
        serial_ports=[SerialPortInfo("/dev/ttyUSB0", "FT232R USB UART", vendor_id=0x0403,
                                     product_id=0x6001, serial_number="A1")],
        usb_devices=[UsbDeviceInfo(0x1209, 0x0007, bus=1, address=7, product="ZVT terminal")],
        notes=["a note"],
    )
    console = Console(record=True, width=120)
    console.print(format_device_table(found))
    text = console.export_text()
    for expected in ("/dev/ttyUSB0", "0403:6001", "FT232R", "1209:0007", "bus 1 address 7",
                     "ZVT terminal", "a note"):
        assert expected in text
