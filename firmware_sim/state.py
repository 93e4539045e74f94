"""What a terminal remembers across restarts: identity, counters, registration, batch, journal.

Everything here is the terminal's non-volatile memory. It reaches the storage only when the
terminal saves it (`Storage.save`), so a simulated power cut loses whatever was changed since
the last save, and `Storage.load` on power-up gives back exactly what was saved, as on a real
device. The in-flight record is written before a payment goes to the host, so a terminal that
loses power half-way reverses it when it comes back (an auto-reversal).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol

from firmware_sim.codes import (
    CONFIG_AFTER_LOG_OFF,
    RECEIPT_ADMIN,
    RECEIPT_CUSTOMER,
    RECEIPT_MERCHANT,
)
from gateway.protocols import zvt

SCHEMA_VERSION = 1
# The journal is the terminal's transaction list (exported for the gateway); a real terminal
# keeps a few thousand entries. Beyond this the oldest are dropped.
JOURNAL_LIMIT = 10_000


class StateFileError(ValueError):
    """The state file exists but cannot be read as terminal state."""


@dataclass(frozen=True)
class Booking:
    """One transaction as the terminal records it (append-only; corrections are new entries).

    `status`: approved, declined, aborted, auto_reversed (the ECR never confirmed the Status
    Information, so the terminal reversed it), or implicitly_reversed (undone by the 1F1F
    receipt-number resync; the entry that undoes it is a separate `reversal`)."""

    seq: int  # journal sequence number, unique per terminal
    kind: str  # purchase, refund, reversal
    status: str
    amount: int  # øre
    result_code: int
    trace: int
    receipt: int | None
    at: str  # ISO 8601, UTC
    batch: int
    source: str = "ecr"  # ecr, standalone
    scheme: str = ""
    card_type: int | None = None
    masked_pan: str = ""
    expiry: str = ""
    entry: str = ""  # contactless, chip
    auth_code: str = ""
    original_receipt: int | None = None  # for reversals
    original_trace: int | None = None
    currency: int = zvt.CURRENCY_NOK


def _booking(data: dict[str, Any]) -> Booking:
    known = {f.name for f in fields(Booking)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise StateFileError(f"unknown keys in a journal entry: {unknown}")
    return Booking(**data)


@dataclass
class TerminalState:
    terminal_id: str = "52500001"
    vu_number: str = "NO0123456789012"
    password: str = "000000"
    merchant_name: str = "LEGESENTERET AS"
    merchant_address: str = "Storgata 1, 0155 Oslo"
    receipt_number: int = 0
    trace_number: int = 0
    batch_number: int = 1
    journal_seq: int = 0
    # Registration (spec 2.1); None until the first Registration.
    registered_config: int | None = None
    charset: int = zvt.CHARSET_CP437
    print_textblock: bool = False  # the ECR allowed 06 D3 in its list of permitted commands
    line_width: int | None = None  # the ECR printer's width (tag 12)
    tlv_allowed: bool = True  # Log-Off forbids further TLV containers
    batch: list[Booking] = field(default_factory=list)
    journal: list[Booking] = field(default_factory=list)
    # Receipt number of the last stored transaction, for the 1F1F resync (spec chapter 4).
    last_sync_receipt: int | None = None
    # Repeat Receipt (spec 2.20) sends these again: the last stored Status Information (its
    # data block as hex, exactly as it was sent: "as in the original transaction"), the
    # lines of that transaction's receipts and their types (codes.RECEIPT_*).
    last_status: str | None = None
    last_receipt: list[list[str]] | None = None
    last_receipt_types: list[int] | None = None
    in_flight: Booking | None = None

    def next_receipt(self) -> int:
        # Receipt numbers are 4 BCD digits on the wire; wrap like a real terminal.
        self.receipt_number = self.receipt_number % 9999 + 1
        return self.receipt_number

    def next_trace(self) -> int:
        # Trace numbers are 6 BCD digits on the wire.
        self.trace_number = self.trace_number % 999_999 + 1
        return self.trace_number

    def next_seq(self) -> int:
        self.journal_seq += 1
        return self.journal_seq

    def record(self, booking: Booking) -> None:
        self.journal.append(booking)
        del self.journal[:-JOURNAL_LIMIT]

    def log_off(self) -> None:
        self.registered_config = CONFIG_AFTER_LOG_OFF
        self.tlv_allowed = False
        self.print_textblock = False
        self.charset = zvt.CHARSET_CP437

    def to_json(self) -> dict[str, Any]:
        return {"version": SCHEMA_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TerminalState:
        data = dict(data)
        version = data.pop("version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise StateFileError(f"state schema version {version}, expected {SCHEMA_VERSION}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise StateFileError(f"unknown keys in terminal state: {unknown}")
        _check_repeat_data(data)
        data["batch"] = [_booking(item) for item in data.get("batch", [])]
        data["journal"] = [_booking(item) for item in data.get("journal", [])]
        if data.get("in_flight") is not None:
            data["in_flight"] = _booking(data["in_flight"])
        return cls(**data)

    def copy(self) -> TerminalState:
        return replace(self, batch=list(self.batch), journal=list(self.journal))


def stored_status(status: zvt.StatusInformation) -> str:
    """A Status Information as `TerminalState.last_status` keeps it."""
    return status.encode_data().hex()


def restored_status(stored: str) -> zvt.StatusInformation:
    """The Status Information `stored_status` kept, field for field and byte for byte."""
    try:
        status = zvt.StatusInformation.decode_data(bytes.fromhex(stored))
    except (ValueError, zvt.ZvtError) as exc:
        raise StateFileError(f"last_status is not a Status Information: {exc}") from exc
    if not isinstance(status, zvt.StatusInformation) or status.unparsed:
        raise StateFileError("last_status is not a Status Information")
    return status


def _check_repeat_data(data: dict[str, Any]) -> None:
    """What Repeat Receipt sends must be readable before it is needed. State files of earlier
    simulators kept the Status Information as a dict of its named fields, and no receipt
    types: a payment's customer and merchant copy, or (no Status Information, the batch just
    closed) an End-of-Day receipt."""
    status = data.get("last_status")
    lines = data.get("last_receipt")
    if isinstance(status, dict):
        try:
            data["last_status"] = stored_status(zvt.StatusInformation(**status))
        except (TypeError, zvt.ZvtError) as exc:
            raise StateFileError(f"last_status: {exc}") from exc
        if lines is not None and "last_receipt_types" not in data:
            data["last_receipt_types"] = [RECEIPT_CUSTOMER, RECEIPT_MERCHANT][:len(lines)]
    elif isinstance(status, str):
        restored_status(status)
    elif status is not None:
        raise StateFileError("last_status is not a Status Information")
    if lines is not None and "last_receipt_types" not in data:
        data["last_receipt_types"] = [RECEIPT_ADMIN] * len(lines)
    types = data.get("last_receipt_types")
    if (lines is None) != (types is None) or len(lines or ()) != len(types or ()):
        raise StateFileError("last_receipt and last_receipt_types do not match")


class Storage(Protocol):
    """The terminal's flash: what `load` returns is exactly what `save` last wrote."""

    def load(self) -> TerminalState | None: ...

    def save(self, state: TerminalState) -> None: ...


