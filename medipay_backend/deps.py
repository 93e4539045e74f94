"""What request handlers need from the running service, handed to them as a FastAPI dependency."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from medipay.clock import Clock
from medipay_backend.db import Database
from medipay_backend.runtime import Runtime


@dataclass(frozen=True)
class Services:
    db: Database
    clock: Clock
    admin_token: str
    runtime: Runtime


def get_services(request: Request) -> Services:
    services = request.app.state.services
    if not isinstance(services, Services):
        raise RuntimeError("app.state.services is not set; build the app with create_app()")
    return services
