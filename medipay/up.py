"""`medipay up`: backend, one simulated terminal and the gateway in one process, on localhost."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from pathlib import Path

import trio
from rich.console import Console

from firmware_sim.engine import TerminalEngine
from firmware_sim.state import load_state
from firmware_sim.tcp_server import TcpTerminal
from gateway.config import ApiConfig, BackendLinkConfig, GatewayConfig, TerminalConfig
from gateway.service import GatewayHandle, run_gateway
from gateway.uplink.enrol import enrol_gateway
from gateway.uplink.signing import load_or_create_key
from medipay.clock import Clock
from medipay_backend.config import BackendConfig, HttpConfig
from medipay_backend.demo import (
    DemoAdmin,
    DemoClinic,
    ensure_demo_admin,
    ensure_demo_clinic,
    order_curl,
)
from medipay_backend.server import serve_backend


@dataclass(frozen=True)
class UpPorts:
    backend: int = 8400
    gateway: int = 8401
    terminal: int = 20007


@dataclass(frozen=True)
class Stack:
    backend_url: str
    admin_token: str
    gateway: GatewayHandle
    terminal_port: int
    terminal: TcpTerminal
    demo: DemoClinic | None = None
    demo_admin: DemoAdmin | None = None


def payment_curl(gateway_url: str, token: str, terminal_id: str) -> str:
    body = '{"amount": 12345, "currency": "NOK", "reference": "bill-1"}'
    return " ".join(
        [
            "curl -sS -X POST",
            shlex.quote(f"{gateway_url}/v1/terminals/{terminal_id}/payments"),
            "-H", shlex.quote(f"Authorization: Bearer {token}"),
            "-H", shlex.quote("Content-Type: application/json"),
            # Double quotes on purpose: the shell fills in a fresh key for every paste.
            '-H "Idempotency-Key: demo-$RANDOM$RANDOM"',
            "-d", shlex.quote(body),
        ]
    )


async def start_stack(
    nursery: trio.Nursery, data_dir: Path, clock: Clock, ports: UpPorts = UpPorts()
) -> Stack:
    """Start the three parts in `nursery` and enrol the gateway; returns where they listen."""
    backend_config = replace(
        BackendConfig(), data_dir=data_dir / "backend", http=HttpConfig(port=ports.backend)
    )
    backend = await nursery.start(serve_backend, backend_config, clock)

    state_file = data_dir / "terminal" / "state.json"
    terminal = TcpTerminal(TerminalEngine(load_state(state_file), clock), state_file=state_file)
    terminal_port = await nursery.start(terminal.serve, "127.0.0.1", ports.terminal)

    gateway_config = GatewayConfig(
        gateway_id="gw-demo",
        data_dir=data_dir / "gateway",
        api=ApiConfig(port=ports.gateway),
        backend=BackendLinkConfig(url=backend.base_url, poll_interval=2.0),
        terminals=(TerminalConfig(id="T1", port=terminal_port),),
    )
    key = load_or_create_key(gateway_config.data_dir)
    await enrol_gateway(backend.base_url, backend.admin_token, gateway_config.gateway_id, key,
                        name="medipay up demo gateway")
    gateway = await nursery.start(run_gateway, gateway_config, clock)
    demo = demo_admin = None
    if backend.database is not None:
        # A demo clinic with an EPJ credential and a portal administrator, so the order flow
        # and the clinic portal can be tried at once.
        demo = await ensure_demo_clinic(backend.database, clock, backend.admin_token)
        demo_admin = await ensure_demo_admin(backend.database, clock)
    return Stack(backend.base_url, backend.admin_token, gateway, terminal_port, terminal, demo,
                 demo_admin)


def print_banner(console: Console, stack: Stack) -> None:
    lines = [
        "MediPay Edge is up (Ctrl-C stops it)",
        f"  backend   {stack.backend_url}   (admin token {stack.admin_token})",
        f"  gateway   {stack.gateway.base_url}   (EPJ token {stack.gateway.token})",
        f"  terminal  ZVT simulator on tcp 127.0.0.1:{stack.terminal_port} as T1",
        "",
        "Make a payment:",
        payment_curl(stack.gateway.base_url, stack.gateway.token, "T1"),
        "",
        "See what reached the backend:",
        f"curl -sS {stack.backend_url}/v1/pos-transactions "
        f"-H 'Authorization: Bearer {stack.admin_token}'",
    ]
    if stack.demo is not None:
        lines += [
            "",
            "Send a bill card (order) from the demo clinic's EPJ; the SMS with the checkout "
            "link is recorded:",
            order_curl(stack.backend_url, stack.demo),
            f"curl -sS {stack.backend_url}/v1/sms-outbox "
            f"-H 'Authorization: Bearer {stack.admin_token}'",
        ]
    if stack.demo_admin is not None:
        admin = stack.demo_admin
        password = (f"one-time password {admin.one_time_password} (choose your own at the "
                    "first login)" if admin.one_time_password is not None
                    else "the password you chose")
        lines += ["", "The clinic admin portal:",
                  f"  {stack.backend_url}/klinikk   e-mail {admin.email}, {password}"]
    for line in lines:
        # soft_wrap: tokens and commands must stay on one line to be copied whole.
        console.print(line, soft_wrap=True, markup=False, highlight=False)


async def run_up(data_dir: Path, clock: Clock, ports: UpPorts, console: Console) -> None:
    async with trio.open_nursery() as nursery:
        stack = await start_stack(nursery, data_dir, clock, ports)
        print_banner(console, stack)
