"""Getting a serial terminal back after its adapter was unplugged, or before it is plugged in.

How the terminal manager uses it: `ZvtTerminal` takes an `open_stream` callable. When a
conversation fails with `DeviceGone` (a `trio.BrokenResourceError`) the terminal closes its
stream; its next command calls `open_stream` again. With `serial_opener(path, retry=Backoff())`
that call waits, retrying with exponential backoff, until the device is back, logging
`device.unavailable` for each failed attempt and `device.reopened` when it succeeds. Without
`retry` a missing device fails at once with `DeviceUnavailable`, which `ZvtTerminal` reports as
`TerminalUnavailable`. Either way, bound the wait with a cancel scope at the call site.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import trio

from gateway.devices.errors import DeviceUnavailable
from gateway.devices.serial_port import SerialStream, open_serial
from medipay.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts: `initial`, then times `factor`, capped at `maximum` seconds.

    The defaults notice a re-plugged adapter within half a second at first, and settle at one
    attempt every 30 s for a terminal that stays away (cheap, and not a log line per second).
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial or self.factor < 1:
            raise ValueError(f"invalid backoff {self}")

    def delays(self) -> Iterator[float]:
        delay = self.initial
        while True:
            yield delay
            delay = min(delay * self.factor, self.maximum)


async def open_serial_with_retry(
    path: str,
    baudrate: int = 9600,
    *,
    backoff: Backoff = Backoff(),
    max_attempts: int | None = None,
    stopbits: float = 2,
    allow_any_baudrate: bool = False,
) -> SerialStream:
    """`open_serial`, retried on `DeviceUnavailable` until it works or `max_attempts` fail.

    The last `DeviceUnavailable` is raised when the attempts run out; a bad baud rate is raised
    at once (retrying cannot fix it).
    """
    if max_attempts is not None and max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    delays = backoff.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            stream = await open_serial(
                path, baudrate, stopbits=stopbits, allow_any_baudrate=allow_any_baudrate
            )
        except DeviceUnavailable as exc:
            if max_attempts is not None and attempt >= max_attempts:
                raise
            delay = next(delays)
            log.info("device.unavailable", device=path, attempt=attempt, retry_in=delay,
                     reason=str(exc))
            await trio.sleep(delay)
            continue
        if attempt > 1:
            log.info("device.reopened", device=path, attempts=attempt)
        return stream


def serial_opener(
    path: str,
    baudrate: int = 9600,
    *,
    retry: Backoff | None = None,
    stopbits: float = 2,
    allow_any_baudrate: bool = False,
) -> Callable[[], Awaitable[SerialStream]]:
    """An `open_stream` callable for `ZvtTerminal`: one attempt, or retries with `retry`."""

    async def open_stream() -> SerialStream:
        if retry is None:
            return await open_serial(
                path, baudrate, stopbits=stopbits, allow_any_baudrate=allow_any_baudrate
            )
        return await open_serial_with_retry(
            path, baudrate, backoff=retry, stopbits=stopbits,
            allow_any_baudrate=allow_any_baudrate,
        )

    return open_stream
