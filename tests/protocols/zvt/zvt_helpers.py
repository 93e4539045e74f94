"""Shared helpers for the ZVT tests: capture files and an in-memory ECR <-> terminal pair."""

from __future__ import annotations

from pathlib import Path

from gateway.protocols import zvt

REPO = Path(__file__).resolve().parents[3]
CAPTURES = REPO.parent / "shared" / "testdata" / "zvt-captures"


def capture_files() -> list[Path]:
    return sorted(CAPTURES.glob("*.bin"))


def h(text: str) -> bytes:
    """Hex with spaces, as the spec prints APDUs."""
    return bytes.fromhex(text.replace(" ", "").replace("\n", ""))


def events(conn: zvt.ZvtConnection) -> list[object]:
    """Every event currently available (stops at NEED_DATA)."""
    found = []
    while True:
        event = conn.next_event()
        if event is zvt.NEED_DATA or event is zvt.PAUSED:
            return found
        found.append(event)
        if isinstance(event, zvt.ConnectionClosed):
            return found


class Pair:
    """ECR and terminal connections wired back to back in memory (no I/O, no threads).

    `deliver()` moves bytes both ways, including serial ACK/NAK, until nothing moves; tests
    can drop or corrupt bytes on the way with `wire`."""

    def __init__(self, framing: zvt.Framing = zvt.Framing.TCP, t3: float = zvt.T3,
                 **kwargs: object) -> None:
        self.ecr = zvt.ZvtConnection(zvt.Role.ECR, framing, t3=t3,
                                     **kwargs)  # type: ignore[arg-type]
        self.pt = zvt.ZvtConnection(zvt.Role.TERMINAL, framing, t3=t3)
        self.to_pt = bytearray()
        self.to_ecr = bytearray()

    def send(self, side: zvt.ZvtConnection, message: zvt.Message) -> bytes:
        data = side.send(message)
        (self.to_pt if side is self.ecr else self.to_ecr).extend(data)
        return data

    def flush(self) -> None:
        self.to_pt += self.ecr.data_to_send()
        self.to_ecr += self.pt.data_to_send()

    def deliver(self, wire=None) -> tuple[list[object], list[object]]:  # type: ignore[no-untyped-def]
        """Move bytes until quiet; returns (events at the ECR, events at the terminal)."""
        at_ecr: list[object] = []
        at_pt: list[object] = []
        for _ in range(50):
            self.flush()
            if not self.to_pt and not self.to_ecr:
                break
            to_pt, to_ecr = bytes(self.to_pt), bytes(self.to_ecr)
            self.to_pt.clear()
            self.to_ecr.clear()
            if wire is not None:
                to_pt, to_ecr = wire(to_pt, "pt"), wire(to_ecr, "ecr")
            if to_pt:
                self.pt.receive_data(to_pt)
            if to_ecr:
                self.ecr.receive_data(to_ecr)
            at_pt += events(self.pt)
            at_ecr += events(self.ecr)
        return at_ecr, at_pt

    def exchange(self, side: zvt.ZvtConnection, message: zvt.Message) -> object:
        """Send one message and return the single event it produces on the other side."""
        self.send(side, message)
        at_ecr, at_pt = self.deliver()
        got = at_pt if side is self.ecr else at_ecr
        assert len(got) == 1, got
        return got[0]


class FakeClock:
    """Drives the connections' timers the way an I/O layer would, on virtual time.

    A timer whose serial changed is (re)armed at now + seconds; `advance()` moves time forward
    and calls `on_timeout` for every deadline passed, earliest first."""

    def __init__(self, *conns: zvt.ZvtConnection) -> None:
        self.now = 0.0
        self.conns = conns
        self.deadlines: dict[tuple[int, zvt.Timer], tuple[int, float]] = {}
        self.fired: list[tuple[float, str, zvt.Timer]] = []

    def sync(self) -> None:
        active = set()
        for conn in self.conns:
            for request in conn.timers:
                key = (id(conn), request.timer)
                active.add(key)
                if key not in self.deadlines or self.deadlines[key][0] != request.serial:
                    self.deadlines[key] = (request.serial, self.now + request.seconds)
        for key in list(self.deadlines):
            if key not in active:
                del self.deadlines[key]

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while True:
            self.sync()
            due = [(deadline, key) for key, (_, deadline) in self.deadlines.items()
                   if deadline <= target]
            if not due:
                self.now = target
                return
            deadline, (conn_id, timer) = min(due, key=lambda d: d[0])
            self.now = deadline
            del self.deadlines[(conn_id, timer)]
            conn = next(c for c in self.conns if id(c) == conn_id)
            self.fired.append((deadline, conn.our_role.value, timer))
            conn.on_timeout(timer)
