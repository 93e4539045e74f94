"""What a terminal remembers across restarts: its identity and its counters."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class TerminalState:
    terminal_id: str = "52500001"
    vu_number: str = "NO0123456789012"
    password: str = "000000"
    receipt_number: int = 0
    trace_number: int = 0
    registered_config: int | None = None

    def next_receipt(self) -> int:
        # Receipt numbers are 4 BCD digits on the wire; wrap like a real terminal.
        self.receipt_number = self.receipt_number % 9999 + 1
        return self.receipt_number

    def next_trace(self) -> int:
        # Trace numbers are 6 BCD digits on the wire.
        self.trace_number = self.trace_number % 999_999 + 1
        return self.trace_number


def load_state(path: Path | None) -> TerminalState:
    if path is None or not path.exists():
        return TerminalState()
    return TerminalState(**json.loads(path.read_text(encoding="utf-8")))


def save_state(state: TerminalState, path: Path | None) -> None:
    """Write atomically (temp file + rename + fsync) so a power cut leaves the old or new file."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(asdict(state), handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
