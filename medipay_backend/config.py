"""The backend's configuration: one TOML file, environment overrides `MEDIPAY_BACKEND__...`.

Every key has a default that works on a developer machine: an SQLite file under the data
directory, the API on 127.0.0.1:8400, and an operator token generated on first start.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path

from sqlalchemy import URL

from medipay.config import ConfigError, load_config
from medipay_backend.invoicing.settings import InvoicingSettings
from medipay_backend.mail import SmtpSettings
from medipay_backend.portal.settings import IpNetwork, PortalSettings

ENV_PREFIX = "MEDIPAY_BACKEND"
DEFAULT_DATA_DIR = Path("~/.local/share/medipay/backend")
SQLITE_FILE_NAME = "backend.sqlite3"
ADMIN_TOKEN_FILE_NAME = "admin_token"
# 32 random bytes, URL-safe base64: far beyond guessing, and easy to paste into a header.
_GENERATED_TOKEN_BYTES = 32
# A shorter configured token would be guessable; refuse it rather than run with it.
MIN_ADMIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8400

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"http.port must be between 0 and 65535, got {self.port}")
        if not self.host:
            raise ConfigError("http.host must not be empty")


@dataclass(frozen=True)
class CheckoutConfig:
    # The public address in SMS links. Empty: the address the HTTP server bound.
    public_url: str = ""
    deadline_hours: float = 48.0
    reminder_hours: float = 8.0  # before the deadline

    def __post_init__(self) -> None:
        if self.deadline_hours <= 0:
            raise ConfigError("checkout.deadline_hours must be more than 0")
        if not 0 <= self.reminder_hours < self.deadline_hours:
            raise ConfigError("checkout.reminder_hours must be between 0 and deadline_hours")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ConfigError("checkout.public_url must start with http:// or https://")


@dataclass(frozen=True)
class SmsConfig:
    # "record:" keeps messages in memory (GET /v1/sms-outbox); an SMSC is named
    # "smpp://system_id:password@host:2775?source=MediPay".
    url: str = "record:"

    def __post_init__(self) -> None:
        if self.url not in ("", "record:") and not self.url.startswith("smpp://"):
            raise ConfigError("sms.url must be record: or smpp://system_id:password@host:port")


@dataclass(frozen=True)
class SmtpConfig:
    # Empty host: no e-mail is sent (invoices go on paper, reports are only downloadable).
    host: str = ""
    port: int = 25
    sender: str = "medipay@localhost"
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.port <= 65535:
            raise ConfigError(f"smtp.port must be between 1 and 65535, got {self.port}")
        if "@" not in self.sender:
            raise ConfigError(f"smtp.sender must be an e-mail address, got {self.sender!r}")
        if self.timeout_seconds <= 0:
            raise ConfigError("smtp.timeout_seconds must be more than 0")

    def settings(self) -> SmtpSettings | None:
        if not self.host:
            return None
        return SmtpSettings(self.host, self.port, self.sender, self.timeout_seconds)


@dataclass(frozen=True)
class InvoicingConfig:
    # Empty paths: under data_dir/invoicing/ (print, ehf, efaktura).
    print_dir: Path | None = None  # a folder per day of invoice and letter PDFs to print
    ehf_outbox: Path | None = None  # EHF XML invoices for companies
    efaktura_outbox: Path | None = None  # what the simulated eFaktura network delivered
    # National IDs that accepted eFaktura, one a line (see docs/invoicing.md); empty: none.
    efaktura_accepted_file: Path | None = None

    def settings(self, data_dir: Path) -> InvoicingSettings:
        base = data_dir / "invoicing"
        return InvoicingSettings(
            print_dir=self.print_dir or base / "print",
            ehf_outbox=self.ehf_outbox or base / "ehf",
            efaktura_outbox=self.efaktura_outbox or base / "efaktura",
            efaktura_accepted_file=self.efaktura_accepted_file,
        )


# "HH:MM", 24-hour clock.
_CLOCK_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


@dataclass(frozen=True)
class SettlementConfig:
    # false: the service makes no settlements (run `medipay backend settle` from cron instead).
    enabled: bool = True
    # Oslo local time of the daily run. It settles up to midnight, so a few hours' grace lets
    # gateways that were offline overnight deliver yesterday's POS transactions first.
    run_at: str = "06:00"
    files_dir: Path | None = None  # empty: data_dir/settlements

    def __post_init__(self) -> None:
        if not _CLOCK_TIME.fullmatch(self.run_at):
            raise ConfigError(
                f"settlement.run_at must be a time of day as HH:MM (00:00-23:59), "
                f"got {self.run_at!r}"
            )

    def run_time(self) -> time:
        return time.fromisoformat(self.run_at)

    def files_root(self, data_dir: Path) -> Path:
        # Absolute: the paths stored in `settlements.files` must not depend on the working
        # directory of whichever process later serves the download.
        return (self.files_dir or data_dir / "settlements").absolute()


@dataclass(frozen=True)
class SchedulerConfig:
    enabled: bool = True
    poll_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.poll_seconds <= 0:
            raise ConfigError("scheduler.poll_seconds must be more than 0")


# Page sizes beyond this make slow pages without helping anyone find a bill.
MAX_PORTAL_PAGE_SIZE = 500


@dataclass(frozen=True)
class PortalConfig:
    """The clinic admin portal's limits (docs/portal.md); defaults are the production ones."""

    otp_lifetime_hours: float = 72.0  # an operator-issued one-time password
    idle_minutes: float = 30.0  # a session ends after this long without a request ...
    session_hours: float = 12.0  # ... and this long after login, whatever happens
    max_failed_logins: int = 5  # wrong passwords in a row that lock an admin's account
    lockout_minutes: float = 15.0  # the first lock; doubled per further failure, max 24 h
    # Failed logins from one client address within the window; 0 turns the limit off.
    ip_max_failed_logins: int = 20
    ip_window_minutes: float = 15.0
    # Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For is
    # believed ("127.0.0.1, 10.0.0.0/8"); empty: the TCP peer is the client.
    trusted_proxies: str = ""
    page_size: int = 25  # rows per page in the portal's lists

    def __post_init__(self) -> None:
        for name in ("otp_lifetime_hours", "idle_minutes", "session_hours",
                     "lockout_minutes", "ip_window_minutes"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"portal.{name} must be more than 0, got {getattr(self, name)}")
        if self.idle_minutes > self.session_hours * 60:
            raise ConfigError("portal.idle_minutes must not be longer than portal.session_hours")
        if self.max_failed_logins < 1:
            raise ConfigError(
                f"portal.max_failed_logins must be at least 1, got {self.max_failed_logins}")
        if self.ip_max_failed_logins < 0:
            raise ConfigError("portal.ip_max_failed_logins must be 0 (off) or more, "
                              f"got {self.ip_max_failed_logins}")
        if not 1 <= self.page_size <= MAX_PORTAL_PAGE_SIZE:
            raise ConfigError(f"portal.page_size must be between 1 and "
                              f"{MAX_PORTAL_PAGE_SIZE}, got {self.page_size}")
        try:  # refuse an unreadable proxy address or an absurd period now, not at login
            self.settings()
        except OverflowError as exc:
            raise ConfigError(f"portal: a period is too long ({exc})") from exc

    def proxy_networks(self) -> tuple[IpNetwork, ...]:
        networks = []
        for item in filter(None, (part.strip() for part in self.trusted_proxies.split(","))):
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError as exc:
                raise ConfigError(
                    f"portal.trusted_proxies: {item!r} is not an IP address or network"
                ) from exc
        return tuple(networks)

    def settings(self) -> PortalSettings:
        return PortalSettings(
            otp_lifetime=timedelta(hours=self.otp_lifetime_hours),
            idle_timeout=timedelta(minutes=self.idle_minutes),
            session_lifetime=timedelta(hours=self.session_hours),
            max_failed_logins=self.max_failed_logins,
            lockout=timedelta(minutes=self.lockout_minutes),
            page_size=self.page_size,
            ip_max_failed_logins=self.ip_max_failed_logins,
            ip_window=timedelta(minutes=self.ip_window_minutes),
            trusted_proxies=self.proxy_networks(),
        )


