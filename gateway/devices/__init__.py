"""Transports to card terminals: serial lines, TCP and USB, each a `trio.abc.Stream` of raw bytes.

`gateway.terminal.ZvtTerminal` takes an `open_stream` callable; `serial_opener`, `tcp_opener`
and `usb_opener` make one. Framing (ZVT's DLE STX ... CRC on serial lines) is the protocol
package's business; these streams carry bytes unchanged. See docs/devices.md.
"""

from gateway.devices.errors import DeviceError, DeviceGone, DeviceUnavailable, UnsupportedBaudrate
from gateway.devices.reopen import Backoff, open_serial_with_retry, serial_opener
from gateway.devices.serial_port import ZVT_BAUDRATES, SerialStream, open_serial
from gateway.devices.tcp import ZVT_TCP_PORT, open_tcp, tcp_opener
from gateway.devices.usb import (
    UsbStream,
    find_usb_device,
    open_usb,
    usb_opener,
    wait_for_usb_device,
)

__all__ = [
    "ZVT_BAUDRATES",
    "ZVT_TCP_PORT",
    "Backoff",
    "DeviceError",
    "DeviceGone",
    "DeviceUnavailable",
    "SerialStream",
    "UnsupportedBaudrate",
    "UsbStream",
    "find_usb_device",
    "open_serial",
    "open_serial_with_retry",
    "open_tcp",
    "open_usb",
    "serial_opener",
    "tcp_opener",
    "usb_opener",
    "wait_for_usb_device",
]
