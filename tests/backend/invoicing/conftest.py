"""Fixtures of the invoicing tests: a real local SMTP server (aiosmtpd) that keeps what it
receives."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

from medipay_backend.mail import SmtpSettings


class Inbox(Sink):
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_smtp(port: int) -> tuple[Inbox, Controller]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return inbox, controller


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, SmtpSettings]]:
    port = free_port()
    inbox, controller = start_smtp(port)
    try:
        yield inbox, SmtpSettings("127.0.0.1", port, "faktura@medipay.test")
    finally:
        controller.stop()
