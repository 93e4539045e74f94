"""The simulator's end of the serial line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from firmware_sim.pty_link import PtyLink, open_pty_pair
from gateway.devices import open_serial


async def test_raw_both_ways_no_echo_no_newline_translation(link: PtyLink) -> None:
    async with await open_serial(link.device_path) as gateway:
        await gateway.send_all(b"a\r\nb\n\x11\x13\x03")
        with trio.fail_after(5):
            got = b""
            while len(got) < 8:
                got += await link.receive_some()
        assert got == b"a\r\nb\n\x11\x13\x03"
        await link.send_all(b"\r\n\x7f\x04")
        with trio.fail_after(5):
            assert await gateway.receive_some() == b"\r\n\x7f\x04"
        # nothing the gateway sent came back to it (no echo)
        with trio.move_on_after(0.05):
            echoed = await gateway.receive_some()
            raise AssertionError(f"echo: {echoed!r}")


async def test_a_symlink_names_the_line_and_goes_with_it(tmp_path: Path) -> None:
    path = tmp_path / "ttyZVT0"
    link = open_pty_pair(115200, link=path)
    assert link.device_path == str(path)
    assert os.readlink(path) == link.slave_path
    replacement = open_pty_pair(link=path)  # re-pointed atomically at the new pair
    assert os.readlink(path) == replacement.slave_path
    await link.aclose()
    assert path.is_symlink()  # not ours any more: left alone
    await replacement.aclose()
    assert not path.exists()


async def test_closed_and_invalid_links() -> None:
    with pytest.raises(ValueError, match="baud"):
        open_pty_pair(1234)
    link = open_pty_pair()
    await link.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await link.receive_some()
    with pytest.raises(trio.ClosedResourceError):
        await link.send_all(b"x")
    await link.aclose()