@dataclass(frozen=True)
class BackendConfig:
    data_dir: Path = field(default_factory=lambda: DEFAULT_DATA_DIR.expanduser())
    # Empty: an SQLite file `backend.sqlite3` in data_dir. PostgreSQL:
    # "postgresql+psycopg://user@host:5432/dbname".
    database_url: str = ""
    http: HttpConfig = field(default_factory=HttpConfig)
    # Empty: generate one on first start and keep it in data_dir/admin_token (mode 0600).
    admin_token: str = ""
    log_level: str = "info"
    checkout: CheckoutConfig = field(default_factory=CheckoutConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    invoicing: InvoicingConfig = field(default_factory=InvoicingConfig)
    settlement: SettlementConfig = field(default_factory=SettlementConfig)
    portal: PortalConfig = field(default_factory=PortalConfig)

    def __post_init__(self) -> None:
        if self.log_level.upper() not in logging.getLevelNamesMapping():
            raise ConfigError(f"log_level: unknown level {self.log_level!r}")
        if self.admin_token and len(self.admin_token) < MIN_ADMIN_TOKEN_LENGTH:
            raise ConfigError(
                f"admin_token must be at least {MIN_ADMIN_TOKEN_LENGTH} characters long"
            )
        if self.admin_token != self.admin_token.strip():
            raise ConfigError("admin_token must not start or end with whitespace")

    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        database = str(self.data_dir / SQLITE_FILE_NAME)
        return URL.create("sqlite+pysqlite", database=database).render_as_string()


def load_backend_config(
    path: Path | None, environ: Mapping[str, str] | None = None
) -> BackendConfig:
    """Read the TOML file (if given), then apply `MEDIPAY_BACKEND__<KEY>` overrides."""
    return load_config(BackendConfig, path, env_prefix=ENV_PREFIX, environ=environ)


def ensure_data_dir(config: BackendConfig) -> None:
    """Create the data directory (owner-only) if it does not exist."""
    config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)


