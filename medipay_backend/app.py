"""The backend's ASGI application: routes, problem+json errors, body limit, request log."""

from __future__ import annotations

from fastapi import FastAPI

from medipay.clock import Clock
from medipay_backend.api import gateways, pos
from medipay_backend.db import Database
from medipay_backend.deps import Services
from medipay_backend.middleware import BodyLimitMiddleware, RequestLogMiddleware
from medipay_backend.problems import install_problem_handlers
from medipay_backend.schemas import Health

API_VERSION = "1.0.0"
# A full batch of 500 transactions is a few hundred kilobytes; anything far beyond is not ours.
MAX_BODY_BYTES = 4 * 1024 * 1024


def create_app(*, database: Database, clock: Clock, admin_token: str) -> FastAPI:
    """The FastAPI app over an already migrated database."""
    if not admin_token:
        raise ValueError("create_app needs a non-empty admin_token")
    app = FastAPI(
        title="MediPay backend",
        version=API_VERSION,
        summary="POS transaction intake from clinic gateways, and operator queries.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.services = Services(db=database, clock=clock, admin_token=admin_token)
    install_problem_handlers(app)
    app.include_router(gateways.router)
    app.include_router(pos.router)
    app.include_router(pos.signed_router)

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        return Health(status="ok")

    # Added last = outermost: every request is logged, including refused large ones.
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(RequestLogMiddleware)
    return app
