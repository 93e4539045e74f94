"""`medipay sim run`: one simulated terminal on one transport, with its control API.

Everything is put together here from options, so the CLI stays a thin layer and tests can
start the same thing in-process.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import trio
from rich.console import Console

from firmware_sim.control import create_control_app
from firmware_sim.customers import CustomerDesk
from firmware_sim.device import SimTerminal
from firmware_sim.engine import TerminalEngine
from firmware_sim.scenario import Scenario
from firmware_sim.serial_server import PtyTerminal
from firmware_sim.state import load_state, storage_for
from firmware_sim.tcp_server import TcpTerminal
from firmware_sim.usb_server import UsbTerminal
from gateway.protocols import zvt
from medipay.clock import Clock
from medipay.http_server import serve_asgi
from medipay.logs import get_logger

log = get_logger(__name__)

DEFAULT_CONTROL = ("127.0.0.1", 20080)
# A little realism for people at a real terminal: the host takes a moment.
REALISTIC_HOST_DELAY = 1.5


@dataclass(frozen=True)
class SimOptions:
    transport: str = "tcp"  # tcp, pty, usb
    host: str = "127.0.0.1"
    port: int = 20007
    baudrate: int = 9600
    link: Path | None = None  # pty: a symlink pointing at the device side
    usb_framing: zvt.Framing = zvt.Framing.SERIAL
    state_file: Path | None = None
    seed: int | None = None
    scenario: Scenario | None = None
    manual: bool = False  # wait for cards presented through the control API
    realistic: bool = False  # host delay as on a real network
    control: tuple[str, int] | None = DEFAULT_CONTROL
    display_log: Path | None = None


@dataclass
class Running:
    device: SimTerminal
    where: str  # host:port, device path or USB ids
    control_url: str | None


def build(options: SimOptions, clock: Clock) -> SimTerminal:
    state = load_state(options.state_file)
    scenario = options.scenario
    settings = scenario.settings if scenario is not None else None
    engine = TerminalEngine(state, clock, desk=CustomerDesk(auto=not options.manual))
    if scenario is not None:
        for key, value in scenario.identity.items():
            setattr(state, key, value)
        engine.deck = scenario.deck
    if settings is not None:
        engine.settings = settings
    if options.realistic and engine.settings.host_delay == 0:
        engine.settings = dataclasses.replace(engine.settings, host_delay=REALISTIC_HOST_DELAY)
    seed = options.seed if options.seed is not None else (scenario.seed if scenario else None)
    device = SimTerminal(engine, storage_for(options.state_file), seed=seed,
                         display_log=options.display_log)
    if scenario is not None:
        for who in scenario.customers:
            engine.desk.add(who)
        for fault in scenario.faults:
            device.faults.arm(fault)
    return device


async def run_simulator(options: SimOptions, clock: Clock, console: Console | None = None,
                        *, task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED
                        ) -> None:
    console = console or Console()
    device = build(options, clock)
    async with trio.open_nursery() as nursery:
        if options.transport == "tcp":
            tcp = TcpTerminal(device)
            port = await nursery.start(tcp.serve, options.host, options.port)
            where = f"tcp {options.host}:{port}"
        elif options.transport == "pty":
            pty = PtyTerminal(device, baudrate=options.baudrate, link_path=options.link)
            path = await nursery.start(pty.serve)
            where = f"serial {path} ({options.baudrate} baud, 8N2)"
        elif options.transport == "usb":
            usb = UsbTerminal(device, framing=options.usb_framing)
            backend = await nursery.start(usb.serve)
            ids = f"{backend.identity.vendor_id:04x}:{backend.identity.product_id:04x}"
            where = f"usb {ids} (fake pyusb backend, in this process only)"
        else:
            raise ValueError(f"unknown transport {options.transport!r}")
        control_url = None
        if options.control is not None:
            app = create_control_app(device, nursery)
            control_url = await nursery.start(serve_asgi, app, *options.control)
        for line in banner(where, control_url, options):
            console.print(line, soft_wrap=True, markup=False, highlight=False)
        task_status.started(Running(device, where, control_url))


def banner(where: str, control_url: str | None, options: SimOptions) -> list[str]:
    lines = [f"MediPay terminal simulator on {where}"]
    if options.transport == "pty":
        lines.append(f"  point the gateway's serial port at {where.split()[1]}")
    if options.transport == "usb":
        lines.append("  the fake USB device lives in this process: embed it in a test or "
                     "a script (firmware_sim.usb_server.UsbTerminal.backend)")
    if control_url is not None:
        lines.append(f"  control API {control_url}  (medipay sim present-card, press, "
                     "power-cut, fault, display, receipts ...)")
    if options.manual:
        lines.append("  manual mode: present a card with `medipay sim present-card` for "
                     "every payment")
    return lines
