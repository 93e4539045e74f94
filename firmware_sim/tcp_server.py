"""The simulated terminal on TCP (ZVT's port 20007 by default), one ECR connection at a time.

While the terminal has no power nothing listens on the port (connections are refused); it
listens on the same port again when the power returns.
"""

from __future__ import annotations

from pathlib import Path

import trio

from firmware_sim.device import SimTerminal
from firmware_sim.engine import TerminalEngine
from firmware_sim.state import storage_for
from gateway.protocols import zvt
from medipay.logs import get_logger

log = get_logger(__name__)


class TcpTerminal:
    def __init__(self, engine: TerminalEngine | SimTerminal, *, state_file: Path | None = None,
                 seed: int | None = None, display_log: Path | None = None,
                 t3: float = zvt.T3) -> None:
        if isinstance(engine, SimTerminal):
            self.device = engine
        else:
            self.device = SimTerminal(engine, storage_for(state_file), seed=seed,
                                      display_log=display_log)
        self.engine = self.device.engine
        self.t3 = t3
        # A real terminal serves one ECR; a second connection waits until the first is gone.
        self._busy = trio.Lock()
        self.port: int | None = None

    @property
    def commands_handled(self) -> int:
        return self.device.commands_handled

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 20007,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen until cancelled; `task_status.started(port)` with the bound port."""
        started = False
        while True:
            await self.device.wait_powered()
            with self.device.power_scope():
                listeners = await trio.open_tcp_listeners(self.port or port, host=host)
                self.port = listeners[0].socket.getsockname()[1]
                log.info("sim.listening", host=host, port=self.port)
                if not started:
                    task_status.started(self.port)
                    started = True
                try:
                    await trio.serve_listeners(self._handle_connection, listeners)
                finally:
                    with trio.CancelScope(shield=True):
                        for listener in listeners:
                            await listener.aclose()

    async def _handle_connection(self, stream: trio.SocketStream) -> None:
        async with self._busy, stream:
            await self.device.serve_ecr(stream, zvt.Framing.TCP, t3=self.t3)
