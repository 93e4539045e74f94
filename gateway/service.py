"""Composes the gateway: journal, terminals, payment workflow, uplink, and the EPJ API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import trio

from gateway.api import create_gateway_app
from gateway.config import GatewayConfig, TerminalConfig
from gateway.devices import serial_opener, tcp_opener, usb_opener
from gateway.journal import Journal
from gateway.payments import PaymentService
from gateway.protocols import zvt
from gateway.secrets_file import load_or_create_token
from gateway.terminal import OpenStream, ZvtTerminal
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
    service: PaymentService
    uplink: UplinkSender
    journal: Journal


def build_terminal(config: TerminalConfig, *, usb_backend: Any = None) -> ZvtTerminal:
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
    return ZvtTerminal(config.id, open_stream, password=config.password, framing=framing)


async def run_gateway(
    config: GatewayConfig,
    clock: Clock,
    *,
    task_status: trio.TaskStatus[GatewayHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the gateway until cancelled; `task_status.started(GatewayHandle)` once serving."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    token = config.api.token or load_or_create_token(config.data_dir / "api_token")
    terminals = {t.id: build_terminal(t) for t in config.terminals}
    journal = Journal.open(config.journal_url, clock)
    try:
        signer = RequestSigner(config.gateway_id, load_or_create_key(config.data_dir), clock)
        uplink = UplinkSender(journal, signer, config.backend, clock)
        service = PaymentService(config.gateway_id, journal, terminals, on_outbox=uplink.wake)
        app = create_gateway_app(service, journal, token)
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            await nursery.start(uplink.run)
            base_url = await nursery.start(serve_asgi, app, config.api.host, config.api.port)
            log.info("gateway.started", url=base_url, terminals=sorted(terminals))
            task_status.started(GatewayHandle(base_url, token, service, uplink, journal))
    finally:
        with trio.CancelScope(shield=True):
            for terminal in terminals.values():
                await terminal.close()
        journal.close()
