"""The terminal's end of a simulated serial cable: a pseudo-terminal pair.

`open_pty_pair()` makes the pair; the gateway opens `link.device_path` as if it were
/dev/ttyUSB0, and the simulator reads and writes the `PtyLink` itself, a trio stream over the
pty's master side. Both sides are raw (no echo, no CR/LF translation, no XON/XOFF), so every
byte value passes unchanged. The link keeps its own handle on the device side, so the line
stays up while the gateway closes and reopens the port, as a cable does; closing the link is
pulling the cable: the gateway's next read fails (its `SerialStream` raises `DeviceGone`).

Speed is not simulated: bytes move as fast as the kernel copies them; `baudrate` is set on the
line for realism and reported. This module uses no part of the gateway (DESIGN.md section 2),
hence its own small fd stream.
"""

from __future__ import annotations

import errno
import operator
import os
import termios
from pathlib import Path

import trio

DEFAULT_RECEIVE_SIZE = 4096
_SPEEDS = {9600: termios.B9600, 19200: termios.B19200, 38400: termios.B38400,
           57600: termios.B57600, 115200: termios.B115200}


def _make_raw(fd: int, baudrate: int) -> None:
    """Raw 8N2 at `baudrate`: what a ZVT terminal's UART would be set to."""
    iflag, oflag, cflag, lflag, _ispeed, _ospeed, cc = termios.tcgetattr(fd)
    iflag &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
               | termios.IGNCR | termios.ICRNL | termios.IXON | termios.IXOFF | termios.IXANY
               | termios.INPCK)
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cflag &= ~(termios.CSIZE | termios.PARENB)
    cflag |= termios.CS8 | termios.CSTOPB | termios.CREAD | termios.CLOCAL
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    speed = _SPEEDS[baudrate]
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, speed, speed, cc])


class PtyLink(trio.abc.Stream):
    """The simulator's side of the line; `device_path` is what the gateway opens."""

    def __init__(self, master: int, slave: int, baudrate: int, link: Path | None) -> None:
        self._master = master
        self._slave = slave  # held so the line survives the gateway closing its side
        self.baudrate = baudrate
        self.slave_path = os.ttyname(slave)
        self._link = link
        self.device_path = str(link) if link is not None else self.slave_path
        self._closed = False
        self._sending = False
        self._receiving = False

    def _check_open(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the pty link was closed")

    @staticmethod
    def _broken(exc: OSError) -> trio.BrokenResourceError:
        return trio.BrokenResourceError(f"the serial line is down: {exc}")

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is already sending on this link")
        self._sending = True
        try:
            self._check_open()
            payload = memoryview(bytes(data))
            await trio.lowlevel.checkpoint_if_cancelled()
            sent = 0
            while sent < len(payload):
                self._check_open()
                try:
                    sent += os.write(self._master, payload[sent:])
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(self._master)
                except OSError as exc:
                    raise self._broken(exc) from exc
            await trio.lowlevel.cancel_shielded_checkpoint()
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        self._check_open()
        await trio.lowlevel.wait_writable(self._master)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._receiving:
            raise trio.BusyResourceError("another task is already receiving on this link")
        self._receiving = True
        try:
            self._check_open()
            size = DEFAULT_RECEIVE_SIZE if max_bytes is None else operator.index(max_bytes)
            if size < 1:
                raise ValueError("max_bytes must be at least 1")
            await trio.lowlevel.checkpoint_if_cancelled()
            while True:
                self._check_open()
                try:
                    data = os.read(self._master, size)
                except BlockingIOError:
                    await trio.lowlevel.wait_readable(self._master)
                    continue
                except OSError as exc:
                    raise self._broken(exc) from exc
                if not data:
                    raise self._broken(OSError(errno.EIO, "hung up"))
                await trio.lowlevel.cancel_shielded_checkpoint()
                return data
        finally:
            self._receiving = False

    async def aclose(self) -> None:
        """Pull the cable: the gateway's side sees the device vanish."""
        if not self._closed:
            self._closed = True
            trio.lowlevel.notify_closing(self._master)
            os.close(self._master)
            os.close(self._slave)
            link = self._link
            if link is not None and link.is_symlink() and os.readlink(link) == self.slave_path:
                link.unlink()
        await trio.lowlevel.checkpoint()


def open_pty_pair(baudrate: int = 9600, *, link: str | os.PathLike[str] | None = None) -> PtyLink:
    """A new pty pair, both sides raw; with `link`, a symlink there (re)pointed at the device
    side, so a gateway configured with a fixed path finds each new pair as a re-plugged port."""
    if baudrate not in _SPEEDS:
        raise ValueError(f"unsupported baud rate {baudrate}; one of {sorted(_SPEEDS)}")
    master, slave = os.openpty()
    try:
        _make_raw(slave, baudrate)
        _make_raw(master, baudrate)
        os.set_blocking(master, False)
        link_path = None
        if link is not None:
            link_path = Path(link)
            staging = link_path.with_name(f".{link_path.name}.{os.getpid()}.new")
            staging.unlink(missing_ok=True)
            staging.symlink_to(os.ttyname(slave))
            os.replace(staging, link_path)  # atomic: never a moment with no or a stale link
    except BaseException:
        os.close(master)
        os.close(slave)
        raise
    return PtyLink(master, slave, baudrate, link_path)