class MemoryStorage:
    """Non-volatile memory without a file: survives simulated power cuts, not the process."""

    def __init__(self) -> None:
        self._saved: str | None = None

    def load(self) -> TerminalState | None:
        return None if self._saved is None else TerminalState.from_json(json.loads(self._saved))

    def save(self, state: TerminalState) -> None:
        self._saved = json.dumps(state.to_json())


class FileStorage:
    """State in a JSON file, written atomically (temp file, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> TerminalState | None:
        return load_state(self.path) if self.path.exists() else None

    def save(self, state: TerminalState) -> None:
        save_state(state, self.path)


def storage_for(path: Path | None) -> Storage:
    return MemoryStorage() if path is None else FileStorage(path)


def load_state(path: Path | None) -> TerminalState:
    if path is None or not path.exists():
        return TerminalState()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise StateFileError(f"{path}: cannot read terminal state: {exc}") from exc
    if not isinstance(data, dict):
        raise StateFileError(f"{path}: terminal state must be a JSON object")
    try:
        return TerminalState.from_json(data)
    except TypeError as exc:
        raise StateFileError(f"{path}: {exc}") from exc


def save_state(state: TerminalState, path: Path | None) -> None:
    """Write atomically (temp file + rename + fsync) so a power cut leaves the old or new file."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(state.to_json(), handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
