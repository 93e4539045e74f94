"""Running a trio main function from a CLI command until it ends or is signalled."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable

import trio
from rich.console import Console


async def _until_signalled(
    console: Console, main: Callable[..., Awaitable[object]], *args: object
) -> None:
    """Run `main` until it returns or SIGINT/SIGTERM arrives, then cancel it cleanly."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def stop_on_signal() -> None:
                async for signum in signals:
                    console.print(f"stopping ({signal.Signals(signum).name})")
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(stop_on_signal)
            await main(*args)
            nursery.cancel_scope.cancel()


def run_until_signalled(
    main: Callable[..., Awaitable[object]], *args: object, console: Console | None = None
) -> None:
    console = console or Console()
    trio.run(_until_signalled, console, main, *args)
    console.print("stopped")
