"""A serial line (RS-232 port or USB-serial adapter) as a trio stream of raw bytes.

pyserial opens and configures the port: 8 data bits, no parity and, by default, 2 stop bits,
because ZVT's serial line is 8N2. From then on the stream reads and writes the port's
non-blocking file descriptor itself and waits with trio's readiness notification, so no worker
thread is ever parked on a port and cancelling a pending read is immediate. POSIX only.

The bytes are raw: ZVT's serial framing (DLE STX ... DLE ETX CRC, ACK/NAK) belongs to
`gateway.protocols.zvt`, not to this module.
"""

from __future__ import annotations

import errno
import operator
import os
import termios

import serial
import trio

from gateway.devices._guard import ConflictGuard
from gateway.devices.errors import DeviceGone, DeviceUnavailable, UnsupportedBaudrate
from medipay.logs import get_logger

log = get_logger(__name__)

# The ZVT specification allows these two speeds on its serial line; 9600 is the default of
# most terminals. Anything else is almost always a typo in the configuration.
ZVT_BAUDRATES = frozenset({9600, 115200})
STOPBITS = {1: serial.STOPBITS_ONE, 1.5: serial.STOPBITS_ONE_POINT_FIVE, 2: serial.STOPBITS_TWO}
# Default read size: larger than any ZVT APDU (a few hundred bytes), small enough to be cheap.
DEFAULT_RECEIVE_SIZE = 4096
# How a tty says "the device behind me is gone": EIO after a hang-up or when a pty's other side
# closed, ENXIO/ENODEV when the driver was unbound (adapter unplugged), EPIPE on some drivers.
_GONE_ERRNOS = frozenset({errno.EIO, errno.ENXIO, errno.ENODEV, errno.EPIPE})
_BUSY_ERRNOS = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY})
_MISSING_ERRNOS = frozenset({errno.ENOENT, errno.ENODEV, errno.ENXIO})


class SerialStream(trio.abc.Stream):
    """A trio stream over an open serial port; obtain one with `open_serial`.

    `receive_some` never returns b"" (a serial line has no end-of-file): a port that goes away
    raises `DeviceGone` instead. `send_eof` is not offered; this is not a half-closeable stream.
    """

    def __init__(self, port: serial.Serial, path: str) -> None:
        self._port = port
        self._fd: int = port.fileno()
        self.path = path
        self.baudrate: int = port.baudrate
        self._closed = False
        self._vanish_logged = False
        self._send_guard = ConflictGuard("sending on this serial port")
        self._receive_guard = ConflictGuard("receiving from this serial port")

    def fileno(self) -> int:
        return self._fd

    def _check_open(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError(f"serial stream for {self.path} was closed")

    def _gone(self, detail: str) -> DeviceGone:
        if not self._vanish_logged:
            self._vanish_logged = True
            log.warning("device.vanished", device=self.path, detail=detail)
        return DeviceGone(f"serial device {self.path} is gone: {detail}", device=self.path)

    def _translate(self, exc: OSError) -> trio.BrokenResourceError | trio.ClosedResourceError:
        if self._closed:
            return trio.ClosedResourceError(f"serial stream for {self.path} was closed")
        if exc.errno in _GONE_ERRNOS:
            return self._gone(os.strerror(exc.errno or 0))
        return trio.BrokenResourceError(f"serial I/O on {self.path} failed: {exc}")

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        with self._send_guard:
            self._check_open()
            with memoryview(data) as raw, raw.cast("B") as view:
                if not view:
                    await trio.lowlevel.checkpoint()
                    return
                await trio.lowlevel.checkpoint_if_cancelled()
                sent = 0
                while sent < len(view):
                    self._check_open()
                    try:
                        sent += os.write(self._fd, view[sent:])
                    except BlockingIOError:
                        await trio.lowlevel.wait_writable(self._fd)
                    except OSError as exc:
                        raise self._translate(exc) from exc
                await trio.lowlevel.cancel_shielded_checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        with self._send_guard:
            self._check_open()
            await trio.lowlevel.wait_writable(self._fd)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        with self._receive_guard:
            self._check_open()
            size = DEFAULT_RECEIVE_SIZE if max_bytes is None else operator.index(max_bytes)
            if size < 1:
                raise ValueError("max_bytes must be at least 1")
            await trio.lowlevel.checkpoint_if_cancelled()
            while True:
                self._check_open()
                try:
                    data = os.read(self._fd, size)
                except BlockingIOError:
                    await trio.lowlevel.wait_readable(self._fd)
                    continue
                except OSError as exc:
                    raise self._translate(exc) from exc
                if not data:
                    # With VMIN=1 an empty read happens only on a hung-up tty.
                    raise self._gone("the line was hung up")
                await trio.lowlevel.cancel_shielded_checkpoint()
                return data

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            trio.lowlevel.notify_closing(self._fd)
            # Closing a tty waits for queued output to drain (the terminal's last ACK must
            # leave), which on real hardware can take a while: do it off the event loop, and
            # finish it even if the caller is being cancelled.
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._port.close)
            log.debug("device.closed", device=self.path)
        await trio.lowlevel.checkpoint()


