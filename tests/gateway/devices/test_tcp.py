"""open_tcp: a terminal on the network."""

from __future__ import annotations

import errno
import socket

import pytest
import trio
import trio.testing

from gateway.devices import DeviceUnavailable, open_tcp, tcp_opener
from gateway.devices import tcp as tcp_module


async def test_connects_with_nodelay_and_keepalive() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with listeners[0]:
        stream = await open_tcp("127.0.0.1", port)
        async with stream:
            assert stream.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert stream.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
            if hasattr(socket, "TCP_KEEPIDLE"):
                idle = stream.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
                assert idle == tcp_module.KEEPALIVE_IDLE_S
            server = await listeners[0].accept()
            async with server:
                await stream.send_all(b"\x06\x00\x00")
                assert await server.receive_some() == b"\x06\x00\x00"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_refused_connection_is_unavailable() -> None:
    port = _free_port()  # closed again: nothing listens there
    with pytest.raises(DeviceUnavailable, match=f"127.0.0.1:{port}") as caught:
        await open_tcp("127.0.0.1", port)
    assert isinstance(caught.value, OSError)
    assert caught.value.device == f"127.0.0.1:{port}"


async def test_a_silent_host_times_out(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    async def never_answers(host: str, port: int) -> trio.SocketStream:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    monkeypatch.setattr(tcp_module.trio, "open_tcp_stream", never_answers)
    with pytest.raises(DeviceUnavailable, match="did not answer within 2.5 s") as caught:
        await open_tcp("192.0.2.1", 20007, connect_timeout=2.5)
    assert caught.value.errno == errno.ETIMEDOUT
    assert trio.current_time() == 2.5


async def test_tcp_opener_makes_an_open_stream_callable() -> None:
    with pytest.raises(DeviceUnavailable):
        await tcp_opener("127.0.0.1", _free_port())()
