"""The transport layer's own errors.

Both fit the exceptions callers already handle: a device that disappears mid-conversation is a
`trio.BrokenResourceError` (what any broken trio stream raises), and a device that cannot be
opened is an `OSError` (what `gateway.terminal.ZvtTerminal` turns into `TerminalUnavailable`).
"""

from __future__ import annotations

import trio


class DeviceError(Exception):
    """Base of the errors raised by `gateway.devices`."""


class DeviceGone(DeviceError, trio.BrokenResourceError):
    """An open device vanished: adapter unplugged, cable pulled, the other end closed.

    The stream is unusable; close it and open the device again (see `open_serial_with_retry`).
    """

    def __init__(self, message: str, *, device: str) -> None:
        super().__init__(message)
        self.device = device


class DeviceUnavailable(DeviceError, OSError):
    """A device could not be opened: missing, held by another process, no permission, refused.

    `errno` is the operating system's error number when there was one, else None.
    """

    def __init__(self, message: str, *, device: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.device = device
        self.errno = errno


class UnsupportedBaudrate(DeviceError, ValueError):
    """ZVT over RS-232 runs at 9600 or 115200 baud; anything else is a configuration mistake."""
