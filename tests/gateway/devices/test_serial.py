"""SerialStream over real pseudo-terminals (firmware_sim.pty_link plays the terminal)."""

from __future__ import annotations

import errno
import termios
from pathlib import Path

import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from firmware_sim.pty_link import PtyLink, open_pty_pair
from gateway.devices import (
    DeviceGone,
    DeviceUnavailable,
    SerialStream,
    UnsupportedBaudrate,
    open_serial,
)
from tests.gateway.devices.conftest import BLOB, pump


@pytest.mark.parametrize("baudrate", [9600, 115200])
async def test_every_byte_value_and_a_large_blob_both_ways_at_once(baudrate: int) -> None:
    terminal = open_pty_pair(baudrate)
    async with terminal, await open_serial(terminal.device_path, baudrate) as gateway:
        assert gateway.baudrate == baudrate
        results: dict[str, bytes] = {}

        async def one_way(name: str, sender, receiver, send_chunk: int, size: int) -> None:
            results[name] = await pump(
                sender, receiver, BLOB, send_chunk=send_chunk, receive_size=size
            )

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(one_way, "to_terminal", gateway, terminal, 1000, 997)
                nursery.start_soon(one_way, "to_gateway", terminal, gateway, 4096, 333)
        assert results["to_terminal"] == BLOB
        assert results["to_gateway"] == BLOB


async def test_the_line_is_8n2_raw_at_the_requested_speed(link: PtyLink) -> None:
    async with await open_serial(link.device_path, 115200) as gateway:
        iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(gateway.fileno())
        assert cflag & termios.CSIZE == termios.CS8
        assert cflag & termios.CSTOPB  # two stop bits
        assert not cflag & termios.PARENB
        assert ispeed == ospeed == termios.B115200
        assert not lflag & (termios.ECHO | termios.ICANON)
        assert not iflag & (termios.ICRNL | termios.IXON | termios.ISTRIP)
        assert not oflag & termios.OPOST
    async with await open_serial(link.device_path, stopbits=1) as gateway:
        assert not termios.tcgetattr(gateway.fileno())[2] & termios.CSTOPB


async def test_only_zvt_baud_rates_unless_allowed(link: PtyLink) -> None:
    with pytest.raises(UnsupportedBaudrate, match="9600 or 115200"):
        await open_serial(link.device_path, 19200)
    async with await open_serial(link.device_path, 19200, allow_any_baudrate=True) as gateway:
        assert gateway.baudrate == 19200
    with pytest.raises(ValueError, match="stop bits"):
        await open_serial(link.device_path, stopbits=3)


async def test_a_second_opener_is_refused_until_the_first_closes(link: PtyLink) -> None:
    first = await open_serial(link.device_path)
    with pytest.raises(DeviceUnavailable, match="in use by another process") as caught:
        await open_serial(link.device_path)
    assert isinstance(caught.value, OSError)
    assert caught.value.device == link.device_path
    await first.aclose()
    second = await open_serial(link.device_path)
    await second.aclose()


async def test_a_missing_path_is_unavailable(tmp_path: Path) -> None:
    missing = str(tmp_path / "ttyUSB9")
    with pytest.raises(DeviceUnavailable, match="does not exist") as caught:
        await open_serial(missing)
    assert caught.value.errno == errno.ENOENT
    assert missing in str(caught.value)


async def test_a_file_that_is_no_serial_port_is_unavailable(tmp_path: Path) -> None:
    plain = tmp_path / "not-a-tty"
    plain.write_bytes(b"")
    with pytest.raises(DeviceUnavailable, match="not-a-tty"):
        await open_serial(str(plain))


async def test_pulling_the_cable_under_a_pending_read_is_device_gone() -> None:
    terminal = open_pty_pair()
    gateway = await open_serial(terminal.device_path)
    caught: list[BaseException] = []

    async def read() -> None:
        try:
            await gateway.receive_some()
        except trio.BrokenResourceError as exc:  # what generic callers catch
            caught.append(exc)

    with capture_logs() as logs, trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            await trio.testing.wait_all_tasks_blocked()
            await terminal.aclose()
    assert isinstance(caught[0], DeviceGone)
    assert terminal.device_path in str(caught[0])
    with pytest.raises(DeviceGone):
        await gateway.send_all(b"\x06")
    assert [e["event"] for e in logs].count("device.vanished") == 1  # logged once, not per call
    await gateway.aclose()


async def test_writing_to_a_pulled_cable_is_device_gone() -> None:
    terminal = open_pty_pair()
    gateway = await open_serial(terminal.device_path)
    await terminal.aclose()
    with pytest.raises(DeviceGone):
        await gateway.send_all(b"\x10\x02")
    await gateway.aclose()


async def test_the_gateway_reopening_keeps_the_line_up(link: PtyLink) -> None:
    async with await open_serial(link.device_path) as gateway:
        await gateway.send_all(b"one")
        assert await link.receive_some() == b"one"
    async with await open_serial(link.device_path) as gateway:
        await link.send_all(b"two")
        assert await gateway.receive_some() == b"two"


async def test_cancelling_a_pending_read_is_immediate_and_loses_nothing(
    link: PtyLink, autojump_clock: trio.testing.MockClock
) -> None:
    async with await open_serial(link.device_path) as gateway:
        with trio.move_on_after(3) as scope:
            await gateway.receive_some()
        assert scope.cancelled_caught
        assert trio.current_time() == 3
        await link.send_all(b"\x80\x00\x00")
        assert await gateway.receive_some() == b"\x80\x00\x00"


async def test_two_readers_at_once_is_a_bug_trio_reports(link: PtyLink) -> None:
    async with await open_serial(link.device_path) as gateway:
        with pytest.RaisesGroup(trio.BusyResourceError):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(gateway.receive_some)
                nursery.start_soon(gateway.receive_some)


async def test_closing_wakes_a_pending_reader_and_later_calls_fail(link: PtyLink) -> None:
    gateway = await open_serial(link.device_path)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:

            async def read() -> None:
                with pytest.raises(trio.ClosedResourceError):
                    await gateway.receive_some()

            nursery.start_soon(read)
            await trio.testing.wait_all_tasks_blocked()
            await gateway.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await gateway.send_all(b"x")
    await gateway.aclose()  # twice is fine


async def test_small_details_of_the_stream_contract(link: PtyLink) -> None:
    async with await open_serial(link.device_path) as gateway:
        assert isinstance(gateway, SerialStream)
        await gateway.send_all(b"")  # a checkpoint, nothing sent
        await gateway.wait_send_all_might_not_block()
        with pytest.raises(ValueError):
            await gateway.receive_some(0)
        await link.send_all(b"abcdef")
        with trio.fail_after(5):
            assert await gateway.receive_some(2) == b"ab"
