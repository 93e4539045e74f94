"""The simulated terminal on TCP (ZVT's port 20007 by default), one ECR connection at a time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trio

from firmware_sim.engine import TerminalEngine
from firmware_sim.state import save_state
from gateway.protocols import zvt
from medipay.logs import get_logger

log = get_logger(__name__)


class EcrGone(Exception):
    """The ECR closed the connection or stopped answering."""


@dataclass
class _Session:
    stream: trio.abc.Stream
    conn: zvt.ZvtConnection

    async def send(self, message: zvt.Message) -> None:
        await self.stream.send_all(self.conn.send(message))

    async def next_event(self, timeout: float = float("inf")) -> object:
        with trio.move_on_after(timeout):
            while True:
                event = self.conn.next_event()
                if event is not zvt.NEED_DATA:
                    if isinstance(event, zvt.ConnectionClosed):
                        raise EcrGone("ECR closed the connection")
                    return event
                try:
                    data = await self.stream.receive_some(4096)
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    raise EcrGone(str(exc)) from exc
                self.conn.receive_data(bytes(data))
        raise EcrGone(f"ECR did not answer within {timeout:g} s")


class TcpTerminal:
    def __init__(self, engine: TerminalEngine, *, state_file: Path | None = None) -> None:
        self.engine = engine
        self._state_file = state_file
        # A real terminal serves one ECR; a second connection waits until the first is gone.
        self._busy = trio.Lock()
        self.commands_handled = 0

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 20007,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen until cancelled; `task_status.started(port)` with the bound port."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = listeners[0].socket.getsockname()[1]
        log.info("sim.listening", host=host, port=bound)
        task_status.started(bound)
        await trio.serve_listeners(self._handle_connection, listeners)

    async def _handle_connection(self, stream: trio.SocketStream) -> None:
        async with self._busy, stream:
            session = _Session(stream, zvt.ZvtConnection(zvt.Role.TERMINAL))
            try:
                while True:
                    await self._handle_command(session, await session.next_event())
            except EcrGone as exc:
                log.info("sim.ecr_gone", reason=str(exc))
            except zvt.ZvtError as exc:
                log.warning("sim.protocol_error", error=str(exc))

    async def _handle_command(self, session: _Session, command: object) -> None:
        reply = self.engine.handle(command)
        self.commands_handled += 1
        save_state(self.engine.state, self._state_file)
        await session.send(reply.ack)
        for message in reply.messages:
            await session.send(message)
            answer = await session.next_event(zvt.T3)
            if not isinstance(answer, zvt.Ack):
                log.warning("sim.expected_ack", got=type(answer).__name__)
                return
