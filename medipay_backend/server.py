"""The backend as a deployable: migrate the database, then serve the API and run the job
scheduler until cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import sqlalchemy as sa
import trio

from medipay.clock import Clock
from medipay.http_server import serve_asgi
from medipay.logs import get_logger
from medipay_backend.app import create_app
from medipay_backend.config import (
    ADMIN_TOKEN_FILE_NAME,
    BackendConfig,
    ensure_data_dir,
    resolve_admin_token,
)
from medipay_backend.db import Database, make_engine, migrate
from medipay_backend.handlers import make_handlers, receipt_recorder, sweep_job
from medipay_backend.invoicing.jobs import daily_job
from medipay_backend.orders import OrderTiming
from medipay_backend.runtime import Runtime
from medipay_backend.scheduler import Scheduler
from medipay_backend.settlement import jobs as settlement_jobs
from medipay_backend.sms.sender import make_sender

log = get_logger(__name__)


@dataclass(frozen=True)
class BackendHandle:
    """What a started backend tells its starter."""

    base_url: str
    admin_token: str
    database: Database | None = None
    runtime: Runtime | None = None


def runtime_from_config(config: BackendConfig, clock: Clock, database: Database) -> Runtime:
    """Simulated acquirer, Vipps and bureau; SMS by `sms.url` (recorded by default)."""
    timing = OrderTiming(
        deadline=timedelta(hours=config.checkout.deadline_hours),
        reminder_before=timedelta(hours=config.checkout.reminder_hours),
    )
    sms = make_sender(config.sms.url, clock, receipt_recorder(database, clock))
    runtime = Runtime.simulated(clock, timing=timing, sms=sms)
    if config.checkout.public_url:
        runtime.base_url = config.checkout.public_url.rstrip("/")
    runtime.smtp = config.smtp.settings()
    runtime.invoicing = config.invoicing.settings(config.data_dir)
    runtime.settlement = settlement_settings(config)
    return runtime


def settlement_settings(config: BackendConfig) -> settlement_jobs.SettlementSettings | None:
    """`[settlement]` for the daily job; None when `enabled = false`."""
    if not config.settlement.enabled:
        return None
    return settlement_jobs.SettlementSettings(
        run_at=config.settlement.run_time(),
        files_root=config.settlement.files_root(config.data_dir),
    )


async def serve_backend(
    config: BackendConfig,
    clock: Clock,
    *,
    runtime: Runtime | None = None,
    task_status: trio.TaskStatus[BackendHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Migrate the database, serve the API, run the scheduler, report a `BackendHandle`;
    run until cancelled. `runtime` replaces the one built from the configuration (tests)."""
    admin_token = await trio.to_thread.run_sync(resolve_admin_token, config)
    if not config.database_url:
        await trio.to_thread.run_sync(ensure_data_dir, config)
    url = config.resolved_database_url()
    engine = make_engine(url)
    try:
        await trio.to_thread.run_sync(migrate, engine)
        database = Database(engine)
        runtime = runtime or runtime_from_config(config, clock, database)
        async with runtime.sms, trio.open_nursery() as nursery:
            app = create_app(database=database, clock=clock, admin_token=admin_token,
                             runtime=runtime, portal_settings=config.portal.settings())
            base_url = await nursery.start(
                partial(serve_asgi, app, config.http.host, config.http.port)
            )
            if not config.checkout.public_url:
                runtime.base_url = base_url
            if config.scheduler.enabled:
                scheduler = Scheduler(database, clock, make_handlers(database, clock, runtime),
                                      poll_interval=config.scheduler.poll_seconds)
                await scheduler.add(sweep_job(clock.now()), daily_job(clock.now()))
                if runtime.settlement is not None:
                    await settlement_jobs.start(database, clock, runtime.settlement)
                await nursery.start(scheduler.run)
            log.info(
                "backend listening",
                base_url=base_url,
                public_url=runtime.base_url,
                database=sa.make_url(url).render_as_string(hide_password=True),
                admin_token_source=(
                    "config" if config.admin_token
                    else str(config.data_dir / ADMIN_TOKEN_FILE_NAME)
                ),
                sms=config.sms.url.split("@")[-1] or "record:",
            )
            task_status.started(BackendHandle(base_url=base_url, admin_token=admin_token,
                                              database=database, runtime=runtime))
    finally:
        engine.dispose()
