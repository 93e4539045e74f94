"""Fixtures for the simulator's tests: a terminal on TCP, and ECRs to talk to it.

Tests that take `autojump_clock` run on trio's MockClock(autojump_threshold=0): the spec's
timers (T3 5 s, T4 180 s) and the customers' seconds pass instantly and exactly. Loopback TCP
delivers bytes inside the sender's system call, so virtual time never jumps over data in flight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import trio
import trio.testing

from firmware_sim.cards import DEFAULT_DECK, Card
from firmware_sim.clocks import TrioClock
from firmware_sim.device import SimTerminal
from firmware_sim.ecr import Ecr
from firmware_sim.engine import TerminalEngine, TerminalSettings
from firmware_sim.state import TerminalState
from firmware_sim.tcp_server import TcpTerminal
from gateway.protocols import zvt
from gateway.terminal import ZvtTerminal


async def idle(device: SimTerminal) -> None:
    """Wait until the terminal has finished its transaction, including the ECR's last ACK:
    a fault armed earlier could hit the tail of the previous conversation."""
    while device.current is not None:
        await trio.sleep(0.01)


def make_device(deck: tuple[Card, ...] = DEFAULT_DECK, seed: int = 1,
                **settings: object) -> SimTerminal:
    engine = TerminalEngine(TerminalState(), TrioClock(), deck=deck,
                            settings=TerminalSettings(**settings))  # type: ignore[arg-type]
    return SimTerminal(engine, seed=seed)


@dataclass
class SimOnTcp:
    device: SimTerminal
    terminal: TcpTerminal
    port: int
    nursery: trio.Nursery
    gateways: list[ZvtTerminal] = field(default_factory=list)

    @property
    def engine(self) -> TerminalEngine:
        return self.device.engine

    async def open(self) -> trio.SocketStream:
        return await trio.open_tcp_stream("127.0.0.1", self.port)

    def gateway(self) -> ZvtTerminal:
        """The gateway's own ECR-role driver (receipt resync on, registers itself)."""
        terminal = ZvtTerminal("T1", self.open)
        self.gateways.append(terminal)
        return terminal

    async def ecr(self, *, register: bool = True, **kwargs: object) -> Ecr:
        """The simulator's small scripted ECR on a new connection."""
        ecr = Ecr(await self.open(), **kwargs)  # type: ignore[arg-type]
        if register:
            result = await ecr.register()
            assert result.status == "done", result
            await idle(self.device)
        return ecr


async def start_tcp(nursery: trio.Nursery, device: SimTerminal) -> SimOnTcp:
    terminal = TcpTerminal(device)
    port = await nursery.start(terminal.serve, "127.0.0.1", 0)
    return SimOnTcp(device, terminal, port, nursery)


@pytest.fixture
async def sim(nursery: trio.Nursery) -> SimOnTcp:
    return await start_tcp(nursery, make_device())


def pay(amount: int) -> zvt.Authorization:
    return zvt.Authorization(amount=amount, currency=zvt.CURRENCY_NOK)


@pytest.fixture
def pty_clock() -> trio.testing.MockClock:
    """Virtual time for tests over a real pty. A pty hands bytes over in a kernel work queue,
    not inside the writer's system call, so time may only jump after the line was quiet for a
    moment of real time (50 ms), never while bytes are on their way."""
    return trio.testing.MockClock(autojump_threshold=0.05)
