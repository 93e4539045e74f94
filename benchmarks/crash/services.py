"""The processes and services the campaign runs and hurts: the gateway as a child process
(killed with SIGKILL), the backend in this process (stopped and started), and a count of the
duplicates the backend refused."""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import structlog
import trio

from benchmarks.crash.model import EPJ_TOKEN, GATEWAY_ID, TERMINAL, CampaignFailure, Counts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Stoppable:
    """A service started in a nursery under its own cancel scope, to be stopped and started
    again (the backend)."""

    def __init__(self, nursery: trio.Nursery, fn: Any, *args: Any) -> None:
        self._nursery, self._fn, self._args = nursery, fn, args
        self._scope: trio.CancelScope | None = None
        self._done = trio.Event()

    @property
    def running(self) -> bool:
        return self._scope is not None

    async def start(self) -> Any:
        scope, done = trio.CancelScope(), trio.Event()
        self._scope, self._done = scope, done

        async def runner(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                with scope:
                    await self._fn(*self._args, task_status=task_status)
            finally:
                done.set()

        return await self._nursery.start(runner)

    async def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            await self._done.wait()
            self._scope = None


class GatewayProcess:
    """`medipay gateway run` as a child process; killed with SIGKILL, restarted."""

    def __init__(self, config_path: Path, log_path: Path, base_url: str) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.base_url = base_url
        self.process: trio.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        assert self.process is None
        with self.log_path.open("ab") as log:
            self.process = await trio.lowlevel.open_process(
                [sys.executable, "-m", "medipay", "gateway", "run", "-c",
                 str(self.config_path)],
                stdin=None, stdout=log, stderr=log)
        self.starts += 1
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as client:
            with trio.fail_after(60):
                while True:
                    if self.process.poll() is not None:
                        raise CampaignFailure(
                            f"the gateway exited with {self.process.returncode} at start; "
                            f"see {self.log_path}")
                    try:
                        if (await client.get("/healthz")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass  # not listening yet
                    await trio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as a power loss or the OOM killer would do."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self.process = None

    async def terminate(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            with trio.move_on_after(15) as waited:
                await self.process.wait()
            if waited.cancelled_caught:
                self.process.send_signal(signal.SIGKILL)
                await self.process.wait()
            self.process = None


def write_gateway_config(path: Path, data_dir: Path, api_port: int, backend_url: str,
                         terminal_port: int) -> None:
    path.write_text(f"""\
gateway_id = "{GATEWAY_ID}"
data_dir = "{data_dir}"
log_level = "warning"
health_interval = 5.0

[api]
host = "127.0.0.1"
port = {api_port}
token = "{EPJ_TOKEN}"

[backend]
url = "{backend_url}"
poll_interval = 0.5
retry_min = 0.1
retry_max = 1.0
batch_size = 20

[[terminals]]
id = "{TERMINAL}"
transport = "tcp"
host = "127.0.0.1"
port = {terminal_port}
""", encoding="utf-8")


@contextmanager
def backend_intake_counter(counts: Counts) -> Iterator[None]:
    """Count the duplicates the backend refused, from its intake log events; the campaign's
    own process logs nothing else (the gateway's log goes to a file)."""
    previous = structlog.get_config()

    def count(_logger: Any, _method: str, event: Any) -> Any:
        if event.get("event") in ("pos transactions received", "end-of-day totals received"):
            counts.duplicates_refused_by_backend += int(event.get("duplicates", 0))
        raise structlog.DropEvent

    structlog.configure(processors=[count], cache_logger_on_first_use=False)
    try:
        yield
    finally:
        structlog.configure(**previous)
