"""Re-plugging a serial terminal: a udev-style symlink re-pointed at a new pty."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from firmware_sim.pty_link import PtyLink, open_pty_pair
from gateway.devices import (
    Backoff,
    DeviceGone,
    DeviceUnavailable,
    open_serial_with_retry,
    serial_opener,
)
from gateway.terminal import TerminalUnavailable, ZvtTerminal


def test_backoff_doubles_up_to_its_cap() -> None:
    delays = Backoff(initial=0.5, maximum=4.0).delays()
    assert [next(delays) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    with pytest.raises(ValueError):
        Backoff(initial=0)


async def test_retry_waits_for_the_device_with_exponential_backoff(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "ttyZVT"
    links: list[PtyLink] = []

    async def plug_in_at_3s() -> None:
        await trio.sleep(3)
        links.append(open_pty_pair(link=path))

    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(plug_in_at_3s)
            stream = await open_serial_with_retry(str(path))
    # attempts at 0, 0.5, 1.5 fail; the device appears at 3; the attempt at 3.5 works
    assert trio.current_time() == 3.5
    events = [(e["event"], e.get("retry_in"), e.get("attempts")) for e in logs]
    assert events == [
        ("device.unavailable", 0.5, None),
        ("device.unavailable", 1.0, None),
        ("device.unavailable", 2.0, None),
        ("device.opened", None, None),
        ("device.reopened", None, 4),
    ]
    await links[0].send_all(b"\x06")
    assert await stream.receive_some() == b"\x06"
    await stream.aclose()
    await links[0].aclose()


async def test_the_stream_comes_back_after_the_cable_is_pulled_and_replugged(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "ttyZVT"
    first = open_pty_pair(link=path)
    stream = await open_serial_with_retry(str(path))
    await first.aclose()  # unplugged: the link disappears with it
    assert not path.exists()
    with pytest.raises(DeviceGone):
        await stream.receive_some()
    await stream.aclose()

    start = trio.current_time()
    second: list[PtyLink] = []

    async def replug() -> None:
        await trio.sleep(1.2)
        second.append(open_pty_pair(115200, link=path))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(replug)
        stream = await open_serial_with_retry(str(path), 115200)
    assert trio.current_time() - start == 1.5
    await stream.send_all(b"\x10\x02\x06\x00\x00\x10\x03")
    assert await second[0].receive_some() == b"\x10\x02\x06\x00\x00\x10\x03"
    await stream.aclose()
    await second[0].aclose()


async def test_retry_gives_up_after_max_attempts(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    with pytest.raises(DeviceUnavailable, match="does not exist"):
        await open_serial_with_retry(str(tmp_path / "none"), max_attempts=3)
    assert trio.current_time() == 1.5  # slept 0.5 and 1.0 between the three attempts


async def test_a_bad_baud_rate_is_not_retried(autojump_clock: trio.testing.MockClock) -> None:
    with pytest.raises(ValueError, match="baud"):
        await open_serial_with_retry("/dev/null", 4800)
    assert trio.current_time() == 0


async def test_the_terminal_reports_a_missing_serial_device_as_unavailable(
    tmp_path: Path,
) -> None:
    terminal = ZvtTerminal("T1", serial_opener(str(tmp_path / "ttyUSB0")))
    with pytest.raises(TerminalUnavailable, match="does not exist"):
        await terminal.ensure_ready()


async def test_serial_opener_opens_and_can_retry(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "ttyZVT"
    async with open_pty_pair(link=path) as link, await serial_opener(str(path))() as stream:
        await link.send_all(b"ok")
        assert await stream.receive_some() == b"ok"
    opener = serial_opener(str(path), retry=Backoff(initial=2.0))

    async def plug_in_later(task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await trio.sleep(1)
        links.append(open_pty_pair(link=path))

    links: list[PtyLink] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(plug_in_later)
        stream = await opener()
    assert trio.current_time() == 2.0
    await stream.aclose()
    await links[0].aclose()
