"""A terminal on the clinic network (ZVT over TCP, port 20007 by convention)."""

from __future__ import annotations

import errno
import socket
from collections.abc import Awaitable, Callable

import trio

from gateway.devices.errors import DeviceUnavailable
from medipay.logs import get_logger

log = get_logger(__name__)

ZVT_TCP_PORT = 20007
# A terminal that was switched off or lost its network never closes the connection; TCP
# keepalive notices: first probe after 30 s of silence, then every 10 s, give up after 3 misses.
# A payment can legitimately be silent for a long time (the customer reads the display), so
# this must stay well above the ZVT timers, which catch a stalled conversation first.
KEEPALIVE_IDLE_S = 30
KEEPALIVE_INTERVAL_S = 10
KEEPALIVE_PROBES = 3


def _tune(stream: trio.SocketStream) -> None:
    # Small ZVT messages must not wait for Nagle's algorithm (trio sets this too; be explicit).
    stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
    stream.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)
    for name, value in (("TCP_KEEPIDLE", KEEPALIVE_IDLE_S),
                        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
                        ("TCP_KEEPCNT", KEEPALIVE_PROBES)):
        option = getattr(socket, name, None)  # Linux and most BSDs; not everywhere
        if option is not None:
            stream.setsockopt(socket.IPPROTO_TCP, option, value)


async def open_tcp(host: str, port: int, *, connect_timeout: float = 5.0) -> trio.SocketStream:
    """Connect to a terminal; `DeviceUnavailable` if refused, unreachable or too slow."""
    where = f"{host}:{port}"
    stream: trio.SocketStream | None = None
    with trio.move_on_after(connect_timeout):
        try:
            stream = await trio.open_tcp_stream(host, port)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise DeviceUnavailable(
                f"cannot connect to terminal at {where}: {reason}", device=where, errno=exc.errno
            ) from exc
    if stream is None:
        raise DeviceUnavailable(
            f"terminal at {where} did not answer within {connect_timeout:g} s",
            device=where, errno=errno.ETIMEDOUT,
        )
    try:
        _tune(stream)
    except OSError as exc:
        await stream.aclose()
        raise DeviceUnavailable(
            f"cannot set socket options for {where}: {exc}", device=where, errno=exc.errno
        ) from exc
    log.info("device.opened", device=where)
    return stream


def tcp_opener(
    host: str, port: int = ZVT_TCP_PORT, *, connect_timeout: float = 5.0
) -> Callable[[], Awaitable[trio.SocketStream]]:
    """An `open_stream` callable for `ZvtTerminal`."""

    async def open_stream() -> trio.SocketStream:
        return await open_tcp(host, port, connect_timeout=connect_timeout)

    return open_stream
