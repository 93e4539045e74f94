"""The backend's ASGI application: routes, problem+json errors, body limit, request log."""

from __future__ import annotations

from fastapi import FastAPI

from medipay.clock import Clock
from medipay_backend.api import clinic_admins as clinic_admins_api
from medipay_backend.api import clinics, gateways, orders, pos, settlements, sms_outbox
from medipay_backend.api import invoicing as invoicing_api
from medipay_backend.api import reports as reports_api
from medipay_backend.checkout import claim_routes
from medipay_backend.checkout import routes as checkout_routes
from medipay_backend.db import Database
from medipay_backend.deps import Services
from medipay_backend.middleware import BodyLimitMiddleware, RequestLogMiddleware
from medipay_backend.portal import routes as portal_routes
from medipay_backend.portal.settings import PortalSettings
from medipay_backend.problems import install_problem_handlers
from medipay_backend.runtime import Runtime
from medipay_backend.schemas import Health

API_VERSION = "1.0.0"
# A full batch of 500 transactions is a few hundred kilobytes; anything far beyond is not ours.
MAX_BODY_BYTES = 4 * 1024 * 1024


def create_app(
    *, database: Database, clock: Clock, admin_token: str, runtime: Runtime | None = None,
    portal_settings: PortalSettings | None = None,
) -> FastAPI:
    """The FastAPI app over an already migrated database. `portal_settings` (from the
    `[portal]` configuration) replaces the portal's production defaults."""
    if not admin_token:
        raise ValueError("create_app needs a non-empty admin_token")
    app = FastAPI(
        title="MediPay backend",
        version=API_VERSION,
        summary="Orders from EPJs, SMS checkout, fallback invoicing, and POS intake from gateways.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    runtime = runtime or Runtime.simulated(clock)
    app.state.services = Services(
        db=database, clock=clock, admin_token=admin_token, runtime=runtime
    )
    if portal_settings is not None:
        app.state.portal_settings = portal_settings
    install_problem_handlers(app)
    app.include_router(gateways.router)
    app.include_router(pos.router)
    app.include_router(pos.signed_router)
    app.include_router(clinics.router)
    app.include_router(orders.router)
    app.include_router(sms_outbox.router)
    app.include_router(settlements.router)
    app.include_router(reports_api.router)
    app.include_router(checkout_routes.router)
    app.include_router(claim_routes.router)  # payment links of dunning SMS under /f
    app.include_router(invoicing_api.router)
    app.include_router(clinic_admins_api.router)
    app.include_router(portal_routes.router)  # the clinic admin portal under /klinikk
    # Simulators stand in for the acquirer's and Vipps' pages when no real ones are set up.
    if runtime.sim_acquirer is not None:
        app.include_router(runtime.sim_acquirer.router)
    if runtime.sim_vipps is not None:
        app.mount(runtime.vipps_mount, runtime.sim_vipps.app)

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        return Health(status="ok")

    # Added last = outermost: every request is logged, including refused large ones.
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(RequestLogMiddleware)
    return app