def resolve_admin_token(config: BackendConfig) -> str:
    """The configured token, else the persisted one, else a new one written to data_dir.

    A new token is written to a private temporary file (mode 0600) and then hard-linked into
    place, which fails if the file already exists: two processes starting at once agree on
    one token, a reader never sees a half-written file, and only the operator can read it.
    """
    if config.admin_token:
        return config.admin_token
    ensure_data_dir(config)
    token_path = config.data_dir / ADMIN_TOKEN_FILE_NAME
    if token_path.exists():
        return _read_token_file(token_path)
    token = secrets.token_urlsafe(_GENERATED_TOKEN_BYTES)
    temp_path = token_path.with_name(f".{ADMIN_TOKEN_FILE_NAME}.{secrets.token_hex(8)}")
    fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(token + "\n")
        os.link(temp_path, token_path)
    except FileExistsError:
        return _read_token_file(token_path)
    finally:
        temp_path.unlink(missing_ok=True)
    return token


def _read_token_file(token_path: Path) -> str:
    token = token_path.read_text(encoding="ascii").strip()
    if len(token) < MIN_ADMIN_TOKEN_LENGTH:
        raise ConfigError(
            f"{token_path}: admin token file is empty or too short; delete it to generate a "
            "new token, or write one of at least "
            f"{MIN_ADMIN_TOKEN_LENGTH} characters"
        )
    return token
