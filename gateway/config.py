"""Gateway configuration: `gateway.toml`, overridable by `MEDIPAY_GATEWAY__...` variables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from medipay.config import ConfigError, load_config

DEFAULT_DATA_DIR = Path("~/.local/share/medipay/gateway").expanduser()


@dataclass(frozen=True)
class ApiConfig:
    # Loopback only by default: the EPJ runs on the same box or reaches it through a tunnel.
    host: str = "127.0.0.1"
    port: int = 8401
    # Empty means: generate one on first start and keep it in data_dir/api_token.
    token: str = ""


@dataclass(frozen=True)
class BackendLinkConfig:
    url: str = "http://127.0.0.1:8400"
    # Seconds between outbox polls when idle; delivery is also woken by every new entry.
    poll_interval: float = 5.0
    # Retry backoff bounds in seconds (exponential with jitter in between).
    retry_min: float = 1.0
    retry_max: float = 300.0
    # How many outbox entries one request carries when a backlog exists.
    batch_size: int = 100


TRANSPORTS = ("tcp", "serial", "usb")
FRAMINGS = ("tcp", "serial")


@dataclass(frozen=True)
class TerminalConfig:
    id: str = "T1"
    # tcp: a LAN terminal at host:port; serial: a tty device; usb: a device by vendor/product id.
    transport: str = "tcp"
    host: str = "127.0.0.1"
    port: int = 20007
    device: str = "/dev/ttyUSB0"
    # ZVT serial lines run at 9600 or 115200 baud, 8 data bits, no parity, 2 stop bits.
    baudrate: int = 9600
    vendor_id: int = 0
    product_id: int = 0
    serial_number: str = ""
    # Empty: "tcp" framing on TCP, the serial DLE/STX framing on serial and USB lines (the
    # spec lets a USB terminal use either; set "tcp" for one that speaks raw APDUs).
    framing: str = ""
    password: str = "000000"

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ConfigError(
                f"terminal {self.id}: transport must be one of {', '.join(TRANSPORTS)}"
            )
        if self.framing and self.framing not in FRAMINGS:
            raise ConfigError(f"terminal {self.id}: framing must be one of {', '.join(FRAMINGS)}")
        if self.transport == "usb" and not (self.vendor_id and self.product_id):
            raise ConfigError(f"terminal {self.id}: a usb terminal needs vendor_id and product_id")

    @property
    def effective_framing(self) -> str:
        return self.framing or ("tcp" if self.transport == "tcp" else "serial")


@dataclass(frozen=True)
class GatewayConfig:
    gateway_id: str = "gw-local"
    data_dir: Path = DEFAULT_DATA_DIR
    # Empty means the SQLite journal data_dir/journal.sqlite3.
    database_url: str = ""
    log_level: str = "info"
    # Seconds between status enquiries to an idle terminal (and checks of its connection).
    health_interval: float = 60.0
    api: ApiConfig = field(default_factory=ApiConfig)
    backend: BackendLinkConfig = field(default_factory=BackendLinkConfig)
    terminals: tuple[TerminalConfig, ...] = (TerminalConfig(),)

    @property
    def journal_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'journal.sqlite3'}"


def load_gateway_config(
    path: Path | None = None, environ: dict[str, str] | None = None
) -> GatewayConfig:
    return load_config(GatewayConfig, path, env_prefix="MEDIPAY_GATEWAY", environ=environ)