def _unavailable(path: str, exc: OSError) -> DeviceUnavailable:
    code = exc.errno
    if code in _MISSING_ERRNOS:
        text = f"serial device {path} does not exist (is the terminal or adapter plugged in?)"
    elif code in (errno.EACCES, errno.EPERM):
        text = (f"no permission to open {path}: add the gateway's user to the group that owns it "
                "(often 'dialout') or install the udev rule from docs/devices.md")
    elif code in _BUSY_ERRNOS:
        text = f"serial device {path} is in use by another process"
    elif code is None:
        text = f"{path} is not a usable serial port: {exc}"
    else:
        text = f"cannot open serial device {path}: {exc}"
    return DeviceUnavailable(text, device=path, errno=code)


def _wait_for_one_byte(fd: int) -> None:
    """VMIN=1, VTIME=0: a read returns as soon as a byte is there, and with O_NONBLOCK an empty
    line gives EAGAIN, so an empty read can only mean a hang-up (pyserial leaves VMIN=0)."""
    attrs = termios.tcgetattr(fd)
    attrs[6][termios.VMIN] = 1
    attrs[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def check_baudrate(baudrate: int, *, allow_any_baudrate: bool = False) -> None:
    if baudrate <= 0:
        raise UnsupportedBaudrate(f"baud rate must be positive, got {baudrate}")
    if not allow_any_baudrate and baudrate not in ZVT_BAUDRATES:
        allowed = " or ".join(str(b) for b in sorted(ZVT_BAUDRATES))
        raise UnsupportedBaudrate(
            f"ZVT serial lines run at {allowed} baud, not {baudrate} "
            "(pass allow_any_baudrate=True for other devices)"
        )


async def open_serial(
    path: str,
    baudrate: int = 9600,
    *,
    stopbits: float = 2,
    allow_any_baudrate: bool = False,
) -> SerialStream:
    """Open `path` exclusively as 8 data bits, no parity, `stopbits` stop bits (ZVT: 8N2).

    Raises `UnsupportedBaudrate` for a speed ZVT does not use (unless `allow_any_baudrate`),
    `DeviceUnavailable` (an OSError) if the port is missing, locked by another process (pyserial
    takes an exclusive flock) or not permitted.
    """
    check_baudrate(baudrate, allow_any_baudrate=allow_any_baudrate)
    if stopbits not in STOPBITS:
        raise ValueError(f"stop bits must be 1, 1.5 or 2, not {stopbits}")
    await trio.lowlevel.checkpoint()
    # pyserial opens with O_NONBLOCK, so this does not block even on a silent line.
    try:
        port = serial.Serial(
            path,
            baudrate,
            bytesize=serial.EIGHTBITS,
            parity=serial.PARITY_NONE,
            stopbits=STOPBITS[stopbits],
            timeout=0,
            write_timeout=0,
            exclusive=True,
        )
    except (serial.SerialException, OSError) as exc:
        raise _unavailable(path, exc) from exc
    try:
        _wait_for_one_byte(port.fileno())
        os.set_blocking(port.fileno(), False)
    except (termios.error, OSError) as exc:
        port.close()
        code = exc.errno if isinstance(exc, OSError) else None
        raise DeviceUnavailable(
            f"cannot configure serial device {path}: {exc}", device=path, errno=code
        ) from exc
    log.info("device.opened", device=path, baudrate=baudrate, stopbits=stopbits)
    return SerialStream(port, path)
