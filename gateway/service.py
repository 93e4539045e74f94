"""Composes the gateway: journal, terminals, payment workflow, uplink, and the EPJ API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import trio

from gateway.api import create_gateway_app
from gateway.config import GatewayConfig, TerminalConfig
from gateway.devices import serial_opener, tcp_opener, usb_opener
from gateway.journal import Journal
from gateway.protocols import zvt
from gateway.secrets_file import load_or_create_token
from gateway.terminal import OpenStream, ZvtTerminal
from gateway.terminal_manager import TerminalSupervisor
from gateway.transactions import TransactionService, make_relay
from gateway.uplink.sender import UplinkSender
from gateway.uplink.signing import RequestSigner, load_or_create_key
from medipay.clock import Clock
from medipay.http_server import serve_asgi
from medipay.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class GatewayHandle:
    base_url: str
    token: str
    service: TransactionService
    uplink: UplinkSender
    journal: Journal


def build_terminal(
    config: TerminalConfig, journal: Journal, *, usb_backend: Any = None
) -> ZvtTerminal:
    open_stream: OpenStream
    if config.transport == "tcp":
        open_stream = tcp_opener(config.host, config.port)
    elif config.transport == "serial":
        open_stream = serial_opener(config.device, config.baudrate)
    else:
        open_stream = usb_opener(
            config.vendor_id, config.product_id,
            serial_number=config.serial_number or None, backend=usb_backend,
        )
    framing = zvt.Framing.TCP if config.effective_framing == "tcp" else zvt.Framing.SERIAL

    async def load_receipt_id() -> bytes | None:
        return await journal.last_receipt_id(config.id)

    return ZvtTerminal(config.id, open_stream, password=config.password, framing=framing,
                       load_receipt_id=load_receipt_id)


async def run_gateway(
    config: GatewayConfig,
    clock: Clock,
    *,
    task_status: trio.TaskStatus[GatewayHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the gateway until cancelled; `task_status.started(GatewayHandle)` once serving."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    token = config.api.token or load_or_create_token(config.data_dir / "api_token")
    journal = Journal.open(config.journal_url, clock)
    terminals = {t.id: build_terminal(t, journal) for t in config.terminals}
    try:
        signer = RequestSigner(config.gateway_id, load_or_create_key(config.data_dir), clock)
        uplink = UplinkSender(journal, signer, config.backend, clock)
        relay = make_relay(config.gateway_id)
        supervisors = {
            tid: TerminalSupervisor(terminal, journal, clock, relay=relay,
                                    on_outbox=uplink.wake,
                                    health_interval=config.health_interval)
            for tid, terminal in terminals.items()
        }
        service = TransactionService(config.gateway_id, journal, supervisors,
                                     on_outbox=uplink.wake)
        app = create_gateway_app(service, journal, token)
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            await nursery.start(uplink.run)
            for supervisor in supervisors.values():
                await nursery.start(supervisor.run)
            base_url = await nursery.start(serve_asgi, app, config.api.host, config.api.port)
            log.info("gateway.started", url=base_url, terminals=sorted(terminals))
            task_status.started(GatewayHandle(base_url, token, service, uplink, journal))
    finally:
        with trio.CancelScope(shield=True):
            for terminal in terminals.values():
                await terminal.close()
        journal.close()
